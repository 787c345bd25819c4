//! The handset API: what a handset asks about itself, logged in exactly as for its token
//! ([`super::token::authenticate`]).
//!
//! - `GET /api/handset/events` — `text/event-stream`: the current state first, then again on
//!   every change: `event: voicemail` with `{"new":N,"saved":M}`, `event: settings` with
//!   the settings JSON ([`crate::forwarding::to_json`]) and `event: config` with
//!   `{"etag":"\"…\""}` (the configuration's, [`super::provisioning`]); `: keep-alive` every
//!   15 s. The stream ends when its handset is removed.
//! - `GET /api/handset/voicemail` — `{"new":N,"saved":M,"messages":[{"id","caller",
//!   "received_at","duration_secs","state"}]}`, newest first.
//! - `GET /api/handset/settings`, `PUT /api/handset/settings` (the same JSON, every field
//!   optional) → the settings now.
//!
//! Errors other than the login's are `{"error":{"code":…,"message":…}}`: 400 for a bad
//! change, 503 when the server has no database or it does not answer, or too many streams
//! are open.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use tokio::sync::watch;

use super::token::{Login, authenticate};
use super::{AppState, BodyError, api_error, json, media_type, read_body};
use crate::forwarding;
use crate::handsets::Handset;
use crate::push::{KEEP_ALIVE_INTERVAL, POLL_INTERVAL, StreamSlot};
use crate::store::Store;
use crate::store::handsets::HandsetSettings;
use crate::store::voicemail::{Counts, MailboxId, MessageState};
use crate::voicemail;
use crate::worker::STORE_DEADLINE;

/// Largest settings body.
pub const SETTINGS_BODY_LIMIT: usize = 4 * 1024;

/// A logged-in handset of a server with a database, or the response to send instead.
pub(crate) async fn handset_and_store(
    state: &Arc<AppState>,
    request: Request,
) -> Result<(Handset, Store, axum::body::Body), Response> {
    let (parts, body) = request.into_parts();
    let Login { device_id, .. } = authenticate(state, &parts).await?;
    let Some(handset) = state.handsets().by_id(&device_id).cloned() else {
        // A login names one of the handsets loaded; one removed meanwhile is gone.
        return Err(unavailable(
            "unknown_handset",
            "This handset is not configured.",
        ));
    };
    let Some(store) = state.store.clone() else {
        return Err(unavailable(
            "no_database",
            "This server keeps no voicemail or settings.",
        ));
    };
    Ok((handset, store, body))
}

pub(crate) fn unavailable(code: &str, message: &str) -> Response {
    let mut response = api_error(StatusCode::SERVICE_UNAVAILABLE, code, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    response
}

pub(crate) fn database_down(e: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %e, "handset API: database unavailable");
    unavailable(
        "database_unavailable",
        "The server's database is not answering. Try again later.",
    )
}

/// Store work for a request, bounded like the webhooks' (a 503 beats a hung request).
pub(crate) async fn bounded<T>(
    work: impl Future<Output = Result<T, crate::Error>>,
) -> Result<T, Response> {
    super::hooks::with_deadline(work)
        .await
        .map_err(database_down)
}

fn counts_json(counts: Counts) -> serde_json::Value {
    serde_json::json!({ "new": counts.new, "saved": counts.saved })
}

pub(crate) async fn voicemail(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (handset, store, _) = match handset_and_store(&state, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let mailboxes = voicemail::mailboxes_of(&state.config, &handset);
    let listing = bounded(async {
        let counts = store.counts_in(&mailboxes).await?;
        let messages = store.messages_in(&mailboxes).await?;
        Ok((counts, messages))
    })
    .await;
    let (counts, mut messages) = match listing {
        Ok(listing) => listing,
        Err(response) => return response,
    };
    messages.sort_by_key(|m| std::cmp::Reverse((m.received_at, m.id)));
    let messages: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id,
                "caller": m.caller,
                "received_at": m.received_at,
                "duration_secs": m.duration_seconds,
                "state": match m.state {
                    MessageState::New => "new",
                    MessageState::Saved | MessageState::Deleting => "saved",
                },
            })
        })
        .collect();
    json(
        StatusCode::OK,
        serde_json::json!({
            "new": counts.new,
            "saved": counts.saved,
            "messages": messages,
        }),
    )
}

