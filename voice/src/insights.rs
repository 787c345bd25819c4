//! Insights: call events, the peer's WebRTC states and quality samples posted to Twilio's
//! event gateway as the SDK posts them: `POST https://<host>/v4/EndpointEvents` and
//! `/v4/EndpointMetrics` with `X-Twilio-Token`, fire-and-forget. A failed post is logged and
//! never touches the call.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use serde_json::{Value, json};

use crate::core::{CallCore, Engine, MediaEvent};
use crate::http_client;
use crate::model::{CallDirection, CallEvent, CallId, FeedbackIssue, PeerState, RtcSample};
use crate::options::DeviceOptions;
use crate::protocol::sid;

/// Samples per metrics post, as the SDK batches them.
pub const METRICS_BATCH: usize = 10;
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Ended calls remembered for the peer states their media reports after the engine let go.
const ENDED_KEPT: usize = 8;

/// What Insights remembers of a call (the engine forgets a call as soon as it ends).
#[derive(Debug, Clone)]
struct CallFacts {
    call_sid: Option<String>,
    /// The temporary call SID: the engine's for outgoing calls; the SDK makes one for
    /// incoming calls too, used only in these posts.
    temp_sid: String,
    direction: CallDirection,
    /// The call's codec: known from the first sample on, as the SDK knows it.
    codec: Option<String>,
    local_sdp: Option<String>,
    /// The last `volume` event, which samples carry as `call_volume_*`.
    volume: (f32, f32),
}

impl CallFacts {
    fn new(core: &CallCore) -> Self {
        let mut f = CallFacts {
            call_sid: None,
            temp_sid: sid::temp_call_sid(),
            direction: core.direction,
            codec: None,
            local_sdp: None,
            volume: (0.0, 0.0),
        };
        f.absorb(core);
        f
    }

    fn absorb(&mut self, core: &CallCore) {
        self.call_sid = core.call_sid().map(String::from).or(self.call_sid.take());
        if !core.temp_sid.is_empty() {
            self.temp_sid = core.temp_sid.clone();
        }
        self.direction = core.direction;
        if core.local_sdp.is_some() {
            self.local_sdp = core.local_sdp.clone();
        }
    }
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
    samples: HashMap<CallId, Vec<Value>>,
    ended: VecDeque<(CallId, CallFacts)>,
    gateway: Option<String>,
    region: Option<String>,
    /// Posts built and not yet sent: (path, body).
    queued: Vec<(&'static str, Value)>,
}

/// JavaScript's `Date.prototype.toISOString`: `2020-07-21T12:17:38.956Z`.
fn iso_at(ms: u64) -> String {
    let t = i128::from(ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(t) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => iso_now(),
    }
}

fn iso_now() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    iso_at(ms)
}

