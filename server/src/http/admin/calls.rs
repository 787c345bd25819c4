//! `GET /admin/calls?q=…&page=N`: the call log ([`crate::call_log`]), newest first,
//! [`PAGE_SIZE`] a page, searched by number (or part of one), handset name or id.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::views::{CallRow, CallsPage, duration, time};
use super::{SignedIn, database_error, render};
use crate::admin;
use crate::call_log::Direction;
use crate::http::AppState;
use crate::http::hooks::with_deadline;
use crate::store::call_log::CallSearch;

/// Calls a page shows.
pub const PAGE_SIZE: i64 = 50;
/// The last page that may be asked for (offsets stay small).
pub const MAX_PAGE: i64 = 10_000;
/// Longest search text.
pub const MAX_QUERY: usize = 64;

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct CallsQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<String>,
}

fn result_text(result: &str, direction: Direction) -> String {
    match (result, direction) {
        ("completed", _) => "answered".into(),
        ("no-answer", Direction::Incoming) => "missed".into(),
        ("no-answer", _) => "not answered".into(),
        ("busy", _) => "busy".into(),
        ("canceled", Direction::Incoming) => "missed (caller hung up)".into(),
        ("canceled", _) => "cancelled".into(),
        ("failed", _) => "failed".into(),
        (other, _) => other.to_string(),
    }
}

fn page_href(base: &str, q: &str, page: i64) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        query.append_pair("q", q);
    }
    query.append_pair("page", &page.to_string());
    format!("{base}/calls?{}", query.finish())
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Query(query): Query<CallsQuery>,
) -> Response {
    let q: String = query.q.trim().chars().take(MAX_QUERY).collect();
    let page = query
        .page
        .as_deref()
        .and_then(|p| p.trim().parse::<i64>().ok())
        .unwrap_or(1)
        .clamp(1, MAX_PAGE);
    let handsets = state.handsets();
    let search = if q.is_empty() {
        CallSearch::default()
    } else {
        let needle = q.to_lowercase();
        CallSearch {
            text: Some(q.clone()),
            handsets: handsets
                .iter()
                .filter(|h| {
                    h.display_name.to_lowercase().contains(&needle)
                        || h.id.to_lowercase().contains(&needle)
                })
                .map(|h| h.id.clone())
                .collect(),
        }
    };
    // One more than a page: whether there are older calls.
    let found = with_deadline(
        session
            .store
            .calls(&search, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1),
    )
    .await;
    let mut calls = match found {
        Ok(calls) => calls,
        Err(e) => return database_error(&state, e, Some(&session)),
    };
    let more = calls.len() > usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX);
    calls.truncate(usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX));
    let name_of = |id: &str| {
        handsets
            .by_id(id)
            .map_or_else(|| id.to_string(), |h| h.display_name.clone())
    };
    let rows = calls
        .iter()
        .map(|c| {
            let r = &c.record;
            let handset = match (&r.handset, &r.answered_by, r.direction) {
                (Some(h), _, Direction::Incoming) => name_of(h),
                (None, Some(by), Direction::Incoming) => format!("forwarded to {by}"),
                (Some(h), Some(by), Direction::Internal) => {
                    format!("{} → {}", name_of(h), name_of(by))
                }
                (Some(h), _, _) => name_of(h),
                (None, _, _) => "—".into(),
            };
            CallRow {
                time: time(Some(r.started_at)),
                direction: r.direction.as_str(),
                from: if r.from.is_empty() {
                    "—".into()
                } else {
                    r.from.clone()
                },
                to: if r.to.is_empty() {
                    "—".into()
                } else {
                    r.to.clone()
                },
                handset,
                duration: duration(r.duration_seconds),
                result: result_text(&r.result, r.direction),
            }
        })
        .collect();
    let base = admin::base_path(&state.config);
    render(
        StatusCode::OK,
        CallsPage {
            layout: session.layout(&state, "Call log", "calls"),
            newer: (page > 1).then(|| page_href(&base, &q, page - 1)),
            older: (more && page < MAX_PAGE).then(|| page_href(&base, &q, page + 1)),
            query: q,
            calls: rows,
        },
    )
}
