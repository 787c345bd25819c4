//! The part of Twilio's REST API the lab serves, on the control server's address (so a
//! server under test uses `http://127.0.0.1:PORT` as its Twilio API base): the Recordings
//! resource, and the Tokens resource of the Network Traversal Service.
//!
//! - `GET /2010-04-01/Accounts/{AC}/Recordings/{RE}` and `….wav`: the audio, `audio/x-wav`,
//!   8 kHz mono 16-bit PCM. HTTP Basic auth only when the lab enforces media auth
//!   ([`crate::LabConfig::enforce_media_auth`]), as a Twilio account can.
//! - `GET ….json`: the resource; `DELETE …` or `….json`: 204, and the recording is gone.
//!   Both need HTTP Basic auth, `AccountSid:AuthToken` or `ApiKeySid:ApiKeySecret`.
//!
//! - `POST /2010-04-01/Accounts/{AC}/Tokens.json` (form body, optional `Ttl` in seconds,
//!   1 to 86400): 201 and a Token as Twilio shapes it — `account_sid`, `date_created`,
//!   `date_updated`, `ice_servers` (one entry per URL of [`crate::LabConfig::ice_servers`],
//!   each with `url` and `urls` as strings, and its `username` and `credential`), `username`
//!   and `password` (the first entry's), and `ttl` as a string (`Ttl`, else
//!   [`crate::LabConfig::ice_servers_ttl_secs`]). HTTP Basic auth as above. While the
//!   control API's `fail-ice-tokens` fault is on it answers that status instead (503 by
//!   default), with Twilio's error JSON.
//!
//! Errors are Twilio's JSON: 401 `{"code":20003,…}` without valid credentials, 404
//! `{"code":20404,…}` for a recording that does not exist (or no longer does), 400 for a `Ttl`
//! that is not whole seconds from 1 to 86400.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};

use super::server::{ControlState, ask_switch};
use crate::config::{Credentials, IceServer};
use crate::control::types::{IceTokenStats, RecordingInfo};
use crate::media::audio::{RATE, encode_wav};
use crate::switch::recordings::{duration_secs, rfc2822};
use crate::switch::{ControlReply, ControlRequest, recording_path};

pub(super) fn routes() -> Router<ControlState> {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{account}/Recordings/{file}",
            get(get_recording).delete(delete_recording),
        )
        .route(
            "/2010-04-01/Accounts/{account}/Tokens.json",
            post(create_token),
        )
}

/// The longest `Ttl` Twilio takes (a day).
const MAX_TOKEN_TTL_SECS: u64 = 86_400;

/// The Tokens resource: what it hands out, the fault that makes it fail, and what it did.
#[derive(Debug)]
pub struct IceTokens {
    servers: Vec<IceServer>,
    default_ttl_secs: u64,
    /// While set, every request is answered with this status.
    failing_with: Mutex<Option<u16>>,
    served: AtomicU64,
    failed: AtomicU64,
}

