//! Server settings, read from the environment and a `.env` file with Twilio's usual names.
//!
//! The environment wins over the file. Every required setting is checked for its shape at
//! start-up, so a typo stops the server with a message naming the setting instead of
//! surfacing later as a token Twilio refuses.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;
use crate::forwarded::TrustedProxies;
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
pub const ALLOW_PLAIN_HTTP: &str = "OFFHOOK_ALLOW_PLAIN_HTTP";
pub const MAX_CONNECTIONS: &str = "OFFHOOK_MAX_CONNECTIONS";
pub const HEADER_TIMEOUT: &str = "OFFHOOK_HEADER_TIMEOUT";
pub const BODY_TIMEOUT: &str = "OFFHOOK_BODY_TIMEOUT";
pub const REQUEST_TIMEOUT: &str = "OFFHOOK_REQUEST_TIMEOUT";
pub const MAX_TOKEN_REQUESTS: &str = "OFFHOOK_MAX_TOKEN_REQUESTS";
pub const MAX_WEBHOOK_REQUESTS: &str = "OFFHOOK_MAX_WEBHOOK_REQUESTS";
pub const DATABASE_URL: &str = "OFFHOOK_DATABASE_URL";
pub const TWILIO_API_URL: &str = "OFFHOOK_TWILIO_API_URL";
pub const DIAL_TIMEOUT: &str = "OFFHOOK_DIAL_TIMEOUT";
pub const MAILBOX: &str = "OFFHOOK_MAILBOX";
pub const MAX_EVENT_STREAMS: &str = "OFFHOOK_MAX_EVENT_STREAMS";
pub const ICE_SERVERS: &str = "OFFHOOK_ICE_SERVERS";

/// Loopback: the server speaks plain HTTP, and TLS is a reverse proxy's or tunnel's job.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_HANDSETS_PATH: &str = "handsets.toml";
/// Tokens shorter than this would have the handset refreshing all the time.
pub const MIN_TOKEN_TTL_SECS: u64 = 60;
/// Twilio's REST API (the Recordings resource).
pub const DEFAULT_TWILIO_API_URL: &str = "https://api.twilio.com";
/// How long an incoming call rings the handsets before voicemail (Twilio's own default is 30 s;
/// desk phones commonly use 20).
pub const DEFAULT_DIAL_TIMEOUT_SECS: u32 = crate::store::handsets::DEFAULT_NO_ANSWER_SECONDS;

/// Whose mailbox an unanswered call leaves its message in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MailboxMode {
    /// One mailbox per phone number, shared by every handset that number rings (a household's
    /// or a small office's line). The default.
    #[default]
    Number,
    /// One mailbox per handset: a call leaves its message with the first handset in the
    /// handsets file that the number rings.
    Handset,
}

/// Where the handsets' ICE servers (STUN and TURN) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IceServersMode {
    /// Twilio's Network Traversal Service (`POST …/Tokens.json`), cached for their lifetime
    /// and handed out beside each token ([`crate::ice`]). The default.
    #[default]
    Twilio,
    /// None: the token answer carries no ICE servers (the handsets use their own config).
    Off,
}

