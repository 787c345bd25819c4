//! What the server provisions to a handset (`GET /api/handset/config`): its name and extension,
//! contacts and speed dials, and the phone settings set in `/admin` (ring cadence, digit map,
//! country, volumes, codecs, edges), with do-not-disturb and forwarding. Pure: the JSON, its
//! strong `ETag`, and the checks an admin's change must pass; the store keeps the values.
//!
//! A field is `null` when the server does not set it: the handset then keeps its own value or
//! default. `contacts` and `speed_dial` are `null` (not empty) when the server has none.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::forwarding;
use crate::handsets::Handsets;
use crate::phone;
use crate::store::handsets::HandsetSettings;

/// The ring cadences every handset knows (`[phone] ring_cadence`).
pub const RING_CADENCES: &[&str] = &["us", "uk", "eu", "short-short", "short-short-long"];
/// The codecs a handset can prefer.
pub const CODECS: &[&str] = &["opus", "pcmu"];
/// Twilio's published edges (the handset accepts others; these are offered in `/admin`).
pub const EDGES: &[&str] = &[
    "roaming",
    "ashburn",
    "dublin",
    "frankfurt",
    "sao-paulo",
    "singapore",
    "sydney",
    "tokyo",
    "umatilla",
    "ashburn-ix",
    "san-jose-ix",
    "london-ix",
    "frankfurt-ix",
    "singapore-ix",
    "sydney-ix",
    "tokyo-ix",
    "sao-paulo-ix",
];
/// The loudest a handset's volumes go (the handset's `MAX_VOLUME`).
pub const MAX_VOLUME: u8 = 10;
/// Contacts a handset is given at most.
pub const MAX_CONTACTS: usize = 200;
/// Longest contact name, in characters.
pub const MAX_CONTACT_NAME: usize = 64;
/// Longest digit map, in bytes.
pub const MAX_DIGIT_MAP: usize = 256;

/// A handset's volumes (0 to [`MAX_VOLUME`]); `None`: not set by the server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Volumes {
    pub ring: Option<u8>,
    pub earpiece: Option<u8>,
    pub speaker: Option<u8>,
}

impl Volumes {
    pub fn is_set(&self) -> bool {
        self.ring.is_some() || self.earpiece.is_some() || self.speaker.is_some()
    }
}

/// The phone settings the server may set on a handset (`None`: not set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provisioning {
    pub ring_cadence: Option<String>,
    pub digit_map: Option<String>,
    /// An ISO code; `None`: the server's default country is sent.
    pub country: Option<String>,
    pub volumes: Volumes,
    pub codec_preferences: Option<Vec<String>>,
    pub edges: Option<Vec<String>>,
}

/// A name for a number on the handset's screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: String,
    /// A number in E.164, another handset's extension, or a short code such as `*97`.
    pub number: String,
}

/// Speed dials by key (`"0"`–`"9"`).
pub type SpeedDials = BTreeMap<String, String>;

/// Everything a handset's configuration is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandsetConfig {
    pub name: String,
    pub extension: String,
    pub contacts: Vec<Contact>,
    pub speed_dial: SpeedDials,
    pub provisioning: Provisioning,
    pub settings: HandsetSettings,
}

impl HandsetConfig {
    /// The JSON of `GET /api/handset/config`.
    pub fn to_json(&self, config: &Config) -> serde_json::Value {
        let p = &self.provisioning;
        let contacts = (!self.contacts.is_empty()).then(|| {
            self.contacts
                .iter()
                .map(|c| serde_json::json!({ "name": c.name, "number": c.number }))
                .collect::<Vec<_>>()
        });
        let speed_dial = (!self.speed_dial.is_empty()).then_some(&self.speed_dial);
        let volumes = p.volumes.is_set().then(|| {
            serde_json::json!({
                "ring": p.volumes.ring,
                "earpiece": p.volumes.earpiece,
                "speaker": p.volumes.speaker,
            })
        });
        let settings = forwarding::to_json(&self.settings);
        serde_json::json!({
            "name": self.name,
            "extension": self.extension,
            "contacts": contacts,
            "speed_dial": speed_dial,
            "digit_map": p.digit_map,
            "country": p.country.as_deref().unwrap_or(config.default_country.iso),
            "ring_cadence": p.ring_cadence,
            "volumes": volumes,
            "codec_preferences": p.codec_preferences,
            "edges": p.edges,
            "dnd": settings["dnd"],
            "forwarding": settings["forwarding"],
        })
    }
}

/// The body and strong `ETag` (quoted) of a configuration: the SHA-256 of exactly the bytes
/// served, so equal configurations have equal tags on every instance.
pub fn body_and_etag(json: &serde_json::Value) -> (String, String) {
    let body = json.to_string();
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    (body, format!("\"{hex}\""))
}

