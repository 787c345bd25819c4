//! What goes into the phone and what comes out. Each Twilio Device/Call event and each
//! Device/Call method has exactly one variant here, so the glue maps them one to one.

use std::time::Duration;

use offhook_core::handset::input::InputEvent;
use serde::{Deserialize, Serialize};

use offhook_core::handset::cadence::Cadence;

use super::config::PhoneConfig;
use super::remote::{ServerSettings, SettingsUpdate, VoicemailCount, VoicemailList};
use crate::tones::Tone;

/// Names one call for the phone and the glue. Outgoing calls get ids from the phone
/// ([`PhoneOutput::Connect`]); for incoming calls the glue takes one from
/// [`crate::phone::Phone::new_call_id`] before passing [`DeviceEvent::Incoming`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CallId(pub u64);

/// A Twilio error as the Voice SDK reports it (`TwilioError.code` / `.message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioError {
    pub code: u32,
    pub message: String,
}

impl TwilioError {
    pub fn new(code: u32, message: impl Into<String>) -> TwilioError {
        TwilioError {
            code,
            message: message.into(),
        }
    }
}

/// The Device's `state` (`unregistered` / `registering` / `registered` / `destroyed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceState {
    Unregistered,
    Registering,
    Registered,
    Destroyed,
}

/// An incoming call as the Device's `incoming` event presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    pub call: CallId,
    /// `call.parameters.From` (`+1415…`, `client:kitchen`, or `anonymous`).
    pub from: String,
    /// `call.parameters.To`.
    pub to: String,
    /// `call.parameters.CallSid`.
    pub call_sid: Option<String>,
    /// `call.customParameters`: offhook-server sends `callerNumber` for phone calls and
    /// `callerName` / `callerExtension` for calls from another handset.
    pub custom: Vec<(String, String)>,
}

/// Device events (`device.on(...)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    Registering,
    Registered,
    Unregistered,
    Destroyed,
    Error(TwilioError),
    Incoming(IncomingCall),
    /// `tokenWillExpire`: the phone answers with [`PhoneOutput::RefreshToken`].
    TokenWillExpire,
    /// The edge the Device's signalling is connected to (`device.edge`), when it changes.
    Edge(Option<String>),
}

/// One `sample` event of a call (sent every second).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CallSample {
    pub mos: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub jitter_ms: Option<f64>,
    /// Percent of packets lost in the last interval.
    pub packets_lost_fraction: Option<f64>,
}

/// Call events (`call.on(...)`).
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// `ringing(hasEarlyMedia)`: the far end is being alerted.
    Ringing {
        has_early_media: bool,
    },
    /// `accept`: incoming accepted, or outgoing answered (media set up).
    Accept,
    /// `cancel`: the caller gave up (incoming) or the call was cancelled before answer.
    Cancel,
    /// `disconnect`: the media session ended (either side hung up).
    Disconnect,
    /// `reject`: our reject went through.
    Reject,
    Error(TwilioError),
    /// `mute(isMuted)`.
    Mute(bool),
    Reconnecting(TwilioError),
    Reconnected,
    Sample(CallSample),
    /// `warning(name)`, e.g. `high-rtt`, `high-jitter`, `low-mos`, `high-packet-loss`.
    Warning(String),
    WarningCleared(String),
    /// `messageReceived`: a user-defined message from the server application.
    MessageReceived {
        content_type: Option<String>,
        content: String,
    },
}

/// Why the token client cannot get a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenProblem {
    /// HTTP 401/403: the device id or secret is wrong.
    CredentialsRejected,
    /// No network to reach offhook-server with: its name does not resolve, or there is no
    /// route to it.
    NoNetwork(String),
    /// No connection to offhook-server (TCP, TLS, timeout).
    ServerUnreachable(String),
    /// Any other HTTP status.
    ServerError(u16),
    /// The server answered with something that is not a token.
    BadResponse(String),
}

/// What the token client knows (the firmware's `offhook::token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenStatus {
    Fetching,
    Valid {
        identity: String,
        /// Lifetime of the token just received.
        ttl: Duration,
    },
    Failing {
        problem: TokenProblem,
        retry_in: Duration,
        /// How long the token we still have stays valid (`None` = we have none).
        current_valid_for: Option<Duration>,
    },
}

/// An audio device the user can pick in settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioDevice {
    /// What the board opens (an ALSA PCM name such as `plughw:CARD=Device,DEV=0`).
    pub id: String,
    /// What the user sees (`USB Audio Device`).
    pub label: String,
}

