//! The switch with a virtual clock and a scripted media layer: timers, TwiML flows, dialling.
//!
//! - `dial_status` — `<Dial action>`'s `DialCallStatus` when the dialled parties are clients.
//! - `dial_progress` — the `statusCallback`s of `<Dial>`'s nouns.
//! - `gather` — `<Gather>` and keypad input.
//! - `record` — `<Record>`, its callbacks and the recordings it leaves.

mod dial_progress;
mod dial_status;
mod gather;
mod record;

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::config::{Credentials, now_unix};
use crate::control::types::StartCall;
use crate::signature::twilio_signature;

/// Where the harness's lab serves Twilio's REST API.
const API: &str = "http://lab.example:7000";

struct Harness {
    sw: Switch,
    now: Now,
    sent: Vec<(ConnId, Value)>,
    heartbeats: usize,
    closed: Vec<(ConnId, bool)>,
    webhooks: Vec<(String, u64, WebhookRequest)>,
    plays: Vec<(String, u64, Vec<PlayItem>)>,
    media: Vec<MediaCommand>,
    creds: Credentials,
}

impl Harness {
    fn new(app_url: Option<&str>, number_url: Option<&str>) -> Self {
        let mut cfg = SwitchConfig::from(&LabConfig::new(Credentials::generate()));
        cfg.app_url = app_url.map(str::to_string);
        cfg.number_url = number_url.map(str::to_string);
        cfg.api_base_url = API.to_string();
        let creds = cfg.credentials.clone();
        Harness {
            sw: Switch::new(cfg),
            now: Now {
                at: Instant::now(),
                unix_ms: now_unix() * 1000,
            },
            sent: Vec::new(),
            heartbeats: 0,
            closed: Vec::new(),
            webhooks: Vec::new(),
            plays: Vec::new(),
            media: Vec::new(),
            creds,
        }
    }

    /// Runs outputs; the fake media layer answers SDP requests at once.
    fn drain(&mut self) {
        while let Some(out) = self.sw.poll_output() {
            match out {
                Output::Send { conn, text } if text == "\n" => {
                    let _ = conn;
                    self.heartbeats += 1;
                }
                Output::Send { conn, text } => {
                    self.sent.push((conn, serde_json::from_str(&text).unwrap()))
                }
                Output::Close { conn, close_frame } => self.closed.push((conn, close_frame)),
                Output::Webhook { call, seq, request } => self.webhooks.push((call, seq, request)),
                Output::Media(MediaCommand::CreateWebrtc { leg, offer }) => {
                    let sdp = if offer.is_some() {
                        "v=0 answer"
                    } else {
                        "v=0 offer"
                    };
                    self.sw.handle(
                        Input::Media(MediaEvent::Ready {
                            leg,
                            result: Ok(sdp.into()),
                        }),
                        self.now,
                    );
                }
                Output::Media(MediaCommand::AcceptAnswer { leg, .. }) => {
                    self.sw.handle(
                        Input::Media(MediaEvent::AnswerApplied {
                            leg,
                            result: Ok(()),
                        }),
                        self.now,
                    );
                }
                Output::Media(MediaCommand::Play {
                    leg, token, items, ..
                }) => self.plays.push((leg, token, items)),
                Output::Media(other) => self.media.push(other),
            }
        }
    }

    fn input(&mut self, input: Input) {
        self.sw.handle(input, self.now);
        self.drain();
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now.plus(d);
        // Step through every deadline on the way, as the shell would.
        while let Some(deadline) = self.sw.next_deadline().filter(|d| *d <= end.at) {
            let step = deadline.saturating_duration_since(self.now.at);
            self.now = self.now.plus(step);
            self.sw.handle_timeout(self.now);
            self.drain();
        }
        self.now = end;
        self.sw.handle_timeout(self.now);
        self.drain();
    }

    fn frame(&mut self, conn: ConnId, kind: &str, payload: Value) {
        let text = json!({ "type": kind, "version": "1.6", "payload": payload }).to_string();
        self.input(Input::Frame { conn, text });
    }