impl IceTokens {
    pub fn new(servers: Vec<IceServer>, default_ttl_secs: u64) -> IceTokens {
        IceTokens {
            servers,
            default_ttl_secs,
            failing_with: Mutex::new(None),
            served: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Answers every request with `status` from now on (`None`: hand out tokens again).
    pub fn fail_with(&self, status: Option<u16>) {
        *self.failing_with.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }

    fn failing_with(&self) -> Option<u16> {
        *self.failing_with.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stats(&self) -> IceTokenStats {
        IceTokenStats {
            served: self.served.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            failing_with: self.failing_with(),
        }
    }

    /// The Token resource, as Twilio's answer has it: one `ice_servers` entry per URL.
    fn resource(&self, account_sid: &str, ttl_secs: u64, unix_ms: u64) -> Value {
        let entries: Vec<Value> = self
            .servers
            .iter()
            .flat_map(|server| {
                server.urls.iter().map(move |url| {
                    let mut entry = json!({ "url": url, "urls": url });
                    if let Some(username) = &server.username {
                        entry["username"] = json!(username);
                    }
                    if let Some(credential) = &server.credential {
                        entry["credential"] = json!(credential);
                    }
                    entry
                })
            })
            .collect();
        let first = self.servers.iter().find(|s| s.username.is_some());
        json!({
            "account_sid": account_sid,
            "date_created": rfc2822(unix_ms),
            "date_updated": rfc2822(unix_ms),
            "ice_servers": entries,
            "password": first.and_then(|s| s.credential.clone()),
            "ttl": ttl_secs.to_string(),
            "username": first.and_then(|s| s.username.clone()),
        })
    }
}

/// `Ttl` from a form body: `Ok(None)` when absent, `Err` when not whole seconds in range.
fn ttl_param(body: &[u8]) -> Result<Option<u64>, ()> {
    match url::form_urlencoded::parse(body).find(|(k, _)| k == "Ttl") {
        None => Ok(None),
        Some((_, v)) => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|t| (1..=MAX_TOKEN_TTL_SECS).contains(t))
            .map(Some)
            .ok_or(()),
    }
}

async fn create_token(
    State(state): State<ControlState>,
    Path(account): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&headers, &state.credentials) {
        return unauthorized();
    }
    if account != state.credentials.account_sid {
        return not_found(uri.path());
    }
    let tokens = &state.ice_tokens;
    if let Some(status) = tokens.failing_with() {
        tokens.failed.fetch_add(1, Ordering::SeqCst);
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let reason = status.canonical_reason().unwrap_or("Error").to_string();
        return twilio_error(status, 20_000 + u32::from(status.as_u16()), reason);
    }
    let Ok(ttl) = ttl_param(&body) else {
        return twilio_error(
            StatusCode::BAD_REQUEST,
            20_001,
            format!("Ttl must be whole seconds from 1 to {MAX_TOKEN_TTL_SECS}"),
        );
    };
    let ttl = ttl.unwrap_or(tokens.default_ttl_secs);
    tokens.served.fetch_add(1, Ordering::SeqCst);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    (
        StatusCode::CREATED,
        Json(tokens.resource(&account, ttl, now_ms)),
    )
        .into_response()
}

/// What a request asks for, from the path's last segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Representation {
    Wav,
    Json,
    Mp3,
}

fn split_file(file: &str) -> (&str, Representation) {
    if let Some(sid) = file.strip_suffix(".json") {
        (sid, Representation::Json)
    } else if let Some(sid) = file.strip_suffix(".wav") {
        (sid, Representation::Wav)
    } else if let Some(sid) = file.strip_suffix(".mp3") {
        (sid, Representation::Mp3)
    } else {
        (file, Representation::Wav)
    }
}

fn twilio_error(status: StatusCode, code: u32, message: String) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

fn unauthorized() -> Response {
    let mut response = twilio_error(StatusCode::UNAUTHORIZED, 20003, "Authenticate".into());
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"Twilio API\""),
    );
    response
}

fn not_found(path: &str) -> Response {
    twilio_error(
        StatusCode::NOT_FOUND,
        20404,
        format!("The requested resource {path} was not found"),
    )
}

/// HTTP Basic with the account's auth token or its API key.
fn authorized(headers: &HeaderMap, creds: &Credentials) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((user, password)) = decoded.split_once(':') else {
        return false;
    };
    (user == creds.account_sid && password == creds.auth_token)
        || (user == creds.api_key_sid && password == creds.api_key_secret)
}

/// The Recording resource as Twilio's JSON shows it.
fn resource(info: &RecordingInfo) -> Value {
    let path = recording_path(&info.account_sid, &info.sid);
    json!({
        "account_sid": info.account_sid,
        "api_version": "2010-04-01",
        "call_sid": info.call_sid,
        "conference_sid": null,
        "date_created": rfc2822(info.created_unix_ms),
        "date_updated": rfc2822(info.created_unix_ms),
        "start_time": rfc2822(info.start_unix_ms),
        "duration": duration_secs(info.duration_ms).to_string(),
        "sid": info.sid,
        "price": null,
        "price_unit": "USD",
        "status": "completed",
        "channels": 1,
        "source": "RecordVerb",
        "error_code": null,
        "track": "inbound",
        "uri": format!("{path}.json"),
        "encryption_details": null,
        "subresource_uris": {
            "add_on_results": format!("{path}/AddOnResults.json"),
            "transcriptions": format!("{path}/Transcriptions.json"),
        },
        "media_url": info.url,
    })
}

