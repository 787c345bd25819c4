//! The handsets' pages:
//!
//! - `GET /admin/handsets` — the list with each handset's last status.
//! - `GET`/`POST /admin/new-handset` — add one; the answer shows its secret once, with a ready
//!   `offhook.toml` (text, download, QR code).
//! - `GET /admin/handsets/{id}` — its status and settings; `POST …/identity` (name,
//!   extension, numbers), `…/calls` (do-not-disturb, forwarding), `…/phone` (ring cadence,
//!   country, digit map, volumes, codecs, edges), `…/speed-dials`, `…/contacts`, `…/secret`
//!   (a new secret, shown once), `GET`/`POST …/remove`.
//!
//! Every change moves the database's change counter and wakes this instance's event streams:
//! the handset hears `event: config` within a second and fetches its configuration.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

use super::auth::Client;
use super::views::{
    Choice, HandsetPage, HandsetRow, HandsetsPage, NewHandsetForm, NewHandsetPage, RemovePage,
    SecretPage, duration, or_dash, time,
};
use super::{FormFields, SignedIn, database_error, field, fields, message, render, see_other};
use crate::admin;
use crate::forwarding::{self, ForwardingChange, SettingsChange};
use crate::handsets::{Handset, HandsetEntry};
use crate::http::AppState;
use crate::http::handset::STREAM_SEEN_INTERVAL;
use crate::http::hooks::with_deadline;
use crate::phone;
use crate::provisioning::{self, ProvisioningForm};
use crate::secret;
use crate::store::directory::{DirectoryError, HandsetEdit};
use crate::store::handsets::HandsetStatus;
use crate::store::{Store, UnixSeconds};

/// A handset whose last status report is at most this old is online.
pub const STATUS_FRESH_SECS: i64 = 150;
/// Empty contact rows offered below the stored ones.
const BLANK_CONTACT_ROWS: usize = 3;

/// What the list and the detail page know about every handset's state.
struct Seen {
    statuses: HashMap<String, HandsetStatus>,
    streams: HashMap<String, UnixSeconds>,
}

async fn seen(store: &Store) -> Result<Seen, crate::Error> {
    Ok(Seen {
        statuses: store.handset_statuses().await?.into_iter().collect(),
        streams: store.streams_seen().await?,
    })
}

fn row(state: &AppState, seen: &Seen, h: &Handset, now: UnixSeconds) -> HandsetRow {
    let status = seen.statuses.get(&h.id);
    let stream_at = seen.streams.get(&h.id).copied();
    let stream_fresh_secs = i64::try_from(STREAM_SEEN_INTERVAL.as_secs()).unwrap_or(i64::MAX) + 15;
    let online = state.push.has_stream(&h.id)
        || stream_at.is_some_and(|at| now - at <= stream_fresh_secs)
        || status.is_some_and(|s| now - s.last_seen <= STATUS_FRESH_SECS);
    let last_seen = [status.map(|s| s.last_seen), stream_at]
        .into_iter()
        .flatten()
        .max();
    let registration = match status {
        None => "no report yet".to_string(),
        Some(s) => match s.registration.as_deref() {
            Some("registered") => "registered".into(),
            Some("registering") => "registering".into(),
            Some("error") => "not registered (error)".into(),
            Some(_) => "not registered".into(),
            None if s.registered => "registered".into(),
            None => "not registered".into(),
        },
    };
    HandsetRow {
        id: h.id.clone(),
        name: h.display_name.clone(),
        extension: h.extension.clone(),
        numbers: numbers_shown(state, h),
        online,
        registered: status.is_some_and(|s| s.registered),
        registration,
        edge: status.and_then(|s| s.edge.clone()).unwrap_or_default(),
        last_seen: time(last_seen),
        firmware: or_dash(status.and_then(|s| s.firmware.as_deref())),
        address: or_dash(status.and_then(|s| s.address.as_deref())),
        last_error: or_dash(status.and_then(|s| s.last_error.as_deref())),
    }
}

