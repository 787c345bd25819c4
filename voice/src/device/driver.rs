//! The Device task: owns the [`Engine`], the signaling sockets and the calls' media tasks,
//! and moves bytes and time between them. All decisions are the engine's.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::call::{Call, CallSnapshot};
use super::socket::{self, SocketReport};
use crate::core::{Engine, MediaEvent, MediaRequest, Output};
use crate::error::{TwilioError, VoiceError};
use crate::insights::Insights;
use crate::liveness::{Heartbeat, HeartbeatGuard};
use crate::media::AudioDevice;
use crate::media::task::{self as media_task, MediaConfig};
use crate::model::{CallEvent, CallId, CallStatus, DeviceEvent, DeviceState, FeedbackIssue};
use crate::options::DeviceOptions;
use crate::signaling::{SocketCommand, SocketId};

pub(crate) enum Command {
    /// Makes the task panic, as a bug would (tests of what notices a dead Device).
    #[cfg(test)]
    PanicForTest,
    Register(oneshot::Sender<Result<(), VoiceError>>),
    Unregister(oneshot::Sender<Result<(), VoiceError>>),
    Connect {
        params: Vec<(String, String)>,
        reply: oneshot::Sender<Result<Call, VoiceError>>,
    },
    Destroy,
    DisconnectAll,
    UpdateToken(String, oneshot::Sender<Result<(), VoiceError>>),
    UpdateOptions(Box<DeviceOptions>, oneshot::Sender<Result<(), VoiceError>>),
    Accept(CallId),
    Reject(CallId),
    Ignore(CallId),
    Disconnect(CallId),
    Mute(CallId, bool),
    SendDigits(CallId, String),
    SendMessage {
        call: CallId,
        content: Value,
        content_type: Option<String>,
        message_type: String,
        reply: oneshot::Sender<Result<String, VoiceError>>,
    },
    PostFeedback {
        call: CallId,
        score: Option<u8>,
        issue: Option<FeedbackIssue>,
        reply: oneshot::Sender<Result<(), VoiceError>>,
    },
}

/// What the Device handle reads without asking the task.
#[derive(Debug, Clone)]
pub(crate) struct DeviceSnapshot {
    pub state: DeviceState,
    pub identity: Option<String>,
    pub edge: Option<String>,
    pub home: Option<String>,
    pub token: String,
    pub busy: bool,
    pub calls: Vec<CallId>,
    pub active: Option<CallId>,
    pub signaling_connected: bool,
}

/// Frames a socket task may hold for the server; more means the server stopped reading.
pub(crate) const OUTGOING_CAPACITY: usize = 256;

/// Reports from socket tasks not yet handled; a socket whose report finds this full is
/// closed as flooding us (see [`socket::run`]). With frames of at most `MAX_FRAME_BYTES`
/// (256 KiB) this bounds what a server can make us hold at 64 MiB, within a Pi Zero's memory.
pub(crate) const SOCKET_REPORT_CAPACITY: usize = 256;

/// How often the task beats its [`Heartbeat`] when nothing else wakes it.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

struct Socket {
    tx: mpsc::Sender<String>,
    task: JoinHandle<()>,
}

pub(crate) struct Driver {
    engine: Engine,
    commands_tx: mpsc::UnboundedSender<Command>,
    commands: mpsc::UnboundedReceiver<Command>,
    socket_tx: mpsc::Sender<SocketReport>,
    socket_rx: mpsc::Receiver<SocketReport>,
    sockets: HashMap<SocketId, Socket>,
    media_tx: mpsc::UnboundedSender<(CallId, MediaEvent)>,
    media_rx: mpsc::UnboundedReceiver<(CallId, MediaEvent)>,
    media: HashMap<CallId, mpsc::UnboundedSender<MediaRequest>>,
    /// Requests made before a call's media task existed.
    media_backlog: HashMap<CallId, Vec<MediaRequest>>,
    calls: Arc<Mutex<HashMap<CallId, Call>>>,
    audio: Arc<dyn AudioDevice>,
    tls: Arc<rustls::ClientConfig>,
    route_hint: Option<IpAddr>,
    snapshot: Arc<Mutex<DeviceSnapshot>>,
    events: broadcast::Sender<DeviceEvent<Call>>,
    state_tx: watch::Sender<DeviceState>,
    register_waiters: Vec<oneshot::Sender<Result<(), VoiceError>>>,
    unregister_waiters: Vec<oneshot::Sender<Result<(), VoiceError>>>,
    last_error: Option<TwilioError>,
    insights: Insights,
    heartbeat: Heartbeat,
    /// Ends the heartbeat when the task ends, panics included.
    _alive: HeartbeatGuard,
}