async fn get_recording(
    State(state): State<ControlState>,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let (sid, representation) = split_file(&file);
    let needs_auth = representation == Representation::Json || state.enforce_media_auth;
    if needs_auth && !authorized(&headers, &state.credentials) {
        return unauthorized();
    }
    if account != state.credentials.account_sid || representation == Representation::Mp3 {
        // The lab serves WAV only.
        return not_found(uri.path());
    }
    let reply = match ask_switch(&state, ControlRequest::Recording(sid.to_string())).await {
        Ok(reply) => reply,
        Err(stopping) => return stopping,
    };
    let Ok(ControlReply::Recording {
        info,
        audio: Some(audio),
    }) = reply
    else {
        return not_found(uri.path());
    };
    match representation {
        Representation::Json => Json(resource(&info)).into_response(),
        Representation::Wav | Representation::Mp3 => (
            [(header::CONTENT_TYPE, "audio/x-wav")],
            Body::from(encode_wav(audio.samples(), RATE)),
        )
            .into_response(),
    }
}

async fn delete_recording(
    State(state): State<ControlState>,
    Path((account, file)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers, &state.credentials) {
        return unauthorized();
    }
    let (sid, representation) = split_file(&file);
    let media_file = file.contains('.') && representation != Representation::Json;
    if account != state.credentials.account_sid || media_file {
        return not_found(uri.path());
    }
    match ask_switch(&state, ControlRequest::DeleteRecording(sid.to_string())).await {
        Ok(Ok(_)) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(_)) => not_found(uri.path()),
        Err(stopping) => stopping,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {token}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn basic_auth_takes_the_auth_token_or_the_api_key() {
        let c = Credentials::generate();
        assert!(authorized(&basic(&c.account_sid, &c.auth_token), &c));
        assert!(authorized(&basic(&c.api_key_sid, &c.api_key_secret), &c));
        assert!(!authorized(&basic(&c.account_sid, &c.api_key_secret), &c));
        assert!(!authorized(&basic(&c.api_key_sid, &c.auth_token), &c));
        assert!(!authorized(&HeaderMap::new(), &c));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert!(!authorized(&h, &c));
        h.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert!(!authorized(&h, &c));
    }

    #[test]
    fn the_token_resource_has_twilios_shape() {
        let tokens = IceTokens::new(
            vec![
                IceServer {
                    urls: vec!["stun:127.0.0.1:3478".into()],
                    username: None,
                    credential: None,
                },
                IceServer {
                    urls: vec![
                        "turn:127.0.0.1:3478?transport=udp".into(),
                        "turn:127.0.0.1:3478?transport=tcp".into(),
                    ],
                    username: Some("u".into()),
                    credential: Some("p".into()),
                },
            ],
            600,
        );
        let r = tokens.resource("AC1", 600, 1_795_262_400_000);
        assert_eq!(r["ttl"], "600");
        assert_eq!(r["username"], "u");
        assert_eq!(r["password"], "p");
        assert_eq!(r["date_created"], "Sat, 21 Nov 2026 12:00:00 +0000");
        let entries = r["ice_servers"].as_array().unwrap();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0],
            json!({"url": "stun:127.0.0.1:3478", "urls": "stun:127.0.0.1:3478"})
        );
        assert_eq!(entries[2]["urls"], "turn:127.0.0.1:3478?transport=tcp");
        assert_eq!(entries[2]["credential"], "p");
        assert_eq!(ttl_param(b""), Ok(None));
        assert_eq!(ttl_param(b"Ttl=3600"), Ok(Some(3600)));
        assert_eq!(ttl_param(b"Other=1&Ttl=60"), Ok(Some(60)));
        for bad in [&b"Ttl=0"[..], b"Ttl=86401", b"Ttl=soon", b"Ttl="] {
            assert_eq!(ttl_param(bad), Err(()), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(split_file("RE1.json"), ("RE1", Representation::Json));
        assert_eq!(split_file("RE1.wav"), ("RE1", Representation::Wav));
        assert_eq!(split_file("RE1"), ("RE1", Representation::Wav));
        assert_eq!(split_file("RE1.mp3"), ("RE1", Representation::Mp3));
    }
}