fn numbers_shown(state: &AppState, h: &Handset) -> String {
    if h.numbers.is_empty() {
        format!("{} (main)", state.config.phone_number)
    } else {
        h.numbers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(crate) async fn list(State(state): State<Arc<AppState>>, session: SignedIn) -> Response {
    list_page(&state, &session, None).await
}

async fn list_page(state: &AppState, session: &SignedIn, notice: Option<String>) -> Response {
    let seen = match with_deadline(seen(&session.store)).await {
        Ok(seen) => seen,
        Err(e) => return database_error(state, e, Some(session)),
    };
    let now = state.unix_now();
    let handsets = state.handsets();
    let rows = handsets.iter().map(|h| row(state, &seen, h, now)).collect();
    let mut layout = session.layout(state, "Handsets", "handsets");
    layout.notice = notice;
    render(
        StatusCode::OK,
        HandsetsPage {
            layout,
            editable: state.handsets_in_store(),
            rows,
        },
    )
}

/// The server's address as a handset should use it: the public URL, else this request's.
fn default_server_url(state: &AppState, client: &Client) -> String {
    if let Some(url) = &state.config.public_url {
        return url.clone();
    }
    let host = client
        .headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        });
    match host {
        Some(host) => {
            let scheme = if admin::cookie_secure(&state.config, client.peer, &client.headers) {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{host}")
        }
        None => format!("http://{}", state.config.listen),
    }
}

fn not_editable(state: &AppState, session: &SignedIn) -> Response {
    message(
        state,
        StatusCode::CONFLICT,
        "Fixed handsets",
        "The program that runs this server fixes its handsets: they cannot be added, changed or removed here.",
        Some(session),
    )
}

pub(crate) async fn new_page(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    client: Client,
) -> Response {
    if !state.handsets_in_store() {
        return not_editable(&state, &session);
    }
    let form = NewHandsetForm {
        server_url: default_server_url(&state, &client),
        ..NewHandsetForm::default()
    };
    new_form(&state, &session, StatusCode::OK, form, None)
}

fn new_form(
    state: &AppState,
    session: &SignedIn,
    status: StatusCode,
    form: NewHandsetForm,
    error: Option<String>,
) -> Response {
    let mut layout = session.layout(state, "Add a handset", "handsets");
    layout.error = error;
    render(
        status,
        NewHandsetPage {
            layout,
            form,
            main_number: state.config.phone_number.to_string(),
        },
    )
}

/// Numbers typed one per line (or separated by commas), with the spaces, dashes, dots and
/// brackets people write in them taken out.
fn typed_numbers(text: &str) -> Vec<String> {
    text.split(['\n', '\r', ','])
        .map(|n| {
            n.chars()
                .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '(' | ')'))
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// A server URL a handset can use: http(s), a host, no user, query or fragment.
fn check_server_url(text: &str) -> Result<String, String> {
    let parsed = url::Url::parse(text.trim()).map_err(|_| {
        "The server address must be a full URL such as https://phone.example.com.".to_string()
    })?;
    let ok = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some()
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.query().is_none()
        && parsed.fragment().is_none();
    if !ok {
        return Err("The server address must be an http:// or https:// URL with a host and nothing after the path.".into());
    }
    Ok(parsed.as_str().trim_end_matches('/').to_string())
}

#[derive(Serialize)]
struct HandsetToml<'a> {
    server: ServerSection<'a>,
}

#[derive(Serialize)]
struct ServerSection<'a> {
    url: &'a str,
    device_id: &'a str,
    device_secret: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allow_insecure_http: Option<bool>,
}

/// The `offhook.toml` a new handset needs: where the server is and how to sign in; the rest
/// comes from the server.
pub(crate) fn handset_toml(server_url: &str, device_id: &str, secret: &str) -> String {
    let insecure = url::Url::parse(server_url).ok().is_some_and(|u| {
        u.scheme() == "http"
            && !matches!(u.host(), Some(url::Host::Domain("localhost")))
            && !matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
            && !matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
    });
    let body = toml::to_string(&HandsetToml {
        server: ServerSection {
            url: server_url,
            device_id,
            device_secret: secret,
            allow_insecure_http: insecure.then_some(true),
        },
    })
    .unwrap_or_default();
    format!(
        "# offhook handset configuration, made by offhook-server. Everything else (contacts,\n\
         # speed dials, ring cadence, ...) comes from the server.\n{body}"
    )
}

