//! Signaling frames: what clients send (parsed) and what the lab sends (built).
//!
//! Every frame is `{type, version, payload}` JSON text, except the heartbeat, a lone `"\n"`.
//! Parsing never panics: anything that is not a well-formed client message becomes a
//! [`FrameError`] that the session answers with an `error` frame.

use serde_json::{Map, Value, json};

/// Frames longer than this are refused before parsing (an SDP is a few KB, a call message
/// at most 10 KB of content).
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// The version string the lab writes, as Twilio does (capture: `"version": ""`).
pub const SERVER_VERSION: &str = "";

/// A message from a client (`@twilio/voice-sdk` or the Rust client).
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// `"\n"`: the echo of our heartbeat.
    Heartbeat,
    Listen {
        token: String,
        reconnect_timeout_secs: u64,
        browserinfo: Option<Value>,
    },
    Register {
        audio: bool,
    },
    /// A new outgoing call (`reconnect` absent) or a reconnect (`reconnect` present).
    Invite {
        callsid: String,
        sdp: String,
        params: String,
        reconnect: Option<String>,
    },
    Answer {
        callsid: String,
        sdp: String,
    },
    Reject {
        callsid: String,
    },
    Hangup {
        callsid: String,
        message: Option<String>,
    },
    Dtmf {
        callsid: String,
        digits: String,
    },
    Reinvite {
        callsid: String,
        sdp: String,
    },
    Message {
        callsid: String,
        content: Value,
        contenttype: String,
        messagetype: String,
        voiceeventsid: String,
    },
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("frame is not JSON: {0}")]
    NotJson(String),
    #[error("frame is not a JSON object with a string `type`")]
    NoType,
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    #[error("`{kind}` frame: {reason}")]
    BadPayload { kind: String, reason: String },
}

impl FrameError {
    /// The call the broken frame was about, when it can still be told.
    pub fn kind(&self) -> Option<&str> {
        match self {
            FrameError::BadPayload { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// Parses one text frame from a client.
pub fn parse_client_frame(text: &str) -> Result<ClientMessage, FrameError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(text.len()));
    }
    if text.trim().is_empty() && text.contains('\n') {
        return Ok(ClientMessage::Heartbeat);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| FrameError::NotJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(FrameError::NoType);
    };
    let Some(Value::String(kind)) = obj.get("type") else {
        return Err(FrameError::NoType);
    };
    let kind = kind.clone();
    // The SDK treats a missing payload as `{}`.
    let empty = Map::new();
    let payload = match obj.get("payload") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(bad(&kind, "payload is not an object")),
    };
    let p = Payload {
        kind: &kind,
        map: payload,
    };
    let msg = match kind.as_str() {
        "listen" => ClientMessage::Listen {
            token: p.string("token")?,
            reconnect_timeout_secs: p.reconnect_timeout(),
            browserinfo: payload.get("browserinfo").cloned(),
        },
        "register" => {
            let audio = payload
                .get("media")
                .and_then(|m| m.get("audio"))
                .and_then(Value::as_bool)
                .ok_or_else(|| bad(&kind, "media.audio must be a boolean"))?;
            ClientMessage::Register { audio }
        }
        "invite" => ClientMessage::Invite {
            callsid: p.string("callsid")?,
            sdp: p.string("sdp")?,
            params: payload
                .get("twilio")
                .and_then(|t| t.get("params"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            reconnect: p.optional_string("reconnect")?,
        },
        "answer" => ClientMessage::Answer {
            callsid: p.string("callsid")?,
            sdp: p.string("sdp")?,
        },
        "reject" => ClientMessage::Reject {
            callsid: p.string("callsid")?,
        },
        "hangup" => ClientMessage::Hangup {
            callsid: p.string("callsid")?,
            message: p.optional_string("message")?,
        },
        "dtmf" => ClientMessage::Dtmf {
            callsid: p.string("callsid")?,
            digits: p.string("dtmf")?,
        },
        "reinvite" => ClientMessage::Reinvite {
            callsid: p.string("callsid")?,
            sdp: p.string("sdp")?,
        },
        "message" => ClientMessage::Message {
            callsid: p.string("callsid")?,
            content: payload.get("content").cloned().unwrap_or(Value::Null),
            contenttype: p
                .optional_string("contenttype")?
                .unwrap_or_else(|| "application/json".to_string()),
            messagetype: p.optional_string("messagetype")?.unwrap_or_default(),
            voiceeventsid: p.string("voiceeventsid")?,
        },
        other => return Err(FrameError::UnknownType(other.to_string())),
    };
    Ok(msg)
}

fn bad(kind: &str, reason: &str) -> FrameError {
    FrameError::BadPayload {
        kind: kind.to_string(),
        reason: reason.to_string(),
    }
}

struct Payload<'a> {
    kind: &'a str,
    map: &'a Map<String, Value>,
}

impl Payload<'_> {
    fn string(&self, key: &str) -> Result<String, FrameError> {
        match self.map.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(bad(self.kind, &format!("`{key}` must be a string"))),
            None => Err(bad(self.kind, &format!("`{key}` is missing"))),
        }
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, FrameError> {
        match self.map.get(key) {
            Some(Value::String(s)) => Ok(Some(s.clone())),
            None | Some(Value::Null) => Ok(None),
            Some(_) => Err(bad(self.kind, &format!("`{key}` must be a string"))),
        }
    }

