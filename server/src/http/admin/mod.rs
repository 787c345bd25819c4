//! The web interface under `/admin`: server-rendered pages ([`views`], askama templates in
//! `server/templates/`), one stylesheet, no scripts. The rules of signing in are
//! [`crate::admin`]'s; here is their HTTP side.
//!
//! Every page but the sign-in and setup pages (and the stylesheet) needs a session: without
//! one (or with one that ended) a `GET` is sent to the sign-in page (303) and anything else is
//! refused (403). Every form posts the session's CSRF token; a missing or wrong one is refused
//! (403) before anything changes. Every response carries a strict Content-Security-Policy
//! (no scripts at all), `no-store`, `nosniff`, `no-referrer` and no framing.
//!
//! - [`auth`] — sign-in, sign-out, the setup link.
//! - [`handsets`] — the list, adding, each handset's settings, secrets, removal.
//! - [`voicemail`] — messages per mailbox, played through the server, deleted.
//! - [`calls`] — the call log, searched and paged.
//! - [`system`] — the settings check, the webhook URLs, the database.

pub mod auth;
pub mod calls;
pub mod handsets;
pub mod system;
pub mod views;
pub mod voicemail;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use self::views::{Layout, MessagePage};
use super::AppState;
use super::hooks::with_deadline;
use crate::admin;
use crate::store::Store;

/// Largest form body (a full contact list fits with room to spare).
pub const FORM_BODY_LIMIT: usize = 64 * 1024;

const CSS: &str = include_str!("../../../static/admin.css");

/// What every admin response carries: no scripts, nothing from elsewhere, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(root))
        .route("/static/admin.css", get(stylesheet))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/setup", get(auth::setup_page).post(auth::setup))
        .route("/handsets", get(handsets::list))
        .route(
            "/new-handset",
            get(handsets::new_page).post(handsets::create),
        )
        .route("/handsets/{id}", get(handsets::detail))
        .route("/handsets/{id}/identity", post(handsets::identity))
        .route("/handsets/{id}/calls", post(handsets::calls))
        .route("/handsets/{id}/phone", post(handsets::phone))
        .route("/handsets/{id}/speed-dials", post(handsets::speed_dials))
        .route("/handsets/{id}/contacts", post(handsets::contacts))
        .route("/handsets/{id}/secret", post(handsets::reset_secret))
        .route(
            "/handsets/{id}/remove",
            get(handsets::remove_page).post(handsets::remove),
        )
        .route("/voicemail", get(voicemail::list))
        .route("/voicemail/{id}/audio", get(voicemail::audio))
        .route("/voicemail/{id}/delete", post(voicemail::delete))
        .route("/calls", get(calls::list))
        .route("/system", get(system::page))
        .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT))
        .layer(middleware::from_fn(security_headers))
}

/// `/admin` itself: the handsets.
pub(crate) async fn root(State(state): State<Arc<AppState>>, _session: SignedIn) -> Response {
    see_other(&format!("{}/handsets", admin::base_path(&state.config)))
}

async fn stylesheet() -> Response {
    let mut response = CSS.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A `303 See Other` to `location`.
pub(crate) fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// A page, or a plain 500 if the template cannot render (it cannot fail on any data).
pub(crate) fn render(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(html) => {
            let mut response = (status, html).into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot render an admin page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be made.\n",
            )
                .into_response()
        }
    }
}

/// A page with one sentence (refusals, errors).
pub(crate) fn message(
    state: &AppState,
    status: StatusCode,
    title: &str,
    text: &str,
    session: Option<&SignedIn>,
) -> Response {
    let layout = Layout {
        title: title.to_string(),
        base: admin::base_path(&state.config),
        user: session.map(|s| s.username.clone()),
        csrf: session.map(|s| s.csrf.clone()).unwrap_or_default(),
        ..Layout::default()
    };
    let link = match session {
        Some(_) => None,
        None => Some((format!("{}/login", layout.base), "Sign in".to_string())),
    };
    render(
        status,
        MessagePage {
            layout,
            text: text.to_string(),
            link,
        },
    )
}

