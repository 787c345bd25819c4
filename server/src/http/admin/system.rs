//! `GET /admin/system`: the settings check ([`crate::check`], as `offhook-server check`), the
//! webhook URLs for the Twilio console, and the database's health.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::auth::Client;
use super::views::SystemPage;
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
        },
    )
}