/// An SVG QR code of `text`, as a `data:` URL (`None` if it is too long for a QR code).
fn qr_data_url(text: &str) -> Option<String> {
    let code =
        qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::L).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build();
    Some(format!(
        "data:image/svg+xml;base64,{}",
        STANDARD.encode(svg.as_bytes())
    ))
}

fn secret_page(
    state: &AppState,
    session: &SignedIn,
    title: &str,
    handset: &Handset,
    secret: &str,
    server_url: &str,
) -> Response {
    let toml = handset_toml(server_url, &handset.id, secret);
    let mut layout = session.layout(state, title, "handsets");
    layout.notice = Some(format!(
        "{} has extension {}.",
        handset.display_name, handset.extension
    ));
    render(
        StatusCode::OK,
        SecretPage {
            layout,
            name: handset.display_name.clone(),
            device_id: handset.id.clone(),
            secret: secret.to_string(),
            toml_data_url: format!(
                "data:application/toml;base64,{}",
                STANDARD.encode(toml.as_bytes())
            ),
            qr_data_url: qr_data_url(&toml).unwrap_or_default(),
            toml,
        },
    )
}

async fn new_secret() -> Result<(String, String), crate::Error> {
    let secret = secret::generate();
    let plain = secret.clone();
    let hash = tokio::task::spawn_blocking(move || secret::hash(&plain))
        .await
        .map_err(|e| crate::Error::Hash(e.to_string()))??;
    Ok((secret, hash))
}

/// After a change to the handsets: this instance reloads them at once (the others within a
/// poll), and the handsets' streams look again.
async fn changed_handsets(state: &AppState) {
    if let Err(e) = state.reload_handsets().await {
        tracing::warn!(error = %e, "cannot reload the handsets");
    }
    state.push.notify();
}

pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Form(form): Form<FormFields>,
) -> Response {
    if let Some(refusal) = session.bad_csrf(&state, &form) {
        return refusal;
    }
    if !state.handsets_in_store() {
        return not_editable(&state, &session);
    }
    let typed = NewHandsetForm {
        name: field(&form, "name").to_string(),
        device_id: field(&form, "device_id").trim().to_string(),
        extension: field(&form, "extension").trim().to_string(),
        numbers: field(&form, "numbers").to_string(),
        server_url: field(&form, "server_url").to_string(),
    };
    let server_url = match check_server_url(&typed.server_url) {
        Ok(url) => url,
        Err(problem) => {
            return new_form(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                typed,
                Some(problem),
            );
        }
    };
    let (secret, hash) = match new_secret().await {
        Ok(made) => made,
        Err(e) => return database_error(&state, e, Some(&session)),
    };
    let entry = HandsetEntry {
        id: typed.device_id.clone(),
        identity: None,
        extension: typed.extension.clone(),
        display_name: typed.name.clone(),
        secret_hash: hash,
        numbers: typed_numbers(&typed.numbers),
    };
    let added =
        with_deadline(async { Ok(session.store.add_handset(entry, state.unix_now()).await) }).await;
    let handset = match added {
        Ok(Ok(handset)) => handset,
        Ok(Err(DirectoryError::Invalid(problem))) => {
            return new_form(
                &state,
                &session,
                StatusCode::BAD_REQUEST,
                typed,
                Some(problem),
            );
        }
        Ok(Err(DirectoryError::NotFound)) => {
            return new_form(&state, &session, StatusCode::BAD_REQUEST, typed, None);
        }
        Ok(Err(DirectoryError::Store(e))) => return database_error(&state, e, Some(&session)),
        Err(e) => return database_error(&state, e, Some(&session)),
    };
    tracing::info!(admin = %session.username, handset = %handset.id, "handset added");
    changed_handsets(&state).await;
    secret_page(
        &state,
        &session,
        &format!("Added {}", handset.display_name),
        &handset,
        &secret,
        &server_url,
    )
}

#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Done {
    #[serde(default)]
    done: String,
}

/// The notice after a change (fixed sentences: nothing from the request is shown).
fn done_notice(done: &str) -> Option<String> {
    Some(
        match done {
            "identity" => "Saved the name, extension and numbers.",
            "calls" => "Saved do-not-disturb and forwarding.",
            "phone" => "Saved the phone settings.",
            "speed-dials" => "Saved the speed dials.",
            "contacts" => "Saved the contacts.",
            "removed" => "Removed the handset.",
            _ => return None,
        }
        .to_string(),
    )
}

