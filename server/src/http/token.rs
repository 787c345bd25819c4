//! `POST /api/token/generate`: a handset logs in with HTTP Basic (device id and secret)
//! and gets a Voice Access Token for its identity.
//!
//! Refusals never say which part was wrong. Failures are counted per client address and
//! per device; past a few, the key is locked for a doubling time (429 with Retry-After)
//! before any secret is checked again.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use twilio_voice::token::{AccessToken, VoiceGrant};

use super::{AppState, BodyError, client_ip, json, json_error, media_type, peer, read_body};

/// A wall clock before this (2025-01-01) is unset, not skewed: a Pi without a real-time
/// clock boots in 1970 until NTP answers, and tokens minted then expired long ago.
pub const EARLIEST_PLAUSIBLE_UNIX_TIME: u64 = 1_735_689_600;

/// The optional JSON body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    /// A shorter lifetime than the server's (longer requests get the server's).
    ttl: Option<u64>,
}

pub(crate) async fn generate(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let ip = client_ip(&state, peer(&parts.extensions), &parts.headers);
    let credentials = basic_credentials(&parts.headers);
    // Only ids of real handsets get a per-device counter: unknown ids would let anyone
    // grow the table.
    let device = credentials
        .as_ref()
        .and_then(|(id, _)| state.handsets.by_id(id))
        .map(|h| h.id.clone());

    {
        let limits = state.limits();
        let now = state.now();
        let locked = limits
            .per_client
            .check(&ip, now)
            .err()
            .into_iter()
            .chain(
                device
                    .as_ref()
                    .and_then(|d| limits.per_device.check(d, now).err()),
            )
            .max();
        if let Some(wait) = locked {
            tracing::warn!(%ip, device = device.as_deref().unwrap_or("-"), "token request refused: too many failures");
            return too_many(wait);
        }
    }

    let body = match read_body(body, super::TOKEN_BODY_LIMIT).await {
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
    };

    let identity = match credentials {
        Some((id, secret)) => authenticate(&state, id, secret).await,
        None => None,
    };
    let Some(identity) = identity else {
        let mut limits = state.limits();
        let now = state.now();
        limits.per_client.record_failure(&ip, now);
        if let Some(d) = &device {
            limits.per_device.record_failure(d, now);
        }
        drop(limits);
        tracing::warn!(%ip, device = device.as_deref().unwrap_or("-"), "token request refused: bad credentials");
        return unauthorized();
    };
    {
        let mut limits = state.limits();
        limits.per_client.record_success(&ip);
        if let Some(d) = &device {
            limits.per_device.record_success(d);
        }
    }

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
            tracing::info!(%identity, ttl, "token issued");
            json(
                StatusCode::OK,
                serde_json::json!({ "token": token, "identity": identity, "ttl": ttl }),
            )
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

/// `Authorization: Basic base64(id:secret)`, or `None` if absent or malformed.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
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

/// Runs the Argon2 check off the async threads, at most a few at a time.
async fn authenticate(state: &Arc<AppState>, id: String, secret: String) -> Option<String> {
    let _slot = state.hash_slots.acquire().await.ok()?;
    let state = Arc::clone(state);
    tokio::task::spawn_blocking(move || {
        state
            .handsets
            .authenticate(&id, &secret)
            .map(|h| h.identity.clone())
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
