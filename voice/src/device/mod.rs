//! The async API: [`Device`] and [`Call`], with the SDK's methods, events and accessors.
//!
//! A Device is a handle to a task that owns the signaling socket, the calls' media and the
//! sans-IO [`crate::core::Engine`]. Create it inside a tokio runtime.

mod call;
mod driver;
mod socket;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

pub use call::{Call, CallEvents};
pub use driver::HEARTBEAT_INTERVAL;
use driver::{Command, DeviceSnapshot, Driver, EventSlot};

use crate::core::Engine;
use crate::error::VoiceError;
use crate::liveness::Heartbeat;
use crate::media::AudioDevice;
use crate::media::audio::SilentAudio;
use crate::model::{CallId, DeviceEvent, DeviceState};
use crate::options::DeviceOptions;

/// `register()` gives up waiting for `registered` after this long (the SDK waits forever;
/// a phone must not). The Device keeps trying in the background.
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(30);

struct Inner {
    commands: mpsc::UnboundedSender<Command>,
    snapshot: Arc<Mutex<DeviceSnapshot>>,
    calls: Arc<Mutex<HashMap<CallId, Call>>>,
    /// Empty once the Device task has ended.
    events: EventSlot,
    state: watch::Receiver<DeviceState>,
    close_protection: Mutex<Option<String>>,
    heartbeat: Heartbeat,
}

/// A Twilio Voice Device. Cheap to clone; every clone is the same Device.
#[derive(Clone)]
pub struct Device {
    inner: Arc<Inner>,
}

/// A stream of a Device's events.
pub struct DeviceEvents {
    rx: broadcast::Receiver<DeviceEvent<Call>>,
}

impl DeviceEvents {
    /// The next event; `None` after the Device task has ended and every event was read. A
    /// task that died (a bug) first reports an `error` (31000, "the Device stopped: …").
    pub async fn recv(&mut self) -> Option<DeviceEvent<Call>> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "device event reader fell behind")
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    pub fn try_recv(&mut self) -> Option<DeviceEvent<Call>> {
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Some(e),
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => return None,
            }
        }
    }
}

impl Device {
    /// A Device with no audio device: calls send silence and play nowhere. Use
    /// [`Device::with_audio`] for a microphone and an earpiece.
    pub fn new(token: impl Into<String>, options: DeviceOptions) -> Result<Device, VoiceError> {
        Self::with_audio(token, options, Arc::new(SilentAudio(48_000)))
    }

    /// A Device whose calls take their audio from `audio`.
    pub fn with_audio(
        token: impl Into<String>,
        options: DeviceOptions,
        audio: Arc<dyn AudioDevice>,
    ) -> Result<Device, VoiceError> {
        let token = token.into();
        if token.trim().is_empty() {
            return Err(VoiceError::InvalidArgument(
                "Parameter \"token\" must be of type \"string\".".into(),
            ));
        }
        let tls = crate::tls::client_config(options.extra_ca_pem.as_deref())?;
        let close_protection = options.close_protection.message().map(String::from);
        let engine = Engine::new(token, options)?;
        let (parts, events) = Driver::start(engine, audio, tls);
        Ok(Device {
            inner: Arc::new(Inner {
                commands: parts.commands_tx,
                snapshot: parts.snapshot,
                calls: parts.calls,
                events,
                state: parts.state_rx,
                close_protection: Mutex::new(close_protection),
                heartbeat: parts.heartbeat,
            }),
        })
    }

    fn send(&self, c: Command) -> Result<(), VoiceError> {
        self.inner
            .commands
            .send(c)
            .map_err(|_| VoiceError::Destroyed)
    }

    fn snapshot(&self) -> DeviceSnapshot {
        match self.inner.snapshot.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The Device's events (the SDK's `on`). Subscribe before acting to miss nothing.
    pub fn events(&self) -> DeviceEvents {
        let slot = match self.inner.events.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        let rx = match slot.as_ref() {
            Some(sender) => sender.subscribe(),
            // The task has ended: a stream that is over at once.
            None => broadcast::channel(1).1,
        };
        DeviceEvents { rx }
    }

    /// The Device task's heartbeat: it beats at least every [`HEARTBEAT_INTERVAL`] while the
    /// task runs and ends when the task does (a panic included).
    pub fn heartbeat(&self) -> Heartbeat {
        self.inner.heartbeat.clone()
    }

