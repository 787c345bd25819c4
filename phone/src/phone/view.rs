//! The view model: everything a screen shows, as plain data. [`crate::screens`] draws it; the
//! phone builds it with [`crate::phone::Phone::view`].

use serde::Serialize;

use super::config::SettingSource;
use super::io::VolumePath;
use crate::history::Direction;

/// The whole display: status bar, main screen, and an optional pop-up on top.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View {
    pub status: StatusBar,
    pub screen: Screen,
    pub overlay: Option<Overlay>,
}

/// Registration as the status bar shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Registration {
    /// Just started; nothing known yet.
    Starting,
    Registering,
    Registered,
    Unregistered,
    /// No usable access token.
    NoToken,
    /// Twilio cannot be reached.
    Offline,
}

impl Registration {
    pub fn label(self) -> &'static str {
        match self {
            Registration::Starting => "Starting",
            Registration::Registering => "Registering",
            Registration::Registered => "Ready",
            Registration::Unregistered => "Not registered",
            Registration::NoToken => "No token",
            Registration::Offline => "Offline",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusBar {
    pub registration: Registration,
    /// The edge the Device is connected to.
    pub edge: Option<String>,
    /// Call quality 1–4 bars from MOS, during a call.
    pub quality: Option<u8>,
    /// `14:05`, once the time is known.
    pub clock: Option<String>,
    /// Missed calls not yet looked at in the history.
    pub missed: u32,
    /// New voicemails in the mailbox.
    pub voicemail: u32,
    pub muted: bool,
    pub speaker: bool,
    /// Do not disturb is on.
    pub dnd: bool,
}

/// Someone on the other end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Party {
    pub name: Option<String>,
    /// Formatted for display (national format for home numbers, `Ext 101` for handsets).
    pub number: String,
}

impl Party {
    /// The name if known, else the number.
    pub fn headline(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.number)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DialHint {
    /// Dial tone, nothing typed yet.
    Ready,
    Typing,
    Invalid,
    Barred,
    /// Nothing dialed before the dial tone ran out.
    TimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallingStage {
    Connecting,
    Ringing,
}

/// A row of a menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MenuItem {
    pub label: String,
    /// The current value, shown right-aligned (settings).
    pub value: Option<String>,
    /// Marks the current choice in a list of options.
    pub checked: bool,
}

/// What a row of the history is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RowKind {
    /// A call placed, received or missed.
    Call { direction: Direction },
    /// A message in the mailbox; `new` until listened to.
    Voicemail { new: bool },
}

/// A row of the call history: calls and voicemails, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryRow {
    pub kind: RowKind,
    /// Name if known, else the number.
    pub label: String,
    /// `14:05` today-ish or `21 Nov`, if the time was known.
    pub when: Option<String>,
    /// `1:05` talk time or the result (`Busy`, `Missed`, `New 0:12` for a voicemail, …).
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "screen", rename_all = "kebab-case")]
pub enum Screen {
    Boot {
        version: String,
    },
    Registering {
        identity: Option<String>,
        server: String,
        /// What is being waited for (`Getting a token`, `Connecting to Twilio`).
        detail: String,
    },
    Idle {
        identity: Option<String>,
        number: Option<String>,
        /// Missed calls not yet looked at.
        missed: u32,
        /// New voicemails.
        voicemail: u32,
        /// `Sat 21 Nov`, once the time is known.
        date: Option<String>,
        /// A problem worth knowing about that does not stop calls (token renewal failing).
        notice: Option<String>,
    },
    /// Off-hook, but calls cannot be placed.
    NoService {
        title: String,
        reason: String,
        action: String,
    },
    Dialing {
        digits: String,
        hint: DialHint,
    },
    Calling {
        party: Party,
        stage: CallingStage,
    },
    Incoming {
        party: Party,
    },
    InCall {
        party: Party,
        elapsed_secs: u64,
        muted: bool,
        /// DTMF sent during the call.
        digits_sent: String,
        quality: Option<u8>,
        /// A call-quality warning in words (`High jitter`).
        warning: Option<String>,
        reconnecting: bool,
        speaker: bool,
        /// A second caller waiting.
        waiting: Option<Party>,
    },
    CallEnded {
        party: Party,
        duration_secs: Option<u64>,
        cause: String,
        waiting: Option<Party>,
    },
    Error {
        code: Option<u32>,
        title: String,
        cause: String,
        action: String,
    },
    Menu {
        title: String,
        items: Vec<MenuItem>,
        selected: usize,
    },
    /// Adjusting a volume from settings.
    Level {
        title: String,
        level: u8,
        max: u8,
    },
    History {
        rows: Vec<HistoryRow>,
        selected: usize,
    },
    /// Typing a number into a setting (the forwarding number).
    Entry {
        title: String,
        /// What has been typed.
        value: String,
        /// What the keys do.
        hint: String,
    },
    About {
        version: String,
        identity: Option<String>,
        device_id: String,
        ip: Option<String>,
        edge: Option<String>,
        server: String,
        region: String,
        /// Where each provisioned setting came from (below the facts above; the volume keys
        /// scroll to them).
        sources: Vec<SourceRow>,
        /// Lines scrolled down (0 to `sources.len()`).
        scroll: usize,
    },
}

/// Where one setting's value came from, on the About screen (`Contacts: server`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRow {
    pub setting: String,
    pub source: SettingSource,
}

impl Screen {
    /// A short name for the screen (file names of rendered screens, logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Screen::Boot { .. } => "boot",
            Screen::Registering { .. } => "registering",
            Screen::Idle { .. } => "idle",
            Screen::NoService { .. } => "no-service",
            Screen::Dialing { .. } => "dialing",
            Screen::Calling { .. } => "calling",
            Screen::Incoming { .. } => "incoming",
            Screen::InCall { .. } => "in-call",
            Screen::CallEnded { .. } => "call-ended",
            Screen::Error { .. } => "error",
            Screen::Menu { .. } => "menu",
            Screen::Level { .. } => "level",
            Screen::History { .. } => "history",
            Screen::Entry { .. } => "entry",
            Screen::About { .. } => "about",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "overlay", rename_all = "kebab-case")]
pub enum Overlay {
    Volume {
        path: VolumePath,
        level: u8,
        max: u8,
    },
    Notice {
        text: String,
    },
}

/// Quality bars (1–4) for a MOS, following Twilio's preflight bands
/// (excellent > 4.2, good ≥ 3.7, fair ≥ 3.1, degraded below).
pub fn quality_bars(mos: f64) -> u8 {
    if !mos.is_finite() {
        return 0;
    }
    match mos {
        m if m > 4.2 => 4,
        m if m >= 3.7 => 3,
        m if m >= 3.1 => 2,
        _ => 1,
    }
}

/// A quality warning in words.
pub fn warning_text(name: &str) -> String {
    match name {
        "high-rtt" => "High delay".into(),
        "high-jitter" => "High jitter".into(),
        "low-mos" => "Poor quality".into(),
        "high-packet-loss" | "high-packets-lost-fraction" => "Packet loss".into(),
        "low-bytes-received" => "No audio in".into(),
        "low-bytes-sent" => "No audio out".into(),
        "constant-audio-input-level" => "Mic silent?".into(),
        "ice-connectivity-lost" => "Connection lost".into(),
        other => other.replace('-', " "),
    }
}
