//! Provisioning the handsets, logged in as for their token (`token::authenticate`):
//!
//! - `GET /api/handset/config` — the handset's configuration ([`crate::provisioning`]) as
//!   `application/json` with a strong `ETag`; `If-None-Match` naming it → 304 with no body.
//! - `POST /api/handset/status` — `{"registration":"registered"|"unregistered"|
//!   "registering"|"error","edge":…|null,"firmware_version":"…","address":…|null,
//!   "last_error":…|null,"uptime_secs":N}` → 204; stored with the time it arrived (what
//!   `/admin` shows). At most [`STATUS_BODY_LIMIT`]; bad JSON or a field out of bounds → 400.
//!
//! A handset's credentials reach only its own configuration: the id comes from the login,
//! never from the request.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::handset::{bounded, handset_and_store, json_body};
use super::{AppState, api_error};
use crate::provisioning::{self, HandsetConfig};
use crate::store::Store;
use crate::store::handsets::HandsetStatus;

/// Largest status report.
pub const STATUS_BODY_LIMIT: usize = 4 * 1024;
/// Longest `edge`, `firmware_version` and `address`.
pub const MAX_STATUS_FIELD: usize = 64;
/// Longest `last_error`.
pub const MAX_LAST_ERROR: usize = 256;

/// A handset's whole configuration, read now; `None` if there is no such handset.
pub(crate) async fn handset_config(
    state: &AppState,
    store: &Store,
    device_id: &str,
) -> Result<Option<HandsetConfig>, crate::Error> {
    let Some(handset) = state.handset_now(device_id).await? else {
        return Ok(None);
    };
    Ok(Some(HandsetConfig {
        name: handset.display_name.clone(),
        extension: handset.extension.clone(),
        contacts: store.contacts(device_id).await?,
        speed_dial: store.speed_dials(device_id).await?,
        provisioning: store.provisioning(device_id).await?,
        settings: store.handset_settings(device_id).await?,
    }))
}

pub(crate) async fn config(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let if_none_match = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (handset, store, _) = match handset_and_store(&state, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let config = match bounded(handset_config(&state, &store, &handset.id)).await {
        Ok(Some(config)) => config,
        Ok(None) => {
            return super::handset::unavailable(
                "unknown_handset",
                "This handset is not configured.",
            );
        }
        Err(response) => return response,
    };
    let (body, etag) = provisioning::body_and_etag(&config.to_json(&state.config));
    let Ok(etag_value) = HeaderValue::from_str(&etag) else {
        return api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "The configuration could not be tagged.",
        );
    };
    // Revalidated every time: a handset must never act on a cached copy.
    let cache = HeaderValue::from_static("no-cache");
    if if_none_match.is_some_and(|v| provisioning::etag_matches(&v, &etag)) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag_value);
        response.headers_mut().insert(header::CACHE_CONTROL, cache);
        return response;
    }
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::ETAG, etag_value);
    headers.insert(header::CACHE_CONTROL, cache);
    response
}

/// A status report as the handset sends it (fields the server does not know are ignored, so
/// that a newer handset can say more).
#[derive(Debug, Deserialize)]
struct StatusReport {
    registration: String,
    #[serde(default)]
    edge: Option<String>,
    firmware_version: String,
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    last_error: Option<String>,
    uptime_secs: u64,
}

/// The report checked: a known registration state, and short printable fields.
fn check_report(report: StatusReport, now: i64) -> Result<HandsetStatus, String> {
    if !matches!(
        report.registration.as_str(),
        "registered" | "unregistered" | "registering" | "error"
    ) {
        return Err("registration must be registered, unregistered, registering or error".into());
    }
    let field = |name: &str, value: Option<String>, max: usize| -> Result<Option<String>, String> {
        match value {
            Some(v) if v.len() > max || v.chars().any(char::is_control) => Err(format!(
                "{name} must be at most {max} bytes of printable text"
            )),
            Some(v) if v.trim().is_empty() => Ok(None),
            other => Ok(other),
        }
    };
    let firmware = field(
        "firmware_version",
        Some(report.firmware_version),
        MAX_STATUS_FIELD,
    )?;
    Ok(HandsetStatus {
        last_seen: now,
        registered: report.registration == "registered",
        edge: field("edge", report.edge, MAX_STATUS_FIELD)?,
        address: field("address", report.address, MAX_STATUS_FIELD)?,
        firmware,
        last_error: field("last_error", report.last_error, MAX_LAST_ERROR)?,
        uptime_secs: Some(i64::try_from(report.uptime_secs).unwrap_or(i64::MAX)),
        registration: Some(report.registration),
    })
}

pub(crate) async fn status(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let headers = request.headers().clone();
    let (handset, store, body) = match handset_and_store(&state, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let body = match json_body(&state, &headers, body, STATUS_BODY_LIMIT, "A status report").await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let report: StatusReport = match serde_json::from_slice(&body) {
        Ok(report) => report,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                &format!("The body is not a status report: {e}."),
            );
        }
    };
    let status = match check_report(report, state.unix_now()) {
        Ok(status) => status,
        Err(problem) => return api_error(StatusCode::BAD_REQUEST, "invalid_status", &problem),
    };
    if let Err(response) = bounded(store.record_handset_status(&handset.id, &status)).await {
        return response;
    }
    tracing::debug!(handset = %handset.id, registration = ?status.registration, "status report");
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(json: &str) -> Result<HandsetStatus, String> {
        let r: StatusReport = serde_json::from_str(json).map_err(|e| e.to_string())?;
        check_report(r, 5)
    }

    #[test]
    fn reports_are_checked() {
        let ok = report(
            r#"{"registration":"registered","edge":"ashburn","firmware_version":"0.1.0",
                "address":"192.168.1.20","last_error":null,"uptime_secs":123,"future":1}"#,
        )
        .unwrap();
        assert!(ok.registered);
        assert_eq!(ok.edge.as_deref(), Some("ashburn"));
        assert_eq!(ok.uptime_secs, Some(123));
        assert_eq!(ok.last_seen, 5);
        assert!(report(r#"{"registration":"up","firmware_version":"1","uptime_secs":1}"#).is_err());
        assert!(report(r#"{"registration":"error","uptime_secs":1}"#).is_err());
        let long = format!(
            r#"{{"registration":"error","firmware_version":"1","uptime_secs":1,"last_error":"{}"}}"#,
            "x".repeat(MAX_LAST_ERROR + 1)
        );
        assert!(report(&long).is_err());
        assert!(
            report(r#"{"registration":"error","firmware_version":"1\r\nX: y","uptime_secs":1}"#)
                .is_err()
        );
    }
}
