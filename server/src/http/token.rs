//! `POST /api/token/generate`: a handset logs in with HTTP Basic (device id and secret)
//! and gets a Voice Access Token for its identity, with the ICE servers its calls may use
//! ([`crate::ice`]): `{"token", "identity", "ttl", "ice_servers": [{"urls", "username",
//! "credential"}], "ice_servers_stale": bool, "ice_servers_error": {"code", "message"}}` (the
//! last three as [`crate::ice::IceAnswer::fields`] has them).
//!
//! Refusals never say which part was wrong, nor whether the device id exists: known and
//! unknown ids cost one Argon2 verification each (unknown ones against a dummy hash) and
//! get the same answers. Failures are counted per (client address block, device id), so
//! an office behind one NAT guessing at one device does not touch another. Past a few
//! failures the key is locked for a doubling time; a locked key's wrong guesses get 429
//! with `Retry-After` and queue for a verification slot of their own, but a right secret
//! always gets its token, locked or not: a lock slows guessers and never keeps the real
//! handset out.
//!
//! A verification runs to its end even when the client goes away: the concurrency slot
//! moves into the blocking task with it, and the failure is recorded before hashing and
//! cleared by the task itself on success.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use offhook_core::token::{AccessToken, VoiceGrant};
use serde::Deserialize;

use super::{AppState, BodyError, client_ip, json, json_error, media_type, peer, read_body};
use crate::forwarded::throttle_group;
use crate::handsets::MAX_ID_LEN;

/// A wall clock before this (2025-01-01) is unset, not skewed: a Pi without a real-time
/// clock boots in 1970 until NTP answers, and tokens minted then expired long ago.
pub const EARLIEST_PLAUSIBLE_UNIX_TIME: u64 = 1_735_689_600;

/// What login failures are counted by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct LoginKey {
    /// The client's address block ([`throttle_group`]).
    client: IpAddr,
    /// The id as sent; one too long to be any handset's is counted under one name, so that
    /// long ids cannot swell the table.
    device: String,
}

impl LoginKey {
    pub(crate) fn new(client: IpAddr, device_id: &str) -> LoginKey {
        let device = if device_id.len() <= MAX_ID_LEN {
            device_id.to_string()
        } else {
            String::from("(too long)")
        };
        LoginKey {
            client: throttle_group(client),
            device,
        }
    }
}

/// Argon2 verifications running now, the most seen at once, and how many have ended.
#[derive(Debug, Default)]
pub(crate) struct HashGauge {
    running: AtomicUsize,
    peak: AtomicUsize,
    finished: AtomicUsize,
}

impl HashGauge {
    fn start(&self) -> Hashing<'_> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Hashing(self)
    }

    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> (usize, usize, usize) {
        (
            self.running.load(Ordering::SeqCst),
            self.peak.load(Ordering::SeqCst),
            self.finished.load(Ordering::SeqCst),
        )
    }
}

/// One verification on the [`HashGauge`], until dropped.
struct Hashing<'a>(&'a HashGauge);

impl Drop for Hashing<'_> {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::SeqCst);
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The optional JSON body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    /// A shorter lifetime than the server's (longer requests get the server's).
    ttl: Option<u64>,
}

pub(crate) async fn generate(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match read_body(
        body,
        super::TOKEN_BODY_LIMIT,
        state.config.limits.body_timeout,
    )
    .await
    {
        Ok(bytes) => bytes,
        Err(BodyError::TooLarge) => {
            return json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is too large.",
            );
        }
        Err(BodyError::Unreadable) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The request body could not be read.",
            );
        }
        Err(BodyError::TimedOut) => {
            return json_error(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "The request body did not arrive in time.",
            );
        }
    };
    let identity = match authenticate(&state, &parts).await {
        Ok(login) => login.identity,
        Err(refusal) => return refusal,
    };

    let request = match token_request(&parts.headers, &body) {
        Ok(r) => r,
        Err((status, code, message)) => return json_error(status, code, message),
    };
    let ttl = match request.ttl {
        None => state.config.token_ttl_secs,
        Some(t) if t >= crate::config::MIN_TOKEN_TTL_SECS => t.min(state.config.token_ttl_secs),
        Some(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "ttl must be at least 60 seconds.",
            );
        }
    };

    let now = state.clock.unix_now();
    if now < EARLIEST_PLAUSIBLE_UNIX_TIME {
        tracing::error!(
            unix_time = now,
            "the server's clock is not set; refusing to mint tokens Twilio would reject"
        );
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "clock_not_set",
            "The server's clock is not set, so it cannot issue tokens yet.",
        );
    }
    let config = &state.config;
    let minted = AccessToken::new(
        config.account_sid.clone(),
        config.api_key.clone(),
        config.api_secret.expose(),
        identity.clone(),
    )
    .with_ttl(ttl)
    .with_voice(VoiceGrant::handset(config.app_sid.clone()))
    .to_jwt(now);
    match minted {
        Ok(token) => {
            // Never a reason to refuse the token: without ICE servers the answer says why.
            let ice = crate::ice::IceServers::for_token(&state).await;
            tracing::info!(
                %identity,
                ttl,
                ice_servers = ice.servers.as_ref().map_or(0, |s| s.len()),
                ice_servers_stale = ice.stale,
                "token issued"
            );
            let mut answer = serde_json::Map::new();
            answer.insert("token".into(), token.into());
            answer.insert("identity".into(), identity.into());
            answer.insert("ttl".into(), ttl.into());
            answer.extend(ice.fields());
            json(StatusCode::OK, serde_json::Value::Object(answer))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot sign a token");
            json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "The token could not be made.",
            )
        }
    }
}

