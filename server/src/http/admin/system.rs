//! `GET /admin/system`: the settings check ([`crate::check`], as `offhook-server check`), the
//! webhook URLs for the Twilio console, the database's health, and the health of the ICE
//! servers' fetch from Twilio's Network Traversal Service ([`crate::ice`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::Client;
use super::views::{IceView, SystemPage, time};
use super::{SignedIn, render};
use crate::check;
use crate::http::AppState;
use crate::http::hooks::with_deadline;

pub(crate) async fn page(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    client: Client,
) -> Response {
    let config = &state.config;
    let base = match &config.public_url {
        Some(url) => url.clone(),
        None => {
            let host = client
                .headers
                .get(axum::http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("<your public address>");
            format!("https://{host}")
        }
    };
    let store = &session.store;
    let (database_ok, database_error, schema) = match with_deadline(async {
        store.check().await.and(store.schema_version().await)
    })
    .await
    {
        Ok(version) => (true, String::new(), format!("migration {version}")),
        Err(e) => (false, e.to_string(), "unknown".into()),
    };
    let mut settings = check::settings(config);
    settings.push(("Handsets".into(), {
        let n = state.handsets().len();
        let kept = if state.handsets_in_store() {
            "kept in the database"
        } else {
            "fixed by the program running the server"
        };
        format!("{n}, {kept}")
    }));
    render(
        StatusCode::OK,
        SystemPage {
            layout: session.layout(&state, "System", "system"),
            settings,
            webhooks: check::webhooks(config, &base)
                .into_iter()
                .map(|w| (w.place, w.url))
                .collect(),
            public_url_set: config.public_url.is_some(),
            database_url: store.url().to_string(),
            database_ok,
            database_error,
            schema,
            pending: state.pending.len(),
            version: env!("CARGO_PKG_VERSION"),
            streams: state.push.open_streams(),
            ice: ice_view(&state),
        },
    )
}

fn ice_view(state: &AppState) -> IceView {
    let Some(status) = state.ice.status(state.now(), state.clock.unix_now()) else {
        return IceView::default();
    };
    let answer = &status.answer;
    let why = answer
        .problem
        .as_ref()
        .map(|p| p.message())
        .unwrap_or_default();
    let state_words = match (&answer.servers, answer.stale) {
        (Some(list), false) => format!("{} servers, fresh", list.len()),
        (Some(list), true) => format!("{} servers, stale: {why}", list.len()),
        (None, _) => format!("none yet: {why}"),
    };
    let next_fetch = match status.next_fetch_unix {
        _ if status.fetching => "running now".to_string(),
        at => time(at),
    };
    IceView {
        enabled: true,
        ok: answer.servers.is_some() && !answer.stale,
        state: state_words,
        fetched: time(status.fetched_unix),
        expires: time(status.expires_unix),
        next_fetch,
        failures: status.failures,
        last_failure: status.last_failure.map_or_else(
            || "—".to_string(),
            |f| {
                let at = i64::try_from(f.at_unix).ok();
                format!("{}: {}", time(at), f.message)
            },
        ),
    }
}