pub(crate) async fn settings(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (handset, store, _) = match handset_and_store(&state, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match bounded(store.handset_settings(&handset.id)).await {
        Ok(settings) => json(StatusCode::OK, forwarding::to_json(&settings)),
        Err(response) => response,
    }
}

/// A handset's JSON request body, read within the body deadline: at most `limit` bytes and
/// `application/json`, or the answer that says what was wrong with it (`what` names it).
pub(crate) async fn json_body(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    limit: usize,
    what: &str,
) -> Result<axum::body::Bytes, Response> {
    let body = match read_body(body, limit, state.config.limits.body_timeout).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            return Err(api_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("{what}: at most {} KiB.", limit / 1024),
            ));
        }
        Err(BodyError::TimedOut) => {
            return Err(api_error(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request body did not arrive in time.",
            ));
        }
        Err(BodyError::Unreadable) => {
            return Err(api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request body could not be read.",
            ));
        }
    };
    match media_type(headers) {
        Some((media, true)) if media == "application/json" => Ok(body),
        _ => Err(api_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            &format!("{what}: application/json only."),
        )),
    }
}

pub(crate) async fn change_settings(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    let headers = request.headers().clone();
    let (handset, store, body) = match handset_and_store(&state, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let body = match json_body(&state, &headers, body, SETTINGS_BODY_LIMIT, "The settings").await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let change = match forwarding::parse_change(&body) {
        Ok(change) => change,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                &format!("The body is not a settings object: {e}."),
            );
        }
    };
    let current = match bounded(store.handset_settings(&handset.id)).await {
        Ok(current) => current,
        Err(response) => return response,
    };
    let next = match forwarding::apply(&state.config, &state.handsets(), &handset, &current, change)
    {
        Ok(next) => next,
        Err(refusal) => return api_error(StatusCode::BAD_REQUEST, refusal.code, &refusal.message),
    };
    if let Err(response) = bounded(store.set_handset_settings(&handset.id, &next)).await {
        return response;
    }
    state.push.notify();
    tracing::info!(
        handset = %handset.id,
        dnd = next.do_not_disturb,
        forwarding = forwarding::mode_name(next.forward_when),
        "handset settings changed"
    );
    json(StatusCode::OK, forwarding::to_json(&next))
}

/// What a handset has last been told.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Told {
    version: i64,
    counts: Counts,
    settings: HandsetSettings,
    /// The `ETag` of its configuration (`GET /api/handset/config`).
    config_etag: String,
}

/// How often an open stream notes in the database that it is open ("online" for `/admin` on
/// every instance).
pub const STREAM_SEEN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// One handset's stream: what it needs to find out about changes, and what it was told.
struct Events {
    /// Keeps the notifier (and so `changes`) alive as long as the stream.
    state: Arc<AppState>,
    /// When the stream last noted in the database that it is open.
    seen_at: tokio::time::Instant,
    store: Store,
    device_id: String,
    mailboxes: Vec<MailboxId>,
    slot: StreamSlot,
    changes: watch::Receiver<u64>,
    stopping: watch::Receiver<bool>,
    poll: tokio::time::Interval,
    told: Told,
    queued: VecDeque<Event>,
}

/// Reads what a handset is told: the change counter first, so that a change racing with the
/// read is seen again at the next poll rather than lost. `None`: the handset is gone.
async fn read_state(
    state: &AppState,
    store: &Store,
    device_id: &str,
    mailboxes: &[MailboxId],
) -> Result<Option<Told>, crate::Error> {
    let version = store.change_version().await?;
    let Some(config) = super::provisioning::handset_config(state, store, device_id).await? else {
        return Ok(None);
    };
    let (_, config_etag) = crate::provisioning::body_and_etag(&config.to_json(&state.config));
    Ok(Some(Told {
        version,
        counts: store.counts_in(mailboxes).await?,
        settings: config.settings,
        config_etag,
    }))
}

fn config_event(etag: &str) -> Event {
    Event::default()
        .event("config")
        .data(serde_json::json!({ "etag": etag }).to_string())
}

fn voicemail_event(counts: Counts) -> Event {
    Event::default()
        .event("voicemail")
        .data(counts_json(counts).to_string())
}

