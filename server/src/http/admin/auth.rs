//! Signing in and out, and the one-time setup link ([`crate::admin`] has the rules).
//!
//! - `GET /admin/login`, `POST /admin/login` (`csrf`, `username`, `password`): a session
//!   cookie and 303 to the handsets; 401 for a wrong name or password, 429 with
//!   `Retry-After` while the client's tries at that name are locked (not even a right
//!   password passes then).
//! - `POST /admin/logout` (`csrf`): the session is deleted; 303 to the sign-in page.
//! - `GET /admin/setup?token=…`, `POST /admin/setup` (`csrf`, `token`, `username`,
//!   `password`, `password2`): the first admin, signed in at once; the link is used up.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::views::{Layout, LoginPage, SetupPage};
use super::{FormFields, SignedIn, database_error, field, message, render, see_other};
use crate::admin::{self, FORM_COOKIE, SESSION_COOKIE};
use crate::http::AppState;
use crate::http::hooks::with_deadline;
use crate::http::token::LoginKey;
use crate::secret::{self, StoredHash};
use crate::store::admin::AddAdminError;

/// Where a request came from (for throttling and the cookies' `Secure`).
pub(crate) struct Client {
    pub peer: Option<SocketAddr>,
    pub headers: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Client {
            peer: crate::http::peer(&parts.extensions),
            headers: parts.headers.clone(),
        })
    }
}

impl Client {
    fn secure(&self, state: &AppState) -> bool {
        admin::cookie_secure(&state.config, self.peer, &self.headers)
    }
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// The form token of the sign-in and setup forms: the cookie's if the browser has one, else a
/// new one (set with the page).
fn form_token(client: &Client) -> (String, bool) {
    match admin::cookie_value(&client.headers, FORM_COOKIE) {
        Some(token) if token.len() == 43 => (token, false),
        _ => (admin::new_token(), true),
    }
}

fn with_form_cookie(
    state: &AppState,
    client: &Client,
    mut response: Response,
    token: &str,
) -> Response {
    let cookie = admin::cookie(
        FORM_COOKIE,
        token,
        &admin::base_path(&state.config),
        client.secure(state),
        Some(admin::SETUP_LINK_TTL_SECS),
    );
    set_cookie(&mut response, &cookie);
    response
}

fn frame(state: &AppState, title: &str) -> Layout {
    Layout {
        title: title.to_string(),
        base: admin::base_path(&state.config),
        ..Layout::default()
    }
}

async fn login_form(
    state: &AppState,
    client: &Client,
    status: StatusCode,
    username: &str,
    error: Option<String>,
) -> Response {
    let no_admin = match &state.store {
        Some(store) => matches!(with_deadline(store.admin_count()).await, Ok(0)),
        None => false,
    };
    let (token, new) = form_token(client);
    let mut layout = frame(state, "Sign in");
    layout.error = error;
    let response = render(
        status,
        LoginPage {
            layout,
            form_token: token.clone(),
            username: username.to_string(),
            no_admin,
            setup_log_text: admin::SETUP_LINK_LOG,
        },
    );
    if new {
        with_form_cookie(state, client, response, &token)
    } else {
        response
    }
}

pub(crate) async fn login_page(State(state): State<Arc<AppState>>, client: Client) -> Response {
    login_form(&state, &client, StatusCode::OK, "", None).await
}

/// The refusal (403) of a sign-in or setup form whose token is not its cookie's; `None` for a
/// good one.
fn bad_form_token(state: &AppState, client: &Client, form: &FormFields) -> Option<Response> {
    let cookie = admin::cookie_value(&client.headers, FORM_COOKIE).unwrap_or_default();
    if admin::csrf_matches(&cookie, field(form, "csrf")) {
        return None;
    }
    Some(message(
        state,
        StatusCode::FORBIDDEN,
        "Refused",
        "This form is out of date or did not come from this site. Reload the sign-in page and try again.",
        None,
    ))
}

/// An Argon2 hash of a random password at the cost new passwords get: what an unknown user
/// name's password is checked against, so that both cost the same.
fn dummy_hash() -> Option<&'static StoredHash> {
    static DUMMY: OnceLock<Option<StoredHash>> = OnceLock::new();
    DUMMY
        .get_or_init(|| StoredHash::dummy_default().ok())
        .as_ref()
}