    /// `reconnectTimeout` in seconds, capped at 30 as the SDK does; junk counts as 0.
    fn reconnect_timeout(&self) -> u64 {
        self.map
            .get("reconnectTimeout")
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite() && *v > 0.0)
            .map(|v| v.ceil().min(30.0) as u64)
            .unwrap_or(0)
    }
}

/// Builds a server frame exactly as Twilio lays it out: `{"payload":…,"type":…,"version":""}`.
pub fn server_frame(kind: &str, payload: Value) -> String {
    // serde_json keeps insertion order only with `preserve_order`; write the envelope by hand.
    let payload = if payload.is_object() {
        payload
    } else {
        json!({})
    };
    format!(
        "{{\"payload\":{},\"type\":{},\"version\":{}}}",
        payload,
        Value::String(kind.to_string()),
        Value::String(SERVER_VERSION.to_string())
    )
}

/// `connected` as the seed capture shows it (lines 183–188): `region` then `gateway`, no
/// `edge`, `home` or `token`.
pub fn seed_connected_payload(region: &str, gateway: &str) -> Value {
    json!({ "region": region, "gateway": gateway })
}

/// The heartbeat text frame.
pub const HEARTBEAT: &str = "\n";

/// `error {error:{code,message}}` with optional call and voice-event SIDs.
pub fn error_frame(
    code: u32,
    message: &str,
    callsid: Option<&str>,
    voiceeventsid: Option<&str>,
) -> String {
    let mut payload = json!({ "error": { "code": code, "message": message } });
    if let Some(sid) = callsid {
        payload["callsid"] = json!(sid);
    }
    if let Some(sid) = voiceeventsid {
        payload["voiceeventsid"] = json!(sid);
    }
    server_frame("error", payload)
}

/// `hangup {callsid[, error]}`.
pub fn hangup_frame(callsid: &str, error: Option<(u32, &str)>) -> String {
    let mut payload = json!({ "callsid": callsid });
    if let Some((code, message)) = error {
        payload["error"] = json!({ "code": code, "message": message });
    }
    server_frame("hangup", payload)
}