/// The database failed or did not answer in time.
pub(crate) fn database_error(
    state: &AppState,
    e: impl std::fmt::Display,
    session: Option<&SignedIn>,
) -> Response {
    tracing::warn!(error = %e, "admin page: database unavailable");
    let mut response = message(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        "Database unavailable",
        "The database did not answer. Try again in a moment; the System page says more.",
        session,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

/// A form's fields, in order (repeated names allowed).
pub(crate) type FormFields = Vec<(String, String)>;

/// The first value of `name` in a form ("" if absent).
pub(crate) fn field<'a>(form: &'a FormFields, name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Every value of `name`, in order.
pub(crate) fn fields<'a>(form: &'a FormFields, name: &str) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A signed-in admin, from the session cookie ([`crate::admin`]).
pub(crate) struct SignedIn {
    pub username: String,
    pub csrf: String,
    pub token_hash: String,
    pub store: Store,
}

impl SignedIn {
    /// The page frame for this admin.
    pub fn layout(&self, state: &AppState, title: &str, section: &'static str) -> Layout {
        Layout {
            title: title.to_string(),
            base: admin::base_path(&state.config),
            section,
            user: Some(self.username.clone()),
            csrf: self.csrf.clone(),
            notice: None,
            error: None,
        }
    }

    /// The refusal (403) of a form whose CSRF token is not this session's; `None` for a good
    /// one.
    pub fn bad_csrf(&self, state: &AppState, form: &FormFields) -> Option<Response> {
        if admin::csrf_matches(&self.csrf, field(form, "csrf")) {
            return None;
        }
        tracing::warn!(admin = %self.username, "admin form refused: bad CSRF token");
        Some(message(
            state,
            StatusCode::FORBIDDEN,
            "Refused",
            "This form is out of date or did not come from this site. Go back, reload the page and try again.",
            Some(self),
        ))
    }
}

/// The refusal for a request without a (live) session.
fn signed_out(state: &AppState, parts: &Parts) -> Response {
    let base = admin::base_path(&state.config);
    let clear = admin::cookie(
        admin::SESSION_COOKIE,
        "",
        &base,
        admin::cookie_secure(
            &state.config,
            super::peer(&parts.extensions),
            &parts.headers,
        ),
        None,
    );
    let mut response = if parts.method == Method::GET || parts.method == Method::HEAD {
        see_other(&format!("{base}/login"))
    } else {
        message(
            state,
            StatusCode::FORBIDDEN,
            "Signed out",
            "You are not signed in, or your session has ended. Sign in again.",
            None,
        )
    };
    if parts.headers.contains_key(header::COOKIE)
        && let Ok(value) = HeaderValue::from_str(&clear)
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(store) = state.store.clone() else {
            return Err(message(
                state,
                StatusCode::SERVICE_UNAVAILABLE,
                "No database",
                "The admin pages need the server's database, and this server runs without one.",
                None,
            ));
        };
        let Some(token) = admin::cookie_value(&parts.headers, admin::SESSION_COOKIE) else {
            return Err(signed_out(state, parts));
        };
        let token_hash = admin::token_hash(&token);
        let now = state.unix_now();
        let session = match with_deadline(store.session(&token_hash)).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(signed_out(state, parts)),
            Err(e) => return Err(database_error(state, e, None)),
        };
        if !admin::session_alive(session.created_at, session.last_seen_at, now) {
            if let Err(e) = with_deadline(store.delete_session(&token_hash)).await {
                tracing::debug!(error = %e, "cannot forget an ended session");
            }
            return Err(signed_out(state, parts));
        }
        if now - session.last_seen_at >= admin::TOUCH_INTERVAL_SECS
            && let Err(e) = with_deadline(store.touch_session(&token_hash, now)).await
        {
            tracing::debug!(error = %e, "cannot note a session's use");
        }
        Ok(SignedIn {
            username: session.username,
            csrf: session.csrf_token,
            token_hash,
            store,
        })
    }
}