/// A handset that proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login {
    pub(crate) device_id: String,
    pub(crate) identity: String,
}

/// The login every handset route shares: HTTP Basic with the device id and secret, checked
/// as described above (one Argon2 verification whether or not the id exists, failures
/// counted and throttled). The refusal is 401, or 429 with `Retry-After` for a locked key.
pub(crate) async fn authenticate(
    state: &Arc<AppState>,
    parts: &http::request::Parts,
) -> Result<Login, Response> {
    let ip = client_ip(state, peer(&parts.extensions), &parts.headers);
    // Without an id and secret there is nothing to check, nothing to guess and nothing
    // to count.
    let Some((id, secret)) = basic_credentials(&parts.headers) else {
        return Err(unauthorized());
    };
    let key = LoginKey::new(ip, &id);
    match verify(state, key.clone(), id, secret).await {
        Some(login) => Ok(login),
        None => {
            let locked = state.throttle().check(&key, state.now()).err();
            tracing::warn!(%ip, path = parts.uri.path(), locked = locked.is_some(), "request refused: bad credentials");
            Err(match locked {
                Some(wait) => too_many(wait),
                None => unauthorized(),
            })
        }
    }
}

/// `Authorization: Basic base64(id:secret)`, or `None` if absent or malformed. Public only
/// for the fuzz targets.
#[doc(hidden)]
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Runs the Argon2 check off the async threads, at most a few at a time (a locked key's in
/// a slot of its own), and settles the key's failure count when the hash ends, whether or
/// not anyone still waits for the answer.
async fn verify(state: &Arc<AppState>, key: LoginKey, id: String, secret: String) -> Option<Login> {
    let locked = state.throttle().check(&key, state.now()).is_err();
    let slots = if locked {
        &state.locked_hash_slots
    } else {
        &state.hash_slots
    };
    // Owned: the slot is freed when the hash ends, not when this future is dropped.
    let slot = Arc::clone(slots).acquire_owned().await.ok()?;
    // Counted before hashing: a client that hangs up mid-hash has still made a guess.
    state.throttle().record_failure(&key, state.now());
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        let login = {
            let _hashing = state.hashing.start();
            state.handsets().authenticate(&id, &secret).map(|h| Login {
                device_id: h.id.clone(),
                identity: h.identity.clone(),
            })
        };
        if login.is_some() {
            state.throttle().record_success(&key);
        }
        login
    })
    .await
    .ok()
    .flatten()
}

/// A refusal of the body: status, error code, message.
type BodyRefusal = (StatusCode, &'static str, &'static str);

fn token_request(headers: &HeaderMap, body: &Bytes) -> Result<TokenRequest, BodyRefusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(TokenRequest::default());
    }
    match media_type(headers) {
        Some((media, true)) if media == "application/json" => {}
        _ => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "A request body must be application/json.",
            ));
        }
    }
    serde_json::from_slice(body).map_err(|_| {
        (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The body must be a JSON object with at most a \"ttl\" number.",
        )
    })
}

fn unauthorized() -> Response {
    let mut response = json_error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "The device id and secret were not accepted.",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"offhook\", charset=\"UTF-8\""),
    );
    response
}