/// A number as `JSON.stringify` prints it: whole values without a fraction.
fn js_number(x: f64) -> Value {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

/// An `f32` by its shortest decimal form, not its binary expansion as an `f64`.
fn js_number32(x: f32) -> Value {
    js_number(x.to_string().parse::<f64>().unwrap_or(f64::from(x)))
}

/// The SDK's preferred codec: the first `a=rtpmap` of the local description and its
/// `a=fmtp` parameters (`""` for none).
fn preferred_codec(sdp: &str) -> (String, String) {
    let token = |s: &str| -> String { s.chars().take_while(|c| !c.is_whitespace()).collect() };
    let rtpmap = sdp.match_indices("a=rtpmap:").find_map(|(i, m)| {
        let rest = &sdp[i + m.len()..];
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        let name = token(rest[digits..].strip_prefix(' ')?);
        (digits > 0 && !name.is_empty()).then(|| (rest[..digits].to_string(), name))
    });
    let Some((pt, name)) = rtpmap else {
        return (String::new(), String::new());
    };
    let prefix = format!("a=fmtp:{pt} ");
    let params = sdp
        .match_indices(&prefix)
        .map(|(i, _)| token(&sdp[i + prefix.len()..]))
        .find(|p| !p.is_empty())
        .unwrap_or_default();
    (name, params)
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
            samples: HashMap::new(),
            ended: VecDeque::new(),
            gateway: None,
            region: None,
            queued: Vec::new(),
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

    /// The call's facts, refreshed from the engine while it holds the call; `None` for a
    /// call Insights never saw (the SDK posts nothing without a call).
    fn facts(&mut self, id: CallId, engine: &Engine) -> Option<CallFacts> {
        self.gateway = engine.gateway().map(String::from).or(self.gateway.take());
        // The signaling stream's region, as the server named it.
        self.region = engine
            .signaling_region()
            .map(String::from)
            .or(self.region.take());
        if let Some(core) = engine.call(id) {
            let facts = self.calls.entry(id).or_insert_with(|| CallFacts::new(core));
            facts.absorb(core);
            return Some(facts.clone());
        }
        self.calls
            .get(&id)
            .or_else(|| self.ended.iter().find(|(c, _)| *c == id).map(|(_, f)| f))
            .cloned()
    }

    /// The SDK's default payload of every event.
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
        p.insert("temp_call_sid".into(), json!(facts.temp_sid));
        if let Some(c) = &facts.codec {
            p.insert("audio_codec".into(), json!(c));
        }
        p.insert("direction".into(), json!(facts.direction.as_str()));
        if let Some(g) = &self.gateway {
            p.insert("gateway".into(), json!(g));
        }
        if let Some(r) = &self.region {
            p.insert("region".into(), json!(r));
        }
        p
    }

    fn queue_event(
        &mut self,
        facts: &CallFacts,
        group: &str,
        name: &str,
        level: &str,
        extra: Option<Value>,
    ) {
        let mut payload = self.payload(facts);
        if let Some(Value::Object(extra)) = extra {
            payload.extend(extra);
        }
        let body = self.envelope(group, name, level, Value::Object(payload));
        self.queued.push(("/v4/EndpointEvents", body));
    }

    /// A call the Device just made: `connection/incoming` or `connection/outgoing`, as the
    /// SDK's Call constructor posts them.
    pub fn call_created(&mut self, id: CallId, engine: &Engine) {
        self.queue_call_created(id, engine);
        self.send_queued();
    }

    fn queue_call_created(&mut self, id: CallId, engine: &Engine) {
        let Some(facts) = self.facts(id, engine) else {
            return;
        };
        match facts.direction {
            CallDirection::Incoming => {
                self.queue_event(&facts, "connection", "incoming", "INFO", None)
            }
            // No `preflight` (only a preflight test sets it) and no reconnect by CallSid.
            CallDirection::Outgoing => self.queue_event(
                &facts,
                "connection",
                "outgoing",
                "INFO",
                Some(json!({ "reconnect": false })),
            ),
        }
    }

    /// The peer's WebRTC states, at the levels the SDK posts them.
    pub fn media_event(&mut self, id: CallId, ev: &MediaEvent, engine: &Engine) {
        self.queue_media_event(id, ev, engine);
        self.send_queued();
    }

    fn queue_media_event(&mut self, id: CallId, ev: &MediaEvent, engine: &Engine) {
        let MediaEvent::PeerState(state) = ev else {
            return;
        };
        let Some(facts) = self.facts(id, engine) else {
            return;
        };
        let level = match state {
            PeerState::IceFailed => "ERROR",
            // ERROR only when DTLS failed too, which our media never reports.
            PeerState::Failed => "WARNING",
            _ => "DEBUG",
        };
        self.queue_event(&facts, state.group(), state.name(), level, None);
    }

    /// Posts the Insights events a call event stands for, and batches samples.
    pub fn call_event(&mut self, id: CallId, ev: &CallEvent, engine: &Engine) {
        self.queue_call_event(id, ev, engine);
        self.send_queued();
    }

    fn queue_call_event(&mut self, id: CallId, ev: &CallEvent, engine: &Engine) {
        let Some(facts) = self.facts(id, engine) else {
            return;
        };
        let incoming = facts.direction == CallDirection::Incoming;
        let (group, name, level, extra): (&str, String, &str, Option<Value>) = match ev {
            CallEvent::Accept => {
                // The SDK's Device posts the edge on `accept`; its Call then posts the answer
                // and the codec of the local description.
                let mut edge = serde_json::Map::new();
                if let Some(e) = engine.edge().or(engine.region()) {
                    edge.insert("edge".into(), json!(e));
                }
                // Only an edge the app chose; the default is what the SDK does with none.
                let selected = &engine.options().edge;
                if !selected.is_empty() && *selected != [crate::regions::DEFAULT_EDGE] {
                    edge.insert("selected_edge".into(), json!(selected));
                }
                self.queue_event(
                    &facts,
                    "settings",
                    "edge",
                    "INFO",
                    Some(Value::Object(edge)),
                );
                let answered = if incoming {
                    "accepted-by-local"
                } else {
                    "accepted-by-remote"
                };
                self.queue_event(&facts, "connection", answered, "INFO", None);
                let (codec, params) = preferred_codec(facts.local_sdp.as_deref().unwrap_or(""));
                (
                    "settings",
                    "codec".into(),
                    "INFO",
                    Some(json!({ "codec_params": params, "selected_codec": codec })),
                )
            }
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
                self.add_sample(id, s, facts);
                return;
            }
            CallEvent::Volume { input, output } => {
                if let Some(f) = self.calls.get_mut(&id) {
                    f.volume = (*input, *output);
                }
                return;
            }
        };
        self.queue_event(&facts, group, &name, level, extra);
    }

    /// One sample as the SDK formats it, with the call's fields.
    fn sample_json(&self, s: &RtcSample, facts: &CallFacts) -> Value {
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        json!({
            "timestamp": iso_at(s.timestamp_ms),
            "total_packets_received": s.total_packets_received,
            "total_packets_lost": s.total_packets_lost,
            "total_packets_sent": s.total_packets_sent,
            "total_bytes_received": s.total_bytes_received,
            "total_bytes_sent": s.total_bytes_sent,
            "packets_received": s.packets_received,
            "packets_lost": s.packets_lost,
            "packets_lost_fraction": js_number(round2(s.packets_lost_fraction)),
            "bytes_received": s.bytes_received,
            "bytes_sent": s.bytes_sent,
            "audio_codec": s.codec_name,
            "audio_level_in": s.audio_input_level,
            "audio_level_out": s.audio_output_level,
            "call_volume_input": js_number32(facts.volume.0),
            "call_volume_output": js_number32(facts.volume.1),
            "jitter": s.jitter.map(|j| js_number(j.round())),
            "rtt": s.rtt.map(|r| js_number(r.round())),
            "mos": s.mos.map(|m| js_number(round2(m))),
            "call_sid": facts.call_sid,
            "dscp": self.dscp,
            "sdk_version": env!("CARGO_PKG_VERSION"),
            "direction": facts.direction.as_str(),
        })
    }

    fn add_sample(&mut self, id: CallId, s: &RtcSample, facts: CallFacts) {
        if let Some(f) = self.calls.get_mut(&id) {
            f.codec = Some(s.codec_name.clone());
        }
        let sample = self.sample_json(s, &facts);
        let batch = {
            let samples = self.samples.entry(id).or_default();
            samples.push(sample);
            (samples.len() >= METRICS_BATCH).then(|| std::mem::take(samples))
        };
        if let Some(batch) = batch {
            self.queue_metrics(batch);
        }
    }

    /// The call is gone: post what is left of its samples. Its facts stay a while for the
    /// states its media reports on closing.
    pub fn call_removed(&mut self, id: CallId) {
        self.queue_call_removed(id);
        self.send_queued();
    }

    fn queue_call_removed(&mut self, id: CallId) {
        if let Some(samples) = self.samples.remove(&id)
            && !samples.is_empty()
        {
            self.queue_metrics(samples);
        }
        if let Some(facts) = self.calls.remove(&id) {
            self.ended.push_back((id, facts));
            while self.ended.len() > ENDED_KEPT {
                self.ended.pop_front();
            }
        }
    }

    /// `postFeedback`: `feedback/received` with the score and issue, or `received-none`.
    /// Posted even with `publish_events` off, as the SDK forces it.
    pub fn feedback(
        &mut self,
        id: CallId,
        engine: &Engine,
        score: Option<u8>,
        issue: Option<FeedbackIssue>,
    ) {
        let Some(facts) = self.facts(id, engine) else {
            return;
        };
        let (name, extra) = match score {
            Some(s) => {
                let mut extra = json!({ "quality_score": s });
                if let Some(i) = issue {
                    extra["issue_name"] = json!(i.as_str());
                }
                ("received", Some(extra))
            }
            None => ("received-none", None),
        };
        self.queue_event(&facts, "feedback", name, "INFO", extra);
        self.spawn_queued();
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

    fn queue_metrics(&mut self, samples: Vec<Value>) {
        let body = self.envelope(
            "quality-metrics-samples",
            "metrics-sample",
            "INFO",
            Value::Array(samples),
        );
        self.queued.push(("/v4/EndpointMetrics", body));
    }

    /// Sends what was queued, unless publishing is off.
    fn send_queued(&mut self) {
        if self.enabled {
            self.spawn_queued();
        } else {
            self.queued.clear();
        }
    }

    fn spawn_queued(&mut self) {
        for (path, body) in std::mem::take(&mut self.queued) {
            self.spawn_post(path, body);
        }
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

/// One HTTPS POST with a JSON body to the event gateway (`host` may carry a port).
async fn post(
    host: &str,
    path: &str,
    token: &str,
    body: String,
    tls: Arc<rustls::ClientConfig>,
) -> Result<(), http_client::HttpError> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => match p.parse::<u16>() {
            Ok(port) => (n, port),
            Err(_) => (host, 443),
        },
        None => (host, 443),
    };
    let token = http::HeaderValue::from_str(token)
        .map_err(|e| http_client::HttpError::Request(e.into()))?;
    let request = http_client::Request {
        method: http::Method::POST,
        scheme: http_client::Scheme::Https,
        host: name,
        port,
        path,
        headers: vec![
            (
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            ),
            (http::HeaderName::from_static("x-twilio-token"), token),
        ],
        body: Bytes::from(body),
    };
    let response = http_client::send(&tls, request, MAX_ANSWER).await?;
    tracing::debug!(status = response.status, path, "insights post");
    Ok(())
}