/// Parses an SDK custom-parameter string (`k=v&k2=v2`, URI-encoded) into ordered pairs.
///
/// Decoding follows form encoding (`+` is a space), as Twilio's webhook shows
/// `phoneNumber=%2B1203…` arriving as `+1203…`.
pub fn parse_params(params: &str) -> Vec<(String, String)> {
    params
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Encodes pairs as the SDK does for `Params` (encodeURIComponent, joined with `&`).
pub fn encode_params(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", uri_component(k), uri_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// JavaScript's `encodeURIComponent`.
pub fn uri_component(s: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'!')
        .remove(b'~')
        .remove(b'*')
        .remove(b'\'')
        .remove(b'(')
        .remove(b')');
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_captured_listen_and_register() {
        let listen = r#"{"type":"listen","version":"1.5","payload":{"token":"abc","browserinfo":{"p":"browser","v":"1.12.1"}}}"#;
        assert!(matches!(
            parse_client_frame(listen),
            Ok(ClientMessage::Listen { ref token, reconnect_timeout_secs: 0, .. }) if token == "abc"
        ));
        let reg = r#"{"type":"register","version":"1.6","payload":{"media":{"audio":true}}}"#;
        assert_eq!(
            parse_client_frame(reg),
            Ok(ClientMessage::Register { audio: true })
        );
    }

    #[test]
    fn reconnect_timeout_is_capped_and_junk_is_zero() {
        let f = |v: &str| {
            let text =
                format!(r#"{{"type":"listen","payload":{{"token":"t","reconnectTimeout":{v}}}}}"#);
            match parse_client_frame(&text) {
                Ok(ClientMessage::Listen {
                    reconnect_timeout_secs,
                    ..
                }) => reconnect_timeout_secs,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(f("30"), 30);
        assert_eq!(f("40"), 30);
        assert_eq!(f("-5"), 0);
        assert_eq!(f("\"foo\""), 0);
    }

    #[test]
    fn invite_params_and_reconnect() {
        let text = r#"{"type":"invite","version":"1.6","payload":{"callsid":"TJSx","sdp":"v=0","twilio":{"params":"phoneNumber=%2B12031234567&a=b%20c"}}}"#;
        let Ok(ClientMessage::Invite {
            params, reconnect, ..
        }) = parse_client_frame(text)
        else {
            panic!()
        };
        assert_eq!(reconnect, None);
        assert_eq!(
            parse_params(&params),
            vec![
                ("phoneNumber".into(), "+12031234567".into()),
                ("a".into(), "b c".into())
            ]
        );
        let text = r#"{"type":"invite","payload":{"callsid":"CA1","sdp":"v=0","reconnect":"tok","twilio":{}}}"#;
        assert!(matches!(
            parse_client_frame(text),
            Ok(ClientMessage::Invite {
                reconnect: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn refuses_broken_frames() {
        assert!(matches!(
            parse_client_frame("{"),
            Err(FrameError::NotJson(_))
        ));
        assert_eq!(parse_client_frame("[1]"), Err(FrameError::NoType));
        assert_eq!(parse_client_frame(r#"{"type":5}"#), Err(FrameError::NoType));
        assert_eq!(
            parse_client_frame(r#"{"type":"presence","payload":{}}"#),
            Err(FrameError::UnknownType("presence".into()))
        );
        assert!(matches!(
            parse_client_frame(r#"{"type":"invite","payload":{"callsid":1}}"#),
            Err(FrameError::BadPayload { .. })
        ));
        let big = format!(
            r#"{{"type":"listen","payload":{{"token":"{}"}}}}"#,
            "a".repeat(MAX_FRAME_BYTES)
        );
        assert!(matches!(
            parse_client_frame(&big),
            Err(FrameError::TooLarge(_))
        ));
        assert_eq!(parse_client_frame("\n"), Ok(ClientMessage::Heartbeat));
    }

    #[test]
    fn server_frames_have_twilio_layout() {
        assert_eq!(
            server_frame("ready", json!({})),
            r#"{"payload":{},"type":"ready","version":""}"#
        );
        assert_eq!(
            error_frame(31202, "JWT signature validation failed", None, None),
            r#"{"payload":{"error":{"code":31202,"message":"JWT signature validation failed"}},"type":"error","version":""}"#
        );
        assert_eq!(
            hangup_frame("CA1", None),
            r#"{"payload":{"callsid":"CA1"},"type":"hangup","version":""}"#
        );
    }

    #[test]
    fn params_round_trip_like_the_sdk() {
        let pairs = vec![
            ("To".to_string(), "+1 (202) ü".to_string()),
            ("x".into(), "a&b=c".into()),
        ];
        let encoded = encode_params(&pairs);
        assert_eq!(encoded, "To=%2B1%20(202)%20%C3%BC&x=a%26b%3Dc");
        assert_eq!(parse_params(&encoded), pairs);
    }
}
