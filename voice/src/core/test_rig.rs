//! The engine tests' rig: virtual time and a scripted server, no sockets, no sleeps; and
//! the steps the device and call tests share.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Engine, MediaEvent, MediaRequest, Output};
use crate::model::{CallEvent, CallId, DeviceEvent};
use crate::options::DeviceOptions;
use crate::quality::RawStats;
use crate::signaling::{SocketCommand, SocketId};

pub struct Rig {
    pub engine: Engine,
    pub now: Instant,
    pub socket: Option<SocketId>,
    pub sent: Vec<Value>,
    pub device_events: Vec<DeviceEvent>,
    pub call_events: Vec<(CallId, CallEvent)>,
    pub media: Vec<(CallId, MediaRequest)>,
    pub connects: Vec<String>,
    /// Whether the scripted server sends a heartbeat every 5 s, as a real one does.
    pub heartbeats: bool,
    pub socket_open: bool,
    pub next_beat: Instant,
    /// Every output so far, with the virtual time it came at (since the rig was made).
    pub log: Vec<(Duration, String)>,
    pub start: Instant,
}

impl Rig {
    /// The codes of every call `error` event so far, in order.
    pub fn call_error_codes(&self) -> Vec<u32> {
        self.call_events
            .iter()
            .filter_map(|(_, e)| match e {
                CallEvent::Error(e) => Some(e.code),
                _ => None,
            })
            .collect()
    }

    pub fn new(options: DeviceOptions) -> Self {
        let options = DeviceOptions {
            random_seed: Some(7),
            chunderw: Some(vec!["lab:1".into()]),
            ..options
        };
        Self::with_engine(Engine::new("token-1".into(), options).unwrap())
    }

    pub fn with_engine(engine: Engine) -> Self {
        let now = Instant::now();
        Rig {
            engine,
            now,
            socket: None,
            sent: Vec::new(),
            device_events: Vec::new(),
            call_events: Vec::new(),
            media: Vec::new(),
            connects: Vec::new(),
            heartbeats: true,
            socket_open: false,
            next_beat: now,
            log: Vec::new(),
            start: now,
        }
    }

