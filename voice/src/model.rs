//! The vocabulary of the API: states, directions, codecs, events and samples, named as the
//! SDK names them.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::error::TwilioError;

/// `Device.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceState {
    Unregistered,
    Registering,
    Registered,
    Destroyed,
}

impl DeviceState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceState::Unregistered => "unregistered",
            DeviceState::Registering => "registering",
            DeviceState::Registered => "registered",
            DeviceState::Destroyed => "destroyed",
        }
    }
}

impl fmt::Display for DeviceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Call.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    Pending,
    Connecting,
    Ringing,
    Open,
    Reconnecting,
    Closed,
}

impl CallStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Pending => "pending",
            CallStatus::Connecting => "connecting",
            CallStatus::Ringing => "ringing",
            CallStatus::Open => "open",
            CallStatus::Reconnecting => "reconnecting",
            CallStatus::Closed => "closed",
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Call.CallDirection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CallDirection {
    Incoming,
    Outgoing,
}

impl CallDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            CallDirection::Incoming => "INCOMING",
            CallDirection::Outgoing => "OUTGOING",
        }
    }
}

/// `Call.Codec`: the audio codecs Twilio's gateway speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Pcmu,
    Opus,
}

impl Codec {
    /// The lower-case name the SDK uses in `codecPreferences`.
    pub fn sdp_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "pcmu",
            Codec::Opus => "opus",
        }
    }

    /// The name `Call.codec` and samples report (`PCMU`, `opus`), as browsers' stats do.
    pub fn stats_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Opus => "opus",
        }
    }

    pub fn parse(s: &str) -> Option<Codec> {
        match s.to_ascii_lowercase().as_str() {
            "pcmu" => Some(Codec::Pcmu),
            "opus" => Some(Codec::Opus),
            _ => None,
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stats_name())
    }
}

/// A call message (`Call.Message`), sent with `send_message` or received from the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallMessage {
    pub content: serde_json::Value,
    pub content_type: String,
    pub message_type: String,
    pub voice_event_sid: String,
}

/// The `call.parameters` map (`From`, `To`, `CallSid`, `AccountSid`, …).
pub type CallParameters = BTreeMap<String, String>;

/// A local handle for a call inside one Device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CallId(pub u64);

/// One second of call statistics (`RTCSample`), with the SDK's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RtcSample {
    /// Milliseconds since the Unix epoch when known, else since the call started.
    pub timestamp_ms: u64,
    pub codec_name: String,
    /// Round-trip time, ms.
    pub rtt: Option<f64>,
    /// Interarrival jitter, ms.
    pub jitter: Option<f64>,
    pub mos: Option<f64>,
    pub packets_received: u64,
    pub packets_lost: u64,
    pub packets_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    /// This interval's loss, percent.
    pub packets_lost_fraction: f64,
    pub total_packets_received: u64,
    pub total_packets_lost: u64,
    pub total_packets_sent: u64,
    pub total_bytes_received: u64,
    pub total_bytes_sent: u64,
    /// Whole-call loss, percent (100 when nothing was received).
    pub total_packets_lost_fraction: f64,
    /// Input (microphone) level 0–32767.
    pub audio_input_level: u32,
    /// Output (speaker) level 0–32767.
    pub audio_output_level: u32,
}

/// Data attached to a `warning` event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WarningData {
    pub name: String,
    pub threshold_name: String,
    pub threshold_value: f64,
    pub values: Vec<f64>,
}

/// What a Device reports (the SDK's Device events). The engine names calls by [`CallId`];
/// the async API hands out [`crate::Call`] handles.
#[derive(Debug, Clone, PartialEq)]
pub enum DeviceEvent<C = CallId> {
    Registered,
    Registering,
    Unregistered,
    Destroyed,
    Error { error: TwilioError, call: Option<C> },
    Incoming(C),
    TokenWillExpire,
}

impl<C> DeviceEvent<C> {
    pub fn name(&self) -> &'static str {
        match self {
            DeviceEvent::Registered => "registered",
            DeviceEvent::Registering => "registering",
            DeviceEvent::Unregistered => "unregistered",
            DeviceEvent::Destroyed => "destroyed",
            DeviceEvent::Error { .. } => "error",
            DeviceEvent::Incoming(_) => "incoming",
            DeviceEvent::TokenWillExpire => "tokenWillExpire",
        }
    }
}

