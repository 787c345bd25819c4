//! The control API's JSON shapes, shared by the server and the typed client.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Behaviour;

/// `POST /v1/calls`: an inbound call from a virtual caller.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartCall {
    /// The caller's number (E.164), shown as `From`.
    pub from: String,
    /// The lab's phone number (→ its Voice URL or built-in routing) or `client:<identity>`.
    pub to: String,
    /// What the caller sends: `echo`, `silence` or `tone` (default: a 440 Hz tone).
    #[serde(default = "default_caller")]
    pub caller: Behaviour,
    /// How long the caller lets it ring before giving up (seconds, default 30).
    #[serde(default)]
    pub timeout_secs: Option<u32>,
    /// Custom parameters for a direct `client:` call (arrive as `Params`).
    #[serde(default)]
    pub params: Vec<(String, String)>,
}

fn default_caller() -> Behaviour {
    Behaviour::Tone { hz: 440.0 }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartedCall {
    pub call_sid: String,
}

/// `POST /v1/legs/{sid}/messages`: a call message to a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendMessage {
    pub content: Value,
    #[serde(default = "default_content_type")]
    pub content_type: String,
    #[serde(default = "default_message_type")]
    pub message_type: String,
}

fn default_content_type() -> String {
    "application/json".into()
}
fn default_message_type() -> String {
    "user-defined-message".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentMessage {
    pub voice_event_sid: String,
}

/// One call (a parent leg and the legs it dialled).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallInfo {
    pub sid: String,
    /// `outgoing-client` (a client's invite), `inbound-number` or `inbound-client` (control API).
    pub kind: String,
    /// `awaiting-media`, `fetching`, `running`, `playing`, `dialing`, `bridged`, `gathering`,
    /// `recording`, `ended`.
    pub phase: String,
    pub from: String,
    pub to: String,
    pub created_unix_ms: u64,
    /// Twilio debugger-style errors (11200 HTTP retrieval failure, 12100 parse failure, …).
    pub errors: Vec<CallError>,
    pub legs: Vec<LegInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallError {
    pub code: u32,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LegInfo {
    pub sid: String,
    pub call_sid: String,
    /// `parent` or `child`.
    pub role: String,
    /// `client:<identity>`, a virtual number, or a virtual caller's number.
    pub endpoint: String,
    /// For client legs: the identity.
    pub identity: Option<String>,
    /// For client legs the SDK's temporary `TJS…` id of an outgoing call.
    pub temp_sid: Option<String>,
    pub from: String,
    pub to: String,
    /// `queued`, `ringing`, `in-progress`, `completed`, `busy`, `no-answer`, `canceled`, `failed`.
    pub state: String,
    /// Client legs: whether the client's socket is attached (false while waiting for a reconnect).
    pub signaling_connected: bool,
    pub created_unix_ms: u64,
    pub answered_unix_ms: Option<u64>,
    pub ended_unix_ms: Option<u64>,
    /// Why it ended (`local-hangup`, `remote-hangup`, `canceled`, `rejected`, `reconnect-timeout`, …).
    pub end_reason: Option<String>,
    /// The error sent to the client with its hangup, if any.
    pub error: Option<CallError>,
    pub bridged_to: Option<String>,
    /// Call messages received from and sent to the client.
    pub messages: Vec<MessageRecord>,
    /// DTMF digits from signaling `dtmf` frames.
    pub signaling_dtmf: Vec<DtmfRecord>,
    /// Media counters and analysis; `None` until the leg's media exists.
    pub media: Option<MediaStats>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageRecord {
    /// `received` (client → lab) or `sent` (lab → client).
    pub direction: String,
    pub voice_event_sid: String,
    pub content_type: String,
    pub message_type: String,
    pub content: Value,
    pub unix_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DtmfRecord {
    pub digit: char,
    /// `rfc4733` or `signaling`.
    pub source: String,
    /// The RTP clock of an RFC 4733 event's telephone-event payload type, as received.
    #[serde(default)]
    pub clock_hz: Option<u32>,
    /// The clock the sender's RTP timestamps really ran at: the ticks from the previous
    /// event's start to this one's over the time between their arrivals (none for the first
    /// event, or events less than 50 ms apart).
    #[serde(default)]
    pub measured_clock_hz: Option<u32>,
    /// When the event started (first packet or frame).
    pub unix_ms: u64,
    /// RFC 4733 event duration when its end packet arrived.
    pub duration_ms: Option<u32>,
}

/// Per-leg media figures, counted at the RTP level.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MediaStats {
    /// `webrtc` (a client's peer connection) or `virtual` (a number the lab plays).
    pub kind: String,
    /// Local UDP address of a WebRTC leg.
    pub local_addr: Option<String>,
    /// The client's address learnt from its connectivity checks.
    pub remote_addr: Option<String>,
    pub ice_connected: bool,
    /// Codec of the audio the leg receives (`PCMU`, `opus`).
    pub codec_in: Option<String>,
    pub codec_out: Option<String>,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    /// RMS level of the last second of received audio, dBFS (−100 = silence).
    pub level_dbfs: f32,
    /// Loudest one-second RMS level received so far, dBFS.
    pub max_level_dbfs: f32,
    /// Dominant frequency (Hz) of the last second of received audio, if not silent.
    pub dominant_hz: Option<f32>,
    /// Dominant frequency of the loudest second received so far.
    pub loudest_dominant_hz: Option<f32>,
    /// DTMF received in RTP (RFC 4733) or forwarded from signaling to this leg.
    pub dtmf: Vec<DtmfRecord>,
    /// True while a `stop-media` fault is active.
    pub media_stopped: bool,
    /// Times a `switch-ssrc` fault moved what the leg sends to a new SSRC.
    #[serde(default)]
    pub ssrc_switches: u32,
    /// The client's ICE username fragment in its latest description (WebRTC legs).
    #[serde(default)]
    pub client_ice_ufrag: Option<String>,
    /// `reinvite`s the leg answered that restarted ICE (the client's credentials changed).
    #[serde(default)]
    pub ice_restarts: u32,
    /// The leg's DTLS-SRTP handshake (WebRTC legs only).
    #[serde(default)]
    pub dtls: Option<DtlsStats>,
    /// Audio recorded so far by a `<Record>` in progress on this leg, ms (`None` when none).
    #[serde(default)]
    pub recording_ms: Option<u64>,
}

/// What a WebRTC leg's DTLS handshake negotiated, as the lab's side of it saw it. The lab
/// speaks Twilio's crypto: DTLS 1.2, an ECDSA P-256 certificate, SRTP `AES128_CM_HMAC_SHA1_80`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DtlsStats {
    /// `new` (no handshake yet), `handshaking`, `connected` or `failed`.
    pub state: String,
    /// The lab's role: `client` (it sends the ClientHello: calls a client makes, which the
    /// lab answers with `a=setup:active`, as Twilio does) or `server` (calls to a client,
    /// which answers the lab's `a=setup:actpass` with `active`).
    pub role: Option<String>,
    /// `DTLS 1.2`.
    pub version: Option<String>,
    /// The RFC 5764 name of the SRTP protection profile, e.g. `SRTP_AES128_CM_SHA1_80`.
    pub srtp_profile: Option<String>,
    /// The TLS cipher suite (OpenSSL's name, e.g. `ECDHE-ECDSA-AES128-GCM-SHA256`).
    pub cipher: Option<String>,
    /// The key of the lab's certificate, e.g. `ECDSA P-256`.
    pub local_cert: Option<String>,
    /// The key of the peer's certificate, e.g. `ECDSA P-256` or `RSA 2048`.
    pub peer_cert: Option<String>,
    /// Why the handshake failed.
    pub error: Option<String>,
}

/// A signaling connection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConnectionInfo {
    pub id: u64,
    pub peer: String,
    pub identity: Option<String>,
    pub registered: bool,
    pub reconnect_timeout_secs: u64,
    pub heartbeats_stopped: bool,
    pub opened_unix_ms: u64,
    pub closed_unix_ms: Option<u64>,
    /// The `User-Agent` of the WebSocket upgrade request, if it had one.
    #[serde(default)]
    pub user_agent: Option<String>,
    /// `browserinfo` of the last `listen`, as sent.
    #[serde(default)]
    pub browserinfo: Option<Value>,
    /// The last frames each way (heartbeats excluded), oldest first.
    pub frames: Vec<FrameRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FrameRecord {
    /// `in` (client → lab) or `out`.
    pub direction: String,
    pub unix_ms: u64,
    /// The frame's `type` (or `invalid`).
    pub kind: String,
    /// The frame text, cut at 8 KB.
    pub text: String,
}

/// Which connections a fault applies to.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConnSelector {
    pub identity: Option<String>,
    pub conn: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CloseSocketFault {
    #[serde(flatten)]
    pub target: ConnSelector,
    /// true: a `close` frame and a WebSocket close; false: the TCP connection just drops.
    #[serde(default)]
    pub close_frame: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefuseConnectionsFault {
    pub seconds: f32,
}

/// Answer the next `listen` or `invite` with an error.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NextErrorFault {
    /// `listen` or `invite`.
    pub frame: String,
    pub code: u32,
    #[serde(default)]
    pub message: Option<String>,
    /// `error.retryAfter` in seconds.
    #[serde(default)]
    pub retry_after: Option<u32>,
    /// Close the socket after the error (listen only).
    #[serde(default)]
    pub close: bool,
}

/// `POST /v1/faults/refuse-listen`: refuse every `listen` until `POST
/// /v1/faults/accept-listen`, as Twilio does while an account or its credentials are broken
/// (and then, once fixed, no longer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefuseListenFault {
    /// The `error` sent first (31202 bad credentials, 31204 invalid token, …); `None` sends
    /// no error at all (the seed's invalid Account SID: the client just sees its socket go).
    #[serde(default)]
    pub code: Option<u32>,
    #[serde(default)]
    pub message: Option<String>,
    /// Then `close` and a WebSocket close (true, the seed's 31202), or the TCP connection
    /// dropped (false).
    #[serde(default = "yes")]
    pub close_frame: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopMediaFault {
    pub seconds: f32,
}

/// `POST /v1/clock`: shift the lab's wall clock (token checks, TTLs) by this many seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockOffset {
    pub offset_secs: i64,
}

/// A webhook request the lab made, for tests that check what a server received.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookRecord {
    pub call_sid: String,
    pub url: String,
    pub method: String,
    pub params: Vec<(String, String)>,
    pub signature: String,
    pub unix_ms: u64,
    /// HTTP status, or `None` when the request failed.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// The body of every non-2xx control response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// `POST /v1/legs/{sid}/digits`: a virtual leg presses keys (`0-9`, `*`, `#`; `w` waits
/// half a second), 300 ms apart, as RFC 4733 to its bridged peer and as input to the
/// `<Gather>`/`<Record>` its call runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendDigits {
    pub digits: String,
}

