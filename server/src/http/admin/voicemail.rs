//! Voicemail in the browser:
//!
//! - `GET /admin/voicemail` — every mailbox (the handsets' and any other holding messages)
//!   with its messages, each played by an `<audio>` element.
//! - `GET /admin/voicemail/{id}/audio` — the recording, fetched from Twilio with the account's
//!   API key and streamed through (`Range` passed on, so the player can seek): the browser
//!   never sees the credentials nor Twilio's address.
//! - `POST /admin/voicemail/{id}/delete` — as `7` in the handset's mailbox menu: the message
//!   leaves its mailbox at once (the handsets' lamps follow), and its recording is deleted at
//!   Twilio in the background, retried until Twilio confirms.

use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::views::{MailboxView, MessageRow, VoicemailPage, duration, time};
use super::{FormFields, SignedIn, database_error, message, render, see_other};
use crate::admin;
use crate::http::AppState;
use crate::http::hooks::with_deadline;
use crate::store::voicemail::{MailboxId, MessageState};
use crate::voicemail;

/// A recording that sends nothing for this long is cut off.
pub const STREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A mailbox's name as the page shows it.
fn mailbox_title(state: &AppState, mailbox: &str) -> String {
    if let Some(number) = mailbox.strip_prefix("number:") {
        return format!("Number {number}");
    }
    if let Some(id) = mailbox.strip_prefix("handset:") {
        return match state.handsets().by_id(id) {
            Some(h) => format!("Handset {} (extension {})", h.display_name, h.extension),
            None => format!("Handset {id} (removed)"),
        };
    }
    mailbox.to_string()
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Done {
    #[serde(default)]
    done: String,
}

pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Query(done): Query<Done>,
) -> Response {
    let mut mailboxes: Vec<MailboxId> = Vec::new();
    for handset in state.handsets().iter() {
        for mailbox in voicemail::mailboxes_of(&state.config, handset) {
            if !mailboxes.contains(&mailbox) {
                mailboxes.push(mailbox);
            }
        }
    }
    let store = &session.store;
    let loaded = with_deadline(async {
        for mailbox in store.mailboxes_with_messages().await? {
            if !mailboxes.contains(&mailbox) {
                mailboxes.push(mailbox);
            }
        }
        let mut views = Vec::new();
        for mailbox in &mailboxes {
            let counts = store.counts(mailbox).await?;
            let mut messages = store.messages(mailbox).await?;
            // Newest first in the page.
            messages.sort_by_key(|m| std::cmp::Reverse((m.received_at, m.id)));
            views.push(MailboxView {
                title: mailbox_title(&state, mailbox),
                new: counts.new,
                saved: counts.saved,
                messages: messages
                    .iter()
                    .map(|m| MessageRow {
                        id: m.id,
                        caller: if m.caller.trim().is_empty() {
                            "Unknown caller".into()
                        } else {
                            m.caller.clone()
                        },
                        received: time(Some(m.received_at)),
                        duration: duration(m.duration_seconds),
                        state: match m.state {
                            MessageState::New => "new",
                            MessageState::Saved => "saved",
                            MessageState::Deleting => "being deleted",
                        },
                    })
                    .collect(),
            });
        }
        Ok(views)
    })
    .await;
    let views = match loaded {
        Ok(views) => views,
        Err(e) => return database_error(&state, e, Some(&session)),
    };
    let mut layout = session.layout(&state, "Voicemail", "voicemail");
    if done.done == "deleted" {
        layout.notice = Some("Deleted the message.".into());
    }
    render(
        StatusCode::OK,
        VoicemailPage {
            layout,
            mailboxes: views,
        },
    )
}

fn no_message(state: &AppState, session: &SignedIn) -> Response {
    message(
        state,
        StatusCode::NOT_FOUND,
        "No such message",
        "There is no such message (it may have been deleted).",
        Some(session),
    )
}