/// What a Call reports (the SDK's Call events).
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    Accept,
    Cancel,
    Disconnect,
    Error(TwilioError),
    MessageReceived(CallMessage),
    MessageSent(CallMessage),
    Mute(bool),
    Reconnected,
    Reconnecting(TwilioError),
    Reject,
    Ringing {
        has_early_media: bool,
    },
    Sample(Box<RtcSample>),
    /// Input and output volume, 0–1, every 50 ms.
    Volume {
        input: f32,
        output: f32,
    },
    Warning {
        name: String,
        data: Option<WarningData>,
    },
    WarningCleared {
        name: String,
    },
}

impl CallEvent {
    pub fn name(&self) -> &'static str {
        match self {
            CallEvent::Accept => "accept",
            CallEvent::Cancel => "cancel",
            CallEvent::Disconnect => "disconnect",
            CallEvent::Error(_) => "error",
            CallEvent::MessageReceived(_) => "messageReceived",
            CallEvent::MessageSent(_) => "messageSent",
            CallEvent::Mute(_) => "mute",
            CallEvent::Reconnected => "reconnected",
            CallEvent::Reconnecting(_) => "reconnecting",
            CallEvent::Reject => "reject",
            CallEvent::Ringing { .. } => "ringing",
            CallEvent::Sample(_) => "sample",
            CallEvent::Volume { .. } => "volume",
            CallEvent::Warning { .. } => "warning",
            CallEvent::WarningCleared { .. } => "warning-cleared",
        }
    }
}

/// A state a call's peer connection entered, named as WebRTC names it. Each group is one of
/// the SDK's Insights groups (`signaling-state`, `ice-gathering-state`,
/// `ice-connection-state`, `dtls-transport-state`, `pc-connection-state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerState {
    HaveLocalOffer,
    HaveRemoteOffer,
    Stable,
    SignalingClosed,
    Gathering,
    GatheringComplete,
    IceChecking,
    IceConnected,
    IceDisconnected,
    IceFailed,
    IceClosed,
    DtlsNew,
    DtlsConnecting,
    DtlsConnected,
    DtlsClosed,
    Connecting,
    Connected,
    Disconnected,
    Failed,
    Closed,
}

impl PeerState {
    pub fn group(self) -> &'static str {
        use PeerState::*;
        match self {
            HaveLocalOffer | HaveRemoteOffer | Stable | SignalingClosed => "signaling-state",
            Gathering | GatheringComplete => "ice-gathering-state",
            IceChecking | IceConnected | IceDisconnected | IceFailed | IceClosed => {
                "ice-connection-state"
            }
            DtlsNew | DtlsConnecting | DtlsConnected | DtlsClosed => "dtls-transport-state",
            Connecting | Connected | Disconnected | Failed | Closed => "pc-connection-state",
        }
    }

    pub fn name(self) -> &'static str {
        use PeerState::*;
        match self {
            HaveLocalOffer => "have-local-offer",
            HaveRemoteOffer => "have-remote-offer",
            Stable => "stable",
            Gathering => "gathering",
            GatheringComplete => "complete",
            IceChecking => "checking",
            DtlsNew => "new",
            DtlsConnecting | Connecting => "connecting",
            IceConnected | DtlsConnected | Connected => "connected",
            IceDisconnected | Disconnected => "disconnected",
            IceFailed | Failed => "failed",
            SignalingClosed | IceClosed | DtlsClosed | Closed => "closed",
        }
    }
}

/// `Call.FeedbackScore` is 1–5; `Call.FeedbackIssue`:
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedbackIssue {
    OneWayAudio,
    ChoppyAudio,
    DroppedCall,
    AudioLatency,
    NoisyCall,
    Echo,
}

impl FeedbackIssue {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackIssue::OneWayAudio => "one-way-audio",
            FeedbackIssue::ChoppyAudio => "choppy-audio",
            FeedbackIssue::DroppedCall => "dropped-call",
            FeedbackIssue::AudioLatency => "audio-latency",
            FeedbackIssue::NoisyCall => "noisy-call",
            FeedbackIssue::Echo => "echo",
        }
    }
}