/// A recording `<Record>` made (`GET /v1/recordings`, `GET /v1/recordings/{sid}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecordingInfo {
    /// `RE` + 32 hex digits.
    pub sid: String,
    pub account_sid: String,
    pub call_sid: String,
    /// The `RecordingUrl` (no extension; `.wav` gives the audio, `.json` the resource).
    pub url: String,
    pub duration_ms: u64,
    /// Whole seconds (rounded), as `RecordingDuration` says.
    pub duration_secs: u64,
    /// When recording started (after the beep).
    pub start_unix_ms: u64,
    pub created_unix_ms: u64,
    /// How it ended: `finish-key`, `max-length`, `silence` or `hangup`.
    pub ended_by: String,
    /// The `Digits` the action got: the key, `hangup`, or empty.
    pub digits: String,
    /// Deleted through `DELETE …/Recordings/{sid}.json` (the audio is gone).
    pub deleted: bool,
    pub deleted_unix_ms: Option<u64>,
    /// RMS level of the whole recording, dBFS (−100 = silence or empty).
    pub level_dbfs: f32,
    /// Dominant frequency of the loudest second, if not silent.
    pub dominant_hz: Option<f32>,
}

/// `POST /v1/faults/fail-ice-tokens`: the Tokens resource answers `status` (default 503)
/// until `POST /v1/faults/serve-ice-tokens`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FailIceTokensFault {
    #[serde(default = "default_fail_status")]
    pub status: u16,
}

fn default_fail_status() -> u16 {
    503
}

/// `GET /v1/ice-tokens`: what the Tokens resource (`POST …/Tokens.json`) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceTokenStats {
    /// Tokens handed out.
    pub served: u64,
    /// Requests answered with the fault's status.
    pub failed: u64,
    /// The fault's status while it is on.
    pub failing_with: Option<u16>,
}
