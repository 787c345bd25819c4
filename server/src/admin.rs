//! Signing in to the web interface (`/admin`): the rules, apart from HTTP
//! ([`crate::http::admin`] serves the pages).
//!
//! - Admin accounts are in the database, passwords as Argon2id ([`crate::secret`], as the
//!   handsets' secrets). The first is made with `offhook-server add-admin`, or from a one-time
//!   setup link the server logs at start while there is no admin ([`SETUP_LINK_LOG`]).
//! - A session is a random token in a cookie (`HttpOnly`, `SameSite=Strict`, `Secure` unless
//!   the request came over plain HTTP from this machine or on a network allowed plain HTTP);
//!   the database keeps only its SHA-256, with the admin, a CSRF token and two times: it ends
//!   after [`IDLE_TIMEOUT_SECS`] unused or [`MAX_SESSION_SECS`] after sign-in, and at sign-out.
//! - Every form carries the session's CSRF token, compared in constant time; the sign-in and
//!   setup forms, before any session, carry one matched against a cookie of their own.
//! - Sign-in failures are counted per client address block and user name ([`SIGN_IN_POLICY`]);
//!   a locked key is refused without checking the password, even a right one.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::Config;
use crate::store::{Store, UnixSeconds};
use crate::throttle::Policy;

/// A session unused for this long has ended.
pub const IDLE_TIMEOUT_SECS: i64 = 60 * 60;
/// A session ends this long after sign-in, however busy.
pub const MAX_SESSION_SECS: i64 = 12 * 60 * 60;
/// A session's last use is written at most this often.
pub const TOUCH_INTERVAL_SECS: i64 = 60;
/// How long a setup link works.
pub const SETUP_LINK_TTL_SECS: i64 = 60 * 60;
/// The session cookie.
pub const SESSION_COOKIE: &str = "offhook_session";
/// The sign-in and setup forms' own CSRF cookie.
pub const FORM_COOKIE: &str = "offhook_form";
/// Shortest password.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password (Argon2 takes any length; a bound keeps requests small).
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest user name.
pub const MAX_USERNAME_CHARS: usize = 64;

/// Sign-in failures: five free, then a lock that doubles from 2 s to 15 minutes.
pub const SIGN_IN_POLICY: Policy = Policy {
    free_failures: 5,
    first_lock: Duration::from_secs(2),
    max_lock: Duration::from_secs(15 * 60),
    forget_after: Duration::from_secs(60 * 60),
    capacity: 20_000,
};

/// The message of the log line that carries a setup link, with the link in its `url` field:
/// `WARN offhook_server::server: no admin account yet: open the one-time setup link
/// url=http://127.0.0.1:8080/admin/setup?token=… expires_in_minutes=60` (text logs, one line),
/// or `"fields":{"message":"…","url":"…",…}` (JSON logs). Tests and scripts find it by this
/// text; `offhook-server setup-link` prints a fresh link instead.
pub const SETUP_LINK_LOG: &str = "no admin account yet: open the one-time setup link";

/// A new random token (256 bits, URL-safe base64).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether a form's CSRF token is the expected one (constant time; empty never matches).
pub fn csrf_matches(expected: &str, given: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// Whether a stored session is still good at `now`.
pub fn session_alive(created_at: UnixSeconds, last_seen_at: UnixSeconds, now: UnixSeconds) -> bool {
    now.saturating_sub(last_seen_at) < IDLE_TIMEOUT_SECS
        && now.saturating_sub(created_at) < MAX_SESSION_SECS
        && created_at <= now.saturating_add(60)
}

/// A user name: 1 to 64 letters, digits, `.`, `_`, `-` or `@`.
pub fn check_username(name: &str) -> Result<&str, String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_USERNAME_CHARS
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(name)
    } else {
        Err(format!(
            "The user name must be 1 to {MAX_USERNAME_CHARS} letters, digits, '.', '_', '-' or '@'."
        ))
    }
}

/// A new password: at least [`MIN_PASSWORD_CHARS`] characters, at most
/// [`MAX_PASSWORD_BYTES`] bytes.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "The password must be at least {MIN_PASSWORD_CHARS} characters."
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "The password must be at most {MAX_PASSWORD_BYTES} bytes."
        ));
    }
    Ok(())
}

/// The path the pages live under: the public URL's path prefix, then `/admin`.
pub fn base_path(config: &Config) -> String {
    let prefix = config
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.path().trim_end_matches('/').to_string())
        .unwrap_or_default();
    format!("{prefix}/admin")
}