    /// Registers for incoming calls; resolves on `registered`, fails on `unregistered` (with
    /// the error that caused it) or after [`REGISTER_TIMEOUT`].
    pub async fn register(&self) -> Result<(), VoiceError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Register(reply))?;
        match tokio::time::timeout(REGISTER_TIMEOUT, rx).await {
            Ok(r) => r.map_err(|_| VoiceError::Destroyed)?,
            Err(_) => Err(VoiceError::Timeout(
                "no `ready` from Twilio within 30 s; still trying".into(),
            )),
        }
    }

    /// Unregisters; resolves when Twilio confirms (`offline`).
    pub async fn unregister(&self) -> Result<(), VoiceError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Unregister(reply))?;
        match tokio::time::timeout(REGISTER_TIMEOUT, rx).await {
            Ok(r) => r.map_err(|_| VoiceError::Destroyed)?,
            Err(_) => Err(VoiceError::Timeout(
                "no `offline` from Twilio within 30 s".into(),
            )),
        }
    }

    /// Places an outgoing call; `params` go to the TwiML app as custom parameters.
    pub async fn connect(&self, params: Vec<(String, String)>) -> Result<Call, VoiceError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::Connect { params, reply })?;
        rx.await.map_err(|_| VoiceError::Destroyed)?
    }

    /// Ends the Device: rejects pending calls, hangs up the rest, closes the socket. With
    /// close protection on, refuses while a call is in progress (see [`Device::force_destroy`]).
    pub fn destroy(&self) -> Result<(), VoiceError> {
        let protection = self
            .inner
            .close_protection
            .lock()
            .ok()
            .and_then(|p| p.clone());
        if let Some(message) = protection
            && self.is_busy()
        {
            return Err(VoiceError::InvalidState(message));
        }
        self.force_destroy();
        Ok(())
    }

    /// Ends the Device even during a call.
    pub fn force_destroy(&self) {
        let _ = self.send(Command::Destroy);
    }

    /// Hangs up every call.
    pub fn disconnect_all(&self) {
        let _ = self.send(Command::DisconnectAll);
    }

    /// Replaces the token: sends `listen` with it on the live socket. Legal in every state
    /// but destroyed; keeps the registration and the calls.
    pub async fn update_token(&self, token: impl Into<String>) -> Result<(), VoiceError> {
        let (reply, rx) = oneshot::channel();
        self.send(Command::UpdateToken(token.into(), reply))?;
        rx.await.map_err(|_| VoiceError::Destroyed)?
    }

    /// Changes options; changing the edges while on a call is refused.
    pub async fn update_options(&self, options: DeviceOptions) -> Result<(), VoiceError> {
        let protection = options.close_protection.message().map(String::from);
        let (reply, rx) = oneshot::channel();
        self.send(Command::UpdateOptions(Box::new(options), reply))?;
        let r = rx.await.map_err(|_| VoiceError::Destroyed)?;
        if r.is_ok()
            && let Ok(mut p) = self.inner.close_protection.lock()
        {
            *p = protection;
        }
        r
    }

    pub fn state(&self) -> DeviceState {
        *self.inner.state.borrow()
    }

    /// Waits until the Device is in `state`.
    pub async fn wait_for_state(&self, state: DeviceState) -> Result<(), VoiceError> {
        let mut rx = self.inner.state.clone();
        rx.wait_for(|s| *s == state)
            .await
            .map(|_| ())
            .map_err(|_| VoiceError::Destroyed)
    }

    /// The identity from `connected.token` (set once connected).
    pub fn identity(&self) -> Option<String> {
        self.snapshot().identity
    }

    pub fn is_busy(&self) -> bool {
        self.snapshot().busy
    }

    pub fn token(&self) -> String {
        self.snapshot().token
    }

    pub fn edge(&self) -> Option<String> {
        self.snapshot().edge
    }

    pub fn home(&self) -> Option<String> {
        self.snapshot().home
    }

    /// Whether the signaling socket is up and Twilio has answered `listen`.
    pub fn is_signaling_connected(&self) -> bool {
        self.snapshot().signaling_connected
    }

    /// The calls held besides the active one (pending incoming calls).
    pub fn calls(&self) -> Vec<Call> {
        let ids = self.snapshot().calls;
        let map = self
            .inner
            .calls
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default();
        ids.iter().filter_map(|id| map.get(id).cloned()).collect()
    }

    /// The call in progress, if any.
    pub fn active_call(&self) -> Option<Call> {
        let id = self.snapshot().active?;
        self.inner.calls.lock().ok()?.get(&id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15: a Device whose task panicked kept an open event stream, so the phone looked
    /// alive. Now it reports a fatal error, its stream ends and its heartbeat stops.
    #[tokio::test]
    async fn a_dead_device_task_reports_a_fatal_error_and_ends_its_events() {
        let options = DeviceOptions {
            chunderw: Some(vec!["127.0.0.1:1".into()]),
            publish_events: false,
            ..Default::default()
        };
        let device = Device::new("token", options).expect("device");
        let mut events = device.events();
        let heartbeat = device.heartbeat();
        assert!(heartbeat.age(std::time::Instant::now()).is_some());
        device.send(Command::PanicForTest).expect("task alive");
        let fatal = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.recv().await {
                    Some(DeviceEvent::Error { error, .. }) if error.message.contains("stopped") => {
                        return Some(error);
                    }
                    Some(_) => continue,
                    None => return None,
                }
            }
        })
        .await
        .expect("an event within 10 s");
        let fatal = fatal.expect("a fatal error before the stream ends");
        assert_eq!(fatal.code, 31000);
        assert!(fatal.message.contains("panics (test)"), "{}", fatal.message);
        let end = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("the stream ends");
        assert!(end.is_none(), "{end:?}");
        assert_eq!(heartbeat.age(std::time::Instant::now()), None);
        assert!(
            device.events().recv().await.is_none(),
            "a late subscriber sees the end"
        );
    }
}
