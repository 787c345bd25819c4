//! The call model: a call is a parent leg plus the legs its `<Dial>` rang.

use std::time::Instant;

use super::ConnId;
use crate::config::Behaviour;
use crate::control::types::{CallError, CallInfo, DtmfRecord, LegInfo, MessageRecord};
use crate::twiml::{Dial, Gather, Record, Verb};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegState {
    Queued,
    Ringing,
    InProgress,
    Completed,
    Busy,
    NoAnswer,
    Canceled,
    Failed,
}

impl LegState {
    pub fn as_str(self) -> &'static str {
        match self {
            LegState::Queued => "queued",
            LegState::Ringing => "ringing",
            LegState::InProgress => "in-progress",
            LegState::Completed => "completed",
            LegState::Busy => "busy",
            LegState::NoAnswer => "no-answer",
            LegState::Canceled => "canceled",
            LegState::Failed => "failed",
        }
    }

    pub fn is_ended(self) -> bool {
        !matches!(
            self,
            LegState::Queued | LegState::Ringing | LegState::InProgress
        )
    }
}

/// A participant reached over signaling and WebRTC.
#[derive(Debug, Clone)]
pub struct ClientEndpoint {
    pub identity: String,
    /// `None` while the socket is gone and a reconnect is awaited.
    pub conn: Option<ConnId>,
    /// The SDK's `TJS…` id of a call it placed.
    pub temp_sid: Option<String>,
    pub reconnect_token: String,
    pub reconnect_deadline: Option<Instant>,
    /// The lab's SDP for this leg, once the media layer made it.
    pub local_sdp: Option<String>,
    /// `ringing` with early-media SDP went out (so `answer` needs no SDP).
    pub early_media_sent: bool,
    /// `ringing` went out (the SDK now knows the CA SID).
    pub ringing_sent: bool,
    /// `answer` went out (client-placed legs) or the client's answer was applied (invited legs).
    pub answered: bool,
    /// For legs the lab invited: the `invite` went out.
    pub invited: bool,
    /// Custom parameters: the client's own (outgoing) or `<Parameter>`s (invited, as `Params`).
    pub params: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub enum Endpoint {
    Client(ClientEndpoint),
    /// A virtual number (or a virtual caller).
    Virtual {
        number: String,
        behaviour: Behaviour,
    },
}

#[derive(Debug, Clone)]
pub struct Leg {
    pub sid: String,
    pub call_sid: String,
    pub is_parent: bool,
    pub endpoint: Endpoint,
    pub from: String,
    pub to: String,
    pub state: LegState,
    pub created_unix_ms: u64,
    pub answered_unix_ms: Option<u64>,
    pub ended_unix_ms: Option<u64>,
    pub end_reason: Option<String>,
    pub error: Option<CallError>,
    pub bridged_to: Option<String>,
    pub messages: Vec<MessageRecord>,
    pub signaling_dtmf: Vec<DtmfRecord>,
    /// A slow-answer number answers at this time.
    pub answer_at: Option<Instant>,
    /// The SIP-ish status a child ended with, mapped to the parent's hangup error.
    pub failure_code: Option<u32>,
    /// Media exists in the media layer (so it must be closed).
    pub has_media: bool,
    /// A dialled leg's `statusCallback`.
    pub progress: Option<super::progress::ProgressCallback>,
}

impl Leg {
    pub fn client(&self) -> Option<&ClientEndpoint> {
        match &self.endpoint {
            Endpoint::Client(c) => Some(c),
            Endpoint::Virtual { .. } => None,
        }
    }