fn too_many(wait: Duration) -> Response {
    // Round up: a client that waits exactly this long must be let in.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut response = json(
        StatusCode::TOO_MANY_REQUESTS,
        serde_json::json!({
            "error": "too_many_attempts",
            "message": "Too many failed attempts. Try again later.",
            "retry_after": secs,
        }),
    );
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use axum::body::Body;
    use tower::ServiceExt as _;

    use super::*;
    use crate::config::Config;
    use crate::handsets::{Handset, Handsets};
    use crate::http::{MAX_CONCURRENT_HASHES, app};

    /// A server whose one handset has a full-cost hash (tens of ms: long enough to hang up
    /// in the middle of it).
    fn state() -> Arc<AppState> {
        let mut settings = crate::config::tests::valid_settings();
        // No ICE servers: these tests are about logins, and must not reach Twilio.
        settings.insert(crate::config::ICE_SERVERS.into(), "off".into());
        let config = Config::from_settings(|n| settings.get(n).cloned()).unwrap();
        let desk = Handset::with_secret("desk", "desk", "101", "Desk", "right").unwrap();
        AppState::new(config, Handsets::new(vec![desk]).unwrap())
    }

    fn login(id: &str, secret: &str) -> axum::http::Request<Body> {
        let credentials = STANDARD.encode(format!("{id}:{secret}"));
        axum::http::Request::post("/api/token/generate")
            .header("authorization", format!("Basic {credentials}"))
            .body(Body::empty())
            .unwrap()
    }

    async fn until(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn key(id: &str) -> LoginKey {
        LoginKey::new(IpAddr::from([0, 0, 0, 0]), id)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clients_hanging_up_mid_hash_neither_pile_up_hashes_nor_escape_the_count() {
        let state = state();
        let router = app(Arc::clone(&state));
        let mut ids = Vec::new();
        for wave in 0..4 {
            let requests: Vec<_> = (0..6)
                .map(|i| {
                    let id = format!("guess-{wave}-{i}");
                    ids.push(id.clone());
                    tokio::spawn(router.clone().oneshot(login(&id, "wrong")))
                })
                .collect();
            until("this wave's hashes have started", || {
                let (running, _, finished) = state.hashing.snapshot();
                running + finished >= (wave + 1) * MAX_CONCURRENT_HASHES
            })
            .await;
            // Every client hangs up while its hash runs or waits.
            for request in requests {
                request.abort();
            }
        }
        until("every hash has ended and freed its slot", || {
            state.hash_slots.available_permits() == MAX_CONCURRENT_HASHES
        })
        .await;
        let (running, peak, finished) = state.hashing.snapshot();
        assert_eq!(running, 0);
        assert!(
            peak <= MAX_CONCURRENT_HASHES,
            "{peak} hashes ran at once, above the limit of {MAX_CONCURRENT_HASHES}"
        );
        assert!(finished >= 4 * MAX_CONCURRENT_HASHES, "{finished}");
        let throttle = state.throttle();
        let counted: u32 = ids.iter().map(|id| throttle.failures(&key(id))).sum();
        assert_eq!(
            usize::try_from(counted).unwrap(),
            finished,
            "every guess that was hashed is counted"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unknown_ids_cost_one_verification_like_known_ones() {
        let state = state();
        let router = app(Arc::clone(&state));
        for (id, secret) in [("desk", "wrong"), ("nobody", "wrong"), ("desk", "right")] {
            let before = state.hashing.snapshot().2;
            let status = router
                .clone()
                .oneshot(login(id, secret))
                .await
                .unwrap()
                .status();
            assert_eq!(
                state.hashing.snapshot().2,
                before + 1,
                "{id}/{secret}: {status}"
            );
        }
        // A right secret cleared its key; the wrong guesses stay counted.
        let throttle = state.throttle();
        assert_eq!(throttle.failures(&key("desk")), 0);
        assert_eq!(throttle.failures(&key("nobody")), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_locked_keys_guesses_queue_apart_from_other_logins() {
        let state = state();
        let router = app(Arc::clone(&state));
        for _ in 0..6 {
            router
                .clone()
                .oneshot(login("desk", "wrong"))
                .await
                .unwrap();
        }
        assert!(state.throttle().check(&key("desk"), state.now()).is_err());
        // With the locked keys' slot taken, the locked key waits for it…
        let taken = Arc::clone(&state.locked_hash_slots)
            .acquire_many_owned(crate::http::MAX_CONCURRENT_LOCKED_HASHES as u32)
            .await
            .unwrap();
        let queued = tokio::spawn(router.clone().oneshot(login("desk", "right")));
        // …while other keys' logins do not queue behind it.
        let other = router.clone().oneshot(login("nobody", "x")).await.unwrap();
        assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
        assert!(!queued.is_finished());
        drop(taken);
        let status = queued.await.unwrap().unwrap().status();
        assert_eq!(
            status,
            StatusCode::OK,
            "locked, but the right secret passes"
        );
    }

    #[test]
    fn login_keys_group_addresses_and_cap_ids() {
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            LoginKey::new(v6("2001:db8:0:1::1"), "desk"),
            LoginKey::new(v6("2001:db8:0:1:ffff::2"), "desk")
        );
        assert_ne!(
            LoginKey::new(v6("192.0.2.1"), "desk"),
            LoginKey::new(v6("192.0.2.1"), "kitchen")
        );
        assert_eq!(
            LoginKey::new(v6("192.0.2.1"), &"x".repeat(65)),
            LoginKey::new(v6("::ffff:192.0.2.1"), &"y".repeat(1000))
        );
    }
}