pub(crate) struct DriverParts {
    pub commands_tx: mpsc::UnboundedSender<Command>,
    pub snapshot: Arc<Mutex<DeviceSnapshot>>,
    pub calls: Arc<Mutex<HashMap<CallId, Call>>>,
    pub events: broadcast::Sender<DeviceEvent<Call>>,
    pub state_rx: watch::Receiver<DeviceState>,
    pub heartbeat: Heartbeat,
}

/// The Device's event sender, shared by its handles (to subscribe) and the task's supervisor
/// (which drops it when the task ends, so that every event stream ends too).
pub(crate) type EventSlot = Arc<Mutex<Option<broadcast::Sender<DeviceEvent<Call>>>>>;

impl Driver {
    pub fn start(
        engine: Engine,
        audio: Arc<dyn AudioDevice>,
        tls: Arc<rustls::ClientConfig>,
    ) -> (DriverParts, EventSlot) {
        let (driver, parts) = Driver::new(engine, audio, tls);
        let slot: EventSlot = Arc::new(Mutex::new(Some(parts.events.clone())));
        let task = tokio::spawn(driver.run());
        tokio::spawn(supervise(task, slot.clone()));
        (parts, slot)
    }

    fn new(
        engine: Engine,
        audio: Arc<dyn AudioDevice>,
        tls: Arc<rustls::ClientConfig>,
    ) -> (Driver, DriverParts) {
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (socket_tx, socket_rx) = mpsc::channel(SOCKET_REPORT_CAPACITY);
        let (media_tx, media_rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        let (state_tx, state_rx) = watch::channel(engine.state());
        let snapshot = Arc::new(Mutex::new(DeviceSnapshot {
            state: engine.state(),
            identity: None,
            edge: None,
            home: None,
            token: engine.token().to_string(),
            busy: false,
            calls: Vec::new(),
            active: None,
            signaling_connected: false,
        }));
        let calls = Arc::new(Mutex::new(HashMap::new()));
        let insights = Insights::new(engine.options(), engine.token(), tls.clone());
        let heartbeat = Heartbeat::new();
        let driver = Driver {
            engine,
            commands_tx: commands_tx.clone(),
            commands,
            socket_tx,
            socket_rx,
            sockets: HashMap::new(),
            media_tx,
            media_rx,
            media: HashMap::new(),
            media_backlog: HashMap::new(),
            calls: calls.clone(),
            audio,
            tls,
            route_hint: None,
            snapshot: snapshot.clone(),
            events: events.clone(),
            state_tx,
            register_waiters: Vec::new(),
            unregister_waiters: Vec::new(),
            last_error: None,
            insights,
            heartbeat: heartbeat.clone(),
            _alive: heartbeat.guard(),
        };
        let parts = DriverParts {
            commands_tx,
            snapshot,
            calls,
            events,
            state_rx,
            heartbeat,
        };
        (driver, parts)
    }

    async fn run(mut self) {
        let mut beat = tokio::time::interval(HEARTBEAT_INTERVAL);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.heartbeat.beat();
            self.flush().await;
            if self.engine.state() == DeviceState::Destroyed
                && self.sockets.is_empty()
                && self.media.is_empty()
            {
                // Give the last frames (reject/hangup) a moment to leave, then stop.
                return;
            }
            let deadline = self
                .engine
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(c) => self.on_command(c).await,
                    None => {
                        // Every handle is gone: end like destroy().
                        self.engine.destroy(Instant::now());
                    }
                },
                Some(report) = self.socket_rx.recv() => self.on_socket_report(report),
                Some((call, ev)) = self.media_rx.recv() => {
                    self.insights.media_event(call, &ev, &self.engine);
                    self.engine.on_media_event(call, ev, Instant::now());
                }
                _ = sleep_until(deadline) => self.engine.handle_timeout(Instant::now()),
                _ = beat.tick() => {}
            }
        }
    }

    async fn on_command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
            #[cfg(test)]
            Command::PanicForTest => panic!("the Device task panics (test)"),
            Command::Register(reply) => match self.engine.register(now) {
                Ok(()) => {
                    self.last_error = None;
                    self.register_waiters.push(reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Unregister(reply) => match self.engine.unregister(now) {
                Ok(()) => self.unregister_waiters.push(reply),
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::Connect { params, reply } => {
                let result = self.engine.connect(params, now).map(|id| {
                    self.insights.call_created(id, &self.engine);
                    self.call_handle(id)
                });
                let _ = reply.send(result);
            }
            Command::Destroy => self.engine.destroy(now),
            Command::DisconnectAll => self.engine.disconnect_all(now),
            Command::UpdateToken(token, reply) => {
                let r = self.engine.update_token(token.clone(), now);
                if r.is_ok() {
                    self.insights.set_token(&token);
                }
                let _ = reply.send(r);
            }
            Command::UpdateOptions(options, reply) => {
                let r = self.engine.update_options(*options, now);
                let _ = reply.send(r);
            }
            Command::Accept(id) => self.engine.accept(id, now),
            Command::Reject(id) => self.engine.reject(id, now),
            Command::Ignore(id) => self.engine.ignore(id, now),
            Command::Disconnect(id) => self.engine.disconnect(id, now),
            Command::Mute(id, m) => self.engine.mute(id, m),
            Command::SendDigits(id, digits) => {
                if let Err(e) = self.engine.send_digits(id, &digits, now) {
                    crate::device_log!(self.engine.options().log_level, WARN, error = %e, "send_digits refused");
                }
            }
            Command::SendMessage {
                call,
                content,
                content_type,
                message_type,
                reply,
            } => {
                let r = self
                    .engine
                    .send_message(call, content, content_type, &message_type, now);
                let _ = reply.send(r);
            }
            Command::PostFeedback {
                call,
                score,
                issue,
                reply,
            } => {
                let r = match self.engine.call(call) {
                    Some(_) => {
                        self.insights.feedback(call, &self.engine, score, issue);
                        Ok(())
                    }
                    None => Err(VoiceError::InvalidState(
                        "Call is no longer held by the Device".into(),
                    )),
                };
                let _ = reply.send(r);
            }
        }
    }

    fn on_socket_report(&mut self, report: SocketReport) {
        let now = Instant::now();
        match report {
            SocketReport::Open { socket, peer } => {
                if peer.is_some() {
                    self.route_hint = peer;
                }
                self.engine.on_socket_open(socket, now);
            }
            SocketReport::Message { socket, text } => {
                self.engine.on_socket_message(socket, text, now)
            }
            SocketReport::Error { socket, message } => {
                self.engine.on_socket_error(socket, &message, now)
            }
            SocketReport::Closed {
                socket,
                code,
                reason,
            } => {
                self.sockets.remove(&socket);
                self.engine.on_socket_close(socket, code, &reason, now);
            }
        }
    }

    fn call_handle(&self, id: CallId) -> Call {
        if let Some(c) = self.calls.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return c;
        }
        let snapshot = match self.engine.call(id) {
            Some(core) => CallSnapshot {
                status: core.status(),
                direction: core.direction,
                parameters: core.parameters.clone(),
                custom_parameters: core.custom_parameters.clone(),
                codec: core.codec,
                muted: core.muted,
            },
            None => CallSnapshot {
                status: CallStatus::Closed,
                direction: crate::model::CallDirection::Outgoing,
                parameters: Default::default(),
                custom_parameters: Vec::new(),
                codec: None,
                muted: false,
            },
        };
        let call = Call::new(id, self.commands_tx.clone(), snapshot);
        if let Ok(mut m) = self.calls.lock() {
            m.insert(id, call.clone());
        }
        call
    }

    /// Carries out the engine's outputs and refreshes what the handles can read.
    async fn flush(&mut self) {
        // Handles of finished calls are dropped after the whole batch: events that follow
        // their removal (an error after `disconnect`, as the SDK orders them) still arrive.
        let mut removed = Vec::new();
        while let Some(out) = self.engine.poll_output() {
            self.on_output(out, &mut removed).await;
        }
        self.end_batch(removed);
    }

    /// One output of the engine.
    async fn on_output(&mut self, out: Output, removed: &mut Vec<CallId>) {
        self.refresh_calls();
        match out {
            Output::Socket(cmd) => self.on_socket_command(cmd),
            Output::Device(ev) => {
                if let DeviceEvent::Incoming(id) = ev {
                    self.insights.call_created(id, &self.engine);
                }
                // As in the SDK, whoever reads the state on a state event reads that state,
                // even if the engine has moved on later in this batch (the batch's end
                // publishes the final one).
                let state = match ev {
                    DeviceEvent::Registered => Some(DeviceState::Registered),
                    DeviceEvent::Registering => Some(DeviceState::Registering),
                    DeviceEvent::Unregistered => Some(DeviceState::Unregistered),
                    DeviceEvent::Destroyed => Some(DeviceState::Destroyed),
                    _ => None,
                };
                if let Some(state) = state {
                    self.publish_state(state);
                }
                self.on_device_event(ev);
            }
            Output::Call(id, ev) => {
                let call = self.call_handle(id);
                if matches!(
                    ev,
                    CallEvent::Disconnect | CallEvent::Cancel | CallEvent::Reject
                ) {
                    // The SDK is closed by the time it emits these: whoever reads the
                    // status on the event must read `closed`, not the status before it.
                    call.update(|s| s.status = CallStatus::Closed);
                }
                self.insights.call_event(id, &ev, &self.engine);
                call.emit(ev);
            }
            Output::Media(id, req) => self.on_media_request(id, req),
            Output::CallRemoved(id) => removed.push(id),
        }
    }

    fn end_batch(&mut self, removed: Vec<CallId>) {
        for id in removed {
            if let Some(call) = self.calls.lock().ok().and_then(|mut m| m.remove(&id)) {
                call.update(|s| s.status = CallStatus::Closed);
            }
            self.insights.call_removed(id);
        }
        self.refresh_calls();
        self.refresh_snapshot();
    }

    fn refresh_calls(&self) {
        let Ok(map) = self.calls.lock() else { return };
        for (id, call) in map.iter() {
            if let Some(core) = self.engine.call(*id) {
                call.update(|s| {
                    s.status = core.status();
                    s.parameters = core.parameters.clone();
                    s.codec = core.codec;
                    s.muted = core.muted;
                });
            }
        }
    }

    fn publish_state(&mut self, state: DeviceState) {
        if let Ok(mut s) = self.snapshot.lock() {
            s.state = state;
        }
        self.send_state(state);
    }

    /// Tells `wait_for_state` and `state()` readers, only when the state changed.
    fn send_state(&self, state: DeviceState) {
        self.state_tx.send_if_modified(|st| {
            let changed = *st != state;
            *st = state;
            changed
        });
    }

    fn refresh_snapshot(&mut self) {
        self.insights.set_home(self.engine.home());
        if let Ok(mut s) = self.snapshot.lock() {
            s.state = self.engine.state();
            s.identity = self.engine.identity().map(String::from);
            s.edge = self.engine.edge().map(String::from);
            s.home = self.engine.home().map(String::from);
            s.token = self.engine.token().to_string();
            s.busy = self.engine.is_busy();
            s.calls = self.engine.calls();
            s.active = self.engine.active_call();
            s.signaling_connected = self.engine.is_signaling_connected();
        }
        self.send_state(self.engine.state());
    }

    fn on_socket_command(&mut self, cmd: SocketCommand) {
        match cmd {
            SocketCommand::Connect { socket, url } => {
                let (tx, rx) = mpsc::channel(OUTGOING_CAPACITY);
                let options = self.engine.options();
                let user_agent = crate::protocol::frame::user_agent(
                    options.app_name.as_deref(),
                    options.app_version.as_deref(),
                );
                let task = tokio::spawn(socket::run(
                    socket,
                    url,
                    user_agent,
                    self.tls.clone(),
                    rx,
                    self.socket_tx.clone(),
                ));
                self.sockets.insert(socket, Socket { tx, task });
            }
            SocketCommand::Send { socket, text } => {
                let Some(s) = self.sockets.get(&socket) else {
                    return;
                };
                if let Err(mpsc::error::TrySendError::Full(_)) = s.tx.try_send(text) {
                    // The server stopped reading: the socket is of no use, and waiting
                    // would grow this queue without end. Reconnect instead.
                    crate::device_log!(
                        self.engine.options().log_level,
                        WARN,
                        socket,
                        "the signaling server is not reading; closing the socket"
                    );
                    self.on_socket_command(SocketCommand::Close { socket });
                    self.engine.on_socket_close(
                        socket,
                        1006,
                        "the server stopped reading our frames",
                        Instant::now(),
                    );
                }
            }
            SocketCommand::Close { socket } => {
                if let Some(s) = self.sockets.remove(&socket) {
                    // Dropping the sender closes an open socket cleanly; a socket still
                    // connecting is abandoned.
                    drop(s.tx);
                    let task = s.task;
                    tokio::spawn(async move {
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                        task.abort();
                    });
                }
            }
        }
    }

    fn on_device_event(&mut self, ev: DeviceEvent) {
        let public: DeviceEvent<Call> = match ev {
            DeviceEvent::Registered => {
                for w in self.register_waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
                DeviceEvent::Registered
            }
            DeviceEvent::Registering => DeviceEvent::Registering,
            DeviceEvent::Unregistered => {
                let cause = self.last_error.clone();
                for w in self.register_waiters.drain(..) {
                    let _ = w.send(Err(match &cause {
                        Some(e) => VoiceError::Twilio(e.clone()),
                        None => VoiceError::InvalidState(
                            "the Device went unregistered before registering".into(),
                        ),
                    }));
                }
                for w in self.unregister_waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
                DeviceEvent::Unregistered
            }
            DeviceEvent::Destroyed => {
                for w in self
                    .register_waiters
                    .drain(..)
                    .chain(self.unregister_waiters.drain(..))
                {
                    let _ = w.send(Err(VoiceError::Destroyed));
                }
                for (_, tx) in self.media.drain() {
                    let _ = tx.send(MediaRequest::Close);
                }
                DeviceEvent::Destroyed
            }
            DeviceEvent::Error { error, call } => {
                self.last_error = Some(error.clone());
                DeviceEvent::Error {
                    error,
                    call: call.map(|id| self.call_handle(id)),
                }
            }
            DeviceEvent::Incoming(id) => DeviceEvent::Incoming(self.call_handle(id)),
            DeviceEvent::TokenWillExpire => DeviceEvent::TokenWillExpire,
        };
        let _ = self.events.send(public);
    }

    fn on_media_request(&mut self, id: CallId, req: MediaRequest) {
        if let Some(tx) = self.media.get(&id) {
            let close = req == MediaRequest::Close;
            let _ = tx.send(req);
            if close {
                self.media.remove(&id);
            }
            return;
        }
        if req == MediaRequest::Close {
            self.media_backlog.remove(&id);
            return;
        }
        let starts_media = matches!(
            req,
            MediaRequest::CreateOffer | MediaRequest::AnswerOffer { .. }
        );
        if !starts_media {
            self.media_backlog.entry(id).or_default().push(req);
            return;
        }
        let port = match self.audio.open(id) {
            Ok(port) => port,
            Err(e) => {
                self.engine.on_media_event(
                    id,
                    MediaEvent::DescriptionFailed {
                        remote: false,
                        message: e.to_string(),
                    },
                    Instant::now(),
                );
                return;
            }
        };
        let options = self.engine.options();
        let config = MediaConfig {
            call: id,
            // The signaling peer's address once its socket is open; before that (a call
            // placed at once) the address its URL names, else a public route.
            route_hint: self
                .route_hint
                .or_else(|| {
                    options
                        .signaling_urls()
                        .first()
                        .and_then(|u| crate::regions::signaling_ip(u))
                })
                .unwrap_or(IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8))),
            codec_preferences: options.codec_preferences.clone(),
            max_average_bitrate: options.max_average_bitrate,
            dscp: options.dscp,
            stun_urls: options.stun_urls(),
            turn_servers: options.turn_servers(),
            relay_only: options.ice_transport_policy == crate::options::IceTransportPolicy::Relay,
            tls: self.tls.clone(),
        };
        // Returns at once: the sockets, STUN, TURN and the audio thread start in the media's
        // own task, so this loop never waits on the network.
        let tx = media_task::spawn(config, port, self.media_tx.clone());
        let _ = tx.send(req);
        for r in self.media_backlog.remove(&id).unwrap_or_default() {
            let _ = tx.send(r);
        }
        self.media.insert(id, tx);
    }
}

