//! Engine tests with virtual time and a scripted server: no sockets, no sleeps.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Engine, MediaEvent, MediaRequest, Output};
use crate::model::{CallEvent, CallId, CallStatus, Codec, DeviceEvent, DeviceState};
use crate::options::DeviceOptions;
use crate::quality::RawStats;
use crate::signaling::{SocketCommand, SocketId};

struct Rig {
    engine: Engine,
    now: Instant,
    socket: Option<SocketId>,
    sent: Vec<Value>,
    device_events: Vec<DeviceEvent>,
    call_events: Vec<(CallId, CallEvent)>,
    media: Vec<(CallId, MediaRequest)>,
    connects: Vec<String>,
    /// Whether the scripted server sends a heartbeat every 5 s, as a real one does.
    heartbeats: bool,
    socket_open: bool,
    next_beat: Instant,
}

impl Rig {
    fn new(options: DeviceOptions) -> Self {
        let options = DeviceOptions {
            random_seed: Some(7),
            chunderw: Some(vec!["lab:1".into()]),
            ..options
        };
        Rig {
            engine: Engine::new("token-1".into(), options).unwrap(),
            now: Instant::now(),
            socket: None,
            sent: Vec::new(),
            device_events: Vec::new(),
            call_events: Vec::new(),
            media: Vec::new(),
            connects: Vec::new(),
            heartbeats: true,
            socket_open: false,
            next_beat: Instant::now(),
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
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

    fn open(&mut self) {
        self.drain();
        let s = self.socket.expect("a socket was requested");
        self.engine.on_socket_open(s, self.now);
        self.socket_open = true;
        self.next_beat = self.now + Duration::from_secs(5);
        self.drain();
    }

    fn server(&mut self, frame: Value) {
        let s = self.socket.expect("socket");
        self.engine
            .on_socket_message(s, frame.to_string(), self.now);
        self.drain();
    }

    fn advance(&mut self, d: Duration) {
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

    fn sent_types(&self) -> Vec<String> {
        self.sent
            .iter()
            .map(|v| v["type"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    fn take_sent(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.sent)
    }

    fn call_event_names(&self, id: CallId) -> Vec<&'static str> {
        self.call_events
            .iter()
            .filter(|(c, _)| *c == id)
            .map(|(_, e)| e.name())
            .collect()
    }

    fn device_event_names(&self) -> Vec<&'static str> {
        self.device_events.iter().map(|e| e.name()).collect()
    }

    fn connected(&mut self, ttl: u64) {
        self.server(json!({"type":"connected","version":"","payload":{"region":"US_EAST_VIRGINIA","gateway":"gw","edge":"ashburn","home":"us1","token":{"identity":"alice","ttl":ttl}}}));
    }

    fn registered(&mut self) {
        self.engine.register(self.now).unwrap();
        self.open();
        self.connected(3600);
        self.server(json!({"type":"ready","payload":{}}));
    }
}

#[test]
fn register_sends_listen_then_register_and_becomes_registered() {
    let mut r = Rig::new(DeviceOptions::default());
    r.engine.register(r.now).unwrap();
    r.drain();
    assert_eq!(r.connects, vec!["wss://lab:1/signal"]);
    assert_eq!(r.device_event_names(), vec!["registering"]);
    r.open();
    assert_eq!(r.sent_types(), vec!["listen"]);
    assert_eq!(r.sent[0]["payload"]["token"], "token-1");
    r.connected(600);
    assert_eq!(r.sent_types(), vec!["listen", "register"]);
    assert_eq!(r.sent[1]["payload"], json!({"media":{"audio":true}}));
    r.server(json!({"type":"ready","payload":{}}));
    assert_eq!(r.engine.state(), DeviceState::Registered);
    assert_eq!(r.engine.identity(), Some("alice"));
    assert_eq!(r.engine.edge(), Some("ashburn"));
    assert_eq!(r.engine.home(), Some("us1"));
    // Re-registers every 30 s.
    r.take_sent();
    r.advance(Duration::from_secs(30));
    assert_eq!(r.sent_types(), vec!["register"]);
    assert!(
        r.engine.register(r.now).is_err(),
        "register only from unregistered"
    );
}

#[test]
fn unregister_sends_register_false_and_waits_for_offline() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.take_sent();
    r.engine.unregister(r.now).unwrap();
    r.drain();
    assert_eq!(r.sent[0]["payload"], json!({"media":{"audio":false}}));
    assert_eq!(r.engine.state(), DeviceState::Registered);
    r.server(json!({"type":"offline","payload":{}}));
    assert_eq!(r.engine.state(), DeviceState::Unregistered);
    // No refresh registers after unregistering.
    r.take_sent();
    r.advance(Duration::from_secs(61));
    assert!(r.sent.is_empty());
}

#[test]
fn token_will_expire_fires_ttl_minus_refresh_on_the_monotonic_clock() {
    let mut r = Rig::new(DeviceOptions {
        token_refresh_ms: 10_000,
        ..Default::default()
    });
    r.engine.register(r.now).unwrap();
    r.open();
    r.connected(60);
    r.advance(Duration::from_secs(49));
    assert!(!r.device_event_names().contains(&"tokenWillExpire"));
    r.advance(Duration::from_secs(1));
    assert!(r.device_event_names().contains(&"tokenWillExpire"));
    // update_token sends listen on the live socket and keeps the registration.
    r.server(json!({"type":"ready","payload":{}}));
    r.take_sent();
    r.engine.update_token("token-2".into(), r.now).unwrap();
    r.drain();
    assert_eq!(r.sent_types(), vec!["listen"]);
    assert_eq!(r.sent[0]["payload"]["token"], "token-2");
    r.connected(60);
    assert_eq!(r.engine.state(), DeviceState::Registered);
    assert!(!r.device_event_names().contains(&"unregistered"));
}

#[test]
fn signaling_errors_remap_with_and_without_precision() {
    for (precise, expect) in [(false, 53000), (true, 31202)] {
        let mut r = Rig::new(DeviceOptions {
            enable_improved_signaling_error_precision: precise,
            ..Default::default()
        });
        r.engine.register(r.now).unwrap();
        r.open();
        r.server(json!({"type":"error","payload":{"error":{"code":31202,"message":"JWT signature validation failed"}}}));
        r.server(json!({"type":"close","payload":{}}));
        let codes: Vec<u32> = r
            .device_events
            .iter()
            .filter_map(|e| match e {
                DeviceEvent::Error { error, .. } => Some(error.code),
                _ => None,
            })
            .collect();
        assert_eq!(codes, vec![expect]);
        assert_eq!(r.engine.state(), DeviceState::Unregistered);
        // close: no reconnect.
        let before = r.connects.len();
        r.advance(Duration::from_secs(60));
        assert_eq!(r.connects.len(), before);
    }
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(
        json!({"type":"error","payload":{"error":{"code":31205,"message":"JWT token expired"}}}),
    );
    let DeviceEvent::Error { error, .. } = r.device_events.last().unwrap() else {
        panic!()
    };
    assert_eq!((error.code, error.wire_code()), (20104, 31205));
    // 31205 stops the register refresh.
    r.take_sent();
    r.advance(Duration::from_secs(31));
    assert!(!r.sent_types().contains(&"register".to_string()));
}

fn invite(callsid: &str) -> Value {
    json!({"type":"invite","payload":{"callsid":callsid,"sdp":"v=0\r\nm=audio 9 RTP/SAVPF 107 0 101\r\na=rtpmap:107 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n",
        "reconnect":"rtok","parameters":{"AccountSid":"AC1","ApiVersion":"2010-04-01","CallSid":callsid,"From":"+12025550199","To":"client:alice","Params":"name=Ada+L&room=4%2B1"}}})
}

fn incoming_id(r: &Rig) -> CallId {
    r.device_events
        .iter()
        .rev()
        .find_map(|e| match e {
            DeviceEvent::Incoming(id) => Some(*id),
            _ => None,
        })
        .expect("incoming")
}

#[test]
fn incoming_invite_surfaces_parameters_and_reject_sends_reject() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA100"));
    let id = incoming_id(&r);
    let call = r.engine.call(id).unwrap();
    assert_eq!(call.status, CallStatus::Pending);
    assert_eq!(call.parameters["From"], "+12025550199");
    assert_eq!(
        call.custom_parameters,
        vec![
            ("name".to_string(), "Ada L".to_string()),
            ("room".to_string(), "4+1".to_string())
        ]
    );
    r.take_sent();
    r.engine.reject(id, r.now);
    r.drain();
    assert_eq!(
        r.sent,
        vec![json!({"type":"reject","version":"1.6","payload":{"callsid":"CA100"}})]
    );
    assert_eq!(r.call_event_names(id), vec!["reject"]);
    assert!(r.engine.call(id).is_none());
}

#[test]
fn ignore_sends_nothing_then_cancel_closes() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA200"));
    let id = incoming_id(&r);
    r.take_sent();
    r.engine.ignore(id, r.now);
    r.drain();
    assert!(r.sent.is_empty());
    assert_eq!(r.engine.call(id).unwrap().status, CallStatus::Closed);
    assert_eq!(r.engine.calls(), vec![id]);
    r.server(json!({"type":"cancel","payload":{"callsid":"CA200"}}));
    assert_eq!(r.call_event_names(id), vec!["cancel"]);
    assert!(r.engine.calls().is_empty());
}