pub(crate) async fn detail(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Path(id): Path<String>,
    Query(done): Query<Done>,
) -> Response {
    detail_page(
        &state,
        &session,
        &id,
        StatusCode::OK,
        done_notice(&done.done),
        None,
    )
    .await
}

fn not_found(state: &AppState, session: &SignedIn) -> Response {
    message(
        state,
        StatusCode::NOT_FOUND,
        "No such handset",
        "There is no handset with that id (it may have been removed).",
        Some(session),
    )
}

/// The handset's page again, with what was wrong with the form (400).
async fn refused(
    state: &AppState,
    session: &SignedIn,
    id: &str,
    problem: impl Into<String>,
) -> Response {
    detail_page(
        state,
        session,
        id,
        StatusCode::BAD_REQUEST,
        None,
        Some(problem.into()),
    )
    .await
}

async fn detail_page(
    state: &AppState,
    session: &SignedIn,
    id: &str,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let store = &session.store;
    let loaded = with_deadline(async {
        let Some(handset) = state.handset_now(id).await? else {
            return Ok(None);
        };
        let config = crate::http::provisioning::handset_config(state, store, id).await?;
        Ok(Some((handset, config, seen(store).await?)))
    })
    .await;
    let (handset, config, seen) = match loaded {
        Ok(Some((handset, Some(config), seen))) => (handset, config, seen),
        Ok(_) => return not_found(state, session),
        Err(e) => return database_error(state, e, Some(session)),
    };
    let now = state.unix_now();
    let json = config.to_json(&state.config);
    let (_, etag) = provisioning::body_and_etag(&json);
    let settings = &config.settings;
    let p = &config.provisioning;
    let mode = forwarding::mode_name(settings.forward_when);
    let forward_modes = vec![
        Choice::new("off", "Never", mode),
        Choice::new("always", "Always", mode),
        Choice::new("busy", "When it is on a call", mode),
        Choice::new("no-answer", "When it is not answered", mode),
    ];
    let cadence = p.ring_cadence.as_deref().unwrap_or("");
    let mut cadences = vec![Choice::new("", "The handset's own", cadence)];
    cadences.extend(
        provisioning::RING_CADENCES
            .iter()
            .map(|c| Choice::new(c, c, cadence)),
    );
    let country = p.country.as_deref().unwrap_or("");
    let default_country = state.config.default_country;
    let mut countries = vec![Choice::new(
        "",
        &format!("The server's ({})", default_country.name),
        country,
    )];
    countries.extend(
        phone::supported_countries()
            .map(|c| Choice::new(c.iso, &format!("{} ({})", c.name, c.iso), country)),
    );
    let codecs = p
        .codec_preferences
        .as_ref()
        .map(|c| c.join(" "))
        .unwrap_or_default();
    let codec_choices = vec![
        Choice::new("", "The handset's own", &codecs),
        Choice::new("opus pcmu", "Opus, then PCMU", &codecs),
        Choice::new("pcmu opus", "PCMU, then Opus", &codecs),
        Choice::new("opus", "Opus only", &codecs),
        Choice::new("pcmu", "PCMU only", &codecs),
    ];
    let volume = |v: Option<u8>| v.map(|v| v.to_string()).unwrap_or_default();
    let speed_dials = (0..=9)
        .map(|k| {
            let key = k.to_string();
            let number = config.speed_dial.get(&key).cloned().unwrap_or_default();
            (key, number)
        })
        .collect();
    let mut contacts: Vec<(String, String)> = config
        .contacts
        .iter()
        .map(|c| (c.name.clone(), c.number.clone()))
        .collect();
    contacts.extend((0..BLANK_CONTACT_ROWS).map(|_| (String::new(), String::new())));
    let h = row(state, &seen, &handset, now);
    let uptime = seen
        .statuses
        .get(&handset.id)
        .and_then(|s| s.uptime_secs)
        .map_or_else(|| "—".to_string(), duration);
    let mut layout = session.layout(state, &handset.display_name, "handsets");
    layout.notice = notice;
    layout.error = error;
    render(
        status,
        HandsetPage {
            layout,
            editable: state.handsets_in_store(),
            uptime,
            main_number: state.config.phone_number.to_string(),
            numbers_text: handset
                .numbers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
            dnd: settings.do_not_disturb,
            forward_modes,
            forward_to: settings.forward_to.clone().unwrap_or_default(),
            after_secs: settings.no_answer_seconds,
            cadences,
            countries,
            default_country: default_country.iso.to_string(),
            digit_map: p.digit_map.clone().unwrap_or_default(),
            volume_ring: volume(p.volumes.ring),
            volume_earpiece: volume(p.volumes.earpiece),
            volume_speaker: volume(p.volumes.speaker),
            codec_choices,
            edges: p.edges.as_ref().map(|e| e.join(" ")).unwrap_or_default(),
            known_edges: provisioning::EDGES.join(", "),
            speed_dials,
            contacts,
            config_json: serde_json::to_string_pretty(&json).unwrap_or_default(),
            config_etag: etag,
            h,
        },
    )
}

