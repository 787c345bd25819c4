//! Voicemail's webhooks: the end of the handsets' `<Dial>`, the recording callback, the
//! goodbye after `<Record>`, and the `*97` menu. Each reads or changes the store and hands
//! the facts to [`crate::voicemail`] for the TwiML; every change is pushed to the handsets.
//! Signed requests always get TwiML (an apology when the database is away), except the
//! recording callback, which Twilio does not play: it gets a status.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::hooks::{Signed, query_pairs, refuse, respond, with_deadline};
use crate::calls::{Outcome, Plan, param};
use crate::handsets::Handset;
use crate::store::Store;
use crate::store::voicemail::{Greeting, MailboxId, Message, MessageState};
use crate::voicemail::{self, deposit, menu};

pub(crate) async fn dial_ended(
    State(state): State<Arc<AppState>>,
    Signed { params, uri }: Signed,
) -> Response {
    let after = deposit::AfterDial::from_query(&query_pairs(&uri));
    let greeting = match (&state.store, &after) {
        (Some(store), Some(after)) if !deposit::answered(&params) => {
            with_deadline(store.greeting(&after.mailbox))
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "database unavailable: the default greeting plays");
                    Greeting::default()
                })
        }
        _ => Greeting::default(),
    };
    let plan = deposit::dial_ended(
        &state.config,
        &state.handsets(),
        &params,
        after.as_ref(),
        &greeting,
    );
    respond(&state, "voicemail/dial-ended", &params, plan)
}

pub(crate) async fn goodbye(
    State(state): State<Arc<AppState>>,
    Signed { params, .. }: Signed,
) -> Response {
    respond(
        &state,
        "voicemail/goodbye",
        &params,
        Plan {
            twiml: deposit::goodbye(),
            outcome: Outcome::Hangup("the message was recorded"),
        },
    )
}

/// The greeting hook: `0` at an empty mailbox's offer records the greeting; a finished
/// recording becomes the greeting of the caller's mailboxes.
pub(crate) async fn greeting(
    State(state): State<Arc<AppState>>,
    Signed { params, uri }: Signed,
) -> Response {
    let mailboxes: Vec<MailboxId> = voicemail::query_values(&query_pairs(&uri), "mailbox")
        .into_iter()
        .map(str::to_string)
        .collect();
    let handsets = state.handsets();
    if mailboxes.is_empty()
        || !mailboxes
            .iter()
            .all(|m| voicemail::is_known_mailbox(&state.config, &handsets, m))
    {
        let plan = Plan {
            twiml: menu::unavailable(),
            outcome: Outcome::Refused("the greeting URL names no mailbox of this server"),
        };
        return respond(&state, "voicemail/greeting", &params, plan);
    }
    let asked = voicemail::greeting::Request::from_params(&params);
    let mut saved = false;
    if let (voicemail::greeting::Request::Recorded(Some(url)), Some(store)) = (&asked, &state.store)
    {
        let greeting = Greeting {
            text: None,
            recording_url: Some(url.clone()),
        };
        let kept = with_deadline(async {
            for mailbox in &mailboxes {
                store.set_greeting(mailbox, &greeting).await?;
            }
            Ok(())
        })
        .await;
        match kept {
            Ok(()) => saved = true,
            Err(e) => tracing::warn!(error = %e, "database unavailable: the greeting is not kept"),
        }
    }
    let plan = voicemail::greeting::after(&state.config, &mailboxes, &asked, saved);
    respond(&state, "voicemail/greeting", &params, plan)
}

