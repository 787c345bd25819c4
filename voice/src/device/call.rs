//! `Call`: a handle to one call of a Device, with the SDK's methods, accessors and events.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::driver::Command;
use crate::error::VoiceError;
use crate::model::{
    CallDirection, CallEvent, CallId, CallParameters, CallStatus, Codec, FeedbackIssue,
};

/// What a Call knows without asking the Device task.
#[derive(Debug, Clone)]
pub(crate) struct CallSnapshot {
    pub status: CallStatus,
    pub direction: CallDirection,
    pub parameters: CallParameters,
    pub custom_parameters: Vec<(String, String)>,
    pub codec: Option<Codec>,
    pub muted: bool,
}

pub(crate) struct CallInner {
    pub id: CallId,
    pub commands: mpsc::UnboundedSender<Command>,
    pub snapshot: Mutex<CallSnapshot>,
    pub events: broadcast::Sender<CallEvent>,
    /// A receiver made when the call was created, so the first subscriber misses nothing.
    pub first_events: Mutex<Option<broadcast::Receiver<CallEvent>>>,
}

/// One call. Cheap to clone; every clone is the same call.
#[derive(Clone)]
pub struct Call {
    pub(crate) inner: Arc<CallInner>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("id", &self.inner.id)
            .field("status", &self.status())
            .finish()
    }
}

impl PartialEq for Call {
    fn eq(&self, other: &Self) -> bool {
        self.inner.id == other.inner.id && Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// A stream of a Call's events.
pub struct CallEvents {
    rx: broadcast::Receiver<CallEvent>,
}

impl CallEvents {
    /// The next event; `None` once the call is gone and every event has been read.
    pub async fn recv(&mut self) -> Option<CallEvent> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "call event reader fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// An event if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<CallEvent> {
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Some(e),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    }
}

impl Call {
    pub(crate) fn new(
        id: CallId,
        commands: mpsc::UnboundedSender<Command>,
        snapshot: CallSnapshot,
    ) -> Call {
        let (events, first) = broadcast::channel(1024);
        Call {
            inner: Arc::new(CallInner {
                id,
                commands,
                snapshot: Mutex::new(snapshot),
                events,
                first_events: Mutex::new(Some(first)),
            }),
        }
    }

    fn snapshot(&self) -> CallSnapshot {
        match self.inner.snapshot.lock() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut CallSnapshot)) {
        if let Ok(mut s) = self.inner.snapshot.lock() {
            f(&mut s);
        }
    }

    pub(crate) fn emit(&self, event: CallEvent) {
        let _ = self.inner.events.send(event);
    }

    fn send(&self, c: Command) {
        let _ = self.inner.commands.send(c);
    }

    pub fn id(&self) -> CallId {
        self.inner.id
    }

    /// The SDK's `call.status()`.
    pub fn status(&self) -> CallStatus {
        self.snapshot().status
    }

    pub fn direction(&self) -> CallDirection {
        self.snapshot().direction
    }

    /// Parameters from Twilio (`From`, `To`, `CallSid`, `AccountSid`, …). Outgoing calls
    /// only ever hold `CallSid`, once known.
    pub fn parameters(&self) -> CallParameters {
        self.snapshot().parameters
    }

    /// Custom parameters: what `connect` passed, or the `<Parameter>`s of an incoming call.
    pub fn custom_parameters(&self) -> Vec<(String, String)> {
        self.snapshot().custom_parameters
    }

    /// The codec in use, once negotiated.
    pub fn codec(&self) -> Option<Codec> {
        self.snapshot().codec
    }

    pub fn is_muted(&self) -> bool {
        self.snapshot().muted
    }

    /// This call's events. The first subscriber gets every event since the call was created.
    pub fn events(&self) -> CallEvents {
        let first = self
            .inner
            .first_events
            .lock()
            .ok()
            .and_then(|mut f| f.take());
        CallEvents {
            rx: first.unwrap_or_else(|| self.inner.events.subscribe()),
        }
    }

    /// Accepts an incoming call (status `connecting`, then `open`).
    pub fn accept(&self) {
        self.send(Command::Accept(self.id()));
    }

    /// Rejects an incoming call: the caller hears it end.
    pub fn reject(&self) {
        self.send(Command::Reject(self.id()));
    }

    /// Ignores an incoming call: nothing is sent, the caller keeps ringing.
    pub fn ignore(&self) {
        self.send(Command::Ignore(self.id()));
    }

    /// Hangs up.
    pub fn disconnect(&self) {
        self.send(Command::Disconnect(self.id()));
    }

    /// Mutes or unmutes the microphone: the far end hears silence; the mic is not sent.
    pub fn mute(&self, should_mute: bool) {
        self.update(|s| s.muted = should_mute);
        self.send(Command::Mute(self.id(), should_mute));
    }

    /// Sends DTMF digits (`0-9`, `*`, `#`; `w` pauses 500 ms).
    pub fn send_digits(&self, digits: &str) -> Result<(), VoiceError> {
        if digits
            .chars()
            .any(|c| !matches!(c, '0'..='9' | '*' | '#' | 'w'))
        {
            return Err(VoiceError::InvalidArgument(
                "Illegal character passed into sendDigits".into(),
            ));
        }
        self.send(Command::SendDigits(self.id(), digits.to_string()));
        Ok(())
    }

    /// Sends a call message to the server-side application; returns its voice event SID.
    /// `message_sent` (or `error`) follows.
    pub async fn send_message(
        &self,
        content: Value,
        content_type: Option<String>,
        message_type: &str,
    ) -> Result<String, VoiceError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::SendMessage {
            call: self.id(),
            content,
            content_type,
            message_type: message_type.to_string(),
            reply,
        });
        rx.await.map_err(|_| VoiceError::Destroyed)?
    }

    /// Posts call-quality feedback to Insights (`score` 1–5, or `None` for "declined").
    pub async fn post_feedback(
        &self,
        score: Option<u8>,
        issue: Option<FeedbackIssue>,
    ) -> Result<(), VoiceError> {
        if let Some(s) = score
            && !(1..=5).contains(&s)
        {
            return Err(VoiceError::InvalidArgument(
                "Feedback score must be one of: 1,2,3,4,5".into(),
            ));
        }
        let (reply, rx) = oneshot::channel();
        self.send(Command::PostFeedback {
            call: self.id(),
            score,
            issue,
            reply,
        });
        rx.await.map_err(|_| VoiceError::Destroyed)?
    }
}
