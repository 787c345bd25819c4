//! Work that outlives a request: deleting a message's recording at Twilio, and retrying what
//! could not be done at once — messages whose recording callback arrived while the database
//! was unreachable (kept in memory, at most [`MAX_PENDING_MESSAGES`]), and recordings whose
//! deletion at Twilio failed (the rows marked `deleting` are the list). Also: reloading the
//! handsets when they changed through another instance, forgetting ended admin sessions, and
//! keeping the ICE servers fresh ([`spawn_ice_refresher`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::http::AppState;
use crate::store::voicemail::NewMessage;
use crate::twilio_api::Deleted;

/// How often the retries run.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// Messages held in memory while the database is unreachable; past this, callbacks are
/// refused (503) and Twilio's own retry is all that is left.
pub const MAX_PENDING_MESSAGES: usize = 1000;
/// How long one store call of a request may take before the server stops waiting for it.
pub const STORE_DEADLINE: Duration = Duration::from_secs(3);

/// Messages waiting for the database.
#[derive(Debug, Default)]
pub struct Pending(Mutex<VecDeque<NewMessage>>);

impl Pending {
    /// Keeps a message for later; `false` when the queue is full.
    pub fn push(&self, message: NewMessage) -> bool {
        let mut queue = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if queue.len() >= MAX_PENDING_MESSAGES {
            return false;
        }
        queue.push_back(message);
        true
    }

    pub fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take(&self) -> Vec<NewMessage> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect()
    }

    fn put_back(&self, messages: Vec<NewMessage>) {
        let mut queue = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for message in messages.into_iter().rev() {
            queue.push_front(message);
        }
        queue.truncate(MAX_PENDING_MESSAGES);
    }
}

/// What one round of retries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retried {
    pub messages_saved: usize,
    pub recordings_deleted: usize,
    pub failures: usize,
}

/// Deletes a message's recording at Twilio and then forgets the message; on failure the
/// message stays marked `deleting` for [`retry`]. Returns whether it is gone.
pub async fn delete_recording(state: &AppState, id: i64, recording_sid: &str) -> bool {
    let Some(store) = &state.store else {
        return false;
    };
    match state.twilio.delete_recording(recording_sid).await {
        Ok(outcome) => {
            if outcome == Deleted::AlreadyGone {
                tracing::info!(recording_sid, "the recording was already gone at Twilio");
            }
            match store.forget_message(id).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, id, "cannot forget a deleted message; retrying later");
                    false
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, recording_sid, "cannot delete the recording at Twilio; retrying later");
            false
        }
    }
}

/// One round: stores the messages held in memory, then retries the deletions Twilio has not
/// confirmed (every instance may do this; Twilio's 404 for a recording already gone makes
/// it harmless).
pub async fn retry(state: &AppState) -> Retried {
    let mut done = Retried::default();
    let Some(store) = &state.store else {
        return done;
    };
    let mut waiting = state.pending.take();
    let mut kept = Vec::new();
    for message in waiting.drain(..) {
        match store.save_message(&message).await {
            Ok(_) => done.messages_saved += 1,
            Err(e) => {
                tracing::warn!(error = %e, "a held message still cannot be stored");
                done.failures += 1;
                kept.push(message);
            }
        }
    }
    if done.messages_saved > 0 {
        state.push.notify();
    }
    let database_down = !kept.is_empty();
    state.pending.put_back(kept);
    if database_down {
        return done;
    }
    match store.messages_being_deleted().await {
        Ok(rows) => {
            for message in rows {
                if delete_recording(state, message.id, &message.recording_sid).await {
                    done.recordings_deleted += 1;
                } else {
                    done.failures += 1;
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the deletions to retry");
            done.failures += 1;
        }
    }
    done
}

/// Reloads the handsets whenever the database's handsets counter moves (a change made through
/// another instance, or `offhook-server add-handset`), every [`crate::push::POLL_INTERVAL`],
/// until `stop` turns true. Only for handsets that live in the database.
pub fn spawn_handsets_reloader(
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stopping = async move {
            if stop.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(stopping);
        let mut ticks = tokio::time::interval(crate::push::POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    match tokio::time::timeout(STORE_DEADLINE, state.reload_handsets()).await {
                        Ok(Ok(true)) => {
                            tracing::info!(handsets = state.handsets().len(), "handsets reloaded");
                        }
                        Ok(Ok(false)) | Err(_) => {}
                        Ok(Err(e)) => tracing::debug!(error = %e, "cannot reload the handsets"),
                    }
                }
                () = &mut stopping => return,
            }
        }
    })
}

