//! The phone's configuration from the config file and offhook-server's provisioned settings,
//! key by key: a value given in the file wins, then the server's, then the default — and each
//! provisioned key says which it was ([`Sources`], shown on the About screen).
//!
//! The file's values were checked when it was read (with line and column); the server's
//! document was checked when it arrived ([`crate::api::provisioning::check_config`]). What
//! only the combination can tell — a ring cadence the file does not define, a digit map or
//! contacts for the country in force, a speed dial on the voicemail key — is checked here:
//! an error refuses the server's document (the glue keeps the last good one); a speed dial
//! the handset cannot use is left out with a note.

use std::collections::BTreeMap;
use std::time::Duration;

use offhook_core::handset::cadence::Cadence;

use crate::api::provisioning::HandsetConfig;
use crate::dialplan::{Contact, Country, DialPlan, DigitMap, Directory, default_digit_map};
use crate::phone::{
    Codec, HookFlashAction, PhoneConfig, PhoneTimers, SettingSource, Sources, Volumes,
};
use crate::tones::{NamedCadence, Region};

/// The country when neither the file nor the server names one.
pub const DEFAULT_COUNTRY: &str = "US";
/// The edges when neither names any.
pub const DEFAULT_EDGES: [&str; 1] = ["roaming"];
/// The codec order when neither gives one.
pub const DEFAULT_CODECS: [Codec; 2] = [Codec::Opus, Codec::Pcmu];

/// What the config file says about the settings offhook-server may provision (`None`: it
/// says nothing, so the server's value or the default applies), checked when it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSettings {
    pub country: Option<&'static Country>,
    /// The tone plan, if the file names one (else the country's).
    pub region: Option<Region>,
    pub digit_map: Option<DigitMap>,
    pub speed_dials: Option<BTreeMap<u8, String>>,
    pub contacts: Option<Vec<Contact>>,
    pub ring_cadence: Option<String>,
    pub volumes: Option<Volumes>,
    pub edges: Option<Vec<String>>,
    pub codecs: Option<Vec<Codec>>,
}

/// The rest of the phone's behaviour: the file's alone.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedSettings {
    /// Inter-digit timers (short, long) replacing the digit map's.
    pub inter_digit: (Option<Duration>, Option<Duration>),
    pub emergency: Vec<String>,
    /// The voicemail code and its long-press key.
    pub voicemail: (Option<String>, Option<u8>),
    /// Ring cadences defined in the file, besides the presets.
    pub cadences: Vec<(String, Cadence)>,
    pub timers: PhoneTimers,
    pub hook_flash: HookFlashAction,
    pub call_waiting: bool,
    pub own_number: Option<String>,
    pub device_id: String,
    pub server: String,
}

/// The configuration in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// What the phone runs with (its `sources` say where each provisioned value came from).
    pub phone: PhoneConfig,
    pub country: &'static Country,
    pub region: Region,
    /// Values of the server's that were left out, and why (for the log).
    pub notes: Vec<String>,
}

/// The first of the file's value and the server's that is set, and which it was.
fn pick<T>(local: Option<T>, server: Option<T>) -> (Option<T>, SettingSource) {
    match (local, server) {
        (Some(v), _) => (Some(v), SettingSource::Local),
        (None, Some(v)) => (Some(v), SettingSource::Server),
        (None, None) => (None, SettingSource::Default),
    }
}