    fn online(&mut self, conn: ConnId, identity: &str, reconnect_timeout: u64) {
        self.input(Input::ConnOpened {
            conn,
            peer: "127.0.0.1:1".parse().unwrap(),
            user_agent: None,
        });
        let token = self.creds.token(identity, 600);
        self.frame(
            conn,
            "listen",
            json!({ "token": token, "reconnectTimeout": reconnect_timeout }),
        );
        self.frame(conn, "register", json!({ "media": { "audio": true } }));
        assert_eq!(self.take(conn), ["connected", "ready"]);
    }

    /// Types of the frames sent to `conn` since the last call.
    fn take(&mut self, conn: ConnId) -> Vec<String> {
        self.take_frames(conn)
            .iter()
            .map(|f| f["type"].as_str().unwrap().to_string())
            .collect()
    }

    fn take_frames(&mut self, conn: ConnId) -> Vec<Value> {
        let (mine, rest): (Vec<_>, Vec<_>) = self.sent.drain(..).partition(|(c, _)| *c == conn);
        self.sent = rest;
        mine.into_iter().map(|(_, v)| v).collect()
    }

    fn invite(&mut self, conn: ConnId, to: &str) {
        let params = format!("To={}", crate::frames::uri_component(to));
        self.frame(
            conn,
            "invite",
            json!({ "callsid": "TJS1", "sdp": "v=0 offer", "twilio": { "params": params } }),
        );
    }

    fn reply_webhook(&mut self, body: Result<&str, LabError>) -> WebhookRequest {
        let (call, seq, request) = self.webhooks.remove(0);
        self.input(Input::Webhook {
            call,
            seq,
            result: body.map(str::to_string),
        });
        request
    }

    fn finish_plays(&mut self) {
        for (leg, token, _) in std::mem::take(&mut self.plays) {
            self.input(Input::Media(MediaEvent::PlayDone { leg, token }));
        }
    }

    /// An inbound call from a virtual caller to the lab's number; returns its SID.
    fn inbound(&mut self, caller: Behaviour) -> String {
        let start = StartCall {
            from: "+15557654321".into(),
            to: self.creds.phone_number.clone(),
            caller,
            timeout_secs: None,
            params: Vec::new(),
        };
        let reply = self.sw.control(ControlRequest::StartCall(start), self.now);
        let Ok(ControlReply::Started(started)) = reply else {
            panic!("{reply:?}")
        };
        self.drain();
        started.call_sid
    }

    /// Sends the pending webhook whose URL starts with `url` and answers it.
    fn reply_to(&mut self, url: &str, body: Result<&str, LabError>) -> WebhookRequest {
        let i = self
            .webhooks
            .iter()
            .position(|(_, _, r)| r.url.starts_with(url))
            .unwrap_or_else(|| panic!("no request to {url}: {:?}", self.webhooks));
        let (call, seq, request) = self.webhooks.remove(i);
        self.input(Input::Webhook {
            call,
            seq,
            result: body.map(str::to_string),
        });
        request
    }

    fn phase(&mut self, call: &str) -> String {
        match self
            .sw
            .control(ControlRequest::Call(call.to_string()), self.now)
        {
            Ok(ControlReply::Call(c)) => c.phase,
            other => panic!("{other:?}"),
        }
    }

    fn calls(&mut self) -> Vec<crate::control::types::CallInfo> {
        match self.sw.control(ControlRequest::Calls, self.now) {
            Ok(ControlReply::Calls(c)) => c,
            other => panic!("{other:?}"),
        }
    }
}

fn param<'a>(req: &'a WebhookRequest, name: &str) -> Option<&'a str> {
    req.params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn heartbeats_follow_the_interval_and_expiry_is_announced() {
    let mut h = Harness::new(None, None);
    h.input(Input::ConnOpened {
        conn: 1,
        peer: "127.0.0.1:1".parse().unwrap(),
        user_agent: None,
    });
    let token = h.creds.token("a", 60);
    h.frame(1, "listen", json!({ "token": token }));
    assert_eq!(h.take(1), ["connected"]);
    h.advance(Duration::from_secs(21));
    assert_eq!(h.heartbeats, 4, "every 5 s");
    h.advance(Duration::from_secs(40));
    let frames = h.take_frames(1);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0]["payload"]["error"]["code"], 31205);
}