/// The recording status callback: a forged one is refused (403) and a malformed one or one
/// for a mailbox this server does not have gets 400, both with nothing stored; a genuine one
/// is stored once however often Twilio retries it, or held in memory and retried while the
/// database is away.
pub(crate) async fn recorded(
    State(state): State<Arc<AppState>>,
    Signed { params, uri }: Signed,
) -> Response {
    let Some(store) = &state.store else {
        return refuse(StatusCode::BAD_REQUEST, "this server keeps no voicemail");
    };
    let now = i64::try_from(state.clock.unix_now()).unwrap_or(i64::MAX);
    let message = match deposit::recording(
        &state.config,
        &state.handsets(),
        &query_pairs(&uri),
        &params,
        now,
    ) {
        Err(reason) => return refuse(StatusCode::BAD_REQUEST, reason),
        Ok(None) => {
            tracing::info!(
                status = param(&params, "RecordingStatus"),
                "recording callback without a finished recording; nothing kept"
            );
            return (StatusCode::OK, "ignored\n").into_response();
        }
        Ok(Some(message)) => message,
    };
    match with_deadline(store.save_message(&message)).await {
        Ok(new) => {
            tracing::info!(
                mailbox = %message.mailbox,
                recording_sid = %message.recording_sid,
                new,
                "voicemail stored"
            );
            if new {
                state.push.notify();
            }
            (StatusCode::OK, "stored\n").into_response()
        }
        Err(e) => {
            let sid = message.recording_sid.clone();
            if state.pending.push(message) {
                tracing::warn!(error = %e, recording_sid = %sid, "database unavailable: the message is held and retried");
                (StatusCode::OK, "held\n").into_response()
            } else {
                tracing::error!(error = %e, recording_sid = %sid, "database unavailable and too many messages held: refused");
                (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
            }
        }
    }
}

/// `*97` from a handset: the counts and the first message of its mailboxes.
pub(crate) async fn mailbox_entry(state: &AppState, handset: &Handset) -> Plan {
    let mailboxes = voicemail::mailboxes_of(&state.config, handset);
    let Some(store) = &state.store else {
        return Plan {
            twiml: crate::twiml::Response::new()
                .say(menu::SAY_NOT_SET_UP)
                .hangup(),
            outcome: Outcome::Refused("voicemail needs the database"),
        };
    };
    let listing = with_deadline(async {
        let counts = store.counts_in(&mailboxes).await?;
        let mut messages = store.messages_in(&mailboxes).await?;
        menu::play_order(&mut messages);
        Ok((counts, messages))
    })
    .await;
    match listing {
        Ok((counts, messages)) => {
            let first = match messages.first() {
                Some(message) => recording_of(state, message).await,
                None => menu::Recording::Playable,
            };
            menu::entry(&state.config, &mailboxes, counts, &messages, first)
        }
        Err(e) => {
            tracing::warn!(error = %e, "database unavailable: no voicemail menu");
            unavailable()
        }
    }
}

fn unavailable() -> Plan {
    Plan {
        twiml: menu::unavailable(),
        outcome: Outcome::Hangup("the database is unavailable"),
    }
}

/// A key at the menu: `7` deletes (at Twilio too, in the background), `9` saves, `#` (or no
/// key) keeps a new message as saved and plays the next, `*` replays.
pub(crate) async fn menu(
    State(state): State<Arc<AppState>>,
    Signed { params, uri }: Signed,
) -> Response {
    let Some(position) = menu::Position::from_query(&query_pairs(&uri)) else {
        let plan = Plan {
            twiml: menu::unavailable(),
            outcome: Outcome::Refused("the menu URL is malformed"),
        };
        return respond(&state, "voicemail/menu", &params, plan);
    };
    let plan = match &state.store {
        None => unavailable(),
        Some(store) => {
            let key = menu::Key::parse(param(&params, "Digits"));
            match with_deadline(step(&state, store, &position, key)).await {
                Ok(plan) => plan,
                Err(e) => {
                    tracing::warn!(error = %e, "database unavailable: the menu ends");
                    unavailable()
                }
            }
        }
    };
    respond(&state, "voicemail/menu", &params, plan)
}

async fn step(
    state: &Arc<AppState>,
    store: &Store,
    position: &menu::Position,
    key: menu::Key,
) -> Result<Plan, crate::Error> {
    let config = &state.config;
    let current = listed(store, &position.mailboxes, position.message).await?;
    let said = match (key, &current) {
        (menu::Key::Repeat, Some(message)) => {
            return Ok(playing(menu::play(
                config,
                &position.mailboxes,
                message,
                recording_of(state, message).await,
                &position.queue,
                None,
            )));
        }
        (menu::Key::Other, Some(_)) => {
            return Ok(playing(menu::not_an_option(config, position)));
        }
        (menu::Key::Greeting, _) => {
            return Ok(playing(voicemail::greeting::record(
                config,
                &position.mailboxes,
            )));
        }
        (menu::Key::Delete, Some(message)) => match store.start_deleting(message.id).await? {
            Some(sid) => {
                state.push.notify();
                let (state, id) = (Arc::clone(state), message.id);
                tokio::spawn(async move {
                    crate::worker::delete_recording(&state, id, &sid).await;
                });
                Some(menu::SAY_DELETED)
            }
            None => None,
        },
        (menu::Key::Save, Some(message)) => {
            if store.mark_saved(message.id).await? {
                state.push.notify();
            }
            Some(menu::SAY_SAVED)
        }
        (menu::Key::Next, Some(message)) => {
            if message.state == MessageState::New && store.mark_saved(message.id).await? {
                state.push.notify();
            }
            None
        }
        // The message went away meanwhile (deleted from another handset): go on.
        (_, None) => None,
    };
    let mut queue = position.queue.iter();
    while let Some(&id) = queue.next() {
        if let Some(next) = listed(store, &position.mailboxes, id).await? {
            let rest: Vec<i64> = queue.copied().collect();
            return Ok(playing(menu::play(
                config,
                &position.mailboxes,
                &next,
                recording_of(state, &next).await,
                &rest,
                said,
            )));
        }
    }
    Ok(Plan {
        twiml: menu::finish(said),
        outcome: Outcome::Hangup("no more messages"),
    })
}

/// How long the menu waits for Twilio to say whether a recording still exists.
const RECORDING_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether Twilio still has `message`'s recording. Only a 404 says it is gone: when Twilio
/// cannot be asked, the `<Play>` is left to try.
/// The question is bounded well inside Twilio's 15 s webhook timeout.
async fn recording_of(state: &AppState, message: &Message) -> menu::Recording {
    let asked = tokio::time::timeout(
        RECORDING_CHECK_TIMEOUT,
        state.twilio.recording_exists(&message.recording_sid),
    )
    .await
    .unwrap_or(Err(crate::twilio_api::ApiError::Timeout(
        RECORDING_CHECK_TIMEOUT,
    )));
    match asked {
        Ok(true) => menu::Recording::Playable,
        Ok(false) => {
            tracing::warn!(
                recording = %message.recording_sid,
                message = message.id,
                "Twilio no longer has this message's recording; it is kept"
            );
            menu::Recording::Gone
        }
        Err(e) => {
            tracing::warn!(recording = %message.recording_sid, error = %e, "cannot ask Twilio about a recording; playing it anyway");
            menu::Recording::Playable
        }
    }
}

fn playing(twiml: crate::twiml::Response) -> Plan {
    Plan {
        twiml,
        outcome: Outcome::Mailbox(Vec::new()),
    }
}

/// A message that is still in one of `mailboxes` (not deleted, not another mailbox's).
async fn listed(
    store: &Store,
    mailboxes: &[MailboxId],
    id: i64,
) -> Result<Option<Message>, crate::Error> {
    Ok(store
        .message(id)
        .await?
        .filter(|m| m.state != MessageState::Deleting && mailboxes.contains(&m.mailbox)))
}