/// The phone's configuration from the file's values and, if there is one, the server's
/// document. `Err` says why the combination cannot be used.
pub fn resolve(
    local: &LocalSettings,
    fixed: &FixedSettings,
    server: Option<&HandsetConfig>,
) -> Result<Resolved, String> {
    let mut notes = Vec::new();
    let mut sources = Sources::default();

    let server_country = match server.and_then(|s| s.country.as_deref()) {
        Some(iso) => Some(Country::by_iso(iso).ok_or_else(|| format!("unknown country {iso:?}"))?),
        None => None,
    };
    let (country, source) = pick(local.country, server_country);
    sources.country = source;
    let country = match country {
        Some(c) => c,
        None => Country::by_iso(DEFAULT_COUNTRY).ok_or("the country table has no US")?,
    };
    let region = local
        .region
        .unwrap_or_else(|| Region::for_country(country.iso));

    let server_map = match server.and_then(|s| s.digit_map.as_deref()) {
        Some(text) => {
            Some(DigitMap::parse(text).map_err(|e| format!("the digit map: {}", e.message))?)
        }
        None => None,
    };
    let (map, source) = pick(local.digit_map.clone(), server_map);
    sources.digit_map = source;
    let mut map = match map {
        Some(m) => m,
        None => DigitMap::parse(default_digit_map(country))
            .map_err(|e| format!("the default digit map: {}", e.message))?,
    };
    let (short, long) = fixed.inter_digit;
    if short.is_some() || long.is_some() {
        map = map.clone().with_timers(
            short.unwrap_or(map.short_timer()),
            long.unwrap_or(map.long_timer()),
        );
    }

    let (voicemail_number, voicemail_key) = fixed.voicemail.clone();
    let server_speed = server.and_then(|s| s.speed_dial.as_ref()).map(|slots| {
        let mut dials = BTreeMap::new();
        for (key, number) in slots {
            let Ok(n) = key.parse::<u8>() else {
                notes.push(format!("speed dial {key:?} is not a key"));
                continue;
            };
            if n == 0 {
                notes.push("speed dial 0 left out: a long press of 0 gives +".into());
            } else if voicemail_number.is_some() && voicemail_key == Some(n) {
                notes.push(format!(
                    "speed dial {n} left out: a long press of {n} calls voicemail"
                ));
            } else {
                dials.insert(n, number.clone());
            }
        }
        dials
    });
    let (speed_dials, source) = pick(local.speed_dials.clone(), server_speed);
    sources.speed_dials = source;

    let server_contacts = server.and_then(|s| s.contacts.as_ref()).map(|list| {
        list.iter()
            .map(|c| Contact {
                name: c.name.clone(),
                number: c.number.clone(),
                extension: c.extension.clone(),
            })
            .collect::<Vec<_>>()
    });
    let (contacts, source) = pick(local.contacts.clone(), server_contacts);
    sources.contacts = source;
    let contacts = contacts.unwrap_or_default();
    for (i, contact) in contacts.iter().enumerate() {
        if let Some(ext) = &contact.extension
            && contacts[..i]
                .iter()
                .any(|c| c.extension.as_ref() == Some(ext))
        {
            return Err(format!("extension {ext} is used by two contacts"));
        }
    }

    let plan = DialPlan::new(
        map,
        country,
        &fixed.emergency,
        speed_dials.unwrap_or_default(),
        Directory::new(contacts, country),
    )
    .with_voicemail(voicemail_number, voicemail_key);
    if let Some(code) = plan.voicemail()
        && plan.is_emergency(code)
    {
        return Err(format!(
            "the voicemail number {code} is an emergency number"
        ));
    }

    let mut ring_cadences = NamedCadence::presets(region);
    for (name, cadence) in &fixed.cadences {
        ring_cadences.retain(|c| c.name != *name);
        ring_cadences.push(NamedCadence {
            name: name.clone(),
            cadence: cadence.clone(),
        });
    }
    let server_cadence = server.and_then(|s| s.ring_cadence.clone());
    let (chosen, source) = pick(local.ring_cadence.clone(), server_cadence);
    sources.ring_cadence = source;
    if let Some(name) = chosen {
        let Some(at) = ring_cadences.iter().position(|c| c.name == name) else {
            let names: Vec<&str> = ring_cadences.iter().map(|c| c.name.as_str()).collect();
            return Err(format!(
                "unknown ring cadence {name:?}; known: {}",
                names.join(", ")
            ));
        };
        let chosen = ring_cadences.remove(at);
        ring_cadences.insert(0, chosen);
    }

    let server_volumes = server.and_then(|s| s.volumes).map(|v| Volumes {
        handset: clamp_volume(v.earpiece),
        speaker: clamp_volume(v.speaker),
        ringer: clamp_volume(v.ring),
    });
    let (volumes, source) = pick(local.volumes, server_volumes);
    sources.volumes = source;

    let (edges, source) = pick(local.edges.clone(), server.and_then(|s| s.edges.clone()));
    sources.edges = source;
    let edges = edges.unwrap_or_else(|| DEFAULT_EDGES.map(String::from).to_vec());

    let (codecs, source) = pick(
        local.codecs.clone(),
        server.and_then(|s| s.codec_preferences.clone()),
    );
    sources.codecs = source;
    let codecs = codecs.unwrap_or_else(|| DEFAULT_CODECS.to_vec());

    let phone = PhoneConfig {
        region,
        dial_plan: plan,
        timers: fixed.timers,
        hook_flash: fixed.hook_flash,
        call_waiting: fixed.call_waiting,
        ring_cadences,
        edges,
        codecs,
        own_number: fixed.own_number.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        device_id: fixed.device_id.clone(),
        server: fixed.server.clone(),
        volumes,
        sources,
    };
    Ok(Resolved {
        phone,
        country,
        region,
        notes,
    })
}

/// A checked volume as the phone's step (the check keeps it in range; this keeps it there).
fn clamp_volume(level: u64) -> u8 {
    u8::try_from(level)
        .unwrap_or(u8::MAX)
        .min(crate::phone::MAX_VOLUME)
}
