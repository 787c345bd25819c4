//! Insights: call events and quality samples posted to Twilio's event gateway as the SDK
//! posts them (`lib/twilio/eventpublisher.ts`): `POST https://<host>/v4/EndpointEvents` and
//! `/v4/EndpointMetrics` with `X-Twilio-Token`, fire-and-forget. A failed post is logged and
//! never touches the call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::core::{CallCore, Engine};
use crate::model::{CallDirection, CallEvent, CallId, FeedbackIssue, RtcSample};
use crate::options::DeviceOptions;

/// Samples per metrics post (`call.ts METRICS_BATCH_SIZE`).
pub const METRICS_BATCH: usize = 10;
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// What Insights remembers of a call (the engine forgets a call as soon as it ends).
#[derive(Debug, Clone, Default)]
struct CallFacts {
    call_sid: Option<String>,
    temp_sid: String,
    direction: Option<CallDirection>,
    codec: Option<String>,
    samples: Vec<Value>,
}

pub struct Insights {
    enabled: bool,
    host: String,
    pinned: bool,
    token: String,
    tls: Arc<rustls::ClientConfig>,
    metadata: Value,
    dscp: bool,
    calls: HashMap<CallId, CallFacts>,
    gateway: Option<String>,
    region: Option<String>,
}

fn iso_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn iso_at(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(iso_now)
}

impl Insights {
    pub fn new(options: &DeviceOptions, token: &str, tls: Arc<rustls::ClientConfig>) -> Self {
        let mut metadata = serde_json::Map::new();
        if let Some(n) = &options.app_name {
            metadata.insert("app_name".into(), json!(n));
        }
        if let Some(v) = &options.app_version {
            metadata.insert("app_version".into(), json!(v));
        }
        Insights {
            enabled: options.publish_events,
            host: options
                .eventgw
                .clone()
                .unwrap_or_else(|| "eventgw.twilio.com".into()),
            pinned: options.eventgw_pinned,
            token: token.to_string(),
            tls,
            metadata: Value::Object(metadata),
            dscp: options.dscp,
            calls: HashMap::new(),
            gateway: None,
            region: None,
        }
    }

    pub fn set_token(&mut self, token: &str) {
        self.token = token.to_string();
    }

