//! The HTTP surface: the router, its shared state, and the plumbing every route shares
//! (errors, client addresses, request logs).
//!
//! - [`token`] — `POST /api/token/generate`, and the HTTP Basic login every handset route
//!   shares.
//! - [`hooks`] — `POST /hooks/voice` and `POST /hooks/call/connect`.
//! - [`voicemail`] — `POST /hooks/voicemail/{dial-ended,recorded,goodbye,menu,greeting}`.
//! - [`handset`] — `GET /api/handset/events` (server-sent events), `GET /api/handset/voicemail`,
//!   `GET`/`PUT /api/handset/settings`.
//! - [`provisioning`] — `GET /api/handset/config` (`ETag`), `POST /api/handset/status`.
//! - [`admin`] — the web interface under `/admin` (signed-in admins; HTML pages).
//!
//! `POST /hooks/status` (each dialled leg's end, for the call log) is in [`hooks`].
//!
//! Connections, header reads and the connection cap are the accept loop's
//! ([`crate::server`]); request deadlines, body deadlines and per-route concurrency are
//! here.

pub mod admin;
pub mod handset;
pub mod hooks;
pub mod provisioning;
pub mod token;
pub mod voicemail;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::Semaphore;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::handsets::Handsets;
use crate::throttle::{Policy, Throttle};

/// Largest token request body (it is at most `{"ttl": …}`).
pub const TOKEN_BODY_LIMIT: usize = 4 * 1024;
/// Largest webhook body; Twilio's are around 1 KiB.
pub const WEBHOOK_BODY_LIMIT: usize = 64 * 1024;
/// Argon2 verifications at once (each takes ~19 MiB and a core for tens of ms).
pub const MAX_CONCURRENT_HASHES: usize = 2;
/// Verifications at once for keys that are locked: their guesses queue here, one at a
/// time, and never take the slots the other handsets log in with.
pub const MAX_CONCURRENT_LOCKED_HASHES: usize = 1;

/// Everything the routes share.
pub struct AppState {
    pub config: Config,
    /// The handsets now: fixed by the program that started the server, or the database's
    /// (reloaded whenever they change, [`AppState::reload_handsets`]).
    handsets: RwLock<Arc<Handsets>>,
    /// Whether the handsets live in the database (and `/admin` may add, edit and remove them).
    handsets_in_store: bool,
    /// The handsets counter the snapshot was loaded at.
    handsets_version: AtomicI64,
    pub(crate) clock: Arc<dyn Clock>,
    throttle: Mutex<Throttle<token::LoginKey>>,
    /// Admin sign-in failures, per client address block and user name.
    admin_throttle: Mutex<Throttle<token::LoginKey>>,
    pub(crate) hash_slots: Arc<Semaphore>,
    pub(crate) locked_hash_slots: Arc<Semaphore>,
    pub(crate) hashing: token::HashGauge,
    /// The token endpoint's and the webhooks' concurrency limits (shared with the router's
    /// limit layers, so `/health` can say how busy each is).
    token_requests: Arc<Semaphore>,
    webhook_requests: Arc<Semaphore>,
    /// The database (`None`: no voicemail, forwarding or do-not-disturb; the handsets ring).
    pub store: Option<crate::store::Store>,
    /// Twilio's REST API (deleting recordings, ICE servers).
    pub twilio: crate::twilio_api::TwilioApi,
    /// The ICE servers handed out with tokens (Twilio's Network Traversal Service).
    pub ice: crate::ice::IceServers,
    /// Change notifications and the handsets' event streams.
    pub push: crate::push::Push,
    /// Messages whose callback came while the database was unreachable.
    pub pending: crate::worker::Pending,
}

impl AppState {
    pub fn new(config: Config, handsets: Handsets) -> Arc<AppState> {
        AppState::with_clock(config, handsets, Arc::new(SystemClock))
    }

    /// With a clock of the caller's (tests move time by hand).
    pub fn with_clock(config: Config, handsets: Handsets, clock: Arc<dyn Clock>) -> Arc<AppState> {
        AppState::build(config, handsets, clock, None, false)
    }

    /// With the database the daemon opened: voicemail, forwarding and do-not-disturb, the
    /// handset API's settings and events. Twilio's REST API is `config.twilio_api_url`.
    pub fn with_store(
        config: Config,
        handsets: Handsets,
        store: crate::store::Store,
    ) -> Arc<AppState> {
        AppState::build(config, handsets, Arc::new(SystemClock), Some(store), false)
    }