#[test]
fn malformed_invite_is_31400_and_busy_invites_are_dropped() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(json!({"type":"invite","payload":{"parameters":{}}}));
    let DeviceEvent::Error { error, .. } = r.device_events.last().unwrap() else {
        panic!()
    };
    assert_eq!(error.code, 31400);
    let _ = r.engine.connect(vec![], r.now).unwrap();
    r.drain();
    let n = r.device_events.len();
    r.server(invite("CA300"));
    assert_eq!(r.device_events.len(), n, "busy: invite ignored");
}

fn outgoing(r: &mut Rig, params: Vec<(&str, &str)>) -> CallId {
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

#[test]
fn outgoing_call_invite_ringing_answer_accept_hangup() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.take_sent();
    let id = outgoing(&mut r, vec![("To", "+12025550100"), ("note", "a b")]);
    let inv = r.take_sent().pop().unwrap();
    assert_eq!(inv["type"], "invite");
    let temp = inv["payload"]["callsid"].as_str().unwrap().to_string();
    assert!(temp.starts_with("TJS"));
    assert_eq!(
        inv["payload"]["twilio"]["params"],
        "To=%2B12025550100&note=a%20b"
    );
    assert_eq!(r.engine.call(id).unwrap().status, CallStatus::Connecting);
    r.server(json!({"type":"ringing","payload":{"callsid":"CA900"}}));
    assert_eq!(r.engine.call(id).unwrap().status, CallStatus::Ringing);
    r.server(json!({"type":"answer","payload":{"callsid":"CA900","sdp":"v=0\r\nm=audio 1 RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n","reconnect":"tok1"}}));
    let (_, req) = r.media.last().unwrap().clone();
    let MediaRequest::ApplyAnswer { answer } = req else {
        panic!("{req:?}")
    };
    assert!(
        answer.contains("m=audio 1 RTP/SAVPF 0 111"),
        "codec preference applied: {answer}"
    );
    assert!(
        r.engine.call(id).unwrap().status != CallStatus::Open,
        "open only once the answer is applied"
    );
    r.engine.on_media_event(
        id,
        MediaEvent::RemoteApplied {
            codec: Codec::Pcmu,
            telephone_event: true,
        },
        r.now,
    );
    r.drain();
    assert_eq!(r.engine.call(id).unwrap().status, CallStatus::Open);
    assert_eq!(r.call_event_names(id), vec!["ringing", "accept"]);
    assert!(r.engine.is_busy());
    r.server(json!({"type":"hangup","payload":{"callsid":"CA900"}}));
    assert_eq!(
        r.call_event_names(id),
        vec!["ringing", "accept", "disconnect"]
    );
    assert!(r.sent.is_empty(), "no hangup echoed back");
    assert!(!r.engine.is_busy());
    assert_eq!(r.media.last(), Some(&(id, MediaRequest::Close)));
}

