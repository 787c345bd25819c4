//! PStream frames: `{ "payload": {…}, "type": "…", "version": "1.6" }` over the WebSocket.
//!
//! Client frames are built exactly as `lib/twilio/pstream.ts` builds them (shapes asserted by
//! the SDK's `tests/pstream.js`). Server frames are parsed leniently, as the SDK reads them:
//! a missing payload is `{}`, unknown types are reported rather than fatal, and missing
//! fields become `None` so the Device can answer with the SDK's error (e.g. 31400 for an
//! invite without `callsid` or `sdp`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::duration;

/// The PStream version 2.x clients send (`pstream.ts PSTREAM_VERSION`).
///
/// The seed capture (SDK 1.12) shows `"version": "1.5"` on every client frame; the 2.x SDK
/// this library follows sends `"1.6"` with otherwise the same frames, so `1.6` it is.
pub const PSTREAM_VERSION: &str = "1.6";
/// The heartbeat frame: a single newline, echoed by the client.
pub const HEARTBEAT: &str = "\n";
/// Frames larger than this are refused unparsed (Twilio's are a few KiB; SDP is the largest).
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
/// `listen.reconnectTimeout` is capped at 30 s (`pstream.ts MAX_RECONNECT_TIMEOUT_ALLOWED`).
pub const MAX_RECONNECT_TIMEOUT_SECS: u64 = 30;
/// This library's name in `User-Agent` and `browserinfo`.
pub const CLIENT_NAME: &str = "twilio-voice-rs";

/// The operating system as a browser's `navigator.platform` names it (`Linux x86_64`,
/// `Linux aarch64`, `Linux arm`): what the device really runs on.
pub fn platform() -> String {
    format!("{} {}", os_name(), std::env::consts::ARCH)
}

fn os_name() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        "freebsd" => "FreeBSD",
        other => other,
    }
}

/// The `User-Agent` of the signaling upgrade request, also sent as `browserinfo.userAgent`:
/// `twilio-voice-rs/<version> (<os>; <arch>)`, then `<app>/<app version>` when given. It
/// names no browser and no `Mozilla/` token: nothing Twilio-side may take it for one.
pub fn user_agent(app_name: Option<&str>, app_version: Option<&str>) -> String {
    let mut ua = format!(
        "{CLIENT_NAME}/{} ({}; {})",
        env!("CARGO_PKG_VERSION"),
        os_name(),
        std::env::consts::ARCH
    );
    if let Some(app) = app_name.map(product_token).filter(|a| !a.is_empty()) {
        let version = app_version.map(product_token).filter(|v| !v.is_empty());
        ua.push(' ');
        ua.push_str(&app);
        if let Some(v) = version {
            ua.push('/');
            ua.push_str(&v);
        }
    }
    ua
}