/// Forgets admin sessions that ended and setup links that expired (a session is refused
/// when it has ended whether or not this has run).
pub async fn expire_sessions(state: &AppState) {
    let Some(store) = &state.store else {
        return;
    };
    let now = state.unix_now();
    let expired = store
        .expire_sessions(
            now - crate::admin::IDLE_TIMEOUT_SECS,
            now - crate::admin::MAX_SESSION_SECS,
            now,
        )
        .await;
    match expired {
        Ok(0) => {}
        Ok(n) => tracing::debug!(sessions = n, "ended admin sessions forgotten"),
        Err(e) => tracing::debug!(error = %e, "cannot forget ended admin sessions"),
    }
}

/// Keeps the ICE servers ([`crate::ice`]) fresh until `stop` turns true: a fetch at start (so
/// the first handset need not wait for one), again at half of each list's lifetime, and after
/// a failure with the cache's doubling pause. Token requests start fetches too when they find
/// one due; the cache runs one at a time either way.
pub fn spawn_ice_refresher(
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stopping = async move {
            if stop.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(stopping);
        loop {
            let mut done = state.ice.subscribe();
            crate::ice::IceServers::kick(&state);
            let now = state.now();
            // While a fetch runs there is no deadline: its end wakes the loop.
            let pause = state
                .ice
                .next_deadline(now)
                .map_or(crate::ice::RETRY_MAX, |at| {
                    at.saturating_duration_since(now)
                })
                .max(ICE_REFRESH_MIN_PAUSE);
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = done.changed() => {}
                () = &mut stopping => return,
            }
        }
    })
}

/// The least the ICE refresher sleeps between looks (so that it can never spin).
const ICE_REFRESH_MIN_PAUSE: Duration = Duration::from_secs(1);

/// Runs [`retry`] (and [`expire_sessions`]) every [`RETRY_INTERVAL`] until `stop` turns true.
pub fn spawn(state: Arc<AppState>, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stopping = async move {
            // Every handle gone: nobody can ask any more, so keep going.
            if stop.wait_for(|s| *s).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(stopping);
        let mut ticks = tokio::time::interval(RETRY_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    let done = retry(&state).await;
                    if done != Retried::default() {
                        tracing::info!(?done, "retried voicemail work");
                    }
                    expire_sessions(&state).await;
                }
                () = &mut stopping => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: u32) -> NewMessage {
        NewMessage {
            mailbox: "m".into(),
            recording_sid: format!("RE{n}"),
            recording_url: "https://x".into(),
            duration_seconds: 1,
            call_sid: "CA".into(),
            caller: String::new(),
            received_at: 0,
        }
    }

    #[test]
    fn the_held_messages_are_bounded_and_keep_their_order() {
        let pending = Pending::default();
        for n in 0..MAX_PENDING_MESSAGES {
            assert!(pending.push(message(u32::try_from(n).unwrap())));
        }
        assert!(!pending.push(message(99_999)));
        let taken = pending.take();
        assert!(pending.is_empty());
        pending.push(message(50_000));
        pending.put_back(taken);
        assert_eq!(pending.len(), MAX_PENDING_MESSAGES);
        let again = pending.take();
        assert_eq!(again[0].recording_sid, "RE0");
        assert_eq!(
            again[MAX_PENDING_MESSAGES - 1].recording_sid,
            format!("RE{}", MAX_PENDING_MESSAGES - 1)
        );
    }
}