/// Everything the phone reacts to.
#[derive(Debug, Clone, PartialEq)]
pub enum PhoneInput {
    /// Hook and keys from the board.
    Input(InputEvent),
    Device(DeviceEvent),
    Call(CallId, CallEvent),
    Token(TokenStatus),
    /// The microphones and speakers present now (on start and when it changes).
    AudioDevices {
        microphones: Vec<AudioDevice>,
        speakers: Vec<AudioDevice>,
    },
    /// The handset's IP address, for the About screen.
    Network {
        ip: Option<String>,
    },
    /// The wall-clock time is known (NTP synchronised): seconds since 1970 UTC at the
    /// moment of this input, and the local offset from UTC.
    WallClock {
        unix_secs: i64,
        utc_offset_secs: i32,
    },
    /// The mailbox's counts from offhook-server (the push channel's `voicemail` event).
    Voicemail(VoicemailCount),
    /// The mailbox from `GET /api/handset/voicemail`: counts and messages.
    VoicemailList(VoicemailList),
    /// This handset's settings as offhook-server holds them (a `settings` event or a poll).
    ServerSettings(ServerSettings),
    /// The answer to [`PhoneOutput::PutSettings`]: the settings now in force, or why the
    /// change was not saved, in a few words (`server unreachable`, the server's message).
    SettingsAnswer(Result<ServerSettings, String>),
    /// The configuration changed (offhook-server provisioned new settings). Contacts, speed
    /// dials, the dial plan, ring cadences and volumes apply at once; a new edge list or codec
    /// order reaches the Device ([`PhoneOutput::SetEdge`], [`PhoneOutput::SetCodecPreferences`])
    /// at the next moment without a call.
    Config(Box<PhoneConfig>),
    /// Nothing happened but time passed (a deadline from `poll_timeout` was reached).
    Timer,
}

/// Where call audio and tones go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AudioRoute {
    Handset,
    Speaker,
}

/// A volume control, persisted separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumePath {
    Handset,
    Speaker,
    Ringer,
}

impl VolumePath {
    pub fn label(self) -> &'static str {
        match self {
            VolumePath::Handset => "Handset",
            VolumePath::Speaker => "Speaker",
            VolumePath::Ringer => "Ringer",
        }
    }
}

/// Indicator lamps (the same set as `offhook_board::led::Led`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Led {
    Mute,
    /// New voicemail waiting (on while there is some; missed calls do not light it).
    Message,
    Speaker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LedState {
    Off,
    On,
    /// Blink with this period (half on, half off).
    Blink {
        period_ms: u32,
    },
}

/// Codec preference (`Device` option `codecPreferences`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Opus,
    Pcmu,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::Opus => "opus",
            Codec::Pcmu => "pcmu",
        }
    }
}

/// Which audio device a setting chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceRole {
    Microphone,
    Speaker,
}

/// Everything the phone asks the glue to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum PhoneOutput {
    /// `device.connect({ params })`; report its events as `PhoneInput::Call(call, …)`.
    Connect {
        call: CallId,
        to: String,
        params: Vec<(String, String)>,
    },
    /// `call.accept()`.
    Accept {
        call: CallId,
    },
    /// `call.reject()`.
    Reject {
        call: CallId,
    },
    /// `call.ignore()`.
    Ignore {
        call: CallId,
    },
    /// `call.disconnect()`.
    Hangup {
        call: CallId,
    },
    /// `call.sendDigits(digits)`.
    SendDigits {
        call: CallId,
        digits: String,
    },
    /// `call.mute(muted)`.
    Mute {
        call: CallId,
        muted: bool,
    },
    /// Play this tone on the current route, replacing any tone playing (one-shot tones end by
    /// themselves). Mixed with call audio if a call is up.
    PlayTone(Tone),
    StopTone,
    /// Ring with this cadence, or stop ringing.
    Ringer(Option<Cadence>),
    Led {
        led: Led,
        state: LedState,
    },
    /// Switch call audio and tones to the handset or the speaker (without touching the call).
    Route(AudioRoute),
    /// Set a path's volume (0–[`crate::phone::MAX_VOLUME`]).
    Volume {
        path: VolumePath,
        level: u8,
    },
    /// Use this microphone or speaker from now on.
    UseAudioDevice {
        role: DeviceRole,
        id: String,
    },
    /// Change the Device's edge (takes effect when no call is up).
    SetEdge(String),
    /// Change the Device's codec preferences.
    SetCodecPreferences(Vec<Codec>),
    /// Get a fresh token now (`tokenWillExpire`, or the Device said the token is bad).
    RefreshToken,
    /// The user settings changed: save [`crate::phone::Phone::user_settings`].
    SettingsChanged,
    /// Ask offhook-server to change these settings (`PUT /api/handset/settings`); answer with
    /// [`PhoneInput::SettingsAnswer`].
    PutSettings(SettingsUpdate),
    /// The call history changed: save [`crate::phone::Phone::history`].
    HistoryChanged,
    /// The screen may look different: render [`crate::phone::Phone::view`].
    ViewChanged,
}