    pub fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            self.log.push((self.now - self.start, format!("{o:?}")));
            match o {
                Output::Socket(SocketCommand::Connect { socket, url }) => {
                    self.socket = Some(socket);
                    self.socket_open = false;
                    self.connects.push(url);
                }
                Output::Socket(SocketCommand::Send { text, .. }) => {
                    if text != "\n" {
                        self.sent.push(serde_json::from_str(&text).unwrap());
                    }
                }
                Output::Socket(SocketCommand::Close { socket }) => {
                    if Some(socket) == self.socket {
                        self.socket_open = false;
                    }
                }
                Output::Device(e) => self.device_events.push(e),
                Output::Call(id, e) => self.call_events.push((id, e)),
                Output::Media(id, r) => self.media.push((id, r)),
                Output::CallRemoved(_) => {}
            }
        }
    }

    pub fn open(&mut self) {
        self.drain();
        let s = self.socket.expect("a socket was requested");
        self.engine.on_socket_open(s, self.now);
        self.socket_open = true;
        self.next_beat = self.now + Duration::from_secs(5);
        self.drain();
    }

    pub fn server(&mut self, frame: Value) {
        let s = self.socket.expect("socket");
        self.engine
            .on_socket_message(s, frame.to_string(), self.now);
        self.drain();
    }

    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            let next_beat = self.next_beat;
            let timer = self.engine.poll_timeout().filter(|t| *t <= end);
            let beat =
                (self.heartbeats && self.socket_open && next_beat <= end).then_some(next_beat);
            match (timer, beat) {
                (Some(t), b) if b.is_none_or(|b| t <= b) => {
                    self.now = t.max(self.now);
                    self.engine.handle_timeout(self.now);
                    self.drain();
                }
                (_, Some(b)) => {
                    self.now = b;
                    self.next_beat = b + Duration::from_secs(5);
                    let s = self.socket.expect("socket");
                    self.engine.on_socket_message(s, "\n".into(), self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    pub fn sent_types(&self) -> Vec<String> {
        self.sent
            .iter()
            .map(|v| v["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn take_sent(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.sent)
    }

    pub fn call_event_names(&self, id: CallId) -> Vec<&'static str> {
        self.call_events
            .iter()
            .filter(|(c, _)| *c == id)
            .map(|(_, e)| e.name())
            .collect()
    }

    pub fn device_event_names(&self) -> Vec<&'static str> {
        self.device_events.iter().map(|e| e.name()).collect()
    }

    pub fn connected(&mut self, ttl: u64) {
        self.server(json!({"type":"connected","version":"","payload":{"region":"US_EAST_VIRGINIA","gateway":"gw","edge":"ashburn","home":"us1","token":{"identity":"alice","ttl":ttl}}}));
    }

    pub fn registered(&mut self) {
        self.engine.register(self.now).unwrap();
        self.open();
        self.connected(3600);
        self.server(json!({"type":"ready","payload":{}}));
    }
}

pub fn jwt(identity: &str, ttl_secs: u64, iat: u64) -> String {
    crate::token::AccessToken::new("AC1", "SK1", "secret", identity)
        .with_ttl(ttl_secs)
        .with_voice(crate::token::VoiceGrant::handset("AP1"))
        .to_jwt(iat)
        .unwrap()
}

/// The seed's `connected` (lines 183–188): only `region` and `gateway`, `version: ""`.
pub fn seed_connected(r: &mut Rig) {
    r.server(json!({"payload":{"region":"EU_IRELAND","gateway":"ec2-34-244-67-48.eu-west-1.compute.amazonaws.com"},"type":"connected","version":""}));
}

/// How long after each `close` the next socket is asked for, while the server keeps refusing.
pub fn refusals(r: &mut Rig, rounds: usize, frames: &[Value]) -> Vec<Duration> {
    let mut waits = Vec::new();
    for _ in 0..rounds {
        r.open();
        for f in frames {
            r.server(f.clone());
        }
        let closed_at = r.now;
        let before = r.connects.len();
        while r.connects.len() == before {
            let t = r.engine.poll_timeout().expect("a retry is scheduled");
            assert!(t - closed_at <= Duration::from_secs(3600), "gave up");
            r.now = t.max(r.now);
            r.engine.handle_timeout(r.now);
            r.drain();
        }
        waits.push(r.now - closed_at);
    }
    waits
}

pub fn invite(callsid: &str) -> Value {
    json!({"type":"invite","payload":{"callsid":callsid,"sdp":"v=0\r\nm=audio 9 RTP/SAVPF 107 0 101\r\na=rtpmap:107 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n",
        "reconnect":"rtok","parameters":{"AccountSid":"AC1","ApiVersion":"2010-04-01","CallSid":callsid,"From":"+12025550199","To":"client:alice","Params":"name=Ada+L&room=4%2B1"}}})
}

pub fn incoming_id(r: &Rig) -> CallId {
    r.device_events
        .iter()
        .rev()
        .find_map(|e| match e {
            DeviceEvent::Incoming(id) => Some(*id),
            _ => None,
        })
        .expect("incoming")
}

pub fn outgoing(r: &mut Rig, params: Vec<(&str, &str)>) -> CallId {
    let id = r
        .engine
        .connect(
            params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            r.now,
        )
        .unwrap();
    r.drain();
    assert_eq!(r.media.last(), Some(&(id, MediaRequest::CreateOffer)));
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nlocal-offer\r\n".into()),
        r.now,
    );
    r.drain();
    id
}

pub fn open_call(r: &mut Rig) -> CallId {
    r.registered();
    r.server(invite("CA800"));
    let id = incoming_id(r);
    r.engine.accept(id, r.now);
    r.engine
        .on_media_event(id, MediaEvent::LocalDescription("v=0\r\n".into()), r.now);
    r.engine.on_media_event(id, MediaEvent::IceConnected, r.now);
    r.drain();
    id
}

pub fn second(r: &mut Rig, id: CallId, totals: &mut RawStats, rx: u64) {
    r.advance(Duration::from_secs(1));
    totals.packets_received += rx;
    totals.bytes_received += rx * 160;
    totals.packets_sent += 50;
    totals.bytes_sent += 8000;
    totals.rtt_ms = Some(20.0);
    totals.jitter_ms = Some(1.0);
    r.engine
        .on_media_event(id, MediaEvent::Stats(totals.clone()), r.now);
    r.drain();
}