/// Whether the browser reached the server over HTTPS as far as the server can tell: through a
/// trusted proxy that says so, or (no proxy saying otherwise) a public URL that is https.
fn came_over_https(config: &Config, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<bool> {
    if config.trust_proxy.trusts_peer(peer)
        && let Some(proto) = headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
    {
        return Some(proto.trim().eq_ignore_ascii_case("https"));
    }
    None
}

/// Whether a cookie set for this request should be `Secure`: yes, unless the request came
/// over plain HTTP -- from a browser on this machine to a loopback address, or with
/// `OFFHOOK_ALLOW_PLAIN_HTTP` from the network -- as far as the server can tell (a trusted
/// proxy's `X-Forwarded-Proto`, else the `Host` against `OFFHOOK_PUBLIC_URL`).
pub fn cookie_secure(config: &Config, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    if let Some(https) = came_over_https(config, peer, headers) {
        return https;
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let public = config
        .public_url
        .as_deref()
        .and_then(|u| url::Url::parse(u).ok());
    if let Some(public) = &public
        && public.scheme() == "https"
        && public
            .host_str()
            .is_some_and(|h| host.split(':').next() == Some(h) || host == h)
    {
        return true;
    }
    let client: IpAddr = config.trust_proxy.client_ip(peer, headers);
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host.as_str(), |(name, _)| name);
    let local_host = name == "localhost"
        || name
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if client.is_loopback() && local_host {
        return false;
    }
    !config.allow_plain_http
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, the pages' path, `Secure` when asked;
/// `max_age` `None` clears the cookie.
pub fn cookie(name: &str, value: &str, path: &str, secure: bool, max_age: Option<i64>) -> String {
    let mut cookie = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    match max_age {
        Some(secs) => cookie.push_str(&format!("; Max-Age={secs}")),
        None => cookie.push_str("; Max-Age=0"),
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The URL a setup link starts with: the public URL (with its path prefix), or else this
/// address.
pub fn setup_base_url(config: &Config, listening: SocketAddr) -> String {
    match &config.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => format!("http://{listening}"),
    }
}

/// Makes a setup link under `base_url` ([`setup_base_url`]), valid for
/// [`SETUP_LINK_TTL_SECS`], when there is no admin yet; `None` when there is one.
pub async fn new_setup_link(
    store: &Store,
    base_url: &str,
    now: UnixSeconds,
) -> Result<Option<String>, crate::Error> {
    if store.admin_count().await? > 0 {
        return Ok(None);
    }
    let token = new_token();
    store
        .add_setup_token(&token_hash(&token), now + SETUP_LINK_TTL_SECS)
        .await?;
    Ok(Some(format!(
        "{}/admin/setup?token={token}",
        base_url.trim_end_matches('/')
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::valid_settings;

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut s = valid_settings();
        for (k, v) in extra {
            s.insert(k.to_string(), v.to_string());
        }
        Config::from_settings(|n| s.get(n).cloned()).unwrap()
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), a);
        assert!(csrf_matches(&a, &a));
        assert!(!csrf_matches(&a, &b));
        assert!(!csrf_matches("", ""));
    }

    #[test]
    fn sessions_end_idle_and_at_most_after_the_absolute_limit() {
        assert!(session_alive(0, 0, IDLE_TIMEOUT_SECS - 1));
        assert!(!session_alive(0, 0, IDLE_TIMEOUT_SECS));
        assert!(!session_alive(0, MAX_SESSION_SECS - 1, MAX_SESSION_SECS));
        assert!(!session_alive(1000, 1000, 0), "a session from the future");
    }

    #[test]
    fn cookies_are_secure_except_over_plain_http_allowed() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:8080".parse().unwrap());
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let lan: SocketAddr = "192.0.2.5:5000".parse().unwrap();
        assert!(!cookie_secure(&config(&[]), Some(local), &headers));
        assert!(cookie_secure(&config(&[]), Some(lan), &headers));
        let plain = config(&[
            ("OFFHOOK_ALLOW_PLAIN_HTTP", "true"),
            ("OFFHOOK_LISTEN", "0.0.0.0:8080"),
        ]);
        assert!(!cookie_secure(&plain, Some(lan), &headers));
        let mut https = HeaderMap::new();
        https.insert("x-forwarded-proto", "https".parse().unwrap());
        https.insert("host", "localhost:8080".parse().unwrap());
        let proxied = config(&[("OFFHOOK_TRUST_PROXY", "true")]);
        assert!(cookie_secure(&proxied, Some(local), &https));
        assert!(
            !cookie_secure(&config(&[]), Some(local), &https),
            "an untrusted peer's header is not believed"
        );
        let public = config(&[("OFFHOOK_PUBLIC_URL", "https://phone.example.com")]);
        let mut via_proxy = HeaderMap::new();
        via_proxy.insert("host", "phone.example.com".parse().unwrap());
        assert!(cookie_secure(&public, Some(local), &via_proxy));
        let c = cookie("a", "b", "/admin", true, Some(60));
        assert_eq!(
            c,
            "a=b; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=60; Secure"
        );
    }

    #[test]
    fn cookie_values_and_names() {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "x=1; offhook_session=abc ; y=".parse().unwrap());
        assert_eq!(
            cookie_value(&headers, SESSION_COOKIE).as_deref(),
            Some("abc")
        );
        assert_eq!(cookie_value(&headers, "y"), None);
        assert!(check_username("admin@example").is_ok());
        assert!(check_username("a b").is_err());
        assert!(check_username("<script>").is_err());
        assert!(check_password("short").is_err());
        assert!(check_password("long enough!").is_ok());
        assert_eq!(base_path(&config(&[])), "/admin");
        assert_eq!(
            base_path(&config(&[(
                "OFFHOOK_PUBLIC_URL",
                "https://x.example/phone/"
            )])),
            "/phone/admin"
        );
    }
}
