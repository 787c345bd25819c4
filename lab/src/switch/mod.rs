//! The switch: the lab's Sans-IO core. It owns connections, calls and legs, and turns inputs
//! (client frames, webhook replies, media results, control requests, time) into outputs
//! (frames to send, sockets to close, webhooks to fetch, media commands).
//!
//! The IO shell (`crate::runtime`) feeds it and carries out what it asks; tests drive it with
//! a virtual clock and fake media results.
//!
//! - `session` — connections: `listen`, tokens, registration, heartbeats, the frame log.
//! - `frames_in` — call frames from clients (`invite`, `answer`, `hangup`, `message`, …).
//! - `start` — new calls; `exec` — running TwiML; `webhooks` — the signed requests for it
//!   (TwiML, actions, callbacks); `dial` — `<Dial>` and bridging; `progress` — the
//!   `statusCallback`s of `<Dial>`'s nouns;
//!   `ending` — hang-ups, timers, lost sockets and media results.
//! - `gather` — `<Gather>` and where keypad digits go; `record` — `<Record>` and its callbacks;
//!   `recordings` — the recordings the lab holds (the Recordings resource's data).
//! - `calls` — the call and leg model; `control` — control-API requests.

mod calls;
pub mod control;
mod dial;
mod ending;
mod exec;
mod frames_in;
mod gather;
mod progress;
mod record;
pub mod recordings;
mod session;
mod start;
mod webhooks;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use calls::{Endpoint, LegState};
pub use control::{ControlError, ControlReply, ControlRequest};
pub use recordings::{SharedAudio, recording_path};
pub use webhooks::form_encode;

use crate::config::{Behaviour, Credentials, LabConfig, VirtualNumber};
use crate::control::types::MessageRecord;
use crate::error::LabError;

/// A signaling connection's id, given by the shell.
pub type ConnId = u64;

/// The current time, monotonic (deadlines) and wall clock (tokens, records).
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub at: Instant,
    pub unix_ms: u64,
}

impl Now {
    pub fn unix_secs(&self) -> u64 {
        self.unix_ms / 1000
    }

    /// The same moment `d` later (virtual-time tests).
    pub fn plus(&self, d: Duration) -> Now {
        Now {
            at: self.at + d,
            unix_ms: self.unix_ms + d.as_millis() as u64,
        }
    }
}

/// What happens to the switch.
#[derive(Debug)]
pub enum Input {
    ConnOpened {
        conn: ConnId,
        peer: SocketAddr,
        /// The upgrade request's `User-Agent`.
        user_agent: Option<String>,
    },
    Frame {
        conn: ConnId,
        text: String,
    },
    ConnClosed {
        conn: ConnId,
    },
    /// A webhook's reply body, or why it failed.
    Webhook {
        call: String,
        seq: u64,
        result: Result<String, LabError>,
    },
    Media(MediaEvent),
}

/// Results from the media layer.
#[derive(Debug)]
pub enum MediaEvent {
    /// A WebRTC leg exists: its local SDP (answer when created from an offer, else an offer).
    Ready {
        leg: String,
        result: Result<String, LabError>,
    },
    AnswerApplied {
        leg: String,
        result: Result<(), LabError>,
    },
    ReinviteAnswered {
        leg: String,
        result: Result<String, LabError>,
    },
    PlayDone {
        leg: String,
        token: u64,
    },
    /// A `<Play>` file could not be had: Twilio's debugger code (11200 fetch failed, 12300
    /// not audio) and why. The call moves on as the playback ends.
    PlayFailed {
        leg: String,
        code: u32,
        message: String,
    },
    /// A keypad digit from a leg: an RFC 4733 event from a client, or a virtual leg's key.
    Dtmf {
        leg: String,
        digit: char,
    },
    /// A recording is over (stopped, silent for its timeout, or its leg closed): its audio,
    /// 8 kHz mono, already trimmed if asked.
    Recorded {
        leg: String,
        token: u64,
        samples: Vec<i16>,
    },
}

/// What the switch asks the shell to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send {
        conn: ConnId,
        text: String,
    },
    /// Close a socket: with a WebSocket close handshake, or by dropping the TCP connection.
    Close {
        conn: ConnId,
        close_frame: bool,
    },
    Webhook {
        call: String,
        seq: u64,
        request: WebhookRequest,
    },
    Media(MediaCommand),
}

