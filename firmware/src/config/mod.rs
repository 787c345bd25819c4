//! `/etc/offhook/offhook.toml`: parsed, checked and turned into the phone's configuration.
//! A bad file stops start-up with the file, line, column and a message (see [`ConfigError`]).
//! `firmware/offhook.example.toml` documents every key.

mod error;
mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ConfigError;
use error::Source;
use offhook_core::handset::cadence::Cadence;
use twilio_voice::media::echo::{SpeechOptions, SpeechRoutes};

use crate::dialplan::{Contact, Country, DialPlan, DigitMap, Directory, default_digit_map};
use crate::phone::{Codec, HookFlashAction, PhoneConfig, PhoneTimers};
use crate::tones::{NamedCadence, Region};

/// Where the config lives on a handset.
pub const DEFAULT_PATH: &str = "/etc/offhook/offhook.toml";

/// Twilio edges the Device accepts (the SDK's `edge` option).
pub use twilio_voice::regions::KNOWN_EDGES;

/// The device's credentials for offhook-server.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub url: url::Url,
    pub device_id: String,
    pub device_secret: String,
    /// Extra trusted CA certificates (PEM), from `server.ca_file`.
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("url", &self.url.as_str())
            .field("device_id", &self.device_id)
            .field("device_secret", &"<hidden>")
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// ALSA PCM names.
    pub capture: String,
    pub playback: String,
    /// A separate device for the ringer, if any.
    pub ringer: Option<String>,
    pub sample_rate: u32,
    /// Echo cancellation, noise suppression and gain control on the uplink, per route (the
    /// loudspeaker always; the handset when `handset_speech_processing` is set).
    pub speech: SpeechRoutes,
}

/// Twilio Device options (the SDK's names in snake case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOptions {
    pub edge: Vec<String>,
    pub codec_preferences: Vec<Codec>,
    pub token_refresh_ms: u64,
    pub enable_improved_signaling_error_precision: bool,
    pub max_call_signaling_timeout_ms: u64,
    pub dscp: bool,
    /// Follows `phone.call_waiting`.
    pub allow_incoming_while_busy: bool,
    pub app_name: String,
    /// `host:port` signaling hosts replacing Twilio's edges (the SDK's `chunderw`): for a
    /// local offhook-lab. Empty: Twilio.
    pub signaling_hosts: Vec<String>,
    /// Extra CA certificates (PEM) trusted for signaling, from `device.signaling_ca_file`.
    pub signaling_ca_pem: Option<Vec<u8>>,
    pub publish_events: bool,
}

/// How the token client behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenOptions {
    pub request_timeout: Duration,
    pub min_retry: Duration,
    pub max_retry: Duration,
}

/// The push channel from offhook-server (voicemail counts and settings as they change).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushOptions {
    /// Off: the handset only polls (whenever its token is refreshed).
    pub enabled: bool,
    /// Silence on the stream for this long means it is dead: reconnect.
    pub idle_timeout: Duration,
    pub min_retry: Duration,
    pub max_retry: Duration,
}

/// The server's keep-alive period on the push channel; the idle timeout must exceed it.
pub const PUSH_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The voicemail code when the config names none (offhook-server answers it).
pub const DEFAULT_VOICEMAIL_NUMBER: &str = "*97";

/// The whole checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub server: ServerConfig,
    pub board_profile: String,
    pub audio: AudioConfig,
    pub device: DeviceOptions,
    pub token: TokenOptions,
    pub push: PushOptions,
    pub state_dir: PathBuf,
    pub country: &'static Country,
    pub region: Region,
    phone: PhoneConfig,
}

impl Config {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            message: format!("cannot read the config: {e}"),
            excerpt: None,
        })?;
        Config::parse(&text, path)
    }

    /// Checks config text (`path` is only used in messages and for relative secret files).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let src = Source { path, text };
        let raw: raw::RawConfig = toml::from_str(text)
            .map_err(|e| src.error(e.span(), e.message().trim().to_string()))?;
        build(raw, &src)
    }

    /// The phone's behaviour from this config.
    pub fn phone_config(&self) -> PhoneConfig {
        self.phone.clone()
    }

    pub fn history_path(&self) -> PathBuf {
        self.state_dir.join("history.json")
    }

    pub fn settings_path(&self) -> PathBuf {
        self.state_dir.join("settings.json")
    }
}

/// `localhost` or a loopback address: plain HTTP there never leaves the machine.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