#[test]
fn local_disconnect_before_answer_uses_the_temp_sid() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    let id = outgoing(&mut r, vec![]);
    let temp = r.take_sent().pop().unwrap()["payload"]["callsid"]
        .as_str()
        .unwrap()
        .to_string();
    r.engine.disconnect(id, r.now);
    r.drain();
    assert_eq!(
        r.sent,
        vec![json!({"type":"hangup","version":"1.6","payload":{"callsid":temp}})]
    );
    assert_eq!(r.call_event_names(id), vec!["disconnect"]);
}

#[test]
fn hangup_with_error_surfaces_31005_or_precise() {
    for (precise, code) in [(false, 31005), (true, 31486)] {
        let mut r = Rig::new(DeviceOptions {
            enable_improved_signaling_error_precision: precise,
            ..Default::default()
        });
        r.registered();
        let id = outgoing(&mut r, vec![]);
        let temp = r.take_sent().pop().unwrap()["payload"]["callsid"]
            .as_str()
            .unwrap()
            .to_string();
        r.server(json!({"type":"hangup","payload":{"callsid":temp,"error":{"code":31486,"message":"Busy Here"}}}));
        let errs: Vec<u32> = r
            .call_events
            .iter()
            .filter_map(|(_, e)| match e {
                CallEvent::Error(e) => Some(e.code),
                _ => None,
            })
            .collect();
        assert_eq!(errs, vec![code]);
        assert_eq!(r.call_event_names(id), vec!["error", "disconnect"]);
    }
}

