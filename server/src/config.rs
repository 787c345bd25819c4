//! Server settings, read from the environment and a `.env` file with Twilio's usual names.
//!
//! The environment wins over the file. Every required setting is checked for its shape at
//! start-up, so a typo stops the server with a message naming the setting instead of
//! surfacing later as a token Twilio refuses.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::phone::{self, Country, E164};

pub const ACCOUNT_SID: &str = "TWILIO_ACCOUNT_SID";
pub const AUTH_TOKEN: &str = "TWILIO_AUTH_TOKEN";
pub const API_KEY: &str = "TWILIO_API_KEY";
pub const API_SECRET: &str = "TWILIO_API_SECRET";
pub const APP_SID: &str = "TWILIO_APP_SID";
pub const PHONE_NUMBER: &str = "TWILIO_PHONE_NUMBER";
pub const HANDSETS: &str = "OFFHOOK_HANDSETS";
pub const LISTEN: &str = "OFFHOOK_LISTEN";
pub const PUBLIC_URL: &str = "OFFHOOK_PUBLIC_URL";
pub const DEFAULT_COUNTRY: &str = "OFFHOOK_DEFAULT_COUNTRY";
pub const TOKEN_TTL: &str = "OFFHOOK_TOKEN_TTL";
pub const TRUST_PROXY: &str = "OFFHOOK_TRUST_PROXY";
pub const LOG_FORMAT: &str = "OFFHOOK_LOG_FORMAT";

pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_HANDSETS_PATH: &str = "handsets.toml";
/// Tokens shorter than this would have the handset refreshing all the time.
pub const MIN_TOKEN_TTL_SECS: u64 = 60;

/// A credential that must never reach a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub account_sid: String,
    /// Keys webhook signatures.
    pub auth_token: Secret,
    /// The API key SID (`SK…`) that signs Access Tokens.
    pub api_key: String,
    pub api_secret: Secret,
    /// The TwiML app (`AP…`) whose voice URL handles the handsets' outgoing calls.
    pub app_sid: String,
    /// Caller ID for outgoing calls, and the number whose calls ring the handsets.
    pub phone_number: E164,
    pub handsets_path: PathBuf,
    pub listen: SocketAddr,
    /// The scheme, host and path prefix Twilio uses to reach this server, exactly as
    /// entered in the Twilio console (no trailing `/`). `None`: taken from each request's
    /// `Host` header.
    pub public_url: Option<String>,
    pub default_country: &'static Country,
    pub token_ttl_secs: u64,
    /// Believe `X-Forwarded-For`/`X-Forwarded-Proto` (only behind a reverse proxy).
    pub trust_proxy: bool,
    pub log_format: LogFormat,
}

impl Config {
    /// Reads the environment, falling back to `env_file`. With `None`, `./.env` is read if
    /// it exists; a path given explicitly must exist.
    pub fn from_env(env_file: Option<&Path>) -> Result<Config, Error> {
        // vars_os: a variable that is not UTF-8 is skipped, where vars() would panic.
        let environment = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let settings = merge_settings(env_file, environment)?;
        Config::from_settings(|name| settings.get(name).cloned())
    }