#[test]
fn no_answer_number_times_out_with_31480() {
    let mut h = Harness::new(None, None);
    h.online(1, "alice", 0);
    h.invite(1, "+12025550104");
    let ringing = h.take_frames(1);
    assert_eq!(ringing[0]["type"], "ringing");
    assert_eq!(ringing[0]["payload"]["sdp"], "v=0 answer");
    h.advance(Duration::from_secs(29));
    assert!(h.take(1).is_empty());
    h.advance(Duration::from_secs(2));
    let hangup = h.take_frames(1);
    assert_eq!(hangup[0]["type"], "hangup");
    assert_eq!(hangup[0]["payload"]["error"]["code"], 31480);
    let calls = h.calls();
    assert_eq!(calls[0].legs[1].state, "no-answer");
    assert_eq!(calls[0].legs[0].error.as_ref().map(|e| e.code), Some(31480));
}

#[test]
fn reconnect_window_follows_reconnect_timeout() {
    let mut h = Harness::new(None, None);
    h.online(1, "alice", 10);
    h.invite(1, "+12025550100");
    assert_eq!(h.take(1), ["ringing", "answer"]);
    h.input(Input::ConnClosed { conn: 1 });
    h.advance(Duration::from_secs(9));
    assert_eq!(h.calls()[0].phase, "bridged");
    h.advance(Duration::from_secs(2));
    let call = &h.calls()[0];
    assert_eq!(call.phase, "ended");
    assert_eq!(
        call.legs[0].end_reason.as_deref(),
        Some("reconnect-timeout")
    );
    assert!(
        h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Close { .. }))
    );
}

#[test]
fn zero_reconnect_timeout_ends_the_call_with_the_socket() {
    let mut h = Harness::new(None, None);
    h.online(1, "alice", 0);
    h.invite(1, "+12025550100");
    h.input(Input::ConnClosed { conn: 1 });
    assert_eq!(h.calls()[0].phase, "ended");
}

#[test]
fn app_webhook_is_signed_and_say_then_hangup_runs() {
    let url = "http://app.example/voice?x=1";
    let mut h = Harness::new(Some(url), None);
    h.online(1, "alice", 0);
    h.frame(1, "invite", json!({ "callsid": "TJS1", "sdp": "v=0", "twilio": { "params": "To=%2B15551234567&topic=a%20b" } }));
    assert!(h.take(1).is_empty(), "nothing until the TwiML is known");
    let (_, _, req) = &h.webhooks[0];
    assert_eq!(req.url, url);
    assert_eq!(
        req.signature,
        twilio_signature(&h.creds.auth_token, url, &req.params)
    );
    assert_eq!(param(req, "To"), Some("+15551234567"));
    assert_eq!(param(req, "Called"), Some("+15551234567"));
    assert_eq!(param(req, "From"), Some("client:alice"));
    assert_eq!(param(req, "topic"), Some("a b"));
    assert_eq!(param(req, "ApplicationSid"), Some(h.creds.app_sid.as_str()));
    h.reply_webhook(Ok(
        "<Response><Say>Hello there</Say><Pause length=\"2\"/><Hangup/></Response>",
    ));
    let answer = h.take_frames(1);
    assert_eq!(answer[0]["type"], "answer");
    assert!(
        answer[0]["payload"]["sdp"].is_string() && answer[0]["payload"]["reconnect"].is_string()
    );
    assert_eq!(h.plays[0].2, vec![PlayItem::Say("Hello there".into())]);
    h.finish_plays();
    assert_eq!(
        h.plays[0].2,
        vec![PlayItem::Silence(Duration::from_secs(2))]
    );
    h.finish_plays();
    let hangup = h.take_frames(1);
    assert_eq!(hangup[0]["type"], "hangup");
    assert!(hangup[0]["payload"].get("error").is_none());
}

#[test]
fn bad_twiml_and_unreachable_urls_fail_like_twilio() {
    for (reply, code) in [
        (Ok("<Response><Say>x</Response>"), 12100),
        (Ok("<Response><Dance/></Response>"), 12200),
        (
            Err(LabError::Io(std::io::ErrorKind::ConnectionRefused.into())),
            11200,
        ),
    ] {
        let mut h = Harness::new(Some("http://app.example/voice"), None);
        h.online(1, "alice", 0);
        h.invite(1, "+15551234567");
        h.reply_webhook(reply);
        assert_eq!(h.take(1), ["answer"]);
        assert!(matches!(&h.plays[0].2[0], PlayItem::Say(t) if t.contains("application error")));
        h.finish_plays();
        assert_eq!(h.take(1), ["hangup"]);
        assert_eq!(h.calls()[0].errors[0].code, code);
    }
}