#[test]
fn incoming_accept_sends_answer_then_accept_event() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA400"));
    let id = incoming_id(&r);
    r.engine.accept(id, r.now);
    r.drain();
    let (_, MediaRequest::AnswerOffer { offer }) = r.media.last().unwrap().clone() else {
        panic!()
    };
    assert!(offer.contains("m=audio 9 RTP/SAVPF 0 107 101"), "{offer}");
    r.take_sent();
    r.engine.on_media_event(
        id,
        MediaEvent::RemoteApplied {
            codec: Codec::Pcmu,
            telephone_event: true,
        },
        r.now,
    );
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nanswer\r\n".into()),
        r.now,
    );
    r.drain();
    assert_eq!(r.sent[0]["type"], "answer");
    assert_eq!(r.sent[0]["payload"]["callsid"], "CA400");
    assert_eq!(r.call_event_names(id), vec!["accept"]);
    assert_eq!(r.engine.active_call(), Some(id));
    // DTMF goes in-band when telephone-event was negotiated.
    r.engine.send_digits(id, "12#", r.now).unwrap();
    r.drain();
    assert_eq!(
        r.media.last(),
        Some(&(id, MediaRequest::SendDigits("12#".into())))
    );
    assert!(r.engine.send_digits(id, "12x", r.now).is_err());
}

#[test]
fn dtmf_falls_back_to_signaling_without_telephone_event() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA410"));
    let id = incoming_id(&r);
    r.engine.accept(id, r.now);
    r.engine.on_media_event(
        id,
        MediaEvent::RemoteApplied {
            codec: Codec::Pcmu,
            telephone_event: false,
        },
        r.now,
    );
    r.engine
        .on_media_event(id, MediaEvent::LocalDescription("v=0\r\n".into()), r.now);
    r.drain();
    r.take_sent();
    r.engine.send_digits(id, "1w2", r.now).unwrap();
    r.drain();
    assert_eq!(
        r.sent,
        vec![json!({"type":"dtmf","version":"1.6","payload":{"callsid":"CA410","dtmf":"1w2"}})]
    );
}