    /// Builds a configuration from `NAME → value` settings (the lab and `offhook demo` use
    /// this with values of their own). Empty values count as unset.
    pub fn from_settings(get: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or(Error::MissingSetting { name });

        let account_sid = sid(ACCOUNT_SID, "AC", required(ACCOUNT_SID)?)?;
        let auth_token = required(AUTH_TOKEN)?;
        if auth_token.len() != 32 || !auth_token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::invalid(
                AUTH_TOKEN,
                "expected the 32 hexadecimal characters shown as Auth Token in the Twilio console",
            ));
        }
        let api_key = sid(API_KEY, "SK", required(API_KEY)?)?;
        let api_secret = required(API_SECRET)?;
        if api_secret.len() != 32 || !api_secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::invalid(
                API_SECRET,
                "expected the 32 letters and digits Twilio showed once when the API key was created",
            ));
        }
        let app_sid = sid(APP_SID, "AP", required(APP_SID)?)?;
        let phone_number = E164::parse(&required(PHONE_NUMBER)?).map_err(|e| {
            Error::invalid(PHONE_NUMBER, format!("{e}; write it like +14155550100"))
        })?;

        let handsets_path =
            PathBuf::from(get(HANDSETS).unwrap_or_else(|| DEFAULT_HANDSETS_PATH.into()));
        let listen_text = get(LISTEN).unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = listen_text.parse().map_err(|_| {
            Error::invalid(
                LISTEN,
                "expected an address and port such as 0.0.0.0:8080 or [::]:8080",
            )
        })?;
        let public_url = get(PUBLIC_URL).map(|u| public_url(&u)).transpose()?;
        let default_country = match get(DEFAULT_COUNTRY) {
            Some(iso) => phone::country(&iso).ok_or_else(|| {
                let known: Vec<&str> = phone::supported_countries().map(|c| c.iso).collect();
                Error::invalid(DEFAULT_COUNTRY, format!("unknown country code; one of {}", known.join(" ")))
            })?,
            None => phone::country_of(&phone_number).ok_or_else(|| {
                Error::invalid(
                    DEFAULT_COUNTRY,
                    format!("not set, and the country of {phone_number} is not known; set an ISO code such as GB"),
                )
            })?,
        };
        let token_ttl_secs = match get(TOKEN_TTL) {
            None => twilio_voice::token::DEFAULT_TOKEN_TTL_SECS,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|t| {
                    (MIN_TOKEN_TTL_SECS..=twilio_voice::token::MAX_TOKEN_LIFETIME_SECS).contains(t)
                })
                .ok_or_else(|| {
                    Error::invalid(
                        TOKEN_TTL,
                        "expected whole seconds from 60 to 86400 (Twilio's limit is 24 hours)",
                    )
                })?,
        };
        let trust_proxy = match get(TRUST_PROXY)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("0" | "false" | "no" | "off") => false,
            Some("1" | "true" | "yes" | "on") => true,
            Some(_) => return Err(Error::invalid(TRUST_PROXY, "expected true or false")),
        };
        let log_format = match get(LOG_FORMAT)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(Error::invalid(LOG_FORMAT, "expected text or json")),
        };

        Ok(Config {
            account_sid,
            auth_token: Secret(auth_token),
            api_key,
            api_secret: Secret(api_secret),
            app_sid,
            phone_number,
            handsets_path,
            listen,
            public_url,
            default_country,
            token_ttl_secs,
            trust_proxy,
            log_format,
        })
    }
}

/// The `.env` file's settings overlaid with `environment` (which wins).
fn merge_settings(
    env_file: Option<&Path>,
    environment: impl Iterator<Item = (String, String)>,
) -> Result<HashMap<String, String>, Error> {
    let mut settings = HashMap::new();
    let (path, required) = match env_file {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from(".env"), false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => settings.extend(crate::dotenv::parse(&text, &path)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()), e)),
    }
    settings.extend(environment);
    Ok(settings)
}

/// A Twilio SID: two letters and 32 hexadecimal digits.
fn sid(name: &'static str, prefix: &str, value: String) -> Result<String, Error> {
    let ok = value.len() == 34
        && value.starts_with(prefix)
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(value)
    } else {
        Err(Error::invalid(
            name,
            format!("expected {prefix} followed by 32 hexadecimal characters"),
        ))
    }
}

