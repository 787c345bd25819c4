//! The part of Twilio's REST API the lab serves, on the control server's address (so a
//! server under test uses `http://127.0.0.1:PORT` as its Twilio API base): the Recordings
//! resource.
//!
//! - `GET /2010-04-01/Accounts/{AC}/Recordings/{RE}` and `….wav`: the audio, `audio/x-wav`,
//!   8 kHz mono 16-bit PCM. HTTP Basic auth only when the lab enforces media auth
//!   ([`crate::LabConfig::enforce_media_auth`]), as a Twilio account can.
//! - `GET ….json`: the resource; `DELETE …` or `….json`: 204, and the recording is gone.
//!   Both need HTTP Basic auth, `AccountSid:AuthToken` or `ApiKeySid:ApiKeySecret`.
//!
//! Errors are Twilio's JSON: 401 `{"code":20003,…}` without valid credentials, 404
//! `{"code":20404,…}` for a recording that does not exist (or no longer does).

use axum::body::Body;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{Value, json};

use super::server::{ControlState, ask_switch};
use crate::config::Credentials;
use crate::control::types::RecordingInfo;
use crate::media::audio::{RATE, encode_wav};
use crate::switch::recordings::{duration_secs, rfc2822};
use crate::switch::{ControlReply, ControlRequest, recording_path};

pub(super) fn routes() -> Router<ControlState> {
    Router::new().route(
        "/2010-04-01/Accounts/{account}/Recordings/{file}",
        get(get_recording).delete(delete_recording),
    )
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
    fn file_names() {
        assert_eq!(split_file("RE1.json"), ("RE1", Representation::Json));
        assert_eq!(split_file("RE1.wav"), ("RE1", Representation::Wav));
        assert_eq!(split_file("RE1"), ("RE1", Representation::Wav));
        assert_eq!(split_file("RE1.mp3"), ("RE1", Representation::Mp3));
    }
}