#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRequest {
    pub url: String,
    pub method: String,
    pub params: Vec<(String, String)>,
    pub signature: String,
}

/// Audio a virtual leg makes.
#[derive(Debug, Clone, PartialEq)]
pub enum VirtualMedia {
    Echo,
    Tone { hz: f32 },
    Silence,
    DtmfRecorder,
}

/// Something to play into a leg.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayItem {
    /// Speech stand-in: one short tone per syllable-ish chunk of the text.
    Say(String),
    /// A WAV file fetched over HTTP.
    Url(String),
    /// DTMF digits (`w` = half a second pause).
    Digits(String),
    Silence(Duration),
    /// North-American ringback until stopped.
    Ringback,
    /// The beep before `<Record>`.
    Beep,
    /// A recording the lab holds (a `<Play>` of its own `RecordingUrl`), played without HTTP.
    Recording {
        sid: String,
        audio: SharedAudio,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum MediaCommand {
    /// A WebRTC leg: answer `offer`, or (None) make an offer.
    CreateWebrtc {
        leg: String,
        offer: Option<String>,
    },
    CreateVirtual {
        leg: String,
        media: VirtualMedia,
    },
    AcceptAnswer {
        leg: String,
        sdp: String,
    },
    Reinvite {
        leg: String,
        sdp: String,
    },
    Bridge {
        a: String,
        b: String,
    },
    Unbridge {
        leg: String,
    },
    Play {
        leg: String,
        token: u64,
        items: Vec<PlayItem>,
        loops: u32,
    },
    StopPlayback {
        leg: String,
    },
    /// DTMF that arrived by signaling on the bridged peer: a WebRTC leg sends it as RFC 4733,
    /// a DTMF recorder records it.
    ForwardDtmf {
        leg: String,
        digits: String,
    },
    StopMedia {
        leg: String,
        duration: Duration,
    },
    /// The leg's outgoing RTP moves to a new SSRC, sequence and timestamp base, as when
    /// Twilio re-bridges a call.
    SwitchSsrc {
        leg: String,
    },
    /// Record what the leg's party says until [`MediaCommand::StopRecording`], until
    /// `silence_timeout` passes without sound, or until the leg closes; then send
    /// [`MediaEvent::Recorded`]. At most `max_length` of audio is kept.
    StartRecording {
        leg: String,
        token: u64,
        silence_timeout: Option<Duration>,
        max_length: Duration,
        trim_silence: bool,
    },
    StopRecording {
        leg: String,
        token: u64,
    },
    /// A virtual leg presses keys (`w` = half a second's pause): RFC 4733 to its bridged peer
    /// and [`MediaEvent::Dtmf`] to the switch.
    SendDigits {
        leg: String,
        digits: String,
    },
    Close {
        leg: String,
    },
}

/// The parts of [`LabConfig`] the switch needs.
#[derive(Debug, Clone)]
pub struct SwitchConfig {
    pub credentials: Credentials,
    /// Where the lab serves Twilio's REST API (the control server): `RecordingUrl`s start
    /// with it. [`crate::Lab::start`] sets it once the control listener is bound.
    pub api_base_url: String,
    pub app_url: Option<String>,
    pub number_url: Option<String>,
    pub virtual_numbers: Vec<VirtualNumber>,
    pub heartbeat_interval: Duration,
    pub region: String,
    pub edge: String,
    pub home: String,
    pub gateway: String,
    pub connected_form: crate::config::ConnectedForm,
}

impl From<&LabConfig> for SwitchConfig {
    fn from(c: &LabConfig) -> Self {
        SwitchConfig {
            credentials: c.credentials.clone(),
            api_base_url: format!("http://{}", c.control_listen),
            app_url: c.app_url.clone(),
            number_url: c.number_url.clone(),
            virtual_numbers: c.virtual_numbers.clone(),
            heartbeat_interval: c.heartbeat_interval,
            region: c.region.clone(),
            edge: c.edge.clone(),
            home: c.home.clone(),
            gateway: c.gateway.clone(),
            connected_form: c.connected_form,
        }
    }
}

/// A pending injected error.
#[derive(Debug, Clone, PartialEq)]
pub struct InjectedError {
    pub code: u32,
    pub message: String,
    pub retry_after: Option<u32>,
    pub close: bool,
}

#[derive(Debug, Default)]
struct Faults {
    next_listen: Option<InjectedError>,
    /// Every `listen` refused until cleared.
    refuse_listen: Option<crate::control::types::RefuseListenFault>,
    next_invite: Option<InjectedError>,
    /// The built-in `<Dial>` runs with `answerOnBridge="false"`.
    answer_without_ringing: bool,
}

/// How many ended calls and closed connections stay visible to the control API.
const KEEP_ENDED: usize = 200;

pub struct Switch {
    cfg: SwitchConfig,
    conns: BTreeMap<ConnId, session::Conn>,
    legs: BTreeMap<String, calls::Leg>,
    calls: BTreeMap<String, calls::Call>,
    /// Order calls were created, to drop the oldest ended ones.
    call_order: VecDeque<String>,
    /// Reconnect token → leg SID (kept after the leg ends, to tell "too late" from "unknown").
    reconnect_tokens: HashMap<String, String>,
    faults: Faults,
    out: VecDeque<Output>,
    next_seq: u64,
    /// Shifts the clock used for token checks (control API `POST /v1/clock`).
    clock_offset_secs: i64,
    /// Recordings made by `<Record>` (and deleted ones, without their audio).
    recordings: recordings::Store,
    /// Recordings the media layer is making, by token.
    recording_jobs: BTreeMap<u64, record::Job>,
}

impl Switch {
    pub fn new(cfg: SwitchConfig) -> Self {
        Switch {
            cfg,
            conns: BTreeMap::new(),
            legs: BTreeMap::new(),
            calls: BTreeMap::new(),
            call_order: VecDeque::new(),
            reconnect_tokens: HashMap::new(),
            faults: Faults::default(),
            out: VecDeque::new(),
            next_seq: 1,
            clock_offset_secs: 0,
            recordings: recordings::Store::default(),
            recording_jobs: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &SwitchConfig {
        &self.cfg
    }

    /// Feeds one input.
    pub fn handle(&mut self, input: Input, now: Now) {
        match input {
            Input::ConnOpened {
                conn,
                peer,
                user_agent,
            } => self.conn_opened(conn, peer, user_agent, now),
            Input::Frame { conn, text } => self.frame(conn, &text, now),
            Input::ConnClosed { conn } => self.conn_closed(conn, now),
            Input::Webhook { call, seq, result } => self.webhook_done(&call, seq, result, now),
            Input::Media(event) => self.media_event(event, now),
        }
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When [`Switch::handle_timeout`] must next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        let conns = self.conns.values().filter_map(|c| c.deadline());
        let legs = self.legs.values().filter_map(|l| l.deadline());
        let calls = self.calls.values().filter_map(|c| c.deadline());
        conns.chain(legs).chain(calls).min()
    }

    /// Runs every timer that is due.
    pub fn handle_timeout(&mut self, now: Now) {
        let conn_ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in conn_ids {
            self.conn_timers(id, now);
        }
        let due_legs: Vec<String> = self
            .legs
            .values()
            .filter(|l| l.deadline().is_some_and(|d| d <= now.at))
            .map(|l| l.sid.clone())
            .collect();
        for sid in due_legs {
            self.leg_timer(&sid, now);
        }
        let due_calls: Vec<String> = self
            .calls
            .values()
            .filter(|c| c.deadline().is_some_and(|d| d <= now.at))
            .map(|c| c.sid.clone())
            .collect();
        for sid in due_calls {
            self.call_timer(&sid, now);
        }
    }

    /// Unix seconds as token checks see them.
    fn token_clock(&self, now: Now) -> u64 {
        (now.unix_secs() as i64 + self.clock_offset_secs).max(0) as u64
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn emit(&mut self, output: Output) {
        self.out.push_back(output);
    }

    fn media(&mut self, command: MediaCommand) {
        self.out.push_back(Output::Media(command));
    }

    /// Sends a frame to a connection and logs it.
    fn send(&mut self, conn: ConnId, text: String, now: Now) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.closed_unix_ms.is_some() {
                return;
            }
            c.log_out(&text, now);
            self.out.push_back(Output::Send { conn, text });
        }
    }

    fn virtual_number(&self, number: &str) -> Option<&Behaviour> {
        self.cfg
            .virtual_numbers
            .iter()
            .find(|v| v.number == number)
            .map(|v| &v.behaviour)
    }

    fn message_record(&mut self, leg: &str, record: MessageRecord) {
        if let Some(l) = self.legs.get_mut(leg) {
            l.messages.push(record);
        }
    }
}

#[cfg(test)]
mod tests;
