//! A typed client for the control API, for tests in this and other crates.

use std::time::{Duration, Instant};

use hyper::body::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::types::*;
use crate::config::Behaviour;
use crate::error::LabError;
use crate::http::HttpClient;

/// Talks to a lab's control API (`LabHandle::control()` or `Client::new(control_url)`).
#[derive(Clone)]
pub struct Client {
    base: String,
    http: HttpClient,
}

fn err(e: impl std::fmt::Display) -> LabError {
    LabError::Control(e.to_string())
}

impl Client {
    /// `base_url` is the `control` value of the start-up line, e.g. `http://127.0.0.1:4321`.
    pub fn new(base_url: &str) -> Self {
        Client {
            base: base_url.trim_end_matches('/').to_string(),
            http: HttpClient::new(),
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<T, LabError> {
        let url = format!("{}{path}", self.base);
        let (headers, bytes) = match body {
            Some(b) => (
                vec![("Content-Type", "application/json".to_string())],
                Bytes::from(b.to_string()),
            ),
            None => (Vec::new(), Bytes::new()),
        };
        let (status, body) = self.http.request(method, &url, &headers, bytes).await?;
        if !(200..300).contains(&status) {
            let reason = serde_json::from_slice::<ErrorBody>(&body)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned());
            return Err(LabError::Control(format!(
                "{method} {path}: HTTP {status}: {reason}"
            )));
        }
        serde_json::from_slice(&body).map_err(|e| err(format!("{method} {path}: bad JSON: {e}")))
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, LabError> {
        let body = serde_json::to_value(body).map_err(err)?;
        self.call("POST", path, Some(body)).await
    }

    async fn affected(&self, path: &str, body: Value) -> Result<usize, LabError> {
        let v: Value = self.call("POST", path, Some(body)).await?;
        Ok(v.get("affected").and_then(Value::as_u64).unwrap_or(0) as usize)
    }

    /// Facts about the lab: addresses, phone number, virtual numbers.
    pub async fn lab(&self) -> Result<Value, LabError> {
        self.call("GET", "/v1/lab", None).await
    }

    /// Places an inbound call from a virtual caller; returns its call SID.
    pub async fn start_inbound_call(&self, request: &StartCall) -> Result<String, LabError> {
        let started: StartedCall = self.post("/v1/calls", request).await?;
        Ok(started.call_sid)
    }

    /// Shorthand: a 440 Hz caller `from` calling `to`, giving up after `timeout_secs`.
    pub async fn call_from(
        &self,
        from: &str,
        to: &str,
        timeout_secs: u32,
    ) -> Result<String, LabError> {
        self.start_inbound_call(&StartCall {
            from: from.into(),
            to: to.into(),
            caller: Behaviour::Tone { hz: 440.0 },
            timeout_secs: Some(timeout_secs),
            params: Vec::new(),
        })
        .await
    }

    pub async fn calls(&self) -> Result<Vec<CallInfo>, LabError> {
        self.call("GET", "/v1/calls", None).await
    }

    /// A call by its SID or the SID of any of its legs.
    pub async fn get_call(&self, sid: &str) -> Result<CallInfo, LabError> {
        self.call("GET", &format!("/v1/calls/{sid}"), None).await
    }

    pub async fn hangup_call(&self, sid: &str) -> Result<(), LabError> {
        self.affected(&format!("/v1/calls/{sid}/hangup"), json!({}))
            .await
            .map(|_| ())
    }

    pub async fn hangup_leg(&self, sid: &str) -> Result<(), LabError> {
        self.affected(&format!("/v1/legs/{sid}/hangup"), json!({}))
            .await
            .map(|_| ())
    }

    /// Sends a `user-defined-message` to the client on `leg`; returns its `KX…` SID.
    pub async fn send_message(&self, leg: &str, content: Value) -> Result<String, LabError> {
        let body = SendMessage {
            content,
            content_type: "application/json".into(),
            message_type: "user-defined-message".into(),
        };
        let sent: SentMessage = self
            .post(&format!("/v1/legs/{leg}/messages"), &body)
            .await?;
        Ok(sent.voice_event_sid)
    }

    pub async fn connections(&self) -> Result<Vec<ConnectionInfo>, LabError> {
        self.call("GET", "/v1/connections", None).await
    }

    pub async fn webhooks(&self) -> Result<Vec<WebhookRecord>, LabError> {
        self.call("GET", "/v1/webhooks", None).await
    }

    /// Shifts the lab's clock for token checks (expire tokens without waiting).
    pub async fn set_clock_offset(&self, offset_secs: i64) -> Result<(), LabError> {
        self.affected("/v1/clock", json!({ "offset_secs": offset_secs }))
            .await
            .map(|_| ())
    }

    /// Closes the sockets of `identity` (with a `close` frame and WebSocket close, or by
    /// dropping TCP). Returns how many were closed.
    pub async fn fault_close_socket(
        &self,
        identity: &str,
        close_frame: bool,
    ) -> Result<usize, LabError> {
        self.affected(
            "/v1/faults/close-socket",
            json!({ "identity": identity, "close_frame": close_frame }),
        )
        .await
    }

    pub async fn fault_stop_heartbeats(&self, identity: &str) -> Result<usize, LabError> {
        self.affected(
            "/v1/faults/stop-heartbeats",
            json!({ "identity": identity }),
        )
        .await
    }

    pub async fn fault_resume_heartbeats(&self, identity: &str) -> Result<usize, LabError> {
        self.affected(
            "/v1/faults/resume-heartbeats",
            json!({ "identity": identity }),
        )
        .await
    }

    /// Drops every new TCP connection for `seconds`.
    pub async fn fault_refuse_connections(&self, seconds: f32) -> Result<(), LabError> {
        self.affected(
            "/v1/faults/refuse-connections",
            json!({ "seconds": seconds }),
        )
        .await
        .map(|_| ())
    }

    /// Answers the next `listen` or `invite` with `code`.
    pub async fn fault_next_error(&self, fault: &NextErrorFault) -> Result<(), LabError> {
        let body = serde_json::to_value(fault).map_err(err)?;
        self.affected("/v1/faults/next-error", body)
            .await
            .map(|_| ())
    }

    /// Refuses every `listen` as `fault` says until [`Client::fault_accept_listen`].
    pub async fn fault_refuse_listen(&self, fault: &RefuseListenFault) -> Result<(), LabError> {
        let body = serde_json::to_value(fault).map_err(err)?;
        self.affected("/v1/faults/refuse-listen", body)
            .await
            .map(|_| ())
    }

    /// The built-in `<Dial>` answers the caller at once, with no `ringing` (Twilio's
    /// `answerOnBridge="false"`: ringback is media), until [`Client::fault_ring_before_answer`].
    pub async fn fault_answer_without_ringing(&self) -> Result<(), LabError> {
        self.affected("/v1/faults/answer-without-ringing", json!({}))
            .await
            .map(|_| ())
    }

    /// The built-in `<Dial>` sends `ringing` before `answer` again (the default).
    pub async fn fault_ring_before_answer(&self) -> Result<(), LabError> {
        self.affected("/v1/faults/ring-before-answer", json!({}))
            .await
            .map(|_| ())
    }

    /// Accepts `listen` again after [`Client::fault_refuse_listen`].
    pub async fn fault_accept_listen(&self) -> Result<(), LabError> {
        self.affected("/v1/faults/accept-listen", json!({}))
            .await
            .map(|_| ())
    }

    /// What the Tokens resource (ICE servers) did.
    pub async fn ice_tokens(&self) -> Result<IceTokenStats, LabError> {
        self.call("GET", "/v1/ice-tokens", None).await
    }

    /// The Tokens resource answers `status` (Twilio's error JSON) until
    /// [`Client::fault_serve_ice_tokens`].
    pub async fn fault_fail_ice_tokens(&self, status: u16) -> Result<(), LabError> {
        self.affected("/v1/faults/fail-ice-tokens", json!({ "status": status }))
            .await
            .map(|_| ())
    }

    /// The Tokens resource hands out tokens again.
    pub async fn fault_serve_ice_tokens(&self) -> Result<(), LabError> {
        self.affected("/v1/faults/serve-ice-tokens", json!({}))
            .await
            .map(|_| ())
    }

    /// Stops a leg's media (both ways, STUN included) for `seconds`.
    pub async fn fault_stop_media(&self, leg: &str, seconds: f32) -> Result<(), LabError> {
        self.affected(
            &format!("/v1/legs/{leg}/stop-media"),
            json!({ "seconds": seconds }),
        )
        .await
        .map(|_| ())
    }

    /// Moves a leg's outgoing RTP to a new SSRC (new sequence numbers and RTP times too).
    pub async fn fault_switch_ssrc(&self, leg: &str) -> Result<(), LabError> {
        self.affected(&format!("/v1/legs/{leg}/switch-ssrc"), json!({}))
            .await
            .map(|_| ())
    }

    /// A virtual leg presses keys (`0-9`, `*`, `#`; `w` waits half a second), 300 ms apart:
    /// input for the `<Gather>`/`<Record>` its call runs, RFC 4733 to a bridged peer.
    pub async fn send_digits(&self, leg: &str, digits: &str) -> Result<(), LabError> {
        self.affected(
            &format!("/v1/legs/{leg}/digits"),
            json!({ "digits": digits }),
        )
        .await
        .map(|_| ())
    }

    /// Every recording `<Record>` made, oldest first (deleted ones too, marked `deleted`).
    pub async fn recordings(&self) -> Result<Vec<RecordingInfo>, LabError> {
        self.call("GET", "/v1/recordings", None).await
    }

    pub async fn recording(&self, sid: &str) -> Result<RecordingInfo, LabError> {
        self.call("GET", &format!("/v1/recordings/{sid}"), None)
            .await
    }

    /// Polls the recordings until `pred` holds for one of them (every 50 ms, up to `timeout`).
    pub async fn wait_for_recording(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&RecordingInfo) -> bool,
    ) -> Result<RecordingInfo, LabError> {
        let start = Instant::now();
        loop {
            if let Some(r) = self.recordings().await?.into_iter().find(|r| pred(r)) {
                return Ok(r);
            }
            if start.elapsed() > timeout {
                return Err(LabError::Control(format!(
                    "no recording matched within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls the calls until `pred` holds for one of them (every 50 ms, up to `timeout`).
    pub async fn wait_for_call(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&CallInfo) -> bool,
    ) -> Result<CallInfo, LabError> {
        let start = Instant::now();
        loop {
            if let Some(call) = self.calls().await?.into_iter().find(|c| pred(c)) {
                return Ok(call);
            }
            if start.elapsed() > timeout {
                return Err(LabError::Control(format!(
                    "no call matched within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls the connections until `pred` holds for one of them.
    pub async fn wait_for_connection(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&ConnectionInfo) -> bool,
    ) -> Result<ConnectionInfo, LabError> {
        let start = Instant::now();
        loop {
            if let Some(c) = self.connections().await?.into_iter().find(|c| pred(c)) {
                return Ok(c);
            }
            if start.elapsed() > timeout {
                return Err(LabError::Control(format!(
                    "no connection matched within {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