fn public_url(text: &str) -> Result<String, Error> {
    let parsed = url::Url::parse(text).map_err(|e| Error::invalid(PUBLIC_URL, format!("{e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::invalid(
            PUBLIC_URL,
            "expected an http:// or https:// address",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::invalid(
            PUBLIC_URL,
            "expected no ?query or #fragment",
        ));
    }
    // Kept as written: Twilio signs the URL exactly as configured in its console.
    Ok(text.trim_end_matches('/').to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn valid_settings() -> HashMap<String, String> {
        [
            (ACCOUNT_SID, "AC0123456789abcdef0123456789abcdef"),
            (AUTH_TOKEN, "fedcba9876543210fedcba9876543210"),
            (API_KEY, "SK0123456789abcdef0123456789abcdef"),
            (API_SECRET, "abcdefghijklmnopqrstuvwxyzABCDEF"),
            (APP_SID, "AP0123456789abcdef0123456789abcdef"),
            (PHONE_NUMBER, "+447381234567"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn load(settings: &HashMap<String, String>) -> Result<Config, String> {
        Config::from_settings(|n| settings.get(n).cloned()).map_err(|e| e.to_string())
    }

    fn with(name: &str, value: &str) -> Result<Config, String> {
        let mut s = valid_settings();
        s.insert(name.into(), value.into());
        load(&s)
    }

    #[test]
    fn defaults() {
        let c = load(&valid_settings()).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.default_country.iso, "GB");
        assert_eq!(c.token_ttl_secs, 3600);
        assert_eq!(c.handsets_path, PathBuf::from("handsets.toml"));
        assert_eq!(c.public_url, None);
        assert!(!c.trust_proxy);
        assert_eq!(c.log_format, LogFormat::Text);
        let debug = format!("{c:?}");
        assert!(debug.contains("Secret(…)"), "{debug}");
        assert!(
            !debug.contains("fedcba9876543210fedcba9876543210"),
            "{debug}"
        );
        assert!(
            !debug.contains("abcdefghijklmnopqrstuvwxyzABCDEF"),
            "{debug}"
        );
    }

    #[test]
    fn each_missing_setting_is_named() {
        for name in [
            ACCOUNT_SID,
            AUTH_TOKEN,
            API_KEY,
            API_SECRET,
            APP_SID,
            PHONE_NUMBER,
        ] {
            let mut s = valid_settings();
            s.remove(name);
            let err = load(&s).unwrap_err();
            assert!(err.starts_with(&format!("{name} is not set")), "{err}");
            let err = with(name, "  ").unwrap_err();
            assert!(err.starts_with(&format!("{name} is not set")), "{err}");
        }
    }

    #[test]
    fn each_malformed_setting_is_named() {
        let cases = [
            (ACCOUNT_SID, "SK0123456789abcdef0123456789abcdef"),
            (ACCOUNT_SID, "AC0123"),
            (AUTH_TOKEN, "not-hex-not-hex-not-hex-not-hex!"),
            (API_KEY, "SK0123456789abcdef0123456789abcdeg"),
            (API_SECRET, "short"),
            (APP_SID, "AP"),
            (PHONE_NUMBER, "07381 234567"),
            (LISTEN, "8080"),
            (PUBLIC_URL, "ftp://example.com"),
            (PUBLIC_URL, "https://example.com/?x=1"),
            (PUBLIC_URL, "not a url"),
            (DEFAULT_COUNTRY, "XX"),
            (TOKEN_TTL, "86401"),
            (TOKEN_TTL, "59"),
            (TOKEN_TTL, "1h"),
            (TRUST_PROXY, "maybe"),
            (LOG_FORMAT, "xml"),
        ];
        for (name, value) in cases {
            let err = with(name, value).unwrap_err();
            assert!(
                err.starts_with(&format!("{name} is not valid")),
                "{name}={value}: {err}"
            );
        }
    }

    #[test]
    fn optional_settings() {
        let mut s = valid_settings();
        s.insert(LISTEN.into(), "127.0.0.1:0".into());
        s.insert(
            PUBLIC_URL.into(),
            "https://phone.example.com/offhook/".into(),
        );
        s.insert(DEFAULT_COUNTRY.into(), "us".into());
        s.insert(TOKEN_TTL.into(), "86400".into());
        s.insert(TRUST_PROXY.into(), "yes".into());
        s.insert(LOG_FORMAT.into(), "JSON".into());
        let c = load(&s).unwrap();
        assert_eq!(
            c.public_url.as_deref(),
            Some("https://phone.example.com/offhook")
        );
        assert_eq!(c.default_country.iso, "US");
        assert_eq!(c.token_ttl_secs, 86400);
        assert!(c.trust_proxy);
        assert_eq!(c.log_format, LogFormat::Json);
    }

    #[test]
    fn default_country_needs_a_known_number_country() {
        let err = with(PHONE_NUMBER, "+2901234").unwrap_err();
        assert!(
            err.starts_with("OFFHOOK_DEFAULT_COUNTRY is not valid"),
            "{err}"
        );
    }

    #[test]
    fn env_file_is_read_and_the_environment_wins() {
        let dir = std::env::temp_dir().join(format!("offhook-server-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("test.env");
        let mut text: String = valid_settings()
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        text.push_str("OFFHOOK_TOKEN_TTL=120\nOFFHOOK_LOG_FORMAT=json\n");
        std::fs::write(&path, text).unwrap();
        let environment = [(LOG_FORMAT.to_string(), "text".to_string())];
        let merged = merge_settings(Some(&path), environment.into_iter()).unwrap();
        let c = Config::from_settings(|n| merged.get(n).cloned()).unwrap();
        assert_eq!(c.token_ttl_secs, 120);
        assert_eq!(c.log_format, LogFormat::Text);

        let missing =
            merge_settings(Some(&dir.join("absent.env")), std::iter::empty()).unwrap_err();
        assert!(missing.to_string().starts_with("cannot read"), "{missing}");
        std::fs::write(&path, "TWILIO_AUTH_TOKEN='x\n").unwrap();
        let bad = merge_settings(Some(&path), std::iter::empty())
            .unwrap_err()
            .to_string();
        assert!(bad.ends_with("test.env:1: unterminated ' quote"), "{bad}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
