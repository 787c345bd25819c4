//! `/etc/offhook/offhook.toml`: parsed, checked and turned into the phone's configuration.
//! A bad file stops start-up with the file, line, column and a message (see [`ConfigError`]).
//! `firmware/offhook.example.toml` documents every key.
//!
//! The file needs only what reaches offhook-server (its URL, the device id and secret), the
//! board profile and the audio devices. The settings the server may provision (contacts,
//! speed dials, digit map, country, ring cadence, volumes, codecs, edges) come from the file
//! when it gives them, else from the server, else from the defaults: [`Config::resolve`],
//! with the source of each ([`resolve`]).

mod error;
mod raw;
pub mod resolve;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::ConfigError;
use error::Source;
use offhook_core::handset::cadence::Cadence;
use twilio_voice::media::echo::{SpeechOptions, SpeechRoutes};
use twilio_voice::options::{IceServer, IceTransportPolicy};

use crate::api::provisioning::HandsetConfig;
use crate::dialplan::{Contact, Country, DigitMap};
use crate::ice::{IceServerList, check_server, check_url};
use crate::phone::{HookFlashAction, MAX_VOLUME, PhoneConfig, PhoneTimers, VolumePath, Volumes};
use crate::tones::{NamedCadence, Region};
pub use resolve::{FixedSettings, LocalSettings, Resolved};

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