fn build(raw: raw::RawConfig, src: &Source<'_>) -> Result<Config, ConfigError> {
    // Server and credentials.
    let url_text = raw.server.url.get_ref().trim();
    let url = url::Url::parse(url_text).map_err(|e| {
        src.error(
            Some(raw.server.url.span()),
            format!("server.url is not a URL: {e}"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(src.error(
            Some(raw.server.url.span()),
            "server.url must be an http:// or https:// URL with a host",
        ));
    }
    if url.scheme() == "http" && !is_loopback(&url) && !raw.server.allow_insecure_http {
        return Err(src.error(
            Some(raw.server.url.span()),
            "server.url must be https:// (plain http:// would send the device secret and its \
             tokens readable over the network); for a server on a network you trust, set \
             allow_insecure_http = true in [server]",
        ));
    }
    if raw.server.device_id.get_ref().trim().is_empty() {
        return Err(src.error(
            Some(raw.server.device_id.span()),
            "server.device_id is empty",
        ));
    }
    let device_secret = match (&raw.server.device_secret, &raw.server.device_secret_file) {
        (Some(secret), None) => secret.get_ref().clone(),
        (None, Some(file)) => {
            let file_path = src
                .path
                .parent()
                .unwrap_or_else(|| Path::new("."))
                .join(file.get_ref());
            std::fs::read_to_string(&file_path)
                .map(|s| s.trim().to_string())
                .map_err(|e| {
                    src.error(
                        Some(file.span()),
                        format!(
                            "cannot read server.device_secret_file {}: {e}",
                            file_path.display()
                        ),
                    )
                })?
        }
        (Some(_), Some(file)) => {
            return Err(src.error(
                Some(file.span()),
                "give server.device_secret or server.device_secret_file, not both",
            ));
        }
        (None, None) => {
            return Err(src.error(
                Some(raw.server.device_id.span()),
                "[server] needs device_secret or device_secret_file",
            ));
        }
    };
    if device_secret.is_empty() {
        return Err(src.error(None, "the device secret is empty"));
    }
    let config_dir = src.path.parent().unwrap_or_else(|| Path::new("."));
    let ca_pem = match &raw.server.ca_file {
        Some(file) => {
            let file_path = config_dir.join(file.get_ref());
            Some(std::fs::read(&file_path).map_err(|e| {
                src.error(
                    Some(file.span()),
                    format!("cannot read server.ca_file {}: {e}", file_path.display()),
                )
            })?)
        }
        None => None,
    };

    // Country, region, dial plan.
    let phone = raw.phone;
    let country = match &phone.country {
        Some(iso) => Country::by_iso(iso.get_ref()).ok_or_else(|| {
            let known: Vec<&str> = crate::dialplan::e164::COUNTRIES
                .iter()
                .map(|c| c.iso)
                .collect();
            src.error(
                Some(iso.span()),
                format!(
                    "unknown country {:?}; known: {}",
                    iso.get_ref(),
                    known.join(", ")
                ),
            )
        })?,
        None => Country::by_iso("US")
            .ok_or_else(|| src.error(None, "US missing from the country table"))?,
    };
    let region = phone
        .region
        .unwrap_or_else(|| Region::for_country(country.iso));
    let map_text = phone
        .digit_map
        .as_ref()
        .map(|m| m.get_ref().as_str())
        .unwrap_or_else(|| default_digit_map(country));
    let mut map = DigitMap::parse(map_text).map_err(|e| {
        let span = phone.digit_map.as_ref().map(|m| {
            // Point at the character inside the quoted string (+1 for the opening quote).
            let at = m.span().start
                + 1
                + map_text
                    .char_indices()
                    .nth(e.position)
                    .map(|(i, _)| i)
                    .unwrap_or(map_text.len());
            at..at + 1
        });
        src.error(span, format!("phone.digit_map: {}", e.message))
    })?;
    if phone.inter_digit_short_ms.is_some() || phone.inter_digit_long_ms.is_some() {
        map = map.clone().with_timers(
            phone
                .inter_digit_short_ms
                .map(ms)
                .unwrap_or(map.short_timer()),
            phone
                .inter_digit_long_ms
                .map(ms)
                .unwrap_or(map.long_timer()),
        );
    }
    let mut speed_dials = BTreeMap::new();
    for (slot, number) in &raw.speed_dial {
        let key = slot.get_ref();
        let parsed = key.parse::<u8>().ok().filter(|n| (1..=9).contains(n));
        let Some(n) = parsed else {
            return Err(src.error(
                Some(slot.span()),
                format!("speed_dial keys are 1 to 9, not {key:?}"),
            ));
        };
        if number.get_ref().trim().is_empty() {
            return Err(src.error(Some(number.span()), "speed dial number is empty"));
        }
        speed_dials.insert(n, number.get_ref().trim().to_string());
    }
    let mut contacts: Vec<Contact> = Vec::new();
    for contact in &raw.contacts {
        let c = contact.get_ref();
        if c.name.trim().is_empty() || c.number.trim().is_empty() {
            return Err(src.error(Some(contact.span()), "a contact needs a name and a number"));
        }
        if let Some(ext) = &c.extension
            && contacts
                .iter()
                .any(|other| other.extension.as_ref() == Some(ext))
        {
            return Err(src.error(
                Some(contact.span()),
                format!("extension {ext} is used by two contacts"),
            ));
        }
        contacts.push(c.clone());
    }
    let emergency: Vec<String> = phone.emergency.clone();
    let (voicemail_number, voicemail_key) = voicemail(&raw.voicemail, &raw.speed_dial, src)?;
    let plan = DialPlan::new(
        map,
        country,
        &emergency,
        speed_dials,
        Directory::new(contacts, country),
    )
    .with_voicemail(voicemail_number, voicemail_key);
    if let Some(code) = plan.voicemail()
        && plan.is_emergency(code)
    {
        return Err(src.error(
            raw.voicemail.number.as_ref().map(|n| n.span()),
            format!("voicemail.number {code} is an emergency number"),
        ));
    }

    // Ring cadences: presets plus custom ones.
    let mut ring_cadences = NamedCadence::presets(region);
    for (name, pattern) in &phone.cadences {
        // A ringer that never stops is not a cadence one chooses in settings.
        let cadence = Cadence::parse(pattern.get_ref())
            .filter(|c| !c.is_continuous())
            .ok_or_else(|| {
                src.error(
                    Some(pattern.span()),
                    "a cadence is on/off milliseconds (at most 60000 each), e.g. \"400/200/400/2000\"",
                )
            })?;
        ring_cadences.retain(|c| c.name != *name);
        ring_cadences.push(NamedCadence {
            name: name.clone(),
            cadence,
        });
    }
    if let Some(name) = &phone.ring_cadence {
        let Some(at) = ring_cadences.iter().position(|c| c.name == *name.get_ref()) else {
            let names: Vec<&str> = ring_cadences.iter().map(|c| c.name.as_str()).collect();
            return Err(src.error(
                Some(name.span()),
                format!(
                    "unknown ring cadence {:?}; known: {}",
                    name.get_ref(),
                    names.join(", ")
                ),
            ));
        };
        let chosen = ring_cadences.remove(at);
        ring_cadences.insert(0, chosen);
    }

    // Device options.
    let device = raw.device;
    for edge in &device.edge {
        if !KNOWN_EDGES.contains(&edge.get_ref().as_str()) {
            return Err(src.error(
                Some(edge.span()),
                format!(
                    "unknown edge {:?}; known: {}",
                    edge.get_ref(),
                    KNOWN_EDGES.join(", ")
                ),
            ));
        }
    }
    let edges: Vec<String> = if device.edge.is_empty() {
        vec!["roaming".into()]
    } else {
        device.edge.iter().map(|e| e.get_ref().clone()).collect()
    };
    if device.codec_preferences.is_empty() {
        return Err(src.error(
            None,
            "device.codec_preferences must list at least one codec",
        ));
    }
    let defaults = PhoneTimers::default();
    let timers = PhoneTimers {
        dial_tone: phone.dial_tone_ms.map(ms).unwrap_or(defaults.dial_tone),
        reorder: phone.reorder_ms.map(ms).unwrap_or(defaults.reorder),
        howler: phone.howler_ms.map(ms).unwrap_or(defaults.howler),
        reorder_delay: phone
            .reorder_delay_ms
            .map(ms)
            .unwrap_or(defaults.reorder_delay),
        ring_timeout: phone
            .ring_timeout_ms
            .map(ms)
            .unwrap_or(defaults.ring_timeout),
        connect_timeout: phone
            .connect_timeout_ms
            .map(ms)
            .unwrap_or(defaults.connect_timeout),
        ..defaults
    };
    let phone_config = PhoneConfig {
        region,
        dial_plan: plan,
        timers,
        hook_flash: phone.hook_flash.unwrap_or(HookFlashAction::Ignore),
        call_waiting: phone.call_waiting,
        ring_cadences,
        edges: edges.clone(),
        codecs: device.codec_preferences.clone(),
        own_number: phone.own_number.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        device_id: raw.server.device_id.get_ref().trim().to_string(),
        server: url.as_str().trim_end_matches('/').to_string(),
    };
    let mut signaling_hosts = Vec::new();
    for host in &device.signaling_hosts {
        let h = host.get_ref().trim();
        if h.is_empty() || h.contains('/') || h.contains("://") {
            return Err(src.error(
                Some(host.span()),
                "device.signaling_hosts are host:port, without a scheme or path",
            ));
        }
        signaling_hosts.push(h.to_string());
    }
    let signaling_ca_pem = match &device.signaling_ca_file {
        Some(file) => {
            let file_path = config_dir.join(file.get_ref());
            Some(std::fs::read(&file_path).map_err(|e| {
                src.error(
                    Some(file.span()),
                    format!(
                        "cannot read device.signaling_ca_file {}: {e}",
                        file_path.display()
                    ),
                )
            })?)
        }
        None => None,
    };
    let token = raw.token;
    if token.min_retry_ms == 0 || token.max_retry_ms < token.min_retry_ms {
        return Err(src.error(
            None,
            "token.min_retry_ms must be > 0 and ≤ token.max_retry_ms",
        ));
    }
    let push = raw.push;
    if push.min_retry_ms == 0 || push.max_retry_ms < push.min_retry_ms {
        return Err(src.error(
            None,
            "push.min_retry_ms must be > 0 and ≤ push.max_retry_ms",
        ));
    }
    if ms(push.idle_timeout_ms) <= PUSH_KEEP_ALIVE {
        return Err(src.error(
            None,
            format!(
                "push.idle_timeout_ms must be longer than the server's keep-alive ({} ms)",
                PUSH_KEEP_ALIVE.as_millis()
            ),
        ));
    }
    Ok(Config {
        path: src.path.to_path_buf(),
        server: ServerConfig {
            url,
            device_id: raw.server.device_id.get_ref().trim().to_string(),
            device_secret,
            ca_pem,
        },
        board_profile: raw.board.profile,
        audio: AudioConfig {
            capture: raw.audio.capture,
            playback: raw.audio.playback,
            ringer: raw.audio.ringer,
            sample_rate: raw.audio.sample_rate,
            speech: SpeechRoutes {
                handset: if raw.audio.handset_speech_processing {
                    SpeechOptions::ALL
                } else {
                    SpeechOptions::OFF
                },
                ..SpeechRoutes::default()
            },
        },
        device: DeviceOptions {
            edge: edges,
            codec_preferences: device.codec_preferences,
            token_refresh_ms: device.token_refresh_ms,
            enable_improved_signaling_error_precision: device
                .enable_improved_signaling_error_precision,
            max_call_signaling_timeout_ms: device.max_call_signaling_timeout_ms,
            dscp: device.dscp,
            allow_incoming_while_busy: phone.call_waiting,
            app_name: device.app_name,
            signaling_hosts,
            signaling_ca_pem,
            publish_events: device.publish_events,
        },
        token: TokenOptions {
            request_timeout: ms(token.request_timeout_ms),
            min_retry: ms(token.min_retry_ms),
            max_retry: ms(token.max_retry_ms),
        },
        push: PushOptions {
            enabled: push.enabled,
            idle_timeout: ms(push.idle_timeout_ms),
            min_retry: ms(push.min_retry_ms),
            max_retry: ms(push.max_retry_ms),
        },
        state_dir: raw.state.dir,
        country,
        region,
        phone: phone_config,
    })
}

/// `[voicemail]`: the code (default `*97`, `""` = none) and the long-press key (default 1,
/// 0 = none), which no speed dial may also use.
fn voicemail(
    raw: &raw::RawVoicemail,
    speed_dial: &BTreeMap<toml::Spanned<String>, toml::Spanned<String>>,
    src: &Source<'_>,
) -> Result<(Option<String>, Option<u8>), ConfigError> {
    let number = match &raw.number {
        None => Some(DEFAULT_VOICEMAIL_NUMBER.to_string()),
        Some(n) => {
            let code = n.get_ref().trim();
            let keys = code.chars().all(|c| c.is_ascii_digit() || c == '*');
            if !keys || code.len() > 16 {
                return Err(src.error(
                    Some(n.span()),
                    "voicemail.number is what the keypad dials: 0-9 and *, at most 16 keys (\"\" for none)",
                ));
            }
            (!code.is_empty()).then(|| code.to_string())
        }
    };
    let key = match &raw.long_press_key {
        None => Some(1),
        Some(k) if *k.get_ref() == 0 => None,
        Some(k) if *k.get_ref() <= 9 => Some(*k.get_ref()),
        Some(k) => {
            return Err(src.error(
                Some(k.span()),
                "voicemail.long_press_key is a key from 1 to 9, or 0 for none",
            ));
        }
    };
    if let (Some(key), Some(_)) = (key, &number)
        && let Some((slot, _)) = speed_dial
            .iter()
            .find(|(slot, _)| slot.get_ref().trim() == key.to_string())
    {
        return Err(src.error(
            Some(slot.span()),
            format!(
                "speed dial {key} is the voicemail key (a long press of {key} calls voicemail): \
                 use another slot, or set long_press_key in [voicemail] to another key or 0"
            ),
        ));
    }
    Ok((number, key))
}

#[cfg(test)]
mod tests;
