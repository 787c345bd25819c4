//! The Device task: owns the [`Engine`], the signaling sockets and the calls' media tasks,
//! and moves bytes and time between them. All decisions are the engine's.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::call::{Call, CallSnapshot};
use super::socket::{self, SocketReport};
use crate::core::{Engine, MediaEvent, MediaRequest, Output};
use crate::error::{TwilioError, VoiceError};
use crate::insights::Insights;
use crate::media::AudioDevice;
use crate::media::task::{self as media_task, MediaConfig};
use crate::model::{CallId, CallStatus, DeviceEvent, DeviceState, FeedbackIssue};
use crate::options::DeviceOptions;
use crate::signaling::{SocketCommand, SocketId};

pub(crate) enum Command {
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

struct Socket {
    tx: mpsc::UnboundedSender<String>,
    task: JoinHandle<()>,
}

pub(crate) struct Driver {
    engine: Engine,
    commands_tx: mpsc::UnboundedSender<Command>,
    commands: mpsc::UnboundedReceiver<Command>,
    socket_tx: mpsc::UnboundedSender<SocketReport>,
    socket_rx: mpsc::UnboundedReceiver<SocketReport>,
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
}

pub(crate) struct DriverParts {
    pub commands_tx: mpsc::UnboundedSender<Command>,
    pub snapshot: Arc<Mutex<DeviceSnapshot>>,
    pub calls: Arc<Mutex<HashMap<CallId, Call>>>,
    pub events: broadcast::Sender<DeviceEvent<Call>>,
    pub state_rx: watch::Receiver<DeviceState>,
}

impl Driver {
    pub fn start(
        engine: Engine,
        audio: Arc<dyn AudioDevice>,
        tls: Arc<rustls::ClientConfig>,
    ) -> DriverParts {
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let (socket_tx, socket_rx) = mpsc::unbounded_channel();
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
        };
        tokio::spawn(driver.run());
        DriverParts {
            commands_tx,
            snapshot,
            calls,
            events,
            state_rx,
        }
    }

    async fn run(mut self) {
        loop {
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
                Some((call, ev)) = self.media_rx.recv() => self.engine.on_media_event(call, ev, Instant::now()),
                _ = sleep_until(deadline) => self.engine.handle_timeout(Instant::now()),
            }
        }
    }

    async fn on_command(&mut self, c: Command) {
        let now = Instant::now();
        match c {
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
                let result = self
                    .engine
                    .connect(params, now)
                    .map(|id| self.call_handle(id));
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
                    Some(core) => {
                        self.insights.feedback(core, &self.engine, score, issue);
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
                status: core.status,
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
            self.refresh_calls();
            match out {
                Output::Socket(cmd) => self.on_socket_command(cmd),
                Output::Device(ev) => self.on_device_event(ev),
                Output::Call(id, ev) => {
                    let call = self.call_handle(id);
                    self.insights.call_event(id, &ev, &self.engine);
                    call.emit(ev);
                }
                Output::Media(id, req) => self.on_media_request(id, req).await,
                Output::CallRemoved(id) => removed.push(id),
            }
        }
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
                    s.status = core.status;
                    s.parameters = core.parameters.clone();
                    s.codec = core.codec;
                    s.muted = core.muted;
                });
            }
        }
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
        self.state_tx.send_if_modified(|st| {
            let new = self.engine.state();
            let changed = *st != new;
            *st = new;
            changed
        });
    }

    fn on_socket_command(&mut self, cmd: SocketCommand) {
        match cmd {
            SocketCommand::Connect { socket, url } => {
                let (tx, rx) = mpsc::unbounded_channel();
                let task = tokio::spawn(socket::run(
                    socket,
                    url,
                    self.tls.clone(),
                    rx,
                    self.socket_tx.clone(),
                ));
                self.sockets.insert(socket, Socket { tx, task });
            }
            SocketCommand::Send { socket, text } => {
                if let Some(s) = self.sockets.get(&socket) {
                    let _ = s.tx.send(text);
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

    async fn on_media_request(&mut self, id: CallId, req: MediaRequest) {
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
        let (source, sink) = match self.audio.open(id) {
            Ok(pair) => pair,
            Err(message) => {
                self.engine.on_media_event(
                    id,
                    MediaEvent::DescriptionFailed {
                        remote: false,
                        message,
                    },
                    Instant::now(),
                );
                return;
            }
        };
        let options = self.engine.options();
        let config = MediaConfig {
            call: id,
            route_hint: self
                .route_hint
                .unwrap_or(IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8))),
            codec_preferences: options.codec_preferences.clone(),
            max_average_bitrate: options.max_average_bitrate,
            dscp: options.dscp,
            // Every URL: `stun::reflexive_address` uses the `stun:` ones (and validate()
            // has refused the rest).
            stun_urls: options
                .ice_servers
                .iter()
                .flat_map(|s| s.urls.iter())
                .cloned()
                .collect(),
        };
        match media_task::spawn(config, source, sink, self.media_tx.clone()).await {
            Ok(tx) => {
                let _ = tx.send(req);
                for r in self.media_backlog.remove(&id).unwrap_or_default() {
                    let _ = tx.send(r);
                }
                self.media.insert(id, tx);
            }
            Err(e) => {
                let message = format!("cannot open the media socket: {e}");
                self.engine.on_media_event(
                    id,
                    MediaEvent::DescriptionFailed {
                        remote: false,
                        message,
                    },
                    Instant::now(),
                );
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