#[test]
fn reject_verb_refuses_an_unanswered_client_call() {
    let mut h = Harness::new(Some("http://app.example/voice"), None);
    h.online(1, "alice", 0);
    h.invite(1, "+15551234567");
    h.reply_webhook(Ok("<Response><Reject reason=\"busy\"/></Response>"));
    let frames = h.take_frames(1);
    assert_eq!(frames[0]["type"], "hangup");
    assert_eq!(
        frames[0]["payload"]["callsid"], "TJS1",
        "the SDK only knows its temporary id"
    );
    assert_eq!(frames[0]["payload"]["error"]["code"], 31486);
}

#[test]
fn dial_action_gets_the_dial_status_and_its_twiml_runs() {
    let mut h = Harness::new(Some("http://app.example/voice"), None);
    h.online(1, "alice", 0);
    h.invite(1, "+15551234567");
    h.reply_webhook(Ok("<Response><Dial action=\"/after\" timeout=\"5\"><Number>+12025550104</Number></Dial></Response>"));
    assert_eq!(h.take(1), ["answer"], "no answerOnBridge: answered at once");
    assert!(matches!(h.plays[0].2[0], PlayItem::Ringback));
    h.plays.clear();
    h.advance(Duration::from_secs(6));
    let (_, _, req) = &h.webhooks[0];
    assert_eq!(req.url, "http://app.example/after");
    assert_eq!(param(req, "DialCallStatus"), Some("no-answer"));
    assert_eq!(param(req, "CallStatus"), Some("in-progress"));
    h.reply_webhook(Ok("<Response><Say>Nobody home</Say></Response>"));
    assert_eq!(h.plays[0].2, vec![PlayItem::Say("Nobody home".into())]);
    h.finish_plays();
    let hangup = h.take_frames(1);
    assert_eq!(hangup[0]["type"], "hangup");
    assert!(
        hangup[0]["payload"].get("error").is_none(),
        "answered calls end without an error"
    );
}

#[test]
fn inbound_number_webhook_carries_pstn_parameters_and_rings_the_client() {
    let mut h = Harness::new(None, Some("http://server.example/hooks/voice"));
    h.online(1, "alice", 0);
    let start = StartCall {
        from: "+447381234567".into(),
        to: h.creds.phone_number.clone(),
        caller: Behaviour::Silence,
        timeout_secs: None,
        params: Vec::new(),
    };
    let Ok(ControlReply::Started(started)) = h.sw.control(ControlRequest::StartCall(start), h.now)
    else {
        panic!()
    };
    h.drain();
    let (_, _, req) = &h.webhooks[0];
    for (k, v) in [
        ("From", "+447381234567"),
        ("Caller", "+447381234567"),
        ("Direction", "inbound"),
        ("CallStatus", "ringing"),
        ("CallerCountry", "US"),
        ("ToZip", ""),
    ] {
        assert_eq!(param(req, k), Some(v), "{k}");
    }
    assert_eq!(param(req, "To"), Some(h.creds.phone_number.as_str()));
    assert_eq!(param(req, "CallSid"), Some(started.call_sid.as_str()));
    assert!(param(req, "ApplicationSid").is_none());
    h.reply_webhook(Ok(
        "<Response><Dial answerOnBridge=\"true\"><Client>alice</Client></Dial></Response>",
    ));
    let invite = h.take_frames(1);
    assert_eq!(invite[0]["type"], "invite");
    assert_eq!(invite[0]["payload"]["parameters"]["From"], "+447381234567");
    assert!(invite[0]["payload"]["parameters"].get("Params").is_none());
    let child = invite[0]["payload"]["callsid"]
        .as_str()
        .unwrap()
        .to_string();
    h.frame(
        1,
        "answer",
        json!({ "callsid": child, "sdp": "v=0 client answer" }),
    );
    assert!(
        h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::Bridge { .. }))
    );
    assert_eq!(h.calls()[0].phase, "bridged");
}

