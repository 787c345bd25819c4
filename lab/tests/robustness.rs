//! Property tests: no input a client can send makes the frame parser or the switch panic, and
//! everything the switch sends is a heartbeat or a well-formed frame.

use std::time::{Duration, Instant};

use offhook_lab::config::now_unix;
use offhook_lab::frames::parse_client_frame;
use offhook_lab::switch::{Input, MediaCommand, MediaEvent, Now, Output, Switch, SwitchConfig};
use offhook_lab::{Credentials, LabConfig, LabError};
use proptest::prelude::*;
use serde_json::{Value, json};

const KINDS: &[&str] = &[
    "listen", "register", "invite", "answer", "reject", "hangup", "dtmf", "reinvite", "message",
    "presence", "",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
        Just(json!("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n")),
        Just(json!("TJS1")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("callsid".to_string()),
                    Just("sdp".to_string()),
                    Just("token".to_string()),
                    Just("media".to_string()),
                    Just("audio".to_string()),
                    Just("reconnect".to_string()),
                    Just("twilio".to_string()),
                    Just("params".to_string()),
                    Just("dtmf".to_string()),
                    Just("content".to_string()),
                    Just("messagetype".to_string()),
                    Just("voiceeventsid".to_string()),
                    "[a-z]{1,8}",
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Frames shaped like the protocol (known types, payloads of random JSON) or plain junk.
fn frame() -> impl Strategy<Value = String> {
    prop_oneof![
        (prop::sample::select(KINDS), json_value()).prop_map(|(kind, payload)| {
            json!({ "type": kind, "version": "1.6", "payload": payload }).to_string()
        }),
        ".{0,64}",
        Just("\n".to_string()),
        json_value().prop_map(|v| v.to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics(text in ".{0,200}") {
        let _ = parse_client_frame(&text);
    }

    #[test]
    fn parser_never_panics_on_protocol_shaped_frames(text in frame()) {
        let _ = parse_client_frame(&text);
    }

    #[test]
    fn switch_survives_any_frame_sequence(frames in prop::collection::vec((0u64..2, frame()), 1..30), listen_first in any::<bool>()) {
        let creds = Credentials::generate();
        let mut sw = Switch::new(SwitchConfig::from(&LabConfig::new(creds.clone())));
        let mut now = Now { at: Instant::now(), unix_ms: now_unix() * 1000 };
        for conn in 0..2 {
            sw.handle(Input::ConnOpened { conn, peer: "127.0.0.1:9".parse().unwrap(), user_agent: None }, now);
            if listen_first {
                let listen = json!({ "type": "listen", "payload": { "token": creds.token("p", 600), "reconnectTimeout": 5 } });
                sw.handle(Input::Frame { conn, text: listen.to_string() }, now);
                sw.handle(Input::Frame { conn, text: r#"{"type":"register","payload":{"media":{"audio":true}}}"#.into() }, now);
            }
        }
        let mut media_ok = false;
        for (conn, text) in frames {
            sw.handle(Input::Frame { conn, text }, now);
            now = now.plus(Duration::from_millis(700));
            sw.handle_timeout(now);
            while let Some(out) = sw.poll_output() {
                match out {
                    Output::Send { text, .. }
                        if text != "\n" => {
                            let v: Value = serde_json::from_str(&text).expect("the lab sends JSON");
                            prop_assert!(v["type"].is_string() && v["payload"].is_object() && v["version"] == "");
                        }
                    // The media layer alternates between accepting and refusing the SDP.
                    Output::Media(MediaCommand::CreateWebrtc { leg, .. }) => {
                        media_ok = !media_ok;
                        let result = if media_ok { Ok("v=0\r\n".to_string()) } else { Err(LabError::Sdp("bad SDP".into())) };
                        sw.handle(Input::Media(MediaEvent::Ready { leg, result }), now);
                    }
                    Output::Media(MediaCommand::AcceptAnswer { leg, .. }) => {
                        sw.handle(Input::Media(MediaEvent::AnswerApplied { leg, result: Ok(()) }), now);
                    }
                    _ => {}
                }
            }
        }
        sw.handle(Input::ConnClosed { conn: 0 }, now);
        sw.handle_timeout(now.plus(Duration::from_secs(120)));
        while sw.poll_output().is_some() {}
    }
}