/// An HTTP product token (RFC 9110 `token` characters only; anything else becomes `-`).
fn product_token(s: &str) -> String {
    s.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `browserinfo` in `listen`: the SDK's `getBrowserInfo()` field set exactly (`p`, `v`,
/// `browser.userAgent`, `browser.platform`, `plugin`). A device has no browser; it fills the
/// same fields with the truth about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrowserInfo {
    pub browser: BrowserDetails,
    pub p: String,
    pub plugin: String,
    pub v: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrowserDetails {
    pub platform: String,
    #[serde(rename = "userAgent")]
    pub user_agent: String,
}

impl BrowserInfo {
    /// This library's identity: `p: "browser"` and `plugin: "rtc"` as the SDK sends them
    /// (constants of the protocol, not a browser's name), `v` this library's version, the
    /// [`user_agent`] and the real OS and architecture as the [`platform`].
    pub fn device(app_name: Option<&str>, app_version: Option<&str>) -> Self {
        BrowserInfo {
            browser: BrowserDetails {
                platform: platform(),
                user_agent: user_agent(app_name, app_version),
            },
            p: "browser".into(),
            plugin: "rtc".into(),
            v: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// `reconnectTimeout` from `maxCallSignalingTimeoutMs` (`pstream.ts setToken`).
pub fn reconnect_timeout_secs(max_call_signaling_timeout_ms: u64) -> u64 {
    max_call_signaling_timeout_ms
        .div_ceil(1000)
        .min(MAX_RECONNECT_TIMEOUT_SECS)
}

/// A frame the client sends.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Listen {
        token: String,
        browserinfo: BrowserInfo,
        reconnect_timeout: u64,
    },
    Register {
        audio: bool,
    },
    /// A new outgoing call. `params` is the encoded custom-parameter string, empty for none.
    Invite {
        callsid: String,
        sdp: String,
        params: String,
    },
    /// An `invite` that resumes a call after a signaling drop (or a `connectToken`).
    Reconnect {
        callsid: String,
        sdp: String,
        reconnect: String,
    },
    Answer {
        callsid: String,
        sdp: String,
    },
    Dtmf {
        callsid: String,
        dtmf: String,
    },
    Hangup {
        callsid: String,
        message: Option<String>,
    },
    Reject {
        callsid: String,
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

impl ClientMessage {
    /// The frame's `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMessage::Listen { .. } => "listen",
            ClientMessage::Register { .. } => "register",
            ClientMessage::Invite { .. } | ClientMessage::Reconnect { .. } => "invite",
            ClientMessage::Answer { .. } => "answer",
            ClientMessage::Dtmf { .. } => "dtmf",
            ClientMessage::Hangup { .. } => "hangup",
            ClientMessage::Reject { .. } => "reject",
            ClientMessage::Reinvite { .. } => "reinvite",
            ClientMessage::Message { .. } => "message",
        }
    }

    /// Whether a send that fails is queued and retried after the next `listen` (everything
    /// but `listen` and `reinvite`, as in `pstream.ts`).
    pub fn is_queued_when_offline(&self) -> bool {
        !matches!(
            self,
            ClientMessage::Listen { .. } | ClientMessage::Reinvite { .. }
        )
    }

    /// The payload object.
    pub fn payload(&self) -> Value {
        match self {
            ClientMessage::Listen {
                token,
                browserinfo,
                reconnect_timeout,
            } => json!({
                "browserinfo": browserinfo, "reconnectTimeout": reconnect_timeout, "token": token,
            }),
            ClientMessage::Register { audio } => json!({ "media": { "audio": audio } }),
            ClientMessage::Invite {
                callsid,
                sdp,
                params,
            } => {
                let twilio = if params.is_empty() {
                    json!({})
                } else {
                    json!({ "params": params })
                };
                json!({ "callsid": callsid, "sdp": sdp, "twilio": twilio })
            }
            ClientMessage::Reconnect {
                callsid,
                sdp,
                reconnect,
            } => json!({
                "callsid": callsid, "reconnect": reconnect, "sdp": sdp, "twilio": {},
            }),
            ClientMessage::Answer { callsid, sdp } => json!({ "callsid": callsid, "sdp": sdp }),
            ClientMessage::Dtmf { callsid, dtmf } => json!({ "callsid": callsid, "dtmf": dtmf }),
            ClientMessage::Hangup { callsid, message } => match message {
                Some(m) => json!({ "callsid": callsid, "message": m }),
                None => json!({ "callsid": callsid }),
            },
            ClientMessage::Reject { callsid } => json!({ "callsid": callsid }),
            ClientMessage::Reinvite { callsid, sdp } => json!({ "callsid": callsid, "sdp": sdp }),
            ClientMessage::Message {
                callsid,
                content,
                contenttype,
                messagetype,
                voiceeventsid,
            } => json!({
                "callsid": callsid, "content": content, "contenttype": contenttype,
                "messagetype": messagetype, "voiceeventsid": voiceeventsid,
            }),
        }
    }

    /// The full frame as JSON text.
    pub fn to_frame(&self) -> String {
        json!({ "payload": self.payload(), "type": self.type_name(), "version": PSTREAM_VERSION })
            .to_string()
    }
}

/// An error object inside `error` and `hangup` frames.
#[derive(Debug, Clone, PartialEq)]
pub struct WireError {
    pub code: u32,
    pub message: String,
    /// How long to wait before reconnecting (2.18.0+), capped at
    /// [`duration::MAX_RETRY_AFTER`].
    pub retry_after: Option<Duration>,
}

/// `connected.token`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub identity: Option<String>,
    /// Time left on the token, as the server counts it (capped at
    /// [`duration::MAX_TOKEN_TTL`]).
    pub ttl: Option<Duration>,
}

/// `connected`: where the stream landed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Connected {
    pub region: Option<String>,
    pub gateway: Option<String>,
    /// One edge name, or the first of a list.
    pub edge: Option<String>,
    pub home: Option<String>,
    pub token: Option<TokenInfo>,
}