    pub fn client_mut(&mut self) -> Option<&mut ClientEndpoint> {
        match &mut self.endpoint {
            Endpoint::Client(c) => Some(c),
            Endpoint::Virtual { .. } => None,
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        if self.state.is_ended() {
            return None;
        }
        let reconnect = self.client().and_then(|c| c.reconnect_deadline);
        [reconnect, self.answer_at].into_iter().flatten().min()
    }

    pub fn info(&self) -> LegInfo {
        let (endpoint, identity, temp_sid, connected) = match &self.endpoint {
            Endpoint::Client(c) => (
                format!("client:{}", c.identity),
                Some(c.identity.clone()),
                c.temp_sid.clone(),
                c.conn.is_some(),
            ),
            Endpoint::Virtual { number, .. } => (number.clone(), None, None, false),
        };
        LegInfo {
            sid: self.sid.clone(),
            call_sid: self.call_sid.clone(),
            role: if self.is_parent { "parent" } else { "child" }.into(),
            endpoint,
            identity,
            temp_sid,
            from: self.from.clone(),
            to: self.to.clone(),
            state: self.state.as_str().into(),
            signaling_connected: connected,
            created_unix_ms: self.created_unix_ms,
            answered_unix_ms: self.answered_unix_ms,
            ended_unix_ms: self.ended_unix_ms,
            end_reason: self.end_reason.clone(),
            error: self.error.clone(),
            bridged_to: self.bridged_to.clone(),
            messages: self.messages.clone(),
            signaling_dtmf: self.signaling_dtmf.clone(),
            media: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A client's `invite`: the TwiML app's Voice URL (or built-in routing) decides.
    OutgoingClient,
    /// A control-API call to the phone number: the number's Voice URL decides.
    InboundNumber,
    /// A control-API call straight to `client:<identity>`.
    InboundClient,
}

impl CallKind {
    fn as_str(self) -> &'static str {
        match self {
            CallKind::OutgoingClient => "outgoing-client",
            CallKind::InboundNumber => "inbound-number",
            CallKind::InboundClient => "inbound-client",
        }
    }
}

/// A `<Dial>` in progress.
#[derive(Debug, Clone)]
pub struct DialState {
    pub dial: Dial,
    pub children: Vec<String>,
    pub deadline: Instant,
    pub answered: Option<String>,
    pub bridged_unix_ms: Option<u64>,
    /// `<Dial timeLimit>`: the bridge ends at this time.
    pub limit_at: Option<Instant>,
}

/// A `<Gather>` collecting digits.
#[derive(Debug, Clone)]
pub struct GatherState {
    pub gather: Gather,
    pub digits: String,
    /// The prompt playing: its index in `gather.prompts` and its playback token.
    pub prompt: Option<(usize, u64)>,
    /// When waiting for the next digit ends: set once the prompts are over, moved on by
    /// every digit.
    pub deadline: Option<Instant>,
}

/// Where a `<Record>` is.
#[derive(Debug, Clone)]
pub enum RecordStage {
    /// The beep plays (its playback token).
    Beep { token: u64 },
    /// The media layer records (its recording token); the switch ends it at `max_at` at the
    /// latest. `stopping`: the stop went out and the audio is awaited.
    Capture {
        token: u64,
        max_at: Instant,
        stopping: bool,
    },
}

#[derive(Debug, Clone)]
pub struct RecordState {
    pub record: Record,
    pub stage: RecordStage,
}

#[derive(Debug, Clone)]
pub enum Phase {
    /// Waiting for the parent's media (its SDP answer) before anything else.
    AwaitingMedia,
    Fetching {
        seq: u64,
    },
    Running,
    Playing {
        token: u64,
    },
    Dialing(DialState),
    Bridged(DialState),
    Gathering(GatherState),
    Recording(RecordState),
    Ended,
}

impl Phase {
    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::AwaitingMedia => "awaiting-media",
            Phase::Fetching { .. } => "fetching",
            Phase::Running => "running",
            Phase::Playing { .. } => "playing",
            Phase::Dialing(_) => "dialing",
            Phase::Bridged(_) => "bridged",
            Phase::Gathering(_) => "gathering",
            Phase::Recording(_) => "recording",
            Phase::Ended => "ended",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Call {
    pub sid: String,
    pub kind: CallKind,
    pub from: String,
    pub to: String,
    /// The parameters every webhook of this call carries.
    pub params: Vec<(String, String)>,
    pub program: Vec<Verb>,
    pub pc: usize,
    pub phase: Phase,
    pub errors: Vec<CallError>,
    pub created_unix_ms: u64,
    /// For calls the control API placed: the caller hangs up at this time if still unanswered.
    pub give_up_at: Option<Instant>,
    /// Dial timeout for built-in routing of control-API calls.
    pub ring_timeout_secs: u32,
    /// The URL the current TwiML came from (relative URLs resolve against it).
    pub doc_url: Option<String>,
    /// How the last `<Dial>` failed, told to an unanswered parent when the program ends.
    pub last_dial_failure: Option<u32>,
}

impl Call {
    pub fn deadline(&self) -> Option<Instant> {
        let dial = match &self.phase {
            Phase::Dialing(d) => Some(d.deadline),
            Phase::Bridged(d) => d.limit_at,
            Phase::Gathering(g) => g.deadline,
            Phase::Recording(RecordState {
                stage:
                    RecordStage::Capture {
                        max_at,
                        stopping: false,
                        ..
                    },
                ..
            }) => Some(*max_at),
            _ => None,
        };
        let give_up = self
            .give_up_at
            .filter(|_| !matches!(self.phase, Phase::Bridged(_) | Phase::Ended));
        [dial, give_up].into_iter().flatten().min()
    }

    pub fn info(&self, legs: Vec<LegInfo>) -> CallInfo {
        CallInfo {
            sid: self.sid.clone(),
            kind: self.kind.as_str().into(),
            phase: self.phase.as_str().into(),
            from: self.from.clone(),
            to: self.to.clone(),
            created_unix_ms: self.created_unix_ms,
            errors: self.errors.clone(),
            legs,
        }
    }
}