/// Whether an `If-None-Match` header value names `etag` (a list, `*`, or weak forms).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// A number a contact or speed dial may hold: another handset's extension, a short code
/// (`*` and digits, as the voicemail code), or a phone number normalised to E.164 with the
/// server's default country. `None` with the reason otherwise.
pub fn dialable(config: &Config, handsets: &Handsets, text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a number is needed".into());
    }
    if handsets.by_extension(text).is_some() {
        return Ok(text.to_string());
    }
    if text.len() <= 6
        && text.starts_with('*')
        && text[1..].bytes().all(|b| b.is_ascii_digit())
        && text.len() > 1
    {
        return Ok(text.to_string());
    }
    phone::normalize(text, config.default_country)
        .map(|n| n.to_string())
        .map_err(|_| format!("{text:?} is neither a phone number nor a handset's extension"))
}

/// Checks a contact list as an admin typed it (rows with neither name nor number are left
/// out); returns the list or the first problem.
pub fn check_contacts(
    config: &Config,
    handsets: &Handsets,
    rows: &[(String, String)],
) -> Result<Vec<Contact>, String> {
    let mut contacts = Vec::new();
    for (i, (name, number)) in rows.iter().enumerate() {
        let (name, number) = (name.trim(), number.trim());
        if name.is_empty() && number.is_empty() {
            continue;
        }
        let row = i + 1;
        if name.is_empty() || name.chars().count() > MAX_CONTACT_NAME {
            return Err(format!(
                "Contact {row}: the name must be 1 to {MAX_CONTACT_NAME} characters."
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(format!("Contact {row}: the name has a control character."));
        }
        let number =
            dialable(config, handsets, number).map_err(|e| format!("Contact {row}: {e}."))?;
        contacts.push(Contact {
            name: name.to_string(),
            number,
        });
    }
    if contacts.len() > MAX_CONTACTS {
        return Err(format!("At most {MAX_CONTACTS} contacts."));
    }
    Ok(contacts)
}

/// Checks speed dials as typed (key → number; empty numbers are left out).
pub fn check_speed_dials(
    config: &Config,
    handsets: &Handsets,
    rows: &[(String, String)],
) -> Result<SpeedDials, String> {
    let mut dials = SpeedDials::new();
    for (key, number) in rows {
        let key = key.trim();
        if key.len() != 1 || !key.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{key:?} is not a key from 0 to 9."));
        }
        if number.trim().is_empty() {
            continue;
        }
        let number = dialable(config, handsets, number).map_err(|e| format!("Key {key}: {e}."))?;
        dials.insert(key.to_string(), number);
    }
    Ok(dials)
}

/// The phone settings as typed in `/admin` (empty text: not set).
#[derive(Debug, Clone, Default)]
pub struct ProvisioningForm {
    pub ring_cadence: String,
    pub digit_map: String,
    pub country: String,
    pub volume_ring: String,
    pub volume_earpiece: String,
    pub volume_speaker: String,
    /// Codecs in order of preference (the checked ones, in the order listed).
    pub codecs: Vec<String>,
    /// Edges as typed, separated by spaces or commas.
    pub edges: String,
}

/// Checks the phone settings form.
pub fn check_provisioning(form: &ProvisioningForm) -> Result<Provisioning, String> {
    let set = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let ring_cadence = set(&form.ring_cadence);
    if let Some(cadence) = &ring_cadence
        && !RING_CADENCES.contains(&cadence.as_str())
    {
        return Err(format!(
            "The ring cadence must be one of {}.",
            RING_CADENCES.join(", ")
        ));
    }
    let digit_map = set(&form.digit_map);
    if let Some(map) = &digit_map
        && (map.len() > MAX_DIGIT_MAP || !map.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(format!(
            "The digit map must be at most {MAX_DIGIT_MAP} printable characters without spaces."
        ));
    }
    let country = match set(&form.country) {
        None => None,
        Some(iso) => Some(
            phone::country(&iso)
                .ok_or_else(|| format!("{iso:?} is not a country code the server knows."))?
                .iso
                .to_string(),
        ),
    };
    let volume = |what: &str, text: &str| -> Result<Option<u8>, String> {
        match set(text) {
            None => Ok(None),
            Some(v) => v
                .parse::<u8>()
                .ok()
                .filter(|v| *v <= MAX_VOLUME)
                .map(Some)
                .ok_or_else(|| format!("The {what} volume must be from 0 to {MAX_VOLUME}.")),
        }
    };
    let volumes = Volumes {
        ring: volume("ring", &form.volume_ring)?,
        earpiece: volume("earpiece", &form.volume_earpiece)?,
        speaker: volume("speaker", &form.volume_speaker)?,
    };
    let mut codecs = Vec::new();
    for codec in &form.codecs {
        let codec = codec.trim();
        if !CODECS.contains(&codec) {
            return Err(format!("{codec:?} is not a codec (opus or pcmu)."));
        }
        if !codecs.iter().any(|c| c == codec) {
            codecs.push(codec.to_string());
        }
    }
    let mut edges: Vec<String> = Vec::new();
    for edge in form
        .edges
        .split([' ', ',', '\n', '\r', '\t'])
        .filter(|e| !e.is_empty())
    {
        let edge = edge.to_ascii_lowercase();
        let ok = edge.len() <= 32
            && edge
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(format!("{edge:?} is not an edge name."));
        }
        if !edges.contains(&edge) {
            edges.push(edge);
        }
    }
    if edges.len() > 8 {
        return Err("At most 8 edges.".into());
    }
    Ok(Provisioning {
        ring_cadence,
        digit_map,
        country,
        volumes,
        codec_preferences: (!codecs.is_empty()).then_some(codecs),
        edges: (!edges.is_empty()).then_some(edges),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::valid_settings;

    fn config() -> Config {
        let s = valid_settings();
        Config::from_settings(|n| s.get(n).cloned()).unwrap()
    }

    fn sample() -> HandsetConfig {
        HandsetConfig {
            name: "Desk".into(),
            extension: "101".into(),
            contacts: vec![],
            speed_dial: SpeedDials::new(),
            provisioning: Provisioning::default(),
            settings: HandsetSettings::default(),
        }
    }

    #[test]
    fn unset_fields_are_null_and_the_country_defaults_to_the_servers() {
        let json = sample().to_json(&config());
        assert_eq!(json["contacts"], serde_json::Value::Null);
        assert_eq!(json["speed_dial"], serde_json::Value::Null);
        assert_eq!(json["volumes"], serde_json::Value::Null);
        assert_eq!(json["edges"], serde_json::Value::Null);
        assert_eq!(json["country"], "GB");
        assert_eq!(json["dnd"], false);
        assert_eq!(json["forwarding"]["mode"], "off");
        assert_eq!(json["name"], "Desk");
    }

    #[test]
    fn set_fields_and_etags() {
        let mut c = sample();
        c.contacts.push(Contact {
            name: "Echo".into(),
            number: "+12025550100".into(),
        });
        c.speed_dial.insert("2".into(), "+12025550100".into());
        c.provisioning.volumes.ring = Some(7);
        c.provisioning.codec_preferences = Some(vec!["pcmu".into()]);
        let json = c.to_json(&config());
        assert_eq!(json["contacts"][0]["number"], "+12025550100");
        assert_eq!(json["speed_dial"]["2"], "+12025550100");
        assert_eq!(json["volumes"]["ring"], 7);
        assert_eq!(json["volumes"]["speaker"], serde_json::Value::Null);
        let (_, a) = body_and_etag(&json);
        let (_, b) = body_and_etag(&sample().to_json(&config()));
        assert_ne!(a, b);
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 34);
        assert!(etag_matches(&a, &a));
        assert!(etag_matches(&format!("\"x\", W/{a}"), &a));
        assert!(etag_matches("*", &a));
        assert!(!etag_matches(&b, &a));
    }

    #[test]
    fn the_phone_settings_form_is_checked() {
        let ok = check_provisioning(&ProvisioningForm {
            ring_cadence: "uk".into(),
            country: "us".into(),
            volume_ring: "10".into(),
            codecs: vec!["pcmu".into(), "opus".into(), "pcmu".into()],
            edges: "Dublin, roaming".into(),
            ..ProvisioningForm::default()
        })
        .unwrap();
        assert_eq!(ok.country.as_deref(), Some("US"));
        assert_eq!(
            ok.codec_preferences,
            Some(vec!["pcmu".into(), "opus".into()])
        );
        assert_eq!(ok.edges, Some(vec!["dublin".into(), "roaming".into()]));
        assert_eq!(ok.volumes.ring, Some(10));
        assert_eq!(
            check_provisioning(&ProvisioningForm::default()).unwrap(),
            Provisioning::default()
        );
        for bad in [
            ProvisioningForm {
                ring_cadence: "disco".into(),
                ..Default::default()
            },
            ProvisioningForm {
                country: "XX".into(),
                ..Default::default()
            },
            ProvisioningForm {
                volume_speaker: "11".into(),
                ..Default::default()
            },
            ProvisioningForm {
                codecs: vec!["g729".into()],
                ..Default::default()
            },
            ProvisioningForm {
                edges: "<script>".into(),
                ..Default::default()
            },
            ProvisioningForm {
                digit_map: "x x".into(),
                ..Default::default()
            },
        ] {
            assert!(check_provisioning(&bad).is_err(), "{bad:?}");
        }
    }
}
