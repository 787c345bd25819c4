//! What offhook-server provisions for the handset and what the handset reports back:
//!
//! - `GET /api/handset/config` with `If-None-Match`: the settings the server sets (contacts,
//!   speed dials, digit map, country, ring cadence, volumes, codecs, edges, do-not-disturb,
//!   forwarding), `null` where it sets nothing; `304` when the handset's copy is current. The
//!   document is checked here — size, counts, lengths, ranges, names the handset knows — so
//!   that a server that sends something absurd is refused with a reason, never a panic.
//! - the `config` event's data (`{"etag":"\"…\""}`): the document changed.
//! - `POST /api/handset/status`: registration, edge, firmware version, address, last error,
//!   uptime.
//!
//! How the checked document combines with the config file is [`crate::config::Config::resolve`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ServerEndpoint;
use super::handset::{self, ApiError, check_forwarding, check_number, printable};
use crate::dialplan::{Country, DigitMap};
use crate::phone::{Codec, Forwarding, MAX_VOLUME};

/// `GET`: the provisioned settings (ETag, `If-None-Match`, `304`).
pub const CONFIG_PATH: &str = "api/handset/config";
/// `POST`: the handset's status report (answered `204`).
pub const STATUS_PATH: &str = "api/handset/status";

/// Largest config document read (a thousand contacts take a tenth of it).
pub const MAX_CONFIG_BODY: usize = 256 * 1024;
/// Most contacts taken.
pub const MAX_CONTACTS: usize = 1000;
/// Longest contact name.
pub const MAX_NAME: usize = 64;
/// Longest extension (a contact's, the handset's).
const MAX_EXTENSION: usize = 16;
/// Longest digit map.
pub const MAX_DIGIT_MAP: usize = 1024;
/// Longest ring cadence name.
const MAX_CADENCE_NAME: usize = 32;
/// Most edges, codecs.
const MAX_EDGES: usize = 16;
const MAX_CODECS: usize = 4;
/// Longest ETag kept (a quoted hash is under 70).
pub const MAX_ETAG: usize = 128;
/// Longest `last_error` sent.
const MAX_LAST_ERROR: usize = 100;

/// A contact as the server sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigContact {
    pub name: String,
    pub number: String,
    #[serde(default)]
    pub extension: Option<String>,
}

/// Volumes 0–[`MAX_VOLUME`] (the server's names: ring, earpiece, speaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVolumes {
    pub ring: u64,
    pub earpiece: u64,
    pub speaker: u64,
}

/// `GET /api/handset/config`'s body, checked ([`parse_config`]). `None` = the server does not
/// set it (the handset uses its config file's value, or the default). Fields the handset does
/// not know are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HandsetConfig {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub extension: Option<String>,
    #[serde(default)]
    pub contacts: Option<Vec<ConfigContact>>,
    /// Keys `"0"`–`"9"`; values numbers or extensions.
    #[serde(default)]
    pub speed_dial: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub digit_map: Option<String>,
    /// ISO 3166 code (`US`).
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub ring_cadence: Option<String>,
    #[serde(default)]
    pub volumes: Option<ConfigVolumes>,
    #[serde(default)]
    pub codec_preferences: Option<Vec<Codec>>,
    #[serde(default)]
    pub edges: Option<Vec<String>>,
    #[serde(default)]
    pub dnd: Option<bool>,
    #[serde(default)]
    pub forwarding: Option<Forwarding>,
}

/// What `GET /api/handset/config` said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigAnswer {
    /// `304`: the copy with the ETag sent is current.
    NotModified,
    /// `200`: the document, and its ETag (`None` if the server sent none, or one unusable).
    Config {
        etag: Option<String>,
        config: Box<HandsetConfig>,
    },
}