    /// The host for a `connected.home` (`eventgw.<home>.twilio.com`), unless pinned.
    pub fn set_home(&mut self, home: Option<&str>) {
        if !self.pinned {
            self.host = match home {
                Some(h) => format!("eventgw.{h}.twilio.com"),
                None => "eventgw.twilio.com".into(),
            };
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    fn facts(&mut self, id: CallId, engine: &Engine) -> &mut CallFacts {
        self.gateway = engine.gateway().map(String::from).or(self.gateway.take());
        self.region = engine.region().map(String::from).or(self.region.take());
        let facts = self.calls.entry(id).or_default();
        if let Some(core) = engine.call(id) {
            absorb(facts, core);
        }
        facts
    }

    fn payload(&self, facts: &CallFacts) -> serde_json::Map<String, Value> {
        let mut p = serde_json::Map::new();
        p.insert("aggressive_nomination".into(), json!(false));
        p.insert("browser_extension".into(), json!(false));
        p.insert("dscp".into(), json!(self.dscp));
        p.insert("ice_restart_enabled".into(), json!(true));
        p.insert("platform".into(), json!("WebRTC"));
        p.insert("sdk_version".into(), json!(env!("CARGO_PKG_VERSION")));
        if let Some(s) = &facts.call_sid {
            p.insert("call_sid".into(), json!(s));
        }
        if !facts.temp_sid.is_empty() {
            p.insert("temp_call_sid".into(), json!(facts.temp_sid));
        }
        if let Some(c) = &facts.codec {
            p.insert("audio_codec".into(), json!(c));
        }
        if let Some(d) = facts.direction {
            p.insert("direction".into(), json!(d.as_str()));
        }
        if let Some(g) = &self.gateway {
            p.insert("gateway".into(), json!(g));
        }
        if let Some(r) = &self.region {
            p.insert("region".into(), json!(r));
        }
        p
    }

    /// Posts the Insights event a call event stands for, and batches samples.
    pub fn call_event(&mut self, id: CallId, ev: &CallEvent, engine: &Engine) {
        if !self.enabled {
            return;
        }
        let facts = self.facts(id, engine).clone();
        let incoming = facts.direction == Some(CallDirection::Incoming);
        let (group, name, level, extra): (&str, String, &str, Option<Value>) = match ev {
            CallEvent::Accept => (
                "connection",
                if incoming {
                    "accepted-by-local"
                } else {
                    "accepted-by-remote"
                }
                .into(),
                "INFO",
                None,
            ),
            CallEvent::Ringing { has_early_media } => (
                "connection",
                "outgoing-ringing".into(),
                "INFO",
                Some(json!({ "hasEarlyMedia": has_early_media })),
            ),
            CallEvent::Cancel => ("connection", "cancel".into(), "INFO", None),
            CallEvent::Reject => ("connection", "rejected-by-local".into(), "INFO", None),
            CallEvent::Disconnect => {
                let by = if engine.was_ended_by_remote(id) {
                    "disconnected-by-remote"
                } else {
                    "disconnected-by-local"
                };
                ("connection", by.into(), "INFO", None)
            }
            CallEvent::Mute(m) => (
                "connection",
                if *m { "muted" } else { "unmuted" }.into(),
                "INFO",
                None,
            ),
            CallEvent::Reconnecting(_) => ("connection", "reconnecting".into(), "INFO", None),
            CallEvent::Reconnected => ("connection", "reconnected".into(), "INFO", None),
            CallEvent::Error(e) => (
                "connection",
                "error".into(),
                "ERROR",
                Some(json!({ "code": e.code, "message": e.message })),
            ),
            CallEvent::Warning { name, data } => {
                let group = if name.contains("audio") {
                    "audio-level-warning-raised"
                } else {
                    "network-quality-warning-raised"
                };
                let data = data.as_ref().map(
                    |d| json!({ "data": { "threshold": d.threshold_value, "values": d.values } }),
                );
                (group, name.clone(), "WARNING", data)
            }
            CallEvent::WarningCleared { name } => {
                let group = if name.contains("audio") {
                    "audio-level-warning-cleared"
                } else {
                    "network-quality-warning-cleared"
                };
                (group, name.clone(), "INFO", None)
            }
            CallEvent::MessageSent(m) | CallEvent::MessageReceived(m) => {
                let kind = if matches!(ev, CallEvent::MessageSent(_)) {
                    "sent"
                } else {
                    "received"
                };
                (
                    "call-message",
                    m.message_type.clone(),
                    "INFO",
                    Some(
                        json!({ "content_type": m.content_type, "event_type": kind, "voice_event_sid": m.voice_event_sid }),
                    ),
                )
            }
            CallEvent::Sample(s) => {
                self.add_sample(id, s, &facts);
                return;
            }
            CallEvent::Volume { .. } => return,
        };
        let mut payload = self.payload(&facts);
        if let Some(Value::Object(extra)) = extra {
            payload.extend(extra);
        }
        self.post_event(group, &name, level, Value::Object(payload));
    }

    fn add_sample(&mut self, id: CallId, s: &RtcSample, facts: &CallFacts) {
        let sample = json!({
            "timestamp": iso_at(s.timestamp_ms),
            "total_packets_received": s.total_packets_received,
            "total_packets_lost": s.total_packets_lost,
            "total_packets_sent": s.total_packets_sent,
            "total_bytes_received": s.total_bytes_received,
            "total_bytes_sent": s.total_bytes_sent,
            "packets_received": s.packets_received,
            "packets_lost": s.packets_lost,
            "packets_lost_fraction": (s.packets_lost_fraction * 100.0).round() / 100.0,
            "bytes_received": s.bytes_received,
            "bytes_sent": s.bytes_sent,
            "audio_codec": s.codec_name,
            "audio_level_in": s.audio_input_level,
            "audio_level_out": s.audio_output_level,
            "call_volume_input": (s.audio_input_level as f64 / 32767.0),
            "call_volume_output": (s.audio_output_level as f64 / 32767.0),
            "jitter": s.jitter.map(|j| j.round()),
            "rtt": s.rtt.map(|r| r.round()),
            "mos": s.mos.map(|m| (m * 100.0).round() / 100.0),
            "call_sid": facts.call_sid,
            "dscp": self.dscp,
            "sdk_version": env!("CARGO_PKG_VERSION"),
            "direction": facts.direction.map(|d| d.as_str()),
        });
        let batch = {
            let f = self.calls.entry(id).or_default();
            f.samples.push(sample);
            (f.samples.len() >= METRICS_BATCH).then(|| std::mem::take(&mut f.samples))
        };
        if let Some(batch) = batch {
            self.post_metrics(batch);
        }
    }

    /// The call is gone: post what is left of its samples.
    pub fn call_removed(&mut self, id: CallId) {
        if let Some(facts) = self.calls.remove(&id) {
            if self.enabled && !facts.samples.is_empty() {
                self.post_metrics(facts.samples);
            }
        }
    }

    /// `postFeedback`: `feedback/received` with the score and issue, or `received-none`.
    pub fn feedback(
        &mut self,
        core: &CallCore,
        engine: &Engine,
        score: Option<u8>,
        issue: Option<FeedbackIssue>,
    ) {
        if !self.enabled {
            return;
        }
        let mut facts = CallFacts::default();
        absorb(&mut facts, core);
        self.gateway = engine.gateway().map(String::from).or(self.gateway.take());
        let mut payload = self.payload(&facts);
        let name = match score {
            Some(s) => {
                payload.insert("quality_score".into(), json!(s));
                payload.insert("issue_name".into(), json!(issue.map(|i| i.as_str())));
                "received"
            }
            None => "received-none",
        };
        self.post_event("feedback", name, "INFO", Value::Object(payload));
    }

    fn envelope(&self, group: &str, name: &str, level: &str, payload: Value) -> Value {
        json!({
            "publisher": "twilio-js-sdk",
            "group": group,
            "name": name,
            "timestamp": iso_now(),
            "level": level,
            "payload_type": "application/json",
            "private": false,
            "payload": payload,
            "publisher_metadata": self.metadata,
        })
    }

    fn post_event(&self, group: &str, name: &str, level: &str, payload: Value) {
        let body = self.envelope(group, name, level, payload);
        self.spawn_post("/v4/EndpointEvents", body);
    }

    fn post_metrics(&self, samples: Vec<Value>) {
        let body = self.envelope(
            "quality-metrics-samples",
            "metrics-sample",
            "INFO",
            Value::Array(samples),
        );
        self.spawn_post("/v4/EndpointMetrics", body);
    }

    fn spawn_post(&self, path: &'static str, body: Value) {
        let host = self.host.clone();
        let token = self.token.clone();
        let tls = self.tls.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(
                POST_TIMEOUT,
                post(&host, path, &token, body.to_string(), tls),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(%host, error = %e, "Cannot connect to insights"),
                Err(_) => tracing::warn!(%host, "Cannot connect to insights: timed out"),
            }
        });
    }
}

fn absorb(facts: &mut CallFacts, core: &CallCore) {
    facts.call_sid = core.call_sid().map(String::from).or(facts.call_sid.take());
    if !core.temp_sid.is_empty() {
        facts.temp_sid = core.temp_sid.clone();
    }
    facts.direction = Some(core.direction);
    if let Some(c) = core.codec {
        facts.codec = Some(c.stats_name().to_string());
    }
}

/// One HTTPS POST with a JSON body.
async fn post(
    host: &str,
    path: &str,
    token: &str,
    body: String,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) if p.parse::<u16>().is_ok() => {
            (n.to_string(), p.parse::<u16>().unwrap_or(443))
        }
        _ => (host.to_string(), 443),
    };
    let tcp = tokio::net::TcpStream::connect((name.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    let server_name =
        rustls_pki_types::ServerName::try_from(name.clone()).map_err(|e| e.to_string())?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(server_name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let request = http::Request::post(path)
        .header(http::header::HOST, host)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("X-Twilio-Token", token)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    tracing::debug!(status = %response.status(), path, "insights post");
    Ok(())
}