fn settings_event(settings: &HandsetSettings) -> Event {
    Event::default()
        .event("settings")
        .data(forwarding::to_json(settings).to_string())
}

impl Events {
    /// The next event, or `None` when the stream ends (server stopping, or a newer stream of
    /// the same handset took its place).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            let woken_here = tokio::select! {
                biased;
                _ = self.stopping.wait_for(|s| *s) => return None,
                _ = &mut self.slot.replaced => return None,
                changed = self.changes.changed() => changed.is_ok(),
                _ = self.poll.tick() => false,
            };
            if self.seen_at.elapsed() >= STREAM_SEEN_INTERVAL {
                self.seen_at = tokio::time::Instant::now();
                let seen = self
                    .store
                    .stream_seen(&self.device_id, self.state.unix_now());
                if let Ok(Err(e)) = tokio::time::timeout(STORE_DEADLINE, seen).await {
                    tracing::debug!(error = %e, "event stream: cannot note it is open");
                }
            }
            if !woken_here {
                // The cheap question first: has anything changed anywhere?
                match tokio::time::timeout(STORE_DEADLINE, self.store.change_version()).await {
                    Ok(Ok(version)) if version == self.told.version => continue,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "event stream: cannot poll the database");
                        continue;
                    }
                    Err(_) => continue,
                }
            }
            let read = read_state(&self.state, &self.store, &self.device_id, &self.mailboxes);
            match tokio::time::timeout(STORE_DEADLINE, read).await {
                Ok(Ok(None)) => {
                    tracing::info!(handset = %self.device_id, "event stream ended: the handset was removed");
                    return None;
                }
                Ok(Ok(Some(now))) => {
                    if now.counts != self.told.counts {
                        self.queued.push_back(voicemail_event(now.counts));
                    }
                    if now.settings != self.told.settings {
                        self.queued.push_back(settings_event(&now.settings));
                    }
                    if now.config_etag != self.told.config_etag {
                        self.queued.push_back(config_event(&now.config_etag));
                    }
                    self.told = now;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "event stream: cannot read the state"),
                Err(_) => tracing::debug!("event stream: the database is slow"),
            }
        }
    }
}

fn event_stream(events: Events) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    stream::unfold(events, |mut events| async move {
        let event = events.next().await?;
        Some((Ok(event), events))
    })
}

pub(crate) async fn events(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (handset, store, _) = match handset_and_store(&state, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    // The place first: a handset over its share closes its oldest stream, and a full server
    // answers before touching the database.
    let slot = match state
        .push
        .open(&handset.id, state.config.limits.max_event_streams)
    {
        Ok(slot) => slot,
        Err(_) => {
            tracing::warn!(handset = %handset.id, "event stream refused: too many open");
            return unavailable(
                "too_many_streams",
                "The server has too many event streams open. Try again later.",
            );
        }
    };
    let mailboxes = voicemail::mailboxes_of(&state.config, &handset);
    // Subscribed before reading, so that no change after the read is missed.
    let changes = state.push.changes();
    let told = match bounded(read_state(&state, &store, &handset.id, &mailboxes)).await {
        Ok(Some(told)) => told,
        Ok(None) => {
            return unavailable("unknown_handset", "This handset is not configured.");
        }
        Err(response) => return response,
    };
    if let Err(response) = bounded(store.stream_seen(&handset.id, state.unix_now())).await {
        return response;
    }
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let queued = VecDeque::from([
        voicemail_event(told.counts),
        settings_event(&told.settings),
        config_event(&told.config_etag),
    ]);
    tracing::info!(handset = %handset.id, "event stream opened");
    let events = Events {
        stopping: state.push.stopping(),
        seen_at: tokio::time::Instant::now(),
        state: Arc::clone(&state),
        store,
        device_id: handset.id.clone(),
        mailboxes,
        slot,
        changes,
        poll,
        told,
        queued,
    };
    let mut response = Sse::new(event_stream(events))
        .keep_alive(
            KeepAlive::new()
                .interval(KEEP_ALIVE_INTERVAL)
                .text("keep-alive"),
        )
        .into_response();
    // Proxies such as nginx would otherwise hold the events back in their buffers.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