/// The most of the gateway's answer read (it is not used).
const MAX_ANSWER: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::core::{MediaRequest, Output};
    use crate::model::{Codec, DeviceEvent};
    use crate::quality::RawStats;
    use crate::signaling::SocketCommand;

    const SEED: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/seeds/000_d74093c7acc83100.txt"
    );

    /// The JSON body of the captured post on `line` (1-based), checked to be `group/name`.
    fn seed_post(line: usize, group: &str, name: &str) -> Value {
        let text = std::fs::read_to_string(SEED).unwrap_or_else(|e| panic!("{SEED}: {e}"));
        let raw = text.lines().nth(line - 1).expect("the seed has the line");
        let body = raw
            .trim()
            .strip_prefix("--data-binary '")
            .and_then(|r| r.trim_end_matches(" \\").strip_suffix('\''))
            .unwrap_or_else(|| panic!("line {line} is not a posted body: {raw}"));
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (v["group"].as_str(), v["name"].as_str()),
            (Some(group), Some(name))
        );
        v
    }

    /// Each key with the JSON type of its value.
    fn shape(v: &Value) -> BTreeMap<String, &'static str> {
        let kind = |v: &Value| match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        v.as_object()
            .expect("an object")
            .iter()
            .map(|(k, v)| (k.clone(), kind(v)))
            .collect()
    }

    /// `Date.prototype.toISOString`'s shape: `dddd-dd-ddTdd:dd:dd.dddZ`.
    fn is_js_iso(s: &str) -> bool {
        let pattern = b"dddd-dd-ddTdd:dd:dd.dddZ";
        s.len() == pattern.len()
            && s.bytes().zip(pattern.iter()).all(|(c, p)| {
                if *p == b'd' {
                    c.is_ascii_digit()
                } else {
                    c == *p
                }
            })
    }

    /// An engine with a socket that got `connected` from `EU_IRELAND`, and an Insights
    /// that sees everything it outputs, as the driver shows it.
    struct Rig {
        engine: Engine,
        insights: Insights,
        now: Instant,
        socket: Option<crate::signaling::SocketId>,
        media: Vec<(CallId, MediaRequest)>,
        incoming: Vec<CallId>,
    }

    impl Rig {
        fn new() -> Rig {
            let options = DeviceOptions {
                random_seed: Some(7),
                chunderw: Some(vec!["lab:1".into()]),
                publish_events: true,
                ..DeviceOptions::default()
            };
            let tls = crate::tls::client_config(None).unwrap();
            let mut r = Rig {
                insights: Insights::new(&options, "token-1", tls),
                engine: Engine::new("token-1".into(), options).unwrap(),
                now: Instant::now(),
                socket: None,
                media: Vec::new(),
                incoming: Vec::new(),
            };
            r.engine.register(r.now).unwrap();
            r.drain();
            let s = r.socket.expect("a socket was asked for");
            r.engine.on_socket_open(s, r.now);
            r.server(json!({"type":"connected","version":"","payload":{"region":"EU_IRELAND","gateway":"ec2-34-244-67-48.eu-west-1.compute.amazonaws.com"}}));
            r.server(json!({"type":"ready","payload":{}}));
            r
        }

        fn drain(&mut self) {
            while let Some(o) = self.engine.poll_output() {
                match o {
                    Output::Socket(SocketCommand::Connect { socket, .. }) => {
                        self.socket = Some(socket)
                    }
                    Output::Call(id, ev) => self.insights.queue_call_event(id, &ev, &self.engine),
                    Output::Media(id, r) => self.media.push((id, r)),
                    Output::Device(DeviceEvent::Incoming(id)) => {
                        self.insights.queue_call_created(id, &self.engine);
                        self.incoming.push(id);
                    }
                    Output::CallRemoved(id) => self.insights.queue_call_removed(id),
                    _ => {}
                }
            }
        }

        fn server(&mut self, frame: Value) {
            let s = self.socket.expect("socket");
            self.engine
                .on_socket_message(s, frame.to_string(), self.now);
            self.drain();
        }

        fn media(&mut self, id: CallId, ev: MediaEvent) {
            self.insights.queue_media_event(id, &ev, &self.engine);
            self.engine.on_media_event(id, ev, self.now);
            self.drain();
        }

        fn posts(&mut self) -> Vec<(&'static str, Value)> {
            std::mem::take(&mut self.insights.queued)
        }

        /// An outgoing call answered by `CA557…`, its offer listing PCMU first.
        fn answered_outgoing(&mut self) -> CallId {
            let id = self
                .engine
                .connect(vec![("To".into(), "+12025550100".into())], self.now)
                .unwrap();
            self.insights.queue_call_created(id, &self.engine);
            self.drain();
            self.media(id, MediaEvent::PeerState(PeerState::HaveLocalOffer));
            self.media(
                id,
                MediaEvent::LocalDescription(
                    "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 111\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n".into(),
                ),
            );
            self.server(json!({"type":"answer","payload":{"callsid":"CA557a5d46438c324c7e1f9aa15e5f0dbb","sdp":"v=0\r\nm=audio 1 RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n"}}));
            self.media(
                id,
                MediaEvent::RemoteApplied {
                    codec: Codec::Pcmu,
                    telephone_event: false,
                },
            );
            id
        }

        /// Ten seconds of counters.
        fn ten_seconds(&mut self, id: CallId) {
            let mut raw = RawStats {
                timestamp_ms: 1_595_333_860_125,
                codec_name: "PCMU".into(),
                ..RawStats::default()
            };
            for _ in 0..METRICS_BATCH {
                self.now += Duration::from_secs(1);
                raw.timestamp_ms += 1000;
                raw.packets_sent += 50;
                raw.bytes_sent += 8000;
                raw.packets_received += 50;
                raw.bytes_received += 8000;
                raw.jitter_ms = Some(1.2);
                raw.rtt_ms = Some(15.4);
                self.media(
                    id,
                    MediaEvent::Volume {
                        input_level: 100.0,
                        output_level: 2205.0,
                    },
                );
                self.media(id, MediaEvent::Stats(raw.clone()));
            }
        }
    }

    fn named<'a>(posts: &'a [(&str, Value)], group: &str, name: &str) -> &'a Value {
        &posts
            .iter()
            .find(|(_, b)| b["group"] == group && b["name"] == name)
            .unwrap_or_else(|| panic!("no {group}/{name} in {posts:#?}"))
            .1
    }

    #[test]
    fn events_and_samples_have_the_seeds_keys_and_types() {
        let mut r = Rig::new();
        let id = r.answered_outgoing();
        r.ten_seconds(id);
        let posts = r.posts();
        for (line, group, name) in [
            (436, "signaling-state", "have-local-offer"),
            (591, "settings", "edge"),
            (654, "connection", "accepted-by-remote"),
            (675, "settings", "codec"),
        ] {
            let seed = seed_post(line, group, name);
            let ours = named(&posts, group, name);
            assert_eq!(shape(ours), shape(&seed), "envelope of {group}/{name}");
            assert_eq!(
                shape(&ours["payload"]),
                shape(&seed["payload"]),
                "payload of {group}/{name}: {ours}"
            );
            assert_eq!(ours["level"], seed["level"], "{group}/{name}");
            assert!(is_js_iso(ours["timestamp"].as_str().unwrap()), "{ours}");
        }
        let accepted = named(&posts, "connection", "accepted-by-remote");
        assert_eq!(accepted["payload"]["region"], "EU_IRELAND");
        assert_eq!(
            accepted["payload"]["call_sid"],
            "CA557a5d46438c324c7e1f9aa15e5f0dbb"
        );
        let codec = named(&posts, "settings", "codec");
        assert_eq!(codec["payload"]["selected_codec"], "PCMU/8000");
        assert_eq!(codec["payload"]["codec_params"], "");

        let seed = seed_post(888, "quality-metrics-samples", "metrics-sample");
        let (path, batch) = posts
            .iter()
            .find(|(p, _)| *p == "/v4/EndpointMetrics")
            .expect("a batch after ten samples");
        assert_eq!(*path, "/v4/EndpointMetrics");
        assert_eq!(shape(batch), shape(&seed));
        let samples = batch["payload"].as_array().unwrap();
        assert_eq!(samples.len(), METRICS_BATCH);
        let seed_first = &seed["payload"][0];
        assert!(seed_first["mos"].is_null());
        assert_eq!(shape(&samples[0]), shape(seed_first), "{}", samples[0]);
        for s in samples {
            assert!(is_js_iso(s["timestamp"].as_str().unwrap()), "{s}");
        }
        assert_eq!(samples[0]["timestamp"], "2020-07-21T12:17:41.125Z");
        assert_eq!(samples[0]["jitter"], json!(1));
        assert_eq!(samples[0]["rtt"], json!(15));
        assert_eq!(samples[0]["total_packets_sent"], json!(50));
        assert_eq!(samples[0]["audio_level_in"], json!(100));
        assert!(
            samples[9]["mos"].as_f64().is_some_and(|m| m > 4.0),
            "{}",
            samples[9]
        );
        assert!(
            samples[0]["call_volume_input"]
                .as_f64()
                .is_some_and(|v| v > 0.0 && v < 1.0)
        );
        // The codec joins the payload once a sample named it, as in the SDK.
        assert!(accepted["payload"].get("audio_codec").is_none());
        r.engine.disconnect(id, r.now);
        r.drain();
        let posts = r.posts();
        let gone = named(&posts, "connection", "disconnected-by-local");
        assert_eq!(gone["payload"]["audio_codec"], "PCMU");
        assert_eq!(
            shape(&gone["payload"]),
            shape(&seed_post(844, "connection", "disconnected-by-local")["payload"])
        );
    }

    #[test]
    fn an_incoming_call_is_posted_from_its_invite_to_its_answer() {
        let mut r = Rig::new();
        r.server(json!({"type":"invite","payload":{"callsid":"CA929a9d3930f425b4c26c0af127b81b42","sdp":"v=0\r\nm=audio 9 RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n",
            "parameters":{"AccountSid":"AC1","CallSid":"CA929a9d3930f425b4c26c0af127b81b42","From":"+12025550199","To":"client:alice"}}}));
        let id = *r.incoming.last().expect("an incoming call");
        let posts = r.posts();
        let incoming = named(&posts, "connection", "incoming");
        assert_eq!(incoming["level"], "INFO");
        assert_eq!(incoming["payload"]["direction"], "INCOMING");
        let temp = incoming["payload"]["temp_call_sid"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(temp.starts_with("TJS"), "{incoming}");
        r.engine.accept(id, r.now);
        r.drain();
        r.media(
            id,
            MediaEvent::RemoteApplied {
                codec: Codec::Opus,
                telephone_event: false,
            },
        );
        r.media(
            id,
            MediaEvent::LocalDescription(
                "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n".into(),
            ),
        );
        let posts = r.posts();
        let names: Vec<String> = posts
            .iter()
            .map(|(_, b)| {
                format!(
                    "{}/{}",
                    b["group"].as_str().unwrap(),
                    b["name"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                "settings/edge",
                "connection/accepted-by-local",
                "settings/codec"
            ]
        );
        let seed = seed_post(1202, "connection", "accepted-by-local");
        let accepted = named(&posts, "connection", "accepted-by-local");
        assert_eq!(shape(&accepted["payload"]), shape(&seed["payload"]));
        assert_eq!(
            accepted["payload"]["temp_call_sid"],
            temp.as_str(),
            "one per call"
        );
        let codec = named(&posts, "settings", "codec");
        assert_eq!(codec["payload"]["selected_codec"], "opus/48000/2");
        assert_eq!(
            codec["payload"]["codec_params"],
            "minptime=10;useinbandfec=1"
        );
    }

    #[test]
    fn states_the_media_reports_after_the_call_ended_carry_its_facts() {
        let mut r = Rig::new();
        let id = r.answered_outgoing();
        r.engine.disconnect(id, r.now);
        r.drain();
        assert!(r.media.contains(&(id, MediaRequest::Close)));
        assert!(r.engine.call(id).is_none(), "the engine let go");
        r.posts();
        r.media(id, MediaEvent::PeerState(PeerState::SignalingClosed));
        let posts = r.posts();
        let closed = named(&posts, "signaling-state", "closed");
        assert_eq!(closed["level"], "DEBUG");
        assert_eq!(
            closed["payload"]["call_sid"],
            "CA557a5d46438c324c7e1f9aa15e5f0dbb"
        );
        // A call Insights never saw posts nothing.
        r.media(
            CallId(999),
            MediaEvent::PeerState(PeerState::SignalingClosed),
        );
        assert!(r.posts().is_empty());
    }

    #[test]
    fn failed_states_post_at_the_sdks_levels() {
        let mut r = Rig::new();
        let id = r.answered_outgoing();
        r.posts();
        for s in [
            PeerState::IceFailed,
            PeerState::Failed,
            PeerState::IceChecking,
        ] {
            r.media(id, MediaEvent::PeerState(s));
        }
        let levels: Vec<(String, String)> = r
            .posts()
            .iter()
            .map(|(_, b)| {
                (
                    b["group"].as_str().unwrap().into(),
                    b["level"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            levels,
            [
                ("ice-connection-state".to_string(), "ERROR".to_string()),
                ("pc-connection-state".into(), "WARNING".into()),
                ("ice-connection-state".into(), "DEBUG".into()),
            ]
        );
    }

    #[test]
    fn timestamps_numbers_and_codecs_print_as_the_sdk_prints_them() {
        assert_eq!(iso_at(1_595_333_858_956), "2020-07-21T12:17:38.956Z");
        assert_eq!(iso_at(1_595_333_858_000), "2020-07-21T12:17:38.000Z");
        assert_eq!(iso_at(0), "1970-01-01T00:00:00.000Z");
        assert!(is_js_iso(&iso_now()));
        assert_eq!(js_number(0.0).to_string(), "0");
        assert_eq!(js_number(15.0).to_string(), "15");
        assert_eq!(js_number(4.41).to_string(), "4.41");
        assert_eq!(js_number(f64::NAN), Value::Null);
        assert_eq!(js_number32(0.045_343_14).to_string(), "0.04534314");
        assert_eq!(
            preferred_codec("a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"),
            ("PCMU/8000".into(), String::new())
        );
        assert_eq!(
            preferred_codec(
                "m=audio 9 X 111 0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n"
            ),
            ("opus/48000/2".into(), "minptime=10;useinbandfec=1".into())
        );
        assert_eq!(preferred_codec("v=0\r\n"), (String::new(), String::new()));
        assert_eq!(
            preferred_codec("a=rtpmap:x\r\na=rtpmap:8 PCMA/8000"),
            ("PCMA/8000".into(), String::new())
        );
    }
}