#[test]
fn call_messages_are_acked() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA500"));
    let id = incoming_id(&r);
    r.engine.accept(id, r.now);
    r.engine
        .on_media_event(id, MediaEvent::LocalDescription("v=0\r\n".into()), r.now);
    r.drain();
    r.take_sent();
    let kx = r
        .engine
        .send_message(
            id,
            json!({"hello":"world"}),
            None,
            "user-defined-message",
            r.now,
        )
        .unwrap();
    r.drain();
    assert_eq!(r.sent[0]["payload"]["voiceeventsid"], kx);
    assert_eq!(r.sent[0]["payload"]["contenttype"], "application/json");
    r.server(
        json!({"type":"ack","payload":{"acktype":"message","callsid":"CA500","voiceeventsid":kx}}),
    );
    r.server(json!({"type":"message","payload":{"callsid":"CA500","content":{"n":1},"contenttype":"application/json","messagetype":"user-defined-message","voiceeventsid":"KXabc"}}));
    assert_eq!(
        r.call_event_names(id),
        vec!["accept", "messageSent", "messageReceived"]
    );
    assert!(
        r.engine
            .send_message(id, Value::Null, None, "user-defined-message", r.now)
            .is_err()
    );
    let kx2 = r
        .engine
        .send_message(id, json!(1), None, "bogus", r.now)
        .unwrap();
    r.server(json!({"type":"error","payload":{"callsid":"CA500","voiceeventsid":kx2,"error":{"code":31210,"message":"Call Message Event Type is invalid."}}}));
    let (_, CallEvent::Error(e)) = r.call_events.last().unwrap() else {
        panic!()
    };
    assert_eq!(e.code, 31210);
    assert_eq!(
        r.engine.call(id).unwrap().status,
        CallStatus::Open,
        "a message error does not end the call"
    );
}

#[test]
fn dropped_socket_reconnects_reregisters_and_resumes_the_call() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA600"));
    let id = incoming_id(&r);
    r.engine.accept(id, r.now);
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nmy-answer\r\n".into()),
        r.now,
    );
    r.drain();
    r.take_sent();
    let s = r.socket.unwrap();
    r.engine.on_socket_close(s, 1006, "", r.now);
    r.drain();
    assert_eq!(r.engine.state(), DeviceState::Unregistered);
    assert_eq!(r.engine.call(id).unwrap().status, CallStatus::Reconnecting);
    assert!(r.call_event_names(id).contains(&"reconnecting"));
    r.advance(Duration::from_secs(2));
    r.open();
    r.connected(3600);
    let types = r.sent_types();
    assert_eq!(types, vec!["listen", "register", "invite"]);
    let inv = &r.sent[2]["payload"];
    assert_eq!(inv["callsid"], "CA600");
    assert_eq!(inv["reconnect"], "rtok");
    assert_eq!(inv["sdp"], "v=0\r\nmy-answer\r\n");
    r.server(json!({"type":"ready","payload":{}}));
    r.server(json!({"type":"answer","payload":{"callsid":"CA600","reconnect":"rtok2"}}));
    assert_eq!(r.engine.state(), DeviceState::Registered);
    assert_eq!(r.engine.call(id).unwrap().status, CallStatus::Open);
    assert_eq!(
        r.call_event_names(id),
        vec!["accept", "reconnecting", "reconnected"]
    );
    assert_eq!(
        r.engine.call(id).unwrap().reconnect_token.as_deref(),
        Some("rtok2")
    );
}

#[test]
fn update_token_mid_call_sends_no_reconnect_invite() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA610"));
    let id = incoming_id(&r);
    r.engine.accept(id, r.now);
    r.engine
        .on_media_event(id, MediaEvent::LocalDescription("v=0\r\n".into()), r.now);
    r.drain();
    r.take_sent();
    r.engine.update_token("token-3".into(), r.now).unwrap();
    r.drain();
    r.connected(3600);
    assert_eq!(r.sent_types(), vec!["listen"]);
    assert_eq!(r.engine.call(id).unwrap().status, CallStatus::Open);
}

#[test]
fn stopped_heartbeats_reconnect_within_the_timeout() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.heartbeats = false;
    let connects = r.connects.len();
    r.advance(Duration::from_secs(14));
    assert_eq!(r.connects.len(), connects);
    r.advance(Duration::from_secs(2));
    assert_eq!(
        r.connects.len(),
        connects + 1,
        "reconnected after 15 s of silence"
    );
}

