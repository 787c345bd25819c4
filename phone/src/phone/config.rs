//! The phone's configuration (from the config file and offhook-server, with where each
//! provisioned value came from) and the user's own settings (changed from the menu and saved
//! across restarts).

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::io::{Codec, VolumePath};
use crate::dialplan::DialPlan;
use crate::state_file::{self, LoadProblem, SaveError};
use crate::tones::{NamedCadence, Region};

/// Highest volume step.
pub const MAX_VOLUME: u8 = 10;

/// What a hook flash (a short press of the cradle) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookFlashAction {
    /// Nothing.
    #[default]
    Ignore,
    /// End the current call (or failed attempt) and give fresh dial tone.
    NewCall,
    /// With a call waiting: end the current call and answer the waiting one.
    AnswerWaiting,
}

/// Tone and screen timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneTimers {
    /// Dial tone without a first key, then reorder (Cisco: 10 s).
    pub dial_tone: Duration,
    /// Reorder before the howler / before silence (Cisco: 60 s).
    pub reorder: Duration,
    /// Howler before silence (Cisco: 10 s).
    pub howler: Duration,
    /// Silence between the far end hanging up and reorder (Cisco "Reorder Delay": 5 s).
    pub reorder_delay: Duration,
    /// Busy tone after a busy / declined call, then silence.
    pub busy: Duration,
    /// An unanswered incoming call is ignored (left to other handsets) after this (≈60 s).
    pub ring_timeout: Duration,
    /// How long the call-ended screen stays after hanging up.
    pub ended_screen: Duration,
    /// Give up an outgoing call that neither rings nor connects (SDK issue #63).
    pub connect_timeout: Duration,
    /// After a call error, how long to wait for the SDK's `disconnect` before ending anyway.
    pub error_grace: Duration,
    /// Menus close after this long without a key.
    pub menu_idle: Duration,
    /// Volume and other pop-ups.
    pub overlay: Duration,
    /// A pop-up saying something went wrong (a setting the server did not save).
    pub error_notice: Duration,
}

impl Default for PhoneTimers {
    fn default() -> Self {
        PhoneTimers {
            dial_tone: Duration::from_secs(10),
            reorder: Duration::from_secs(60),
            howler: Duration::from_secs(10),
            reorder_delay: Duration::from_secs(5),
            busy: Duration::from_secs(30),
            ring_timeout: Duration::from_secs(60),
            ended_screen: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(30),
            error_grace: Duration::from_secs(3),
            menu_idle: Duration::from_secs(30),
            overlay: Duration::from_secs(2),
            error_notice: Duration::from_secs(6),
        }
    }
}

/// Where a provisioned setting's value came from: the handset's config file (which wins),
/// offhook-server (`GET /api/handset/config`), or the built-in default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SettingSource {
    Local,
    Server,
    #[default]
    Default,
}

impl SettingSource {
    /// As the About screen says it.
    pub fn label(self) -> &'static str {
        match self {
            SettingSource::Local => "local",
            SettingSource::Server => "server",
            SettingSource::Default => "default",
        }
    }
}

/// The source of each setting offhook-server may provision (do-not-disturb and forwarding
/// are the server's own: the phone knows whether it has heard them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Sources {
    pub contacts: SettingSource,
    pub speed_dials: SettingSource,
    pub digit_map: SettingSource,
    pub country: SettingSource,
    pub ring_cadence: SettingSource,
    pub volumes: SettingSource,
    pub codecs: SettingSource,
    pub edges: SettingSource,
}