/// Where a saved change goes back to: the handset's page, with the fixed notice.
fn saved(state: &AppState, id: &str, done: &str) -> Response {
    see_other(&format!(
        "{}/handsets/{id}?done={done}#{done}",
        admin::base_path(&state.config)
    ))
}

/// The handset a form changes, after the CSRF check; or the response to send.
async fn form_target(
    state: &AppState,
    session: &SignedIn,
    id: &str,
    form: &FormFields,
) -> Result<Handset, Response> {
    if let Some(refusal) = session.bad_csrf(state, form) {
        return Err(refusal);
    }
    match with_deadline(state.handset_now(id)).await {
        Ok(Some(handset)) => Ok(handset),
        Ok(None) => Err(not_found(state, session)),
        Err(e) => Err(database_error(state, e, Some(session))),
    }
}

pub(crate) async fn identity(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FormFields>,
) -> Response {
    let handset = match form_target(&state, &session, &id, &form).await {
        Ok(handset) => handset,
        Err(response) => return response,
    };
    if !state.handsets_in_store() {
        return not_editable(&state, &session);
    }
    let edit = HandsetEdit {
        display_name: field(&form, "name").to_string(),
        extension: field(&form, "extension").trim().to_string(),
        numbers: typed_numbers(field(&form, "numbers")),
    };
    let result =
        with_deadline(async { Ok(session.store.edit_handset(&handset.id, &edit).await) }).await;
    match result {
        Ok(Ok(_)) => {
            tracing::info!(admin = %session.username, handset = %handset.id, "handset edited");
            changed_handsets(&state).await;
            saved(&state, &handset.id, "identity")
        }
        Ok(Err(DirectoryError::Invalid(problem))) => {
            refused(&state, &session, &handset.id, problem).await
        }
        Ok(Err(DirectoryError::NotFound)) => not_found(&state, &session),
        Ok(Err(DirectoryError::Store(e))) | Err(crate::http::hooks::Unavailable::Failed(e)) => {
            database_error(&state, e, Some(&session))
        }
        Err(e) => database_error(&state, e, Some(&session)),
    }
}

pub(crate) async fn calls(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FormFields>,
) -> Response {
    let handset = match form_target(&state, &session, &id, &form).await {
        Ok(handset) => handset,
        Err(response) => return response,
    };
    let after_secs = field(&form, "after_secs").trim();
    let after_secs = if after_secs.is_empty() {
        None
    } else {
        match after_secs.parse::<u64>() {
            Ok(secs) => Some(secs),
            Err(_) => {
                return refused(
                    &state,
                    &session,
                    &handset.id,
                    "The ring time must be whole seconds from 5 to 600.",
                )
                .await;
            }
        }
    };
    let to = field(&form, "forward_to").trim();
    let change = SettingsChange {
        dnd: Some(field(&form, "dnd") == "on"),
        forwarding: Some(ForwardingChange {
            mode: Some(field(&form, "forward_mode").to_string()),
            to: Some((!to.is_empty()).then(|| to.to_string())),
            after_secs,
        }),
    };
    let store = &session.store;
    let current = match with_deadline(store.handset_settings(&handset.id)).await {
        Ok(current) => current,
        Err(e) => return database_error(&state, e, Some(&session)),
    };
    let next = match forwarding::apply(&state.config, &state.handsets(), &handset, &current, change)
    {
        Ok(next) => next,
        Err(refusal) => {
            return refused(&state, &session, &handset.id, refusal.message).await;
        }
    };
    if let Err(e) = with_deadline(store.set_handset_settings(&handset.id, &next)).await {
        return database_error(&state, e, Some(&session));
    }
    state.push.notify();
    tracing::info!(admin = %session.username, handset = %handset.id, dnd = next.do_not_disturb, "handset call settings changed");
    saved(&state, &handset.id, "calls")
}