    /// Everything chosen by the caller (tests: a store and a clock moved by hand).
    pub fn with_parts(
        config: Config,
        handsets: Handsets,
        clock: Arc<dyn Clock>,
        store: Option<crate::store::Store>,
    ) -> Arc<AppState> {
        AppState::build(config, handsets, clock, store, false)
    }

    /// With the database the handsets live in: they are loaded from it now, and `/admin` and
    /// `offhook-server add-handset` change them (the daemon imports the handsets file first).
    pub async fn from_store(
        config: Config,
        store: crate::store::Store,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<AppState>, crate::Error> {
        let version = store.handsets_version().await?;
        let handsets = store.load_handsets().await?;
        let state = AppState::build(config, handsets, clock, Some(store), true);
        state.handsets_version.store(version, Ordering::SeqCst);
        Ok(state)
    }

    fn build(
        config: Config,
        handsets: Handsets,
        clock: Arc<dyn Clock>,
        store: Option<crate::store::Store>,
        handsets_in_store: bool,
    ) -> Arc<AppState> {
        Arc::new(AppState {
            store,
            twilio: crate::twilio_api::TwilioApi::new(&config),
            ice: crate::ice::IceServers::new(config.ice_servers),
            push: crate::push::Push::default(),
            pending: crate::worker::Pending::default(),
            handsets: RwLock::new(Arc::new(handsets)),
            handsets_in_store,
            handsets_version: AtomicI64::new(0),
            clock,
            throttle: Mutex::new(Throttle::new(Policy::LOGIN)),
            admin_throttle: Mutex::new(Throttle::new(crate::admin::SIGN_IN_POLICY)),
            hash_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_HASHES)),
            locked_hash_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_LOCKED_HASHES)),
            hashing: token::HashGauge::default(),
            token_requests: Arc::new(Semaphore::new(config.limits.max_token_requests)),
            webhook_requests: Arc::new(Semaphore::new(config.limits.max_webhook_requests)),
            config,
        })
    }

    pub(crate) fn throttle(&self) -> MutexGuard<'_, Throttle<token::LoginKey>> {
        // The throttle holds no invariant a panic elsewhere could break.
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn admin_throttle(&self) -> MutexGuard<'_, Throttle<token::LoginKey>> {
        self.admin_throttle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The handsets as they are now (a snapshot: it does not change under the caller).
    pub fn handsets(&self) -> Arc<Handsets> {
        Arc::clone(&self.handsets.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether the handsets live in the database, so that `/admin` may change them.
    pub fn handsets_in_store(&self) -> bool {
        self.handsets_in_store
    }

    /// Loads the handsets from the database again if they changed since the last load (through
    /// any instance); returns whether they did. A server with fixed handsets keeps them.
    pub async fn reload_handsets(&self) -> Result<bool, crate::Error> {
        let Some(store) = self.store.as_ref().filter(|_| self.handsets_in_store) else {
            return Ok(false);
        };
        let version = store.handsets_version().await?;
        if version == self.handsets_version.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let handsets = store.load_handsets().await?;
        *self.handsets.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(handsets);
        self.handsets_version.store(version, Ordering::SeqCst);
        Ok(true)
    }

    /// One handset as it is now: from the database when the handsets live there (so that a
    /// change made through another instance is seen at once), else from the snapshot.
    pub async fn handset_now(
        &self,
        id: &str,
    ) -> Result<Option<crate::handsets::Handset>, crate::Error> {
        match self.store.as_ref().filter(|_| self.handsets_in_store) {
            Some(store) => store.handset(id).await,
            None => Ok(self.handsets().by_id(id).cloned()),
        }
    }

    /// Wall-clock seconds, as stored.
    pub(crate) fn unix_now(&self) -> crate::store::UnixSeconds {
        i64::try_from(self.clock.unix_now()).unwrap_or(i64::MAX)
    }

    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Token requests being handled now (not counting those waiting for a slot).
    pub fn token_requests_in_flight(&self) -> usize {
        busy(&self.token_requests, self.config.limits.max_token_requests)
    }

    /// Webhook requests being handled now.
    pub fn webhook_requests_in_flight(&self) -> usize {
        busy(
            &self.webhook_requests,
            self.config.limits.max_webhook_requests,
        )
    }
}

fn busy(slots: &Semaphore, max: usize) -> usize {
    max.saturating_sub(slots.available_permits())
}

/// The whole server as a router (the binary serves it; tests call it directly).
///
/// The token endpoint and the webhooks each have their own concurrency limit, so that a
/// flood of one cannot starve the other; every request has a deadline (408).
pub fn app(state: Arc<AppState>) -> Router {
    let limits = state.config.limits;
    let token_routes = Router::new()
        .route("/api/token/generate", post(token::generate))
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(Arc::clone(
            &state.token_requests,
        )));
    // The handset routes log in exactly as the token endpoint does, and share its limit.
    let handset_routes = Router::new()
        .route("/api/handset/events", get(handset::events))
        .route("/api/handset/voicemail", get(handset::voicemail))
        .route(
            "/api/handset/settings",
            get(handset::settings).put(handset::change_settings),
        )
        .route("/api/handset/config", get(provisioning::config))
        .route("/api/handset/status", post(provisioning::status))
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(Arc::clone(
            &state.token_requests,
        )));
    let hook_routes = Router::new()
        .route("/hooks/voice", post(hooks::voice))
        .route("/hooks/call/connect", post(hooks::call_connect))
        .route(
            crate::voicemail::DIAL_ENDED_PATH,
            post(voicemail::dial_ended),
        )
        .route(crate::voicemail::RECORDED_PATH, post(voicemail::recorded))
        .route(crate::voicemail::GOODBYE_PATH, post(voicemail::goodbye))
        .route(crate::voicemail::GREETING_PATH, post(voicemail::greeting))
        .route(crate::voicemail::MENU_PATH, post(voicemail::menu))
        .route(crate::call_log::STATUS_PATH, post(hooks::status))
        .layer(GlobalConcurrencyLimitLayer::with_semaphore(Arc::clone(
            &state.webhook_requests,
        )));
    Router::new()
        .route("/health", get(health))
        .merge(token_routes)
        .merge(handset_routes)
        .merge(hook_routes)
        .nest("/admin", admin::routes())
        .fallback(not_found)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    // The database's health is reported, but a broken database does not make the server
    // unhealthy: webhooks still ring the handsets without it.
    let database = match &state.store {
        None => serde_json::json!(null),
        Some(store) => match store.check().await {
            Ok(()) => serde_json::json!({ "url": store.url(), "ok": true }),
            Err(e) => {
                serde_json::json!({ "url": store.url(), "ok": false, "error": e.to_string() })
            }
        },
    };
    json(
        StatusCode::OK,
        serde_json::json!({
            "status": "ok",
            "database": database,
            "version": env!("CARGO_PKG_VERSION"),
            "handsets": state.handsets().len(),
            "in_flight": {
                "token": state.token_requests_in_flight(),
                "webhooks": state.webhook_requests_in_flight(),
            },
            "event_streams": state.push.open_streams(),
            "pending_messages": state.pending.len(),
            "ice_servers": ice_health(&state),
        }),
    )
}