/// Twilio Device options (the SDK's names in snake case). The edges and the codec order are
/// provisioned settings: [`LocalSettings`], and the phone's [`PhoneConfig`] once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceOptions {
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
    /// `device.ice_servers`: `None` when the file gives none (offhook-server's are used).
    pub ice_servers: Option<IceServerList>,
    /// `device.ice_transport_policy`.
    pub ice_transport_policy: IceTransportPolicy,
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
    /// The file's values of the settings offhook-server may provision.
    pub local: LocalSettings,
    /// The phone's settings that only the file sets.
    pub fixed: FixedSettings,
    /// The file alone, without the server's settings.
    local_resolved: Resolved,
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

    /// The configuration in force with offhook-server's provisioned settings (`None`: the
    /// file and the defaults alone). `Err`: the server's settings cannot be used with this
    /// file (the reason, for the log).
    pub fn resolve(&self, server: Option<&HandsetConfig>) -> Result<Resolved, String> {
        match server {
            None => Ok(self.local_resolved.clone()),
            Some(_) => resolve::resolve(&self.local, &self.fixed, server),
        }
    }

    /// The file and the defaults alone (what `check-config` shows).
    pub fn local_only(&self) -> &Resolved {
        &self.local_resolved
    }

    /// The phone's behaviour from the file and the defaults alone.
    pub fn phone_config(&self) -> PhoneConfig {
        self.local_resolved.phone.clone()
    }

    /// The last good settings from offhook-server, kept for a start without network.
    pub fn provisioned_path(&self) -> PathBuf {
        self.state_dir.join("provisioned.json")
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

    // What offhook-server may also provision: the file's values, where it gives them.
    let phone = raw.phone;
    let country = match &phone.country {
        Some(iso) => Some(Country::by_iso(iso.get_ref()).ok_or_else(|| {
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
        })?),
        None => None,
    };
    let digit_map = match &phone.digit_map {
        Some(m) => {
            let map_text = m.get_ref().as_str();
            Some(DigitMap::parse(map_text).map_err(|e| {
                // Point at the character inside the quoted string (+1 for the opening quote).
                let at = m.span().start
                    + 1
                    + map_text
                        .char_indices()
                        .nth(e.position)
                        .map(|(i, _)| i)
                        .unwrap_or(map_text.len());
                src.error(Some(at..at + 1), format!("phone.digit_map: {}", e.message))
            })?)
        }
        None => None,
    };
    let speed_dials = match &raw.speed_dial {
        Some(table) => {
            let mut speed_dials = BTreeMap::new();
            for (slot, number) in table {
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
            Some(speed_dials)
        }
        None => None,
    };
    let contacts = match &raw.contacts {
        Some(list) => {
            let mut contacts: Vec<Contact> = Vec::new();
            for contact in list {
                let c = contact.get_ref();
                if c.name.trim().is_empty() || c.number.trim().is_empty() {
                    return Err(
                        src.error(Some(contact.span()), "a contact needs a name and a number")
                    );
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
            Some(contacts)
        }
        None => None,
    };
    let voicemail = voicemail(&raw.voicemail, raw.speed_dial.as_ref(), src)?;
    if let Some(code) = &voicemail.0 {
        let home = country
            .or_else(|| Country::by_iso(resolve::DEFAULT_COUNTRY))
            .map(|c| c.emergency)
            .unwrap_or_default();
        if home.contains(&code.as_str()) || phone.emergency.contains(code) {
            return Err(src.error(
                raw.voicemail.number.as_ref().map(|n| n.span()),
                format!("voicemail.number {code} is an emergency number"),
            ));
        }
    }

    // Ring cadences: presets plus custom ones; the chosen one must be among them.
    let mut cadences = Vec::new();
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
        cadences.push((name.clone(), cadence));
    }
    if let Some(name) = &phone.ring_cadence {
        let mut names: Vec<String> = NamedCadence::presets(Region::Us)
            .into_iter()
            .map(|c| c.name)
            .collect();
        names.extend(cadences.iter().map(|(n, _)| n.clone()));
        if !names.contains(name.get_ref()) {
            return Err(src.error(
                Some(name.span()),
                format!(
                    "unknown ring cadence {:?}; known: {}",
                    name.get_ref(),
                    names.join(", ")
                ),
            ));
        }
    }
    let volumes = match &raw.volumes {
        Some(v) => {
            let mut volumes = Volumes::default();
            for (path, level) in [
                (VolumePath::Ringer, &v.ring),
                (VolumePath::Handset, &v.earpiece),
                (VolumePath::Speaker, &v.speaker),
            ] {
                if *level.get_ref() > MAX_VOLUME {
                    return Err(
                        src.error(Some(level.span()), format!("volumes are 0 to {MAX_VOLUME}"))
                    );
                }
                volumes.set(path, *level.get_ref());
            }
            Some(volumes)
        }
        None => None,
    };

    // Device options.
    let device = raw.device;
    let edges = match &device.edge {
        Some(list) if !list.is_empty() => {
            for edge in list {
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
            Some(list.iter().map(|e| e.get_ref().clone()).collect())
        }
        _ => None,
    };
    if device.codec_preferences.as_ref().is_some_and(Vec::is_empty) {
        return Err(src.error(
            None,
            "device.codec_preferences must list at least one codec",
        ));
    }
    let local = LocalSettings {
        country,
        region: phone.region,
        digit_map,
        speed_dials,
        contacts,
        ring_cadence: phone.ring_cadence.as_ref().map(|n| n.get_ref().clone()),
        volumes,
        edges,
        codecs: device.codec_preferences.clone(),
    };
    let defaults = PhoneTimers::default();
    let fixed = FixedSettings {
        inter_digit: (
            phone.inter_digit_short_ms.map(ms),
            phone.inter_digit_long_ms.map(ms),
        ),
        emergency: phone.emergency.clone(),
        voicemail,
        cadences,
        timers: PhoneTimers {
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
        },
        hook_flash: phone.hook_flash.unwrap_or(HookFlashAction::Ignore),
        call_waiting: phone.call_waiting,
        own_number: phone.own_number.clone(),
        device_id: raw.server.device_id.get_ref().trim().to_string(),
        server: url.as_str().trim_end_matches('/').to_string(),
    };
    let local_resolved = resolve::resolve(&local, &fixed, None).map_err(|e| src.error(None, e))?;
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
    let (ice_servers, ice_transport_policy) = ice(&device, src)?;
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
            ice_servers,
            ice_transport_policy,
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
        local,
        fixed,
        local_resolved,
    })
}

/// `device.ice_servers` and `device.ice_transport_policy`, checked as the Device would check
/// them: each URL `stun:`, `turn:` or `turns:` (errors point at its `urls`), a TURN server
/// with a username and a credential (errors point at its entry), and relay-only with a TURN
/// server when the file gives the list.
fn ice(
    device: &raw::RawDevice,
    src: &Source<'_>,
) -> Result<(Option<IceServerList>, IceTransportPolicy), ConfigError> {
    let servers = match &device.ice_servers {
        None => None,
        Some(entries) => {
            let mut servers = Vec::new();
            for entry in entries {
                let raw = entry.get_ref();
                let urls: Vec<String> = raw
                    .urls
                    .get_ref()
                    .0
                    .iter()
                    .map(|u| u.trim().to_string())
                    .collect();
                if urls.is_empty() {
                    return Err(src.error(
                        Some(raw.urls.span()),
                        "device.ice_servers: an entry needs at least one URL",
                    ));
                }
                for url in &urls {
                    check_url(url).map_err(|e| {
                        src.error(Some(raw.urls.span()), format!("device.ice_servers: {e}"))
                    })?;
                }
                let server = IceServer {
                    urls,
                    username: raw.username.clone(),
                    credential: raw.credential.clone(),
                };
                check_server(&server).map_err(|e| {
                    src.error(Some(entry.span()), format!("device.ice_servers: {e}"))
                })?;
                servers.push(server);
            }
            Some(IceServerList(servers))
        }
    };
    let policy = match device.ice_transport_policy.as_ref().map(|p| *p.get_ref()) {
        None | Some(raw::RawIcePolicy::All) => IceTransportPolicy::All,
        Some(raw::RawIcePolicy::Relay) => IceTransportPolicy::Relay,
    };
    if let (Some(list), Some(at)) = (&servers, &device.ice_transport_policy)
        && policy == IceTransportPolicy::Relay
        && !list.has_turn()
    {
        return Err(src.error(
            Some(at.span()),
            "device.ice_transport_policy = \"relay\" needs a turn: or turns: URL in \
             device.ice_servers (or leave ice_servers out to use offhook-server's)",
        ));
    }
    Ok((servers, policy))
}

/// `[voicemail]`: the code (default `*97`, `""` = none) and the long-press key (default 1,
/// 0 = none), which no speed dial may also use.
fn voicemail(
    raw: &raw::RawVoicemail,
    speed_dial: Option<&BTreeMap<toml::Spanned<String>, toml::Spanned<String>>>,
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
            .into_iter()
            .flatten()
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