impl Sources {
    /// Each setting as the About screen names it, with its source.
    pub fn named(&self) -> [(&'static str, SettingSource); 8] {
        [
            ("Contacts", self.contacts),
            ("Speed dials", self.speed_dials),
            ("Digit map", self.digit_map),
            ("Country", self.country),
            ("Ring", self.ring_cadence),
            ("Volumes", self.volumes),
            ("Codecs", self.codecs),
            ("Edges", self.edges),
        ]
    }
}

/// Everything configured about how this phone behaves: fixed for a run, except what
/// offhook-server provisions, which arrives as [`crate::phone::PhoneInput::Config`].
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneConfig {
    pub region: Region,
    pub dial_plan: DialPlan,
    pub timers: PhoneTimers,
    pub hook_flash: HookFlashAction,
    /// Offer a second incoming call during a call (the glue sets the Device's
    /// `allowIncomingWhileBusy` to match).
    pub call_waiting: bool,
    /// Ring cadences to choose from; the first is the default.
    pub ring_cadences: Vec<NamedCadence>,
    /// Edges to choose from in settings (the config's list, e.g. `["roaming", "ashburn"]`).
    pub edges: Vec<String>,
    /// Codec order used unless the user changes it.
    pub codecs: Vec<Codec>,
    /// This handset's own phone number or extension, shown when idle.
    pub own_number: Option<String>,
    /// Shown on the About screen.
    pub version: String,
    pub device_id: String,
    pub server: String,
    /// Volumes set by the config file or offhook-server (`None`: the user's, or the
    /// defaults). Applied when they change; the volume keys change them until the next time.
    pub volumes: Option<Volumes>,
    /// Where each provisioned setting came from (the About screen).
    pub sources: Sources,
}

impl PhoneConfig {
    /// A config with the region's defaults, for tests and for `offhook screens`.
    pub fn for_region(region: Region, dial_plan: DialPlan) -> PhoneConfig {
        PhoneConfig {
            region,
            dial_plan,
            timers: PhoneTimers::default(),
            hook_flash: HookFlashAction::Ignore,
            call_waiting: false,
            ring_cadences: NamedCadence::presets(region),
            edges: vec!["roaming".into()],
            codecs: vec![Codec::Opus, Codec::Pcmu],
            own_number: None,
            version: env!("CARGO_PKG_VERSION").into(),
            device_id: String::new(),
            server: String::new(),
            volumes: None,
            sources: Sources::default(),
        }
    }
}

/// Volumes per path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Volumes {
    pub handset: u8,
    pub speaker: u8,
    pub ringer: u8,
}

impl Default for Volumes {
    fn default() -> Self {
        Volumes {
            handset: 6,
            speaker: 6,
            ringer: 6,
        }
    }
}

impl Volumes {
    pub fn get(&self, path: VolumePath) -> u8 {
        match path {
            VolumePath::Handset => self.handset,
            VolumePath::Speaker => self.speaker,
            VolumePath::Ringer => self.ringer,
        }
        .min(MAX_VOLUME)
    }

    pub fn set(&mut self, path: VolumePath, level: u8) {
        let level = level.min(MAX_VOLUME);
        match path {
            VolumePath::Handset => self.handset = level,
            VolumePath::Speaker => self.speaker = level,
            VolumePath::Ringer => self.ringer = level,
        }
    }
}

/// What the user chose from the menu; `None` = the config's default.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSettings {
    pub volumes: Volumes,
    /// Audio device ids.
    pub microphone: Option<String>,
    pub speaker: Option<String>,
    pub edge: Option<String>,
    pub codecs: Option<Vec<Codec>>,
    pub ring_cadence: Option<String>,
    /// Do not disturb: incoming calls are declined (and listed as missed). offhook-server
    /// holds the real value (callers go to voicemail); this is the last one it sent, used
    /// until it is heard from again.
    pub do_not_disturb: bool,
    /// The provisioned volumes (`PhoneConfig::volumes`) last applied: new ones replace the
    /// user's, the same ones again do not.
    pub provisioned_volumes: Option<Volumes>,
}

impl UserSettings {
    /// Reads the settings file; a corrupt one is moved aside and defaults used.
    pub fn load(path: &Path) -> (UserSettings, Option<LoadProblem>) {
        state_file::load_json(path)
    }

    pub fn save(&self, path: &Path) -> Result<(), SaveError> {
        state_file::save_json(path, self)
    }
}