/// How much the server takes on at once and how long it waits for a client: what keeps
/// slow or flooding clients (slowloris) from tying it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections served at once; more wait in the listen queue. Below the unit's
    /// `LimitNOFILE` (4096), with room for the handsets file, logs and sockets in accept.
    pub max_connections: usize,
    /// From the first byte of a request (or an idle keep-alive connection) to the end of
    /// its headers.
    pub header_timeout: Duration,
    /// For the whole body once the headers are in.
    pub body_timeout: Duration,
    /// From the headers to the response, queueing and hashing included (answered 408).
    pub request_timeout: Duration,
    /// `/api/token/generate` requests at once; more wait.
    pub max_token_requests: usize,
    /// `/hooks/*` requests at once, apart from the token requests, so that a flood of
    /// logins cannot starve Twilio's webhooks.
    pub max_webhook_requests: usize,
    /// `GET /api/handset/events` streams open at once, over all handsets (each handset has at
    /// most [`crate::push::MAX_STREAMS_PER_HANDSET`]).
    pub max_event_streams: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_token_requests: 64,
            max_webhook_requests: 64,
            max_event_streams: 256,
        }
    }
}

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
    /// `OFFHOOK_ALLOW_PLAIN_HTTP`: the owner allowed plain HTTP beyond this machine (then the
    /// admin session cookie is not `Secure` on a request that came over plain HTTP).
    pub allow_plain_http: bool,
    /// The scheme, host and path prefix Twilio uses to reach this server, exactly as
    /// entered in the Twilio console (no trailing `/`). `None`: taken from each request's
    /// `Host` header.
    pub public_url: Option<String>,
    pub default_country: &'static Country,
    pub token_ttl_secs: u64,
    /// The proxies whose `X-Forwarded-For`/`X-Forwarded-Proto` are believed.
    pub trust_proxy: TrustedProxies,
    pub limits: ServerLimits,
    pub log_format: LogFormat,
    /// Twilio's REST API: scheme, host, optional port and path prefix, no trailing `/`
    /// (`https://api.twilio.com`; the lab serves the same paths on its control address).
    pub twilio_api_url: String,
    /// Seconds an incoming call rings the handsets before voicemail (5 to 600), unless a
    /// handset's no-answer forwarding asks for less.
    pub dial_timeout_secs: u32,
    pub mailbox_mode: MailboxMode,
    /// `OFFHOOK_ICE_SERVERS`: `twilio` (the default) or `off`.
    pub ice_servers: IceServersMode,
    /// `sqlite://…` or `postgres://…`; by default `offhook.db` beside the handsets file.
    /// It may hold a password, so it is kept as a secret (shown with `store::without_password`).
    pub database_url: Secret,
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

    /// The database URL alone, from the environment and the `.env` file as the server reads
    /// it (`OFFHOOK_DATABASE_URL`, else `offhook.db` beside `OFFHOOK_HANDSETS` or
    /// `handsets_path`): for the commands that only need the database (`add-admin`,
    /// `add-handset`, `setup-link`), which work without the Twilio settings.
    pub fn database_url_from_env(
        env_file: Option<&Path>,
        handsets_path: Option<&Path>,
    ) -> Result<Secret, Error> {
        let environment = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let settings = merge_settings(env_file, environment)?;
        let get = |name: &str| {
            settings
                .get(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        match get(DATABASE_URL) {
            Some(url) if crate::store::Dialect::of(&url).is_some() => Ok(Secret(url)),
            Some(url) => Err(Error::invalid(
                DATABASE_URL,
                format!(
                    "{} is not a sqlite:// or postgres:// URL",
                    crate::store::without_password(&url)
                ),
            )),
            None => {
                let path = handsets_path.map(Path::to_path_buf).unwrap_or_else(|| {
                    PathBuf::from(get(HANDSETS).unwrap_or_else(|| DEFAULT_HANDSETS_PATH.into()))
                });
                Ok(Secret(crate::store::Store::default_url(&path)))
            }
        }
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
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            Error::invalid(
                LISTEN,
                "expected an address and port such as 127.0.0.1:8080 or [::1]:8080",
            )
        })?;
        let allow_plain_http = flag(ALLOW_PLAIN_HTTP, get(ALLOW_PLAIN_HTTP))?;
        if !listen.ip().is_loopback() && !allow_plain_http {
            return Err(Error::invalid(
                LISTEN,
                format!(
                    "{listen} is reachable from the network, and this server speaks plain HTTP: \
                     handset secrets, tokens and Twilio's webhooks would cross the network \
                     readable. Listen on 127.0.0.1 behind a reverse proxy or tunnel that \
                     terminates TLS (see README), or set {ALLOW_PLAIN_HTTP}=true if the network \
                     in between is yours"
                ),
            ));
        }
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
            None => offhook_core::token::DEFAULT_TOKEN_TTL_SECS,
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|t| {
                    (MIN_TOKEN_TTL_SECS..=offhook_core::token::MAX_TOKEN_LIFETIME_SECS).contains(t)
                })
                .ok_or_else(|| {
                    Error::invalid(
                        TOKEN_TTL,
                        "expected whole seconds from 60 to 86400 (Twilio's limit is 24 hours)",
                    )
                })?,
        };
        let trust_proxy = match get(TRUST_PROXY) {
            None => TrustedProxies::none(),
            Some(text) => TrustedProxies::parse(&text)
                .map_err(|problem| Error::invalid(TRUST_PROXY, problem))?,
        };
        let defaults = ServerLimits::default();
        let limits = ServerLimits {
            max_connections: count(
                MAX_CONNECTIONS,
                get(MAX_CONNECTIONS),
                defaults.max_connections,
            )?,
            header_timeout: seconds(HEADER_TIMEOUT, get(HEADER_TIMEOUT), defaults.header_timeout)?,
            body_timeout: seconds(BODY_TIMEOUT, get(BODY_TIMEOUT), defaults.body_timeout)?,
            request_timeout: seconds(
                REQUEST_TIMEOUT,
                get(REQUEST_TIMEOUT),
                defaults.request_timeout,
            )?,
            max_token_requests: count(
                MAX_TOKEN_REQUESTS,
                get(MAX_TOKEN_REQUESTS),
                defaults.max_token_requests,
            )?,
            max_webhook_requests: count(
                MAX_WEBHOOK_REQUESTS,
                get(MAX_WEBHOOK_REQUESTS),
                defaults.max_webhook_requests,
            )?,
            max_event_streams: count(
                MAX_EVENT_STREAMS,
                get(MAX_EVENT_STREAMS),
                defaults.max_event_streams,
            )?,
        };
        let twilio_api_url = match get(TWILIO_API_URL) {
            None => DEFAULT_TWILIO_API_URL.to_string(),
            Some(text) => api_url(&text, allow_plain_http)?,
        };
        let dial_timeout_secs = match get(DIAL_TIMEOUT) {
            None => DEFAULT_DIAL_TIMEOUT_SECS,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|s| crate::store::handsets::NO_ANSWER_SECONDS.contains(s))
                .ok_or_else(|| {
                    Error::invalid(
                        DIAL_TIMEOUT,
                        "expected whole seconds from 5 to 600 (what Twilio's <Dial timeout> accepts)",
                    )
                })?,
        };
        let mailbox_mode = match get(MAILBOX)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("number") => MailboxMode::Number,
            Some("handset") => MailboxMode::Handset,
            Some(_) => return Err(Error::invalid(MAILBOX, "expected number or handset")),
        };
        let ice_servers = match get(ICE_SERVERS)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("twilio") => IceServersMode::Twilio,
            Some("off") => IceServersMode::Off,
            Some(_) => return Err(Error::invalid(ICE_SERVERS, "expected twilio or off")),
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

        let database_url = match get(DATABASE_URL) {
            Some(url) => {
                if crate::store::Dialect::of(&url).is_none() {
                    return Err(Error::invalid(
                        DATABASE_URL,
                        format!(
                            "{} is not a sqlite:// or postgres:// URL",
                            crate::store::without_password(&url)
                        ),
                    ));
                }
                url
            }
            None => crate::store::Store::default_url(&handsets_path),
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
            allow_plain_http,
            public_url,
            default_country,
            token_ttl_secs,
            trust_proxy,
            limits,
            log_format,
            twilio_api_url,
            dial_timeout_secs,
            mailbox_mode,
            ice_servers,
            database_url: Secret(database_url),
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

/// The REST API's base URL: http(s), a host, no credentials, query or fragment. Plain HTTP
/// only to this machine (the lab), unless the owner allowed plain HTTP: the requests carry
/// the API key's secret.
fn api_url(text: &str, allow_plain_http: bool) -> Result<String, Error> {
    let parsed =
        url::Url::parse(text).map_err(|e| Error::invalid(TWILIO_API_URL, format!("{e}")))?;
    let Some(host) = parsed.host() else {
        return Err(Error::invalid(TWILIO_API_URL, "expected a host"));
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::invalid(
            TWILIO_API_URL,
            "expected an https:// address (or http:// to this machine)",
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::invalid(
            TWILIO_API_URL,
            "expected no ?query or #fragment",
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid(
            TWILIO_API_URL,
            "expected no user name or password (the API key is used)",
        ));
    }
    let loopback = match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    if parsed.scheme() == "http" && !loopback && !allow_plain_http {
        return Err(Error::invalid(
            TWILIO_API_URL,
            format!(
                "plain http:// would send the API key's secret readable; use https://, \
                 or set {ALLOW_PLAIN_HTTP}=true if the network in between is yours"
            ),
        ));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

/// Largest connection or request count a setting may ask for (past the file-descriptor
/// limits of any sane unit).
pub const MAX_COUNT: usize = 100_000;
/// Longest timeout a setting may ask for.
pub const MAX_TIMEOUT_SECS: u64 = 3600;

/// A whole number from 1 to [`MAX_COUNT`] (absent: `default`).
fn count(name: &'static str, value: Option<String>, default: usize) -> Result<usize, Error> {
    let Some(text) = value else {
        return Ok(default);
    };
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=MAX_COUNT).contains(n))
        .ok_or_else(|| {
            Error::invalid(
                name,
                format!("expected a whole number from 1 to {MAX_COUNT}"),
            )
        })
}

/// Whole seconds from 1 to [`MAX_TIMEOUT_SECS`] (absent: `default`).
fn seconds(
    name: &'static str,
    value: Option<String>,
    default: Duration,
) -> Result<Duration, Error> {
    let Some(text) = value else {
        return Ok(default);
    };
    text.parse::<u64>()
        .ok()
        .filter(|n| (1..=MAX_TIMEOUT_SECS).contains(n))
        .map(Duration::from_secs)
        .ok_or_else(|| {
            Error::invalid(
                name,
                format!("expected whole seconds from 1 to {MAX_TIMEOUT_SECS}"),
            )
        })
}

/// A true/false setting (absent is false).
fn flag(name: &'static str, value: Option<String>) -> Result<bool, Error> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("0" | "false" | "no" | "off") => Ok(false),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some(_) => Err(Error::invalid(name, "expected true or false")),
    }
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
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.default_country.iso, "GB");
        assert_eq!(c.token_ttl_secs, 3600);
        assert_eq!(c.handsets_path, PathBuf::from("handsets.toml"));
        assert_eq!(c.public_url, None);
        assert!(c.trust_proxy.is_empty());
        assert_eq!(c.limits, ServerLimits::default());
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.twilio_api_url, "https://api.twilio.com");
        assert_eq!(c.dial_timeout_secs, 20);
        assert_eq!(c.mailbox_mode, MailboxMode::Number);
        assert_eq!(c.ice_servers, IceServersMode::Twilio);
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
            (TRUST_PROXY, "10.0.0.0/8, proxy.example.com"),
            (TRUST_PROXY, "10.0.0.0/40"),
            (MAX_CONNECTIONS, "0"),
            (MAX_CONNECTIONS, "lots"),
            (MAX_CONNECTIONS, "100001"),
            (HEADER_TIMEOUT, "0"),
            (HEADER_TIMEOUT, "1.5"),
            (BODY_TIMEOUT, "3601"),
            (REQUEST_TIMEOUT, "-1"),
            (MAX_TOKEN_REQUESTS, "0"),
            (MAX_WEBHOOK_REQUESTS, "x"),
            (LOG_FORMAT, "xml"),
            (LISTEN, "0.0.0.0:8080"),
            (LISTEN, "[::]:8080"),
            (LISTEN, "192.0.2.10:8080"),
            (ALLOW_PLAIN_HTTP, "sure"),
            (TWILIO_API_URL, "api.twilio.com"),
            (TWILIO_API_URL, "ftp://api.twilio.com"),
            (TWILIO_API_URL, "http://api.twilio.com"),
            (TWILIO_API_URL, "https://api.twilio.com/?x=1"),
            (TWILIO_API_URL, "https://SK1:secret@api.twilio.com"),
            (DIAL_TIMEOUT, "4"),
            (DIAL_TIMEOUT, "601"),
            (DIAL_TIMEOUT, "20s"),
            (MAILBOX, "desk"),
            (MAX_EVENT_STREAMS, "0"),
            (ICE_SERVERS, "nts"),
            (ICE_SERVERS, "true"),
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
        s.insert(MAX_CONNECTIONS.into(), "50".into());
        s.insert(HEADER_TIMEOUT.into(), "2".into());
        s.insert(BODY_TIMEOUT.into(), "3".into());
        s.insert(REQUEST_TIMEOUT.into(), "4".into());
        s.insert(MAX_TOKEN_REQUESTS.into(), "5".into());
        s.insert(MAX_WEBHOOK_REQUESTS.into(), "6".into());
        s.insert(MAX_EVENT_STREAMS.into(), "7".into());
        s.insert(TWILIO_API_URL.into(), "http://127.0.0.1:9000/".into());
        s.insert(DIAL_TIMEOUT.into(), "30".into());
        s.insert(MAILBOX.into(), "Handset".into());
        s.insert(ICE_SERVERS.into(), "OFF".into());
        let c = load(&s).unwrap();
        assert_eq!(c.ice_servers, IceServersMode::Off);
        assert_eq!(c.twilio_api_url, "http://127.0.0.1:9000");
        assert_eq!(c.dial_timeout_secs, 30);
        assert_eq!(c.mailbox_mode, MailboxMode::Handset);
        assert_eq!(
            c.public_url.as_deref(),
            Some("https://phone.example.com/offhook")
        );
        assert_eq!(c.default_country.iso, "US");
        assert_eq!(c.token_ttl_secs, 86400);
        assert_eq!(c.trust_proxy, TrustedProxies::loopback());
        assert_eq!(c.log_format, LogFormat::Json);
        let secs = Duration::from_secs;
        assert_eq!(
            c.limits,
            ServerLimits {
                max_connections: 50,
                header_timeout: secs(2),
                body_timeout: secs(3),
                request_timeout: secs(4),
                max_token_requests: 5,
                max_webhook_requests: 6,
                max_event_streams: 7,
            }
        );
        let listed = with(TRUST_PROXY, "10.0.0.0/8,192.0.2.1")
            .unwrap()
            .trust_proxy;
        assert!(
            listed.trusts("10.1.1.1".parse().unwrap())
                && !listed.trusts("127.0.0.1".parse().unwrap())
        );
        assert!(with(TRUST_PROXY, "false").unwrap().trust_proxy.is_empty());
    }

    #[test]
    fn the_connection_cap_sits_below_the_units_file_limit() {
        let unit = include_str!("../../images/packaging/offhook-server/offhook-server.service");
        let nofile: usize = unit
            .lines()
            .find_map(|l| l.strip_prefix("LimitNOFILE="))
            .expect("the unit sets LimitNOFILE")
            .trim()
            .parse()
            .unwrap();
        let cap = ServerLimits::default().max_connections;
        assert!(cap + 64 <= nofile, "cap {cap}, LimitNOFILE {nofile}");
    }

    #[test]
    fn the_api_url_may_be_plain_http_only_to_this_machine_unless_allowed() {
        for ok in [
            "http://localhost:8081",
            "http://[::1]:8081",
            "https://api.example.com/twilio/",
        ] {
            assert!(with(TWILIO_API_URL, ok).is_ok(), "{ok}");
        }
        let mut s = valid_settings();
        s.insert(TWILIO_API_URL.into(), "http://lab.internal:8081".into());
        assert!(load(&s).unwrap_err().contains(ALLOW_PLAIN_HTTP));
        s.insert(ALLOW_PLAIN_HTTP.into(), "true".into());
        assert_eq!(load(&s).unwrap().twilio_api_url, "http://lab.internal:8081");
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

    #[test]
    fn plain_http_beyond_loopback_must_be_asked_for() {
        let err = with(LISTEN, "0.0.0.0:8080").unwrap_err();
        assert!(
            err.contains("plain HTTP") && err.contains(ALLOW_PLAIN_HTTP),
            "{err}"
        );
        let mut s = valid_settings();
        s.insert(LISTEN.into(), "0.0.0.0:8080".into());
        s.insert(ALLOW_PLAIN_HTTP.into(), "true".into());
        assert_eq!(load(&s).unwrap().listen, "0.0.0.0:8080".parse().unwrap());
        for ok in ["127.0.0.1:8080", "[::1]:8080"] {
            assert_eq!(with(LISTEN, ok).unwrap().listen, ok.parse().unwrap());
        }
    }
}