/// A frame the server sends, as the client understands it.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerMessage {
    Connected(Connected),
    Ready,
    Offline,
    Close,
    Error {
        error: Option<WireError>,
        callsid: Option<String>,
        voiceeventsid: Option<String>,
    },
    Invite {
        callsid: Option<String>,
        sdp: Option<String>,
        parameters: BTreeMap<String, String>,
        reconnect: Option<String>,
    },
    Ringing {
        callsid: Option<String>,
        sdp: Option<String>,
    },
    Answer {
        callsid: Option<String>,
        sdp: Option<String>,
        reconnect: Option<String>,
        edge: Option<String>,
    },
    Hangup {
        callsid: Option<String>,
        error: Option<WireError>,
    },
    Cancel {
        callsid: Option<String>,
    },
    Ack {
        acktype: Option<String>,
        callsid: Option<String>,
        voiceeventsid: Option<String>,
    },
    Message {
        callsid: Option<String>,
        content: Value,
        contenttype: Option<String>,
        messagetype: Option<String>,
        voiceeventsid: Option<String>,
    },
    /// A type this client does not act on (`presence`, `roster`, `candidate`, or new ones).
    Unknown {
        type_name: String,
    },
}

impl ServerMessage {
    /// `gateway` and `region` if this frame carries them (any frame may; the SDK remembers
    /// the last ones for Insights).
    pub fn type_name(&self) -> &str {
        match self {
            ServerMessage::Connected(_) => "connected",
            ServerMessage::Ready => "ready",
            ServerMessage::Offline => "offline",
            ServerMessage::Close => "close",
            ServerMessage::Error { .. } => "error",
            ServerMessage::Invite { .. } => "invite",
            ServerMessage::Ringing { .. } => "ringing",
            ServerMessage::Answer { .. } => "answer",
            ServerMessage::Hangup { .. } => "hangup",
            ServerMessage::Cancel { .. } => "cancel",
            ServerMessage::Ack { .. } => "ack",
            ServerMessage::Message { .. } => "message",
            ServerMessage::Unknown { type_name } => type_name,
        }
    }
}

/// One received text frame.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    Heartbeat,
    Message {
        message: ServerMessage,
        /// `payload.gateway` / `payload.region` when present on any frame.
        gateway: Option<String>,
        region: Option<String>,
    },
}

/// Why a received frame could not be used. The stream logs it and carries on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("frame is not JSON: {0}")]
    NotJson(String),
    #[error("frame is not a JSON object with a string \"type\"")]
    NoType,
}

fn text(payload: &Map<String, Value>, key: &str) -> Option<String> {
    match payload.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn wire_error(value: Option<&Value>) -> Option<WireError> {
    let obj = value?.as_object()?;
    let code = obj.get("code").and_then(|c| {
        c.as_u64()
            .or_else(|| c.as_str().and_then(|s| s.trim().parse().ok()))
    })?;
    Some(WireError {
        code: u32::try_from(code).ok()?,
        message: obj
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        retry_after: obj
            .get("retryAfter")
            .and_then(|v| duration::network_duration_json(v, duration::MAX_RETRY_AFTER))
            .filter(|d| !d.is_zero()),
    })
}

fn edge_value(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Array(list) => list.iter().find_map(|v| v.as_str().map(String::from)),
        _ => None,
    }
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(obj)) = value else {
        return BTreeMap::new();
    };
    obj.iter()
        .filter_map(|(k, v)| {
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Null => return None,
                other => other.to_string(),
            };
            Some((k.clone(), s))
        })
        .collect()
}

