//! The HTTP surface: the router, its shared state, and the plumbing every route shares
//! (errors, client addresses, request logs).
//!
//! - [`token`] — `POST /api/token/generate`.
//! - [`hooks`] — `POST /hooks/voice` and `POST /hooks/call/connect`.

pub mod hooks;
pub mod token;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Semaphore;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::handsets::Handsets;
use crate::throttle::{Policy, Throttle};

/// Largest token request body (it is at most `{"ttl": …}`).
pub const TOKEN_BODY_LIMIT: usize = 4 * 1024;
/// Largest webhook body; Twilio's are around 1 KiB.
pub const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;
/// Requests handled at once; more wait.
pub const MAX_CONCURRENT_REQUESTS: usize = 256;
/// Argon2 verifications at once (each takes ~19 MiB and a core for tens of ms).
pub const MAX_CONCURRENT_HASHES: usize = 2;

/// Everything the routes share.
pub struct AppState {
    pub config: Config,
    pub handsets: Handsets,
    pub(crate) clock: Arc<dyn Clock>,
    limits: Mutex<Limits>,
    pub(crate) hash_slots: Semaphore,
}

pub(crate) struct Limits {
    pub(crate) per_client: Throttle<IpAddr>,
    pub(crate) per_device: Throttle<String>,
}

impl AppState {
    pub fn new(config: Config, handsets: Handsets) -> Arc<AppState> {
        AppState::with_clock(config, handsets, Arc::new(SystemClock))
    }

    /// With a clock of the caller's (tests move time by hand).
    pub fn with_clock(config: Config, handsets: Handsets, clock: Arc<dyn Clock>) -> Arc<AppState> {
        Arc::new(AppState {
            config,
            handsets,
            clock,
            limits: Mutex::new(Limits {
                per_client: Throttle::new(Policy::PER_CLIENT),
                per_device: Throttle::new(Policy::PER_DEVICE),
            }),
            hash_slots: Semaphore::new(MAX_CONCURRENT_HASHES),
        })
    }

    pub(crate) fn limits(&self) -> MutexGuard<'_, Limits> {
        // The throttle holds no invariant a panic elsewhere could break.
        self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }
}

/// The whole server as a router (the binary serves it; tests call it directly).
pub fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/token/generate", post(token::generate))
        .route("/hooks/voice", post(hooks::voice))
        .route("/hooks/call/connect", post(hooks::call_connect))
        .fallback(not_found)
        .layer(middleware::from_fn(log_request))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            MAX_CONCURRENT_REQUESTS,
        ))
        .with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    json(
        StatusCode::OK,
        serde_json::json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "handsets": state.handsets.len(),
        }),
    )
}

async fn not_found() -> Response {
    json_error(
        StatusCode::NOT_FOUND,
        "not_found",
        "There is nothing at this address.",
    )
}

/// One line per request: method, path (never the query or headers: they can carry
/// credentials), status and time taken.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if path == "/health" {
        tracing::debug!(%method, %path, status, micros, "request");
    } else {
        tracing::info!(%method, %path, status, micros, "request");
    }
    response
}

pub(crate) fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `{"error": code, "message": text}`.
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        serde_json::json!({ "error": code, "message": message }),
    )
}

/// The address a request came from: the peer, or with `OFFHOOK_TRUST_PROXY` the last
/// address the proxy appended to `X-Forwarded-For`.
pub(crate) fn client_ip(
    state: &AppState,
    request_peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> IpAddr {
    if state.config.trust_proxy {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .next_back();
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    request_peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip())
}

pub(crate) fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    TooLarge,
    Unreadable,
}

/// Reads a whole body, refusing it as soon as it (or its Content-Length) passes `limit`.
pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        if e.into_inner().is::<http_body_util::LengthLimitError>() {
            BodyError::TooLarge
        } else {
            BodyError::Unreadable
        }
    })
}

/// The media type of a `Content-Type` header, lower-cased, and whether any `charset`
/// parameter is UTF-8.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<(String, bool)> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mut parts = value.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    let utf8 = parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            let v = v.trim().trim_matches('"');
            v.eq_ignore_ascii_case("utf-8") || v.eq_ignore_ascii_case("utf8")
        }
        _ => true,
    });
    Some((media, utf8))
}