/// `"off"`, `"fresh"`, `"stale"` or `"none"`: whether the token answers carry ICE servers.
fn ice_health(state: &AppState) -> &'static str {
    match state.ice.status(state.now(), state.clock.unix_now()) {
        None => "off",
        Some(status) => match (&status.answer.servers, status.answer.stale) {
            (Some(_), false) => "fresh",
            (Some(_), true) => "stale",
            (None, _) => "none",
        },
    }
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

/// `{"error": {"code": code, "message": text}}`: the handset API's errors.
pub(crate) fn api_error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        serde_json::json!({ "error": { "code": code, "message": message } }),
    )
}

/// `{"error": code, "message": text}`.
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        serde_json::json!({ "error": code, "message": message }),
    )
}

/// The address a request came from: the peer, or behind a trusted proxy the client that
/// `X-Forwarded-For` names (see [`crate::forwarded`]). Public only for the fuzz targets.
#[doc(hidden)]
pub fn client_ip(
    state: &AppState,
    request_peer: Option<SocketAddr>,
    headers: &HeaderMap,
) -> IpAddr {
    state.config.trust_proxy.client_ip(request_peer, headers)
}

pub(crate) fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    TooLarge,
    Unreadable,
    /// Not all there by the body deadline (a slow client holding a request open).
    TimedOut,
}

/// Reads a whole body, refusing it as soon as it (or its Content-Length) passes `limit`,
/// or when it is not complete within `deadline`.
pub(crate) async fn read_body(
    body: Body,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, BodyError> {
    let read = axum::body::to_bytes(body, limit);
    match tokio::time::timeout(deadline, read).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            if e.into_inner().is::<http_body_util::LengthLimitError>() {
                Err(BodyError::TooLarge)
            } else {
                Err(BodyError::Unreadable)
            }
        }
    }
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