/// Parses one received text frame.
pub fn parse_server_frame(text_frame: &str) -> Result<ServerFrame, FrameError> {
    if text_frame.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(text_frame.len()));
    }
    if text_frame == HEARTBEAT {
        return Ok(ServerFrame::Heartbeat);
    }
    let value: Value =
        serde_json::from_str(text_frame).map_err(|e| FrameError::NotJson(e.to_string()))?;
    let Value::Object(mut obj) = value else {
        return Err(FrameError::NoType);
    };
    let Some(Value::String(type_name)) = obj.remove("type") else {
        return Err(FrameError::NoType);
    };
    let payload = match obj.remove("payload") {
        Some(Value::Object(p)) => p,
        _ => Map::new(),
    };
    let gateway = text(&payload, "gateway");
    let region = text(&payload, "region");
    let p = &payload;
    let message = match type_name.as_str() {
        "connected" => ServerMessage::Connected(Connected {
            region: region.clone(),
            gateway: gateway.clone(),
            edge: edge_value(p.get("edge")),
            home: text(p, "home"),
            token: p
                .get("token")
                .and_then(Value::as_object)
                .map(|t| TokenInfo {
                    identity: text(t, "identity"),
                    ttl: t
                        .get("ttl")
                        .and_then(|v| duration::network_duration_json(v, duration::MAX_TOKEN_TTL)),
                }),
        }),
        "ready" => ServerMessage::Ready,
        "offline" => ServerMessage::Offline,
        "close" => ServerMessage::Close,
        "error" => ServerMessage::Error {
            error: wire_error(p.get("error")),
            callsid: text(p, "callsid"),
            voiceeventsid: text(p, "voiceeventsid"),
        },
        "invite" => ServerMessage::Invite {
            callsid: text(p, "callsid"),
            sdp: text(p, "sdp"),
            parameters: string_map(p.get("parameters")),
            reconnect: text(p, "reconnect"),
        },
        "ringing" => ServerMessage::Ringing {
            callsid: text(p, "callsid"),
            sdp: text(p, "sdp"),
        },
        "answer" => ServerMessage::Answer {
            callsid: text(p, "callsid"),
            sdp: text(p, "sdp"),
            reconnect: text(p, "reconnect"),
            edge: edge_value(p.get("edge")),
        },
        "hangup" => ServerMessage::Hangup {
            callsid: text(p, "callsid"),
            error: wire_error(p.get("error")),
        },
        "cancel" => ServerMessage::Cancel {
            callsid: text(p, "callsid"),
        },
        "ack" => ServerMessage::Ack {
            acktype: text(p, "acktype"),
            callsid: text(p, "callsid"),
            voiceeventsid: text(p, "voiceeventsid"),
        },
        "message" => ServerMessage::Message {
            callsid: text(p, "callsid"),
            content: p.get("content").cloned().unwrap_or(Value::Null),
            contenttype: text(p, "contenttype"),
            messagetype: text(p, "messagetype"),
            voiceeventsid: text(p, "voiceeventsid"),
        },
        _ => ServerMessage::Unknown { type_name },
    };
    Ok(ServerFrame::Message {
        message,
        gateway,
        region,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(m: &ClientMessage) -> Value {
        serde_json::from_str(&m.to_frame()).unwrap()
    }

    /// The shapes asserted by twilio-voice.js `tests/pstream.js`.
    #[test]
    fn client_frames_match_pstream_tests() {
        let cases: Vec<(ClientMessage, Value)> = vec![
            (
                ClientMessage::Register { audio: true },
                json!({"media":{"audio":true}}),
            ),
            (
                ClientMessage::Invite {
                    callsid: "foo".into(),
                    sdp: "bar".into(),
                    params: String::new(),
                },
                json!({"callsid":"foo","sdp":"bar","twilio":{}}),
            ),
            (
                ClientMessage::Invite {
                    callsid: "foo".into(),
                    sdp: "bar".into(),
                    params: "baz=zee&foo=2".into(),
                },
                json!({"callsid":"foo","sdp":"bar","twilio":{"params":"baz=zee&foo=2"}}),
            ),
            (
                ClientMessage::Reconnect {
                    callsid: "foo".into(),
                    sdp: "bar".into(),
                    reconnect: "foobar-reconn-tok".into(),
                },
                json!({"callsid":"foo","sdp":"bar","reconnect":"foobar-reconn-tok","twilio":{}}),
            ),
            (
                ClientMessage::Answer {
                    callsid: "foo".into(),
                    sdp: "bar".into(),
                },
                json!({"callsid":"foo","sdp":"bar"}),
            ),
            (
                ClientMessage::Dtmf {
                    callsid: "foo".into(),
                    dtmf: "123".into(),
                },
                json!({"callsid":"foo","dtmf":"123"}),
            ),
            (
                ClientMessage::Hangup {
                    callsid: "foo".into(),
                    message: None,
                },
                json!({"callsid":"foo"}),
            ),
            (
                ClientMessage::Hangup {
                    callsid: "foo".into(),
                    message: Some("bar".into()),
                },
                json!({"callsid":"foo","message":"bar"}),
            ),
            (
                ClientMessage::Reject {
                    callsid: "foo".into(),
                },
                json!({"callsid":"foo"}),
            ),
            (
                ClientMessage::Reinvite {
                    callsid: "foo".into(),
                    sdp: "bar".into(),
                },
                json!({"callsid":"foo","sdp":"bar"}),
            ),
            (
                ClientMessage::Message {
                    callsid: "testcallsid".into(),
                    content: json!({"foo":"content"}),
                    contenttype: "application/json".into(),
                    messagetype: "user-defined-message".into(),
                    voiceeventsid: "testvoiceeventsid".into(),
                },
                json!({"callsid":"testcallsid","content":{"foo":"content"},"contenttype":"application/json","messagetype":"user-defined-message","voiceeventsid":"testvoiceeventsid"}),
            ),
        ];
        for (msg, payload) in cases {
            let f = frame(&msg);
            assert_eq!(f["payload"], payload, "{}", msg.type_name());
            assert_eq!(f["version"], "1.6");
            assert_eq!(f["type"], msg.type_name());
            assert_eq!(f.as_object().unwrap().len(), 3);
        }
    }

    #[test]
    fn listen_carries_token_browserinfo_and_reconnect_timeout() {
        let m = ClientMessage::Listen {
            token: "foo".into(),
            browserinfo: BrowserInfo::device(None, None),
            reconnect_timeout: 20,
        };
        let f = frame(&m);
        assert_eq!(f["type"], "listen");
        assert_eq!(f["payload"]["token"], "foo");
        assert_eq!(f["payload"]["reconnectTimeout"], 20);
        let bi = &f["payload"]["browserinfo"];
        assert_eq!(bi["p"], "browser");
        assert_eq!(bi["plugin"], "rtc");
        assert!(bi["v"].is_string());
        assert!(bi["browser"]["userAgent"].is_string());
        assert!(bi["browser"]["platform"].is_string());
        assert!(!m.is_queued_when_offline());
        assert!(
            !ClientMessage::Reinvite {
                callsid: "a".into(),
                sdp: "b".into()
            }
            .is_queued_when_offline()
        );
        assert!(
            ClientMessage::Hangup {
                callsid: "a".into(),
                message: None
            }
            .is_queued_when_offline()
        );
    }

    #[test]
    fn reconnect_timeout_table_from_pstream_tests() {
        for (ms, secs) in [(30000, 30), (10000, 10), (0, 0), (40000, 30), (1, 1)] {
            assert_eq!(reconnect_timeout_secs(ms), secs, "{ms}");
        }
    }

    #[test]
    fn parses_seed_frames() {
        let connected = r#"{"payload":{"region":"EU_IRELAND","gateway":"ec2-34-244-67-48.eu-west-1.compute.amazonaws.com"},"type":"connected","version":""}"#;
        let ServerFrame::Message {
            message: ServerMessage::Connected(c),
            gateway,
            region,
        } = parse_server_frame(connected).unwrap()
        else {
            panic!("not connected")
        };
        assert_eq!(c.region.as_deref(), Some("EU_IRELAND"));
        assert_eq!(region.as_deref(), Some("EU_IRELAND"));
        assert_eq!(
            gateway.as_deref(),
            Some("ec2-34-244-67-48.eu-west-1.compute.amazonaws.com")
        );
        assert!(c.token.is_none());

        let error = r#"{"payload":{"error":{"code":31202,"message":"JWT signature validation failed"}},"type":"error","version":""}"#;
        let ServerFrame::Message {
            message: ServerMessage::Error { error: Some(e), .. },
            ..
        } = parse_server_frame(error).unwrap()
        else {
            panic!("not error")
        };
        assert_eq!(
            (e.code, e.message.as_str()),
            (31202, "JWT signature validation failed")
        );

        assert_eq!(
            parse_server_frame(r#"{"payload":{},"type":"close","version":""}"#).unwrap(),
            ServerFrame::Message {
                message: ServerMessage::Close,
                gateway: None,
                region: None
            }
        );
        assert_eq!(parse_server_frame("\n").unwrap(), ServerFrame::Heartbeat);
    }

    #[test]
    fn connected_with_token_and_edge_list() {
        let f = r#"{"type":"connected","payload":{"region":"US_EAST_VIRGINIA","edge":["ashburn","umatilla"],"home":"us1","token":{"identity":"alice","ttl":600}}}"#;
        let ServerFrame::Message {
            message: ServerMessage::Connected(c),
            ..
        } = parse_server_frame(f).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.edge.as_deref(), Some("ashburn"));
        assert_eq!(c.home.as_deref(), Some("us1"));
        assert_eq!(
            c.token,
            Some(TokenInfo {
                identity: Some("alice".into()),
                ttl: Some(Duration::from_secs(600))
            })
        );
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        assert!(matches!(
            parse_server_frame("{nope"),
            Err(FrameError::NotJson(_))
        ));
        assert_eq!(parse_server_frame("[1,2]"), Err(FrameError::NoType));
        assert_eq!(parse_server_frame(r#"{"type":5}"#), Err(FrameError::NoType));
        let huge = format!(
            r#"{{"type":"x","payload":{{"a":"{}"}}}}"#,
            "a".repeat(MAX_FRAME_BYTES)
        );
        assert!(matches!(
            parse_server_frame(&huge),
            Err(FrameError::TooLarge(_))
        ));
        assert_eq!(
            parse_server_frame(r#"{"type":"presence"}"#).unwrap(),
            ServerFrame::Message {
                message: ServerMessage::Unknown {
                    type_name: "presence".into()
                },
                gateway: None,
                region: None
            }
        );
        // Missing required invite fields parse; the Device answers with 31400.
        let ServerFrame::Message {
            message: ServerMessage::Invite { callsid, sdp, .. },
            ..
        } = parse_server_frame(r#"{"type":"invite","payload":{"parameters":"not an object"}}"#)
            .unwrap()
        else {
            panic!()
        };
        assert_eq!((callsid, sdp), (None, None));
        // An error frame with a non-numeric code carries no error object.
        let ServerFrame::Message {
            message: ServerMessage::Error { error, .. },
            ..
        } = parse_server_frame(r#"{"type":"error","payload":{"error":{"code":"x"}}}"#).unwrap()
        else {
            panic!()
        };
        assert!(error.is_none());
    }

    #[test]
    fn retry_after_and_invite_parameters() {
        let f = r#"{"type":"error","payload":{"error":{"code":31206,"message":"Rate exceeded","retryAfter":30}}}"#;
        let ServerFrame::Message {
            message: ServerMessage::Error { error: Some(e), .. },
            ..
        } = parse_server_frame(f).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.retry_after, Some(Duration::from_secs(30)));
        let f = r#"{"type":"invite","payload":{"callsid":"CA1","sdp":"v=0","parameters":{"From":"+447381234567","To":"client:alice","Params":"name=x&touser=john","N":5}}}"#;
        let ServerFrame::Message {
            message: ServerMessage::Invite { parameters, .. },
            ..
        } = parse_server_frame(f).unwrap()
        else {
            panic!()
        };
        assert_eq!(parameters["From"], "+447381234567");
        assert_eq!(parameters["N"], "5");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse_server_frame(&s);
        }

        #[test]
        fn never_panics_on_json_shaped_input(t in "[a-z]{0,10}", k in "[a-z]{0,8}", v in "\\PC{0,20}") {
            let f = format!(r#"{{"type":"{t}","payload":{{"{k}":"{v}","error":{{"code":{}}}}}}}"#, v.len());
            let _ = parse_server_frame(&f);
        }
    }
}