pub(crate) async fn phone(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FormFields>,
) -> Response {
    let handset = match form_target(&state, &session, &id, &form).await {
        Ok(handset) => handset,
        Err(response) => return response,
    };
    let typed = ProvisioningForm {
        ring_cadence: field(&form, "ring_cadence").to_string(),
        digit_map: field(&form, "digit_map").to_string(),
        country: field(&form, "country").to_string(),
        volume_ring: field(&form, "volume_ring").to_string(),
        volume_earpiece: field(&form, "volume_earpiece").to_string(),
        volume_speaker: field(&form, "volume_speaker").to_string(),
        codecs: field(&form, "codecs")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        edges: field(&form, "edges").to_string(),
    };
    let checked = match provisioning::check_provisioning(&typed) {
        Ok(checked) => checked,
        Err(problem) => {
            return refused(&state, &session, &handset.id, problem).await;
        }
    };
    if let Err(e) = with_deadline(session.store.set_provisioning(&handset.id, &checked)).await {
        return database_error(&state, e, Some(&session));
    }
    state.push.notify();
    tracing::info!(admin = %session.username, handset = %handset.id, "handset phone settings changed");
    saved(&state, &handset.id, "phone")
}

pub(crate) async fn speed_dials(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FormFields>,
) -> Response {
    let handset = match form_target(&state, &session, &id, &form).await {
        Ok(handset) => handset,
        Err(response) => return response,
    };
    let rows: Vec<(String, String)> = (0..=9)
        .map(|k| (k.to_string(), field(&form, &format!("key{k}")).to_string()))
        .collect();
    let dials = match provisioning::check_speed_dials(&state.config, &state.handsets(), &rows) {
        Ok(dials) => dials,
        Err(problem) => {
            return refused(&state, &session, &handset.id, problem).await;
        }
    };
    if let Err(e) = with_deadline(session.store.set_speed_dials(&handset.id, &dials)).await {
        return database_error(&state, e, Some(&session));
    }
    state.push.notify();
    tracing::info!(admin = %session.username, handset = %handset.id, "handset speed dials changed");
    saved(&state, &handset.id, "speed-dials")
}

pub(crate) async fn contacts(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FormFields>,
) -> Response {
    let handset = match form_target(&state, &session, &id, &form).await {
        Ok(handset) => handset,
        Err(response) => return response,
    };
    let names = fields(&form, "contact_name");
    let numbers = fields(&form, "contact_number");
    if names.len() != numbers.len() {
        return refused(
            &state,
            &session,
            &handset.id,
            "Each contact needs a name and a number field.",
        )
        .await;
    }
    let rows: Vec<(String, String)> = names
        .iter()
        .zip(&numbers)
        .map(|(name, number)| (name.to_string(), number.to_string()))
        .collect();
    let list = match provisioning::check_contacts(&state.config, &state.handsets(), &rows) {
        Ok(list) => list,
        Err(problem) => {
            return refused(&state, &session, &handset.id, problem).await;
        }
    };
    if let Err(e) = with_deadline(session.store.set_contacts(&handset.id, &list)).await {
        return database_error(&state, e, Some(&session));
    }
    state.push.notify();
    tracing::info!(admin = %session.username, handset = %handset.id, contacts = list.len(), "handset contacts changed");
    saved(&state, &handset.id, "contacts")
}