/// `GET /api/handset/config`, conditional on `etag` (the one of the copy the handset has).
pub async fn get_config(
    endpoint: &ServerEndpoint,
    etag: Option<&str>,
) -> Result<ConfigAnswer, ApiError> {
    let extra = etag
        .and_then(|e| http::HeaderValue::from_str(e).ok())
        .map(|v| vec![(http::header::IF_NONE_MATCH, v)])
        .unwrap_or_default();
    let response = endpoint
        .request_with(http::Method::GET, CONFIG_PATH, None, extra, MAX_CONFIG_BODY)
        .await?;
    if response.status == 304 {
        return Ok(ConfigAnswer::NotModified);
    }
    let config = handset::answer(response.status, &response.body, parse_config)?;
    let etag = response
        .headers
        .get(http::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .and_then(|e| check_etag(e).ok());
    Ok(ConfigAnswer::Config {
        etag,
        config: Box::new(config),
    })
}

/// `GET /api/handset/config`'s body, checked.
pub fn parse_config(body: &[u8]) -> Result<HandsetConfig, String> {
    if body.len() > MAX_CONFIG_BODY {
        return Err(format!(
            "the config is {} bytes, more than {MAX_CONFIG_BODY}",
            body.len()
        ));
    }
    check_config(handset::object(body, "a handset config")?)
}

/// A config document's values checked (also the cached copy's, read back at start): every
/// list bounded, every text printable and of a length a screen can show, every name one the
/// handset knows, every number in range.
pub fn check_config(mut config: HandsetConfig) -> Result<HandsetConfig, String> {
    config.name = config
        .name
        .map(|n| text("the handset's name", &n, MAX_NAME))
        .transpose()?;
    config.extension = config
        .extension
        .map(|e| text("the handset's extension", &e, MAX_EXTENSION))
        .transpose()?;
    if let Some(contacts) = &mut config.contacts {
        if contacts.len() > MAX_CONTACTS {
            return Err(format!(
                "{} contacts, more than {MAX_CONTACTS}",
                contacts.len()
            ));
        }
        for contact in contacts.iter_mut() {
            contact.name = text("a contact's name", &contact.name, MAX_NAME)?;
            contact.number = check_number("a contact's number", &contact.number)?;
            if contact.name.is_empty() || contact.number.is_empty() {
                return Err("a contact needs a name and a number".into());
            }
            contact.extension = match contact.extension.take() {
                Some(e) => Some(text("a contact's extension", &e, MAX_EXTENSION)?)
                    .filter(|e| !e.is_empty()),
                None => None,
            };
        }
    }
    if let Some(speed_dial) = &mut config.speed_dial {
        let mut checked = BTreeMap::new();
        for (key, number) in std::mem::take(speed_dial) {
            if key.len() != 1 || !key.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "speed dial keys are \"0\" to \"9\", not {:?}",
                    printable(&key.chars().take(16).collect::<String>())
                ));
            }
            let number = check_number("a speed dial", &number)?;
            if number.is_empty() {
                return Err(format!("speed dial {key} is empty"));
            }
            checked.insert(key, number);
        }
        *speed_dial = checked;
    }
    if let Some(map) = &config.digit_map {
        if map.chars().count() > MAX_DIGIT_MAP {
            return Err(format!(
                "the digit map is longer than {MAX_DIGIT_MAP} characters"
            ));
        }
        DigitMap::parse(map).map_err(|e| format!("the digit map: {}", e.message))?;
    }
    if let Some(iso) = &config.country
        && Country::by_iso(iso).is_none()
    {
        return Err(format!(
            "unknown country {:?}",
            printable(&iso.chars().take(8).collect::<String>())
        ));
    }
    config.ring_cadence = config
        .ring_cadence
        .map(|c| text("the ring cadence", &c, MAX_CADENCE_NAME))
        .transpose()?;
    if let Some(v) = &config.volumes {
        for (what, level) in [
            ("ring", v.ring),
            ("earpiece", v.earpiece),
            ("speaker", v.speaker),
        ] {
            if level > u64::from(MAX_VOLUME) {
                return Err(format!(
                    "the {what} volume {level} is not between 0 and {MAX_VOLUME}"
                ));
            }
        }
    }
    if let Some(codecs) = &config.codec_preferences {
        if codecs.is_empty() || codecs.len() > MAX_CODECS {
            return Err(format!(
                "codec_preferences lists {} codecs (1 to {MAX_CODECS})",
                codecs.len()
            ));
        }
        if codecs
            .iter()
            .enumerate()
            .any(|(i, c)| codecs[..i].contains(c))
        {
            return Err("codec_preferences names a codec twice".into());
        }
    }
    if let Some(edges) = &config.edges {
        if edges.is_empty() || edges.len() > MAX_EDGES {
            return Err(format!(
                "edges lists {} edges (1 to {MAX_EDGES})",
                edges.len()
            ));
        }
        if let Some(unknown) = edges
            .iter()
            .find(|e| !crate::config::KNOWN_EDGES.contains(&e.as_str()))
        {
            return Err(format!(
                "unknown edge {:?}",
                printable(&unknown.chars().take(32).collect::<String>())
            ));
        }
    }
    config.forwarding = config.forwarding.map(check_forwarding).transpose()?;
    Ok(config)
}