#[test]
fn edge_fallback_when_the_first_host_refuses() {
    let mut r = Rig::new(DeviceOptions::default());
    r.engine
        .update_options(
            DeviceOptions {
                chunderw: Some(vec!["bad:1".into(), "good:2".into()]),
                random_seed: Some(7),
                ..Default::default()
            },
            r.now,
        )
        .unwrap();
    r.engine.register(r.now).unwrap();
    r.drain();
    assert_eq!(r.connects.last().unwrap(), "wss://bad:1/signal");
    let s = r.socket.unwrap();
    r.engine
        .on_socket_close(s, 1006, "connection refused", r.now);
    r.drain();
    let DeviceEvent::Error { error, .. } = r.device_events.last().unwrap() else {
        panic!()
    };
    assert_eq!(error.code, 31005);
    r.advance(Duration::from_secs(10));
    assert_eq!(r.connects.last().unwrap(), "wss://good:2/signal");
}

#[test]
fn destroy_rejects_pending_hangs_up_and_emits_unregistered_destroyed() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA700"));
    r.take_sent();
    r.device_events.clear();
    r.engine.destroy(r.now);
    r.drain();
    assert_eq!(r.sent_types(), vec!["reject"]);
    assert_eq!(r.device_event_names(), vec!["unregistered", "destroyed"]);
    assert!(r.engine.connect(vec![], r.now).is_err());
    assert!(r.engine.update_token("x".into(), r.now).is_err());
}

