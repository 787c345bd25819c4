//! The config file as written: serde structs with spans on the values checked after parsing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::dialplan::Contact;
use crate::phone::{Codec, HookFlashAction};
use crate::tones::Region;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: RawServer,
    #[serde(default)]
    pub board: RawBoard,
    #[serde(default)]
    pub audio: RawAudio,
    #[serde(default)]
    pub phone: RawPhone,
    /// `None`: the file gives none (offhook-server's apply); an empty table: none at all.
    #[serde(default)]
    pub speed_dial: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    #[serde(default)]
    pub contacts: Option<Vec<Spanned<Contact>>>,
    #[serde(default)]
    pub volumes: Option<RawVolumes>,
    #[serde(default)]
    pub device: RawDevice,
    #[serde(default)]
    pub token: RawToken,
    #[serde(default)]
    pub voicemail: RawVoicemail,
    #[serde(default)]
    pub push: RawPush,
    #[serde(default)]
    pub state: RawState,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub url: Spanned<String>,
    pub device_id: Spanned<String>,
    pub device_secret: Option<Spanned<String>>,
    pub device_secret_file: Option<Spanned<PathBuf>>,
    /// Extra CA certificates (PEM) to trust for the server, e.g. a self-signed one.
    pub ca_file: Option<Spanned<PathBuf>>,
    /// Plain `http://` to a server that is not on this machine: the device secret and its
    /// tokens then cross the network readable, so it must be asked for by name.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawBoard {
    pub profile: String,
}

impl Default for RawBoard {
    fn default() -> Self {
        RawBoard {
            profile: "simulated".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudio {
    pub capture: String,
    pub playback: String,
    pub ringer: Option<String>,
    pub sample_rate: u32,
    pub handset_speech_processing: bool,
}

impl Default for RawAudio {
    fn default() -> Self {
        RawAudio {
            capture: "default".into(),
            playback: "default".into(),
            ringer: None,
            sample_rate: 48_000,
            handset_speech_processing: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPhone {
    pub country: Option<Spanned<String>>,
    pub region: Option<Region>,
    pub digit_map: Option<Spanned<String>>,
    pub inter_digit_short_ms: Option<u64>,
    pub inter_digit_long_ms: Option<u64>,
    pub emergency: Vec<String>,
    pub dial_tone_ms: Option<u64>,
    pub reorder_ms: Option<u64>,
    pub howler_ms: Option<u64>,
    pub reorder_delay_ms: Option<u64>,
    pub ring_timeout_ms: Option<u64>,
    pub connect_timeout_ms: Option<u64>,
    pub hook_flash: Option<HookFlashAction>,
    pub call_waiting: bool,
    pub own_number: Option<String>,
    pub ring_cadence: Option<Spanned<String>>,
    pub cadences: BTreeMap<String, Spanned<String>>,
}

/// `[volumes]`: all three, 0–10 (the names offhook-server uses).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVolumes {
    pub ring: Spanned<u8>,
    pub earpiece: Spanned<u8>,
    pub speaker: Spanned<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDevice {
    /// `None` or empty: the file gives none (offhook-server's, or roaming, apply).
    pub edge: Option<Vec<Spanned<String>>>,
    pub codec_preferences: Option<Vec<Codec>>,
    pub token_refresh_ms: u64,
    pub enable_improved_signaling_error_precision: bool,
    pub max_call_signaling_timeout_ms: u64,
    pub dscp: bool,
    pub app_name: String,
    /// Signaling hosts (`host:port`) instead of Twilio's edges: a local offhook-lab.
    pub signaling_hosts: Vec<Spanned<String>>,
    /// Extra CA certificates (PEM) to trust for signaling (the lab's certificate).
    pub signaling_ca_file: Option<Spanned<PathBuf>>,
    /// Post call events and quality samples to Twilio Insights.
    pub publish_events: bool,
    /// STUN and TURN servers for calls (the JS SDK's `iceServers`). `None`: offhook-server's,
    /// handed out with each token; a list (even an empty one) wins over them.
    pub ice_servers: Option<Vec<Spanned<RawIceServer>>>,
    /// `all` (the default) or `relay` (every packet through a TURN server).
    pub ice_transport_policy: Option<Spanned<RawIcePolicy>>,
}

/// `{ urls = [...], username = "...", credential = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIceServer {
    pub urls: Spanned<RawUrls>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// One URL or a list of them, as `RTCIceServer.urls` takes.
#[derive(Debug)]
pub struct RawUrls(pub Vec<String>);

impl<'de> Deserialize<'de> for RawUrls {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Urls;
        impl<'de> serde::de::Visitor<'de> for Urls {
            type Value = RawUrls;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a URL or a list of URLs")
            }

            fn visit_str<E: serde::de::Error>(self, url: &str) -> Result<RawUrls, E> {
                Ok(RawUrls(vec![url.to_string()]))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawUrls, A::Error> {
                let mut urls = Vec::new();
                while let Some(url) = seq.next_element::<String>()? {
                    urls.push(url);
                }
                Ok(RawUrls(urls))
            }
        }
        deserializer.deserialize_any(Urls)
    }
}

/// `RTCConfiguration.iceTransportPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RawIcePolicy {
    All,
    Relay,
}

impl Default for RawDevice {
    fn default() -> Self {
        RawDevice {
            edge: None,
            codec_preferences: None,
            token_refresh_ms: 10_000,
            enable_improved_signaling_error_precision: true,
            max_call_signaling_timeout_ms: 30_000,
            dscp: true,
            app_name: "offhook".into(),
            signaling_hosts: Vec::new(),
            signaling_ca_file: None,
            publish_events: true,
            ice_servers: None,
            ice_transport_policy: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawToken {
    pub request_timeout_ms: u64,
    pub min_retry_ms: u64,
    pub max_retry_ms: u64,
}

impl Default for RawToken {
    fn default() -> Self {
        RawToken {
            request_timeout_ms: 10_000,
            min_retry_ms: 1_000,
            max_retry_ms: 60_000,
        }
    }
}

/// The voicemail key and code (`*97` unless told otherwise).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawVoicemail {
    /// What is dialed to reach the mailbox; `""` = no voicemail code (and no key).
    pub number: Option<Spanned<String>>,
    /// The key (1–9) whose long press calls voicemail; 0 = none.
    pub long_press_key: Option<Spanned<u8>>,
}

/// offhook-server's push channel (`GET /api/handset/events`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPush {
    pub enabled: bool,
    /// No bytes for this long (the server sends a keep-alive every 15 s): reconnect.
    pub idle_timeout_ms: u64,
    pub min_retry_ms: u64,
    pub max_retry_ms: u64,
}

impl Default for RawPush {
    fn default() -> Self {
        RawPush {
            enabled: true,
            idle_timeout_ms: 45_000,
            min_retry_ms: 1_000,
            max_retry_ms: 60_000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawState {
    pub dir: PathBuf,
}

impl Default for RawState {
    fn default() -> Self {
        RawState {
            dir: PathBuf::from("/var/lib/offhook"),
        }
    }
}