pub(crate) async fn reset_secret(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    client: Client,
    Path(id): Path<String>,
    Form(form): Form<FormFields>,
) -> Response {
    let handset = match form_target(&state, &session, &id, &form).await {
        Ok(handset) => handset,
        Err(response) => return response,
    };
    if !state.handsets_in_store() {
        return not_editable(&state, &session);
    }
    let (secret, hash) = match new_secret().await {
        Ok(made) => made,
        Err(e) => return database_error(&state, e, Some(&session)),
    };
    match with_deadline(async { Ok(session.store.set_handset_secret(&handset.id, &hash).await) })
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(DirectoryError::NotFound)) => return not_found(&state, &session),
        Ok(Err(DirectoryError::Invalid(problem))) => {
            return database_error(&state, problem, Some(&session));
        }
        Ok(Err(DirectoryError::Store(e))) => return database_error(&state, e, Some(&session)),
        Err(e) => return database_error(&state, e, Some(&session)),
    }
    tracing::info!(admin = %session.username, handset = %handset.id, "handset secret replaced");
    changed_handsets(&state).await;
    secret_page(
        &state,
        &session,
        &format!("New secret for {}", handset.display_name),
        &handset,
        &secret,
        &default_server_url(&state, &client),
    )
}

pub(crate) async fn remove_page(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Path(id): Path<String>,
) -> Response {
    if !state.handsets_in_store() {
        return not_editable(&state, &session);
    }
    match with_deadline(state.handset_now(&id)).await {
        Ok(Some(handset)) => render(
            StatusCode::OK,
            RemovePage {
                layout: session.layout(
                    &state,
                    &format!("Remove {}", handset.display_name),
                    "handsets",
                ),
                name: handset.display_name,
                device_id: handset.id,
            },
        ),
        Ok(None) => not_found(&state, &session),
        Err(e) => database_error(&state, e, Some(&session)),
    }
}

pub(crate) async fn remove(
    State(state): State<Arc<AppState>>,
    session: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FormFields>,
) -> Response {
    let handset = match form_target(&state, &session, &id, &form).await {
        Ok(handset) => handset,
        Err(response) => return response,
    };
    if !state.handsets_in_store() {
        return not_editable(&state, &session);
    }
    let removed = with_deadline(async {
        Ok(session
            .store
            .remove_handset(&handset.id, state.unix_now())
            .await)
    })
    .await;
    match removed {
        Ok(Ok(())) | Ok(Err(DirectoryError::NotFound)) => {}
        Ok(Err(DirectoryError::Invalid(problem))) => {
            return database_error(&state, problem, Some(&session));
        }
        Ok(Err(DirectoryError::Store(e))) => return database_error(&state, e, Some(&session)),
        Err(e) => return database_error(&state, e, Some(&session)),
    }
    tracing::info!(admin = %session.username, handset = %handset.id, "handset removed");
    changed_handsets(&state).await;
    list_page(&state, &session, done_notice("removed")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handset_toml_is_what_the_firmware_reads() {
        let text = handset_toml("https://phone.example.com", "desk-1", "s3cret\"x");
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(
            parsed["server"]["url"].as_str(),
            Some("https://phone.example.com")
        );
        assert_eq!(parsed["server"]["device_id"].as_str(), Some("desk-1"));
        assert_eq!(
            parsed["server"]["device_secret"].as_str(),
            Some("s3cret\"x")
        );
        assert!(parsed["server"].get("allow_insecure_http").is_none());
        let lan = handset_toml("http://192.168.1.5:8080", "d", "s");
        let parsed: toml::Value = toml::from_str(&lan).unwrap();
        assert_eq!(
            parsed["server"]["allow_insecure_http"].as_bool(),
            Some(true)
        );
        let local = handset_toml("http://127.0.0.1:8080", "d", "s");
        assert!(!local.contains("allow_insecure_http"));
        let qr = qr_data_url(&text).unwrap();
        assert!(qr.starts_with("data:image/svg+xml;base64,"));
    }

    #[test]
    fn server_urls_and_numbers() {
        assert_eq!(
            check_server_url("https://x.example/").unwrap(),
            "https://x.example"
        );
        assert!(check_server_url("ftp://x").is_err());
        assert!(check_server_url("https://u:p@x").is_err());
        assert!(check_server_url("javascript:alert(1)").is_err());
        assert_eq!(
            typed_numbers("+1 (202) 555-0100\n+44,"),
            vec!["+12025550100", "+44"]
        );
    }
}