/// Checks a password off the async threads, in one of the hash slots the handsets' logins
/// use; an unknown user (`None`) is checked against a dummy hash.
async fn password_matches(state: &AppState, stored: Option<String>, password: String) -> bool {
    let Ok(slot) = Arc::clone(&state.hash_slots).acquire_owned().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        match stored.as_deref().map(StoredHash::parse) {
            Some(Ok(hash)) => hash.matches(&password),
            Some(Err(_)) => false,
            None => {
                if let Some(dummy) = dummy_hash() {
                    let _ = dummy.matches(&password);
                }
                false
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// Hashes a new password off the async threads.
pub(crate) async fn hash_password(
    state: &AppState,
    password: String,
) -> Result<String, crate::Error> {
    let slot = Arc::clone(&state.hash_slots)
        .acquire_owned()
        .await
        .map_err(|e| crate::Error::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let _slot = slot;
        secret::hash(&password)
    })
    .await
    .map_err(|e| crate::Error::Hash(e.to_string()))?
}

/// Starts a session for `admin_id`: the cookie, and 303 to the handsets.
async fn start_session(
    state: &AppState,
    client: &Client,
    admin_id: i64,
    username: &str,
) -> Response {
    let Some(store) = &state.store else {
        return message(
            state,
            StatusCode::SERVICE_UNAVAILABLE,
            "No database",
            "The admin pages need the server's database.",
            None,
        );
    };
    let token = admin::new_token();
    let csrf = admin::new_token();
    let now = state.unix_now();
    if let Err(e) =
        with_deadline(store.add_session(&admin::token_hash(&token), admin_id, &csrf, now)).await
    {
        return database_error(state, e, None);
    }
    tracing::info!(admin = %username, "admin signed in");
    let base = admin::base_path(&state.config);
    let secure = client.secure(state);
    let mut response = see_other(&format!("{base}/handsets"));
    set_cookie(
        &mut response,
        &admin::cookie(
            SESSION_COOKIE,
            &token,
            &base,
            secure,
            Some(admin::MAX_SESSION_SECS),
        ),
    );
    set_cookie(
        &mut response,
        &admin::cookie(FORM_COOKIE, "", &base, secure, None),
    );
    response
}

pub(crate) async fn login(
    State(state): State<Arc<AppState>>,
    client: Client,
    Form(form): Form<FormFields>,
) -> Response {
    let Some(store) = state.store.clone() else {
        return message(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "No database",
            "The admin pages need the server's database.",
            None,
        );
    };
    if let Some(refusal) = bad_form_token(&state, &client, &form) {
        return refusal;
    }
    let username = field(&form, "username").trim().to_string();
    let password = field(&form, "password").to_string();
    let ip = crate::http::client_ip(&state, client.peer, &client.headers);
    let key = LoginKey::new(ip, &username);
    let locked = state.admin_throttle().check(&key, state.now()).err();
    if let Some(wait) = locked {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::warn!(%ip, "admin sign-in refused: too many failures");
        let mut response = login_form(
            &state,
            &client,
            StatusCode::TOO_MANY_REQUESTS,
            &username,
            Some(format!(
                "Too many failed sign-ins. Try again in {secs} seconds."
            )),
        )
        .await;
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let account = if username.is_empty() || password.len() > admin::MAX_PASSWORD_BYTES {
        None
    } else {
        match with_deadline(store.admin_by_name(&username)).await {
            Ok(account) => account,
            Err(e) => return database_error(&state, e, None),
        }
    };
    // Counted before hashing: a client that hangs up mid-hash has still made a guess.
    state.admin_throttle().record_failure(&key, state.now());
    let stored = account.as_ref().map(|a| a.password_hash.clone());
    if password_matches(&state, stored, password).await
        && let Some(account) = account
    {
        state.admin_throttle().record_success(&key);
        return start_session(&state, &client, account.id, &account.username).await;
    }
    tracing::warn!(%ip, "admin sign-in refused: wrong user name or password");
    login_form(
        &state,
        &client,
        StatusCode::UNAUTHORIZED,
        &username,
        Some("The user name or the password is not right.".into()),
    )
    .await
}

pub(crate) async fn logout(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    client: Client,
    Form(form): Form<FormFields>,
) -> Response {
    if let Some(refusal) = session.bad_csrf(&state, &form) {
        return refusal;
    }
    if let Err(e) = with_deadline(session.store.delete_session(&session.token_hash)).await {
        return database_error(&state, e, Some(&session));
    }
    tracing::info!(admin = %session.username, "admin signed out");
    let base = admin::base_path(&state.config);
    let mut response = see_other(&format!("{base}/login"));
    set_cookie(
        &mut response,
        &admin::cookie(SESSION_COOKIE, "", &base, client.secure(&state), None),
    );
    response
}

#[derive(Debug, serde::Deserialize)]
pub(crate) struct SetupQuery {
    #[serde(default)]
    token: String,
}

fn setup_link_refused(state: &AppState) -> Response {
    message(
        state,
        StatusCode::FORBIDDEN,
        "Setup link not valid",
        "This setup link was used already, has expired, or is not one this server made. \
         Run `offhook-server setup-link` for a new one, or sign in if an admin account exists.",
        None,
    )
}

pub(crate) async fn setup_page(
    State(state): State<Arc<AppState>>,
    client: Client,
    Query(query): Query<SetupQuery>,
) -> Response {
    let Some(store) = state.store.clone() else {
        return message(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "No database",
            "The admin pages need the server's database.",
            None,
        );
    };
    let hash = admin::token_hash(&query.token);
    match with_deadline(store.setup_token_valid(&hash, state.unix_now())).await {
        Ok(true) if !query.token.is_empty() => {}
        Ok(_) => return setup_link_refused(&state),
        Err(e) => return database_error(&state, e, None),
    }
    setup_form(&state, &client, StatusCode::OK, &query.token, "", None)
}

fn setup_form(
    state: &AppState,
    client: &Client,
    status: StatusCode,
    token: &str,
    username: &str,
    error: Option<String>,
) -> Response {
    let (form_token, new) = form_token(client);
    let mut layout = frame(state, "Create the admin account");
    layout.error = error;
    let response = render(
        status,
        SetupPage {
            layout,
            form_token: form_token.clone(),
            token: token.to_string(),
            username: username.to_string(),
            min_password: admin::MIN_PASSWORD_CHARS,
        },
    );
    if new {
        with_form_cookie(state, client, response, &form_token)
    } else {
        response
    }
}

pub(crate) async fn setup(
    State(state): State<Arc<AppState>>,
    client: Client,
    Form(form): Form<FormFields>,
) -> Response {
    let Some(store) = state.store.clone() else {
        return message(
            &state,
            StatusCode::SERVICE_UNAVAILABLE,
            "No database",
            "The admin pages need the server's database.",
            None,
        );
    };
    if let Some(refusal) = bad_form_token(&state, &client, &form) {
        return refusal;
    }
    let token = field(&form, "token");
    let token_hash = admin::token_hash(token);
    match with_deadline(store.setup_token_valid(&token_hash, state.unix_now())).await {
        Ok(true) if !token.is_empty() => {}
        Ok(_) => return setup_link_refused(&state),
        Err(e) => return database_error(&state, e, None),
    }
    let typed = field(&form, "username");
    let again = |problem: String| {
        setup_form(
            &state,
            &client,
            StatusCode::BAD_REQUEST,
            token,
            typed,
            Some(problem),
        )
    };
    let username = match admin::check_username(typed) {
        Ok(name) => name.to_string(),
        Err(problem) => return again(problem),
    };
    let password = field(&form, "password");
    if let Err(problem) = admin::check_password(password) {
        return again(problem);
    }
    if password != field(&form, "password2") {
        return again("The two passwords are not the same.".into());
    }
    let hash = match hash_password(&state, password.to_string()).await {
        Ok(hash) => hash,
        Err(e) => return database_error(&state, e, None),
    };
    let added = with_deadline(async {
        Ok(store
            .add_admin(&username, &hash, state.unix_now(), Some(&token_hash))
            .await)
    })
    .await;
    match added {
        Ok(Ok(id)) => {
            tracing::info!(admin = %username, "admin account created from the setup link");
            start_session(&state, &client, id, &username).await
        }
        Ok(Err(AddAdminError::Exists)) => again("That user name is taken.".into()),
        Ok(Err(AddAdminError::SetupLinkInvalid)) => setup_link_refused(&state),
        Ok(Err(AddAdminError::Store(e))) => database_error(&state, e, None),
        Err(e) => database_error(&state, e, None),
    }
}