#[test]
fn second_device_is_cancelled_when_the_first_answers() {
    let mut h = Harness::new(None, None);
    h.online(1, "bob", 0);
    h.online(2, "bob", 0);
    h.online(3, "alice", 0);
    h.invite(3, "client:bob");
    let a = h.take_frames(1);
    let b = h.take_frames(2);
    assert_eq!(
        (a[0]["type"].as_str(), b[0]["type"].as_str()),
        (Some("invite"), Some("invite"))
    );
    let sid_a = a[0]["payload"]["callsid"].as_str().unwrap().to_string();
    let sid_b = b[0]["payload"]["callsid"].as_str().unwrap().to_string();
    h.frame(1, "answer", json!({ "callsid": sid_a, "sdp": "v=0" }));
    let cancel = h.take_frames(2);
    assert_eq!(cancel[0]["type"], "cancel");
    assert_eq!(cancel[0]["payload"]["callsid"], sid_b.as_str());
    assert_eq!(h.take(3), ["ringing", "answer"]);
}

#[test]
fn caller_gives_up_after_its_timeout() {
    let mut h = Harness::new(None, None);
    h.online(1, "bob", 0);
    let start = StartCall {
        from: "+15550000000".into(),
        to: "client:bob".into(),
        caller: Behaviour::Tone { hz: 440.0 },
        timeout_secs: Some(4),
        params: Vec::new(),
    };
    h.sw.control(ControlRequest::StartCall(start), h.now)
        .unwrap();
    h.drain();
    assert_eq!(h.take(1), ["invite"]);
    h.advance(Duration::from_secs(3));
    assert!(h.take(1).is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(h.take(1), ["cancel"]);
    assert_eq!(h.calls()[0].legs[1].state, "canceled");
}

#[test]
fn unregistered_client_is_unavailable_at_once() {
    let mut h = Harness::new(None, None);
    h.online(1, "alice", 0);
    h.invite(1, "client:nobody");
    let frames = h.take_frames(1);
    assert_eq!(frames[1]["type"], "hangup");
    assert_eq!(frames[1]["payload"]["error"]["code"], 31480);
}

#[test]
fn dtmf_frames_are_recorded_and_forwarded_to_the_peer() {
    let mut h = Harness::new(None, None);
    h.online(1, "alice", 0);
    h.invite(1, "+12025550102");
    let frames = h.take_frames(1);
    let sid = frames[1]["payload"]["callsid"]
        .as_str()
        .unwrap()
        .to_string();
    h.frame(1, "dtmf", json!({ "callsid": sid, "dtmf": "12w#" }));
    let call = &h.calls()[0];
    let digits: String = call.legs[0]
        .signaling_dtmf
        .iter()
        .map(|d| d.digit)
        .collect();
    assert_eq!(digits, "12#");
    assert!(
        h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::ForwardDtmf { digits, .. } if digits == "12w#"))
    );
}

#[test]
fn dialling_a_client_rings_without_early_media_and_answers_with_sdp() {
    let mut h = Harness::new(None, None);
    h.online(1, "alice", 0);
    h.online(2, "bob", 0);
    h.invite(1, "client:bob");
    let ringing = h.take_frames(1);
    assert_eq!(ringing[0]["type"], "ringing");
    assert!(
        ringing[0]["payload"].get("sdp").is_none(),
        "no early media from a client"
    );
    assert!(h.plays.is_empty(), "no ringback without media");
    let invite = h.take_frames(2);
    let child = invite[0]["payload"]["callsid"]
        .as_str()
        .unwrap()
        .to_string();
    h.frame(2, "answer", json!({ "callsid": child, "sdp": "v=0" }));
    let answer = h.take_frames(1);
    assert_eq!(answer[0]["type"], "answer");
    assert_eq!(answer[0]["payload"]["sdp"], "v=0 answer");
}

#[test]
fn dial_time_limit_ends_the_bridge() {
    let mut h = Harness::new(Some("http://app.example/voice"), None);
    h.online(1, "alice", 0);
    h.invite(1, "+15551234567");
    h.reply_webhook(Ok("<Response><Dial timeLimit=\"3\"><Number>+12025550100</Number></Dial><Say>Time is up</Say></Response>"));
    assert_eq!(h.calls()[0].phase, "bridged");
    h.plays.clear();
    h.advance(Duration::from_secs(4));
    let call = &h.calls()[0];
    assert_eq!(call.legs[1].end_reason.as_deref(), Some("time-limit"));
    assert_eq!(h.plays[0].2, vec![PlayItem::Say("Time is up".into())]);
}