/// A body that ends with an error when the far end sends nothing for
/// [`STREAM_IDLE_TIMEOUT`].
fn relay(body: Incoming) -> Body {
    let stream = futures_util::stream::unfold(Some(body), |body| async move {
        let mut body = body?;
        loop {
            match tokio::time::timeout(STREAM_IDLE_TIMEOUT, body.frame()).await {
                Ok(None) => return None,
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        return Some((Ok::<Bytes, std::io::Error>(data), Some(body)));
                    }
                }
                Ok(Some(Err(e))) => return Some((Err(std::io::Error::other(e)), None)),
                Err(_) => {
                    return Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the recording stopped arriving",
                        )),
                        None,
                    ));
                }
            }
        }
    });
    Body::from_stream(stream)
}

/// A `Range` header worth passing on: `bytes=` and digits, `-` and `,` only.
fn range(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::RANGE)?.to_str().ok()?.trim();
    let spec = value.strip_prefix("bytes=")?;
    (value.len() <= 100
        && !spec.is_empty()
        && spec
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b','))
    .then(|| value.to_string())
}

pub(crate) async fn audio(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Response {
    let found = match with_deadline(session.store.message(id)).await {
        Ok(found) => found,
        Err(e) => return database_error(&state, e, Some(&session)),
    };
    let Some(found) = found.filter(|m| m.state != MessageState::Deleting) else {
        return no_message(&state, &session);
    };
    let upstream = match state
        .twilio
        .fetch_recording(&found.recording_sid, range(&headers).as_deref())
        .await
    {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, recording_sid = %found.recording_sid, "cannot fetch a recording");
            return message(
                &state,
                StatusCode::BAD_GATEWAY,
                "Recording unavailable",
                "Twilio did not give the recording. Try again in a moment.",
                Some(&session),
            );
        }
    };
    let status = upstream.status();
    if !(status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT) {
        tracing::warn!(status = status.as_u16(), recording_sid = %found.recording_sid, "Twilio refused a recording");
        return message(
            &state,
            if status == StatusCode::RANGE_NOT_SATISFIABLE {
                status
            } else {
                StatusCode::BAD_GATEWAY
            },
            "Recording unavailable",
            "Twilio did not give the recording (it may have been deleted there).",
            Some(&session),
        );
    }
    let (parts, body) = upstream.into_parts();
    let mut response = (status, relay(body)).into_response();
    let out = response.headers_mut();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .filter(|v| v.to_str().is_ok_and(|t| t.starts_with("audio/")))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("audio/wav"));
    out.insert(header::CONTENT_TYPE, content_type);
    for name in [
        header::CONTENT_LENGTH,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
    ] {
        if let Some(value) = parts.headers.get(&name) {
            out.insert(name, value.clone());
        }
    }
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Path(id): Path<i64>,
    Form(form): Form<FormFields>,
) -> Response {
    if let Some(refusal) = session.bad_csrf(&state, &form) {
        return refusal;
    }
    match with_deadline(session.store.start_deleting(id)).await {
        Ok(Some(sid)) => {
            state.push.notify();
            tracing::info!(admin = %session.username, id, "voicemail deleted");
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                crate::worker::delete_recording(&state, id, &sid).await;
            });
        }
        Ok(None) => return no_message(&state, &session),
        Err(e) => return database_error(&state, e, Some(&session)),
    }
    see_other(&format!(
        "{}/voicemail?done=deleted",
        admin::base_path(&state.config)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_byte_ranges_are_passed_on() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::RANGE, v.parse().unwrap());
            range(&h)
        };
        assert_eq!(with("bytes=0-").as_deref(), Some("bytes=0-"));
        assert_eq!(
            with("bytes=100-200,300-").as_deref(),
            Some("bytes=100-200,300-")
        );
        assert_eq!(with("bytes=0-;x"), None);
        assert_eq!(with("items=0-1"), None);
        assert_eq!(with("bytes="), None);
    }
}