fn open_call(r: &mut Rig) -> CallId {
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

fn second(r: &mut Rig, id: CallId, totals: &mut RawStats, rx: u64) {
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

#[test]
fn media_loss_triggers_ice_restart_and_recovers() {
    let mut r = Rig::new(DeviceOptions::default());
    let id = open_call(&mut r);
    let mut totals = RawStats {
        codec_name: "PCMU".into(),
        ..Default::default()
    };
    for _ in 0..6 {
        second(&mut r, id, &mut totals, 50);
    }
    r.engine
        .on_media_event(id, MediaEvent::IceDisconnected, r.now);
    r.drain();
    assert_eq!(
        r.engine.call(id).unwrap().status,
        CallStatus::Open,
        "no restart without low bytes"
    );
    for _ in 0..3 {
        second(&mut r, id, &mut totals, 0);
    }
    assert_eq!(r.engine.call(id).unwrap().status, CallStatus::Reconnecting);
    r.advance(Duration::from_millis(5));
    assert_eq!(r.media.last(), Some(&(id, MediaRequest::RestartIce)));
    r.take_sent();
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nrestart\r\n".into()),
        r.now,
    );
    r.drain();
    assert_eq!(
        r.sent,
        vec![
            json!({"type":"reinvite","version":"1.6","payload":{"callsid":"CA800","sdp":"v=0\r\nrestart\r\n"}})
        ]
    );
    r.server(json!({"type":"answer","payload":{"callsid":"CA800","sdp":"v=0\r\nnew-answer\r\n"}}));
    assert!(matches!(
        r.media.last(),
        Some((_, MediaRequest::ApplyAnswer { .. }))
    ));
    r.engine.on_media_event(
        id,
        MediaEvent::RemoteApplied {
            codec: Codec::Pcmu,
            telephone_event: true,
        },
        r.now,
    );
    r.engine.on_media_event(id, MediaEvent::IceConnected, r.now);
    r.drain();
    assert_eq!(r.engine.call(id).unwrap().status, CallStatus::Open);
    let names = r.call_event_names(id);
    assert!(
        names.contains(&"reconnecting") && names.contains(&"reconnected"),
        "{names:?}"
    );
    assert!(names.contains(&"warning") && names.contains(&"warning-cleared"));
}

#[test]
fn media_that_never_returns_ends_with_31003_after_30_seconds() {
    let mut r = Rig::new(DeviceOptions::default());
    let id = open_call(&mut r);
    r.engine.on_media_event(id, MediaEvent::IceFailed, r.now);
    r.drain();
    assert_eq!(r.engine.call(id).unwrap().status, CallStatus::Reconnecting);
    for _ in 0..7 {
        r.advance(Duration::from_millis(5));
        r.engine.on_media_event(
            id,
            MediaEvent::LocalDescription("v=0\r\nrestart\r\n".into()),
            r.now,
        );
        r.drain();
        r.advance(Duration::from_secs(5));
        r.engine.on_media_event(id, MediaEvent::IceFailed, r.now);
        r.drain();
    }
    let errs: Vec<u32> = r
        .call_events
        .iter()
        .filter_map(|(_, e)| match e {
            CallEvent::Error(e) => Some(e.code),
            _ => None,
        })
        .collect();
    assert_eq!(errs, vec![31003]);
    let hangup = r
        .sent
        .iter()
        .find(|v| v["type"] == "hangup")
        .expect("hangup sent");
    assert_eq!(
        hangup["payload"]["message"],
        "Connection with Twilio was interrupted."
    );
    assert!(r.engine.call(id).is_none());
}

/// Ten minutes of virtual time with 60 s tokens: the scripted server checks every token as the
/// lab does (`token::verify` against a virtual clock) and answers `connected` with the time
/// left; the phone refreshes on `tokenWillExpire`. Registration never lapses.
#[test]
fn short_ttl_tokens_refreshed_for_ten_minutes_of_virtual_time() {
    use crate::token::{AccessToken, VoiceGrant, verify};
    let epoch = 1_800_000_000u64;
    let mint = |at: u64| {
        AccessToken::new("AC1", "SK1", "secret", "alice")
            .with_ttl(60)
            .with_voice(VoiceGrant::handset("AP1"))
            .to_jwt(at)
            .unwrap()
    };
    let mut r = Rig::new(DeviceOptions::default());
    let start = r.now;
    let unix = |r: &Rig| epoch + (r.now - start).as_secs();
    r.engine.update_token(mint(epoch), r.now).unwrap();
    r.engine.register(r.now).unwrap();
    r.open();
    let mut refreshes = 0;
    let mut answered_listens = 0;
    while r.now - start < Duration::from_secs(600) {
        // The server answers every listen like the lab: verify, then `connected` or an error.
        let listens: Vec<String> = r
            .take_sent()
            .into_iter()
            .filter(|f| f["type"] == "listen")
            .filter_map(|f| f["payload"]["token"].as_str().map(String::from))
            .collect();
        for token in listens {
            answered_listens += 1;
            match verify(&token, unix(&r), |_| Some("secret".into())) {
                Ok(claims) => {
                    let ttl = claims.exp - unix(&r);
                    r.server(json!({"type":"connected","payload":{"region":"US_EAST_VIRGINIA","token":{"identity":"alice","ttl":ttl}}}));
                    if r.engine.state() == DeviceState::Registering {
                        r.server(json!({"type":"ready","payload":{}}));
                    }
                }
                Err(e) => {
                    r.server(json!({"type":"error","payload":{"error":{"code":e.twilio_code(),"message":e.to_string()}}}));
                }
            }
        }
        if r.device_events
            .iter()
            .any(|e| matches!(e, DeviceEvent::TokenWillExpire))
        {
            r.device_events
                .retain(|e| !matches!(e, DeviceEvent::TokenWillExpire));
            refreshes += 1;
            let fresh = mint(unix(&r));
            r.engine.update_token(fresh, r.now).unwrap();
            r.drain();
            continue;
        }
        r.advance(Duration::from_secs(1));
    }
    assert!(
        refreshes >= 11,
        "a 60 s token refreshed every ~50 s: {refreshes}; events {:?}; state {:?}",
        r.device_events,
        r.engine.state()
    );
    assert!(answered_listens >= refreshes);
    assert_eq!(r.engine.state(), DeviceState::Registered);
    let bad: Vec<&DeviceEvent> = r
        .device_events
        .iter()
        .filter(|e| matches!(e, DeviceEvent::Unregistered | DeviceEvent::Error { .. }))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}