/// `text` without control characters and surrounding blanks, at most `max` characters.
fn text(what: &str, text: &str, max: usize) -> Result<String, String> {
    if text.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    Ok(printable(text).trim().to_string())
}

/// An ETag as the handset keeps and sends it back: visible ASCII, quoted or weak, not long.
pub fn check_etag(etag: &str) -> Result<String, String> {
    let etag = etag.trim();
    let well_formed = !etag.is_empty()
        && etag.len() <= MAX_ETAG
        && etag.bytes().all(|b| b.is_ascii_graphic())
        && etag.trim_start_matches("W/").starts_with('"')
        && etag.ends_with('"')
        && etag.trim_start_matches("W/").len() >= 2;
    if well_formed {
        Ok(etag.to_string())
    } else {
        Err("not an ETag".into())
    }
}

/// The `config` event's data: `{"etag":"\"…\""}`.
pub fn parse_config_event(data: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Event {
        etag: String,
    }
    let event: Event = handset::object(data, "a config event")?;
    check_etag(&event.etag)
}

/// Registration as the status report says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    Registered,
    Unregistered,
    Registering,
    Error,
}

/// `POST /api/handset/status`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    pub registration: Registration,
    /// The edge the Device is connected to.
    pub edge: Option<String>,
    pub firmware_version: String,
    /// The local address the handset reaches the server from.
    pub address: Option<String>,
    /// `31205 Token expired`.
    pub last_error: Option<String>,
    pub uptime_secs: u64,
}

impl StatusReport {
    /// `last_error` as it is sent: a Twilio code and a few words.
    pub fn error_text(code: u32, words: &str) -> String {
        let text = format!("{code} {}", printable(words).trim());
        if text.chars().count() > MAX_LAST_ERROR {
            let cut: String = text.chars().take(MAX_LAST_ERROR - 3).collect();
            format!("{cut}...")
        } else {
            text
        }
    }
}

/// `POST /api/handset/status`.
pub async fn post_status(endpoint: &ServerEndpoint, report: &StatusReport) -> Result<(), ApiError> {
    let body = serde_json::to_vec(report)
        .map_err(|e| ApiError::BadResponse(format!("cannot encode the report: {e}")))?;
    let response = endpoint
        .request(http::Method::POST, STATUS_PATH, Some(body), 16 * 1024)
        .await?;
    match response.status {
        200 | 204 => Ok(()),
        status => handset::answer(status, &response.body, |_| Ok(())),
    }
}