/// Waits for the Device task; if it panicked, reports a fatal error to the Device's
/// subscribers. Either way the event sender goes, so every event stream ends: a dead Device
/// must not look alive.
async fn supervise(task: JoinHandle<()>, slot: EventSlot) {
    let result = task.await;
    let sender = match slot.lock() {
        Ok(mut s) => s.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    if let Err(e) = result {
        let why = match e.try_into_panic() {
            Ok(payload) => payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into()),
            Err(e) => e.to_string(),
        };
        tracing::error!(%why, "the Twilio Device task died");
        if let Some(sender) = sender {
            let _ = sender.send(DeviceEvent::Error {
                error: TwilioError::new(31000, format!("the Device stopped: {why}")),
                call: None,
            });
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{CallEvents, DeviceEvents};
    use crate::media::audio::TestAudio;
    use serde_json::json;

    /// A driver whose engine is fed by hand; socket and media requests are answered by the
    /// test instead of real sockets and media tasks.
    struct Rig {
        driver: Driver,
        parts: DriverParts,
        socket: Option<SocketId>,
        media: Vec<(CallId, MediaRequest)>,
    }

    impl Rig {
        fn new() -> Rig {
            let options = DeviceOptions {
                chunderw: Some(vec!["lab.invalid:1".into()]),
                publish_events: false,
                random_seed: Some(3),
                ..Default::default()
            };
            let engine = Engine::new("token".into(), options).unwrap();
            let tls = crate::tls::client_config(None).unwrap();
            let (driver, parts) = Driver::new(engine, Arc::new(TestAudio::new(48_000, None)), tls);
            Rig {
                driver,
                parts,
                socket: None,
                media: Vec::new(),
            }
        }

        /// Hands the engine's outputs to the driver one at a time; after each call event,
        /// `seen` gets what a subscriber reads at that moment: the event and the status.
        async fn step(
            &mut self,
            events: &mut [(Call, CallEvents)],
            seen: &mut Vec<(CallEvent, CallStatus)>,
        ) {
            let mut removed = Vec::new();
            while let Some(out) = self.driver.engine.poll_output() {
                match out {
                    Output::Socket(SocketCommand::Connect { socket, .. }) => {
                        self.socket = Some(socket)
                    }
                    Output::Socket(_) => {}
                    Output::Media(id, req) => self.media.push((id, req)),
                    out => {
                        self.driver.on_output(out, &mut removed).await;
                        for (call, rx) in events.iter_mut() {
                            while let Some(ev) = rx.try_recv() {
                                seen.push((ev, call.status()));
                            }
                        }
                    }
                }
            }
            self.driver.end_batch(removed);
        }

        fn server(&mut self, frame: serde_json::Value) {
            let socket = self.socket.expect("a socket");
            self.driver
                .engine
                .on_socket_message(socket, frame.to_string(), Instant::now());
        }

        async fn registered(&mut self) -> DeviceEvents {
            let events = DeviceEvents {
                rx: self.parts.events.subscribe(),
            };
            self.driver.engine.register(Instant::now()).unwrap();
            self.step(&mut [], &mut Vec::new()).await;
            let socket = self.socket.unwrap();
            self.driver.engine.on_socket_open(socket, Instant::now());
            self.server(
                json!({"type":"connected","payload":{"region":"EU_IRELAND","gateway":"gw"}}),
            );
            self.server(json!({"type":"ready","payload":{}}));
            self.step(&mut [], &mut Vec::new()).await;
            events
        }
    }

    /// Issue 12 item 11: `disconnect`, `cancel` and `reject` are emitted with the call
    /// already `closed`, as in the SDK; an error before the disconnect still sees it open.
    #[tokio::test]
    async fn status_is_closed_when_the_ending_events_are_observed() {
        let mut r = Rig::new();
        let mut device_events = r.registered().await;

        // An outgoing call, answered, then hung up by the far end with an error.
        let id = r.driver.engine.connect(vec![], Instant::now()).unwrap();
        let call = r.driver.call_handle(id);
        let mut calls = vec![(call.clone(), call.events())];
        let mut seen = Vec::new();
        r.step(&mut calls, &mut seen).await;
        r.driver.engine.on_media_event(
            id,
            MediaEvent::LocalDescription("v=0\r\n".into()),
            Instant::now(),
        );
        r.server(json!({"type":"answer","payload":{"callsid":"CA1","sdp":"v=0\r\n"}}));
        r.driver.engine.on_media_event(
            id,
            MediaEvent::RemoteApplied {
                codec: crate::model::Codec::Opus,
                telephone_event: true,
            },
            Instant::now(),
        );
        r.step(&mut calls, &mut seen).await;
        assert!(
            matches!(seen.last(), Some((CallEvent::Accept, CallStatus::Open))),
            "{seen:?}"
        );
        r.server(json!({"type":"hangup","payload":{"callsid":"CA1","error":{"code":31603,"message":"Decline"}}}));
        r.step(&mut calls, &mut seen).await;
        let tail: Vec<(&str, CallStatus)> = seen
            .iter()
            .rev()
            .take(2)
            .rev()
            .map(|(e, s)| (e.name(), *s))
            .collect();
        assert_eq!(
            tail,
            vec![
                ("error", CallStatus::Open),
                ("disconnect", CallStatus::Closed)
            ]
        );

        // An incoming call rejected, another cancelled by the caller.
        for (sid, end) in [("CA2", "reject"), ("CA3", "cancel")] {
            r.server(json!({"type":"invite","payload":{"callsid":sid,"sdp":"v=0\r\n","parameters":{"From":"+1"}}}));
            r.step(&mut [], &mut Vec::new()).await;
            let call = loop {
                match device_events.try_recv() {
                    Some(DeviceEvent::Incoming(c)) => break c,
                    Some(_) => continue,
                    None => panic!("no incoming call"),
                }
            };
            assert_eq!(call.status(), CallStatus::Pending);
            let mut calls = vec![(call.clone(), call.events())];
            if end == "reject" {
                r.driver.engine.reject(call.id(), Instant::now());
            } else {
                r.server(json!({"type":"cancel","payload":{"callsid":sid}}));
            }
            let mut seen = Vec::new();
            r.step(&mut calls, &mut seen).await;
            let names: Vec<(&str, CallStatus)> = seen.iter().map(|(e, s)| (e.name(), *s)).collect();
            assert_eq!(names, vec![(end, CallStatus::Closed)]);
        }
    }
}