/// The contract's example document (for tests).
#[cfg(test)]
pub(crate) const EXAMPLE: &str = r#"{"name":"Desk phone","extension":"101",
 "contacts":[{"name":"Echo test","number":"+12025550100"}],
 "speed_dial":{"2":"+12025550100"},
 "digit_map":null, "country":"US", "ring_cadence":"us",
 "volumes":{"ring":5,"earpiece":5,"speaker":5},
 "codec_preferences":["opus","pcmu"], "edges":["roaming"],
 "dnd":false,
 "forwarding":{"mode":"off","to":null,"after_secs":20}}"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::ForwardMode;

    #[test]
    fn the_contracts_example_parses() {
        let config = parse_config(EXAMPLE.as_bytes()).expect("valid");
        assert_eq!(config.name.as_deref(), Some("Desk phone"));
        assert_eq!(config.contacts.as_ref().map(Vec::len), Some(1));
        assert_eq!(
            config
                .speed_dial
                .as_ref()
                .and_then(|s| s.get("2"))
                .map(String::as_str),
            Some("+12025550100")
        );
        assert_eq!(config.digit_map, None);
        assert_eq!(
            config.codec_preferences,
            Some(vec![Codec::Opus, Codec::Pcmu])
        );
        assert_eq!(config.forwarding.map(|f| f.mode), Some(ForwardMode::Off));
        // Everything null: nothing set. Unknown fields are the server's business.
        let empty =
            parse_config(br#"{"contacts":null,"speed_dial":null,"new_thing":[1]}"#).expect("valid");
        assert_eq!(empty, HandsetConfig::default());
    }

    fn with(field: &str, value: &str) -> String {
        format!("{{\"{field}\":{value}}}")
    }

    #[test]
    fn absurd_documents_are_refused_with_a_reason() {
        let many = format!(
            "[{}]",
            vec![r#"{"name":"a","number":"1"}"#; MAX_CONTACTS + 1].join(",")
        );
        let long_name = format!(r#"[{{"name":"{}","number":"1"}}]"#, "n".repeat(200));
        let huge = format!(r#"[{{"name":"{}","number":"1"}}]"#, "n".repeat(10 << 20));
        let cases: Vec<(String, &str)> = vec![
            ("".into(), "not a handset config"),
            ("[]".into(), "not a JSON object"),
            ("{\"contacts\":".into(), "not a handset config"),
            (with("contacts", &many), "more than 1000"),
            (with("contacts", &long_name), "longer than 64"),
            (with("contacts", &huge), "more than 262144"),
            (
                with("contacts", r#"[{"name":" ","number":"1"}]"#),
                "name and a number",
            ),
            (with("speed_dial", r#"{"12":"1"}"#), "speed dial keys"),
            (with("speed_dial", r#"{"x":"1"}"#), "speed dial keys"),
            (with("speed_dial", r#"{"3":" "}"#), "speed dial 3 is empty"),
            (with("digit_map", r#""(xx|[2-""#), "the digit map"),
            (
                with("digit_map", &format!("\"{}\"", "x".repeat(2000))),
                "longer than 1024",
            ),
            (with("country", r#""XX""#), "unknown country"),
            (
                with("volumes", r#"{"ring":999,"earpiece":5,"speaker":5}"#),
                "ring volume 999",
            ),
            (
                with("volumes", r#"{"ring":-1,"earpiece":5,"speaker":5}"#),
                "not a handset config",
            ),
            (with("codec_preferences", r#"["g729"]"#), "unknown variant"),
            (with("codec_preferences", r#"[]"#), "0 codecs"),
            (with("codec_preferences", r#"["opus","opus"]"#), "twice"),
            (with("edges", r#"["the-moon"]"#), "unknown edge"),
            (with("edges", r#"[]"#), "0 edges"),
            (
                with("ring_cadence", &format!("\"{}\"", "r".repeat(100))),
                "longer than 32",
            ),
            (
                with(
                    "forwarding",
                    r#"{"mode":"always","to":"1","after_secs":99999}"#,
                ),
                "more than 3600",
            ),
            (with("dnd", "\"yes\""), "not a handset config"),
        ];
        for (body, why) in cases {
            let result = parse_config(body.as_bytes());
            let Err(e) = result else {
                panic!("accepted {:?}", body.chars().take(80).collect::<String>());
            };
            assert!(e.contains(why), "{e:?} should say {why:?}");
        }
    }

    #[test]
    fn text_is_cleaned_not_shown_raw() {
        let config = parse_config(
            br#"{"contacts":[{"name":" Mum\u001b[2J ","number":"+1 415\u0007 555","extension":""}]}"#,
        )
        .expect("valid");
        let contact = &config.contacts.expect("contacts")[0];
        assert_eq!(contact.name, "Mum[2J");
        assert_eq!(contact.number, "+1 415 555");
        assert_eq!(contact.extension, None);
    }

    #[test]
    fn etags_and_config_events() {
        assert_eq!(
            parse_config_event(br#"{"etag":"\"abc\""}"#),
            Ok("\"abc\"".to_string())
        );
        assert_eq!(check_etag("W/\"x\""), Ok("W/\"x\"".to_string()));
        for bad in [
            &br#"{"etag":"abc"}"#[..],
            br#"{"etag":""}"#,
            br#"{"etag":"\"a b\""}"#,
            br#"{"tag":"\"a\""}"#,
            b"[]",
        ] {
            assert!(parse_config_event(bad).is_err(), "{bad:?}");
        }
        let long = format!(r#"{{"etag":"\"{}\""}}"#, "a".repeat(200));
        assert!(parse_config_event(long.as_bytes()).is_err());
    }

    #[test]
    fn the_status_report_has_the_contracts_shape() {
        let report = StatusReport {
            registration: Registration::Registered,
            edge: Some("ashburn".into()),
            firmware_version: "0.1.0".into(),
            address: Some("192.168.1.20".into()),
            last_error: Some(StatusReport::error_text(31205, "Token expired")),
            uptime_secs: 123,
        };
        let json: serde_json::Value = serde_json::to_value(&report).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"registration":"registered","edge":"ashburn",
                "firmware_version":"0.1.0","address":"192.168.1.20",
                "last_error":"31205 Token expired","uptime_secs":123})
        );
        let long = StatusReport::error_text(31000, &"x".repeat(500));
        assert_eq!(long.chars().count(), MAX_LAST_ERROR);
        assert_eq!(
            serde_json::to_value(Registration::Error).expect("json"),
            serde_json::json!("error")
        );
    }
}
