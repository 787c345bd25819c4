//! The lab's signaling, driven by a raw WebSocket client: tokens, registration, heartbeats,
//! calls to virtual numbers, incoming calls, cancel, reconnection and broken input.

mod common;

use std::time::Duration;

use common::phone::Phone;
use common::{Ws, lab};
use offhook_lab::config::now_unix;
use offhook_lab::control::types::NextErrorFault;
use serde_json::{Value, json};

#[tokio::test]
async fn listen_connects_and_register_toggles() {
    let lab = lab().await;
    let mut ws = Ws::connect(&lab).await;
    let connected = ws.listen(&lab.credentials.token("alice", 600), 0).await;
    assert_eq!(connected["token"]["identity"], "alice");
    let ttl = connected["token"]["ttl"].as_u64().unwrap();
    assert!((598..=600).contains(&ttl), "{ttl}");
    assert_eq!(connected["region"], "US_EAST_VIRGINIA");
    assert!(
        connected["gateway"].is_string()
            && connected["edge"].is_string()
            && connected["home"].is_string()
    );
    ws.register().await;
    ws.send("register", json!({ "media": { "audio": false } }))
        .await;
    ws.expect("offline").await;
    // A token update on the live socket is answered with a fresh `connected`.
    let again = ws.listen(&lab.credentials.token("alice", 120), 0).await;
    assert!(again["token"]["ttl"].as_u64().unwrap() <= 120);
    let conns = lab.control().connections().await.unwrap();
    assert_eq!(conns[0].identity.as_deref(), Some("alice"));
    assert!(
        conns[0]
            .frames
            .iter()
            .any(|f| f.kind == "register" && f.direction == "in")
    );
}

async fn refused(lab: &offhook_lab::LabHandle, token: &str) -> (u64, String) {
    let mut ws = Ws::connect(lab).await;
    ws.send("listen", json!({ "token": token })).await;
    let error = ws.expect("error").await;
    ws.expect("close").await;
    assert!(
        ws.closed().await,
        "the lab closes the socket after a refused token"
    );
    (
        error["error"]["code"].as_u64().unwrap(),
        error["error"]["message"].as_str().unwrap().to_string(),
    )
}

#[tokio::test]
async fn bad_tokens_get_twilio_codes_then_close() {
    let lab = lab().await;
    let creds = &lab.credentials;
    let mut wrong = creds.clone();
    wrong.api_key_secret = "not-the-secret".into();
    assert_eq!(
        refused(&lab, &wrong.token("a", 600)).await,
        (31202, "JWT signature validation failed".into())
    );
    let expired = creds.token_with("a", 60, now_unix() - 3600, creds.voice_grant(true, true));
    assert_eq!(refused(&lab, &expired).await.0, 31205);
    assert_eq!(refused(&lab, "not.a.jwt").await.0, 31204);
    let too_long = creds.token_with("a", 25 * 3600, now_unix(), creds.voice_grant(true, true));
    assert_eq!(refused(&lab, &too_long).await.0, 31207);
    let mut other_account = creds.clone();
    other_account.account_sid = "AC00000000000000000000000000000000".into();
    assert_eq!(refused(&lab, &other_account.token("a", 600)).await.0, 31203);
    assert_eq!(refused(&lab, &creds.token("bad name", 600)).await.0, 31105);
}

#[tokio::test]
async fn no_incoming_grant_refuses_registration_and_no_outgoing_grant_refuses_calls() {
    let lab = lab().await;
    let creds = &lab.credentials;
    let mut ws = Ws::connect(&lab).await;
    ws.listen(
        &creds.token_with("bob", 600, now_unix(), creds.voice_grant(false, false)),
        0,
    )
    .await;
    ws.send("register", json!({ "media": { "audio": true } }))
        .await;
    assert_eq!(ws.expect("error").await["error"]["code"], 31201);
    ws.expect("offline").await;
    let phone = Phone::offer(700.0).await;
    ws.send(
        "invite",
        json!({ "callsid": "TJSx", "sdp": phone.sdp, "twilio": {} }),
    )
    .await;
    let hangup = ws.expect("hangup").await;
    assert_eq!(hangup["callsid"], "TJSx");
    assert_eq!(hangup["error"]["code"], 31201);
}

#[tokio::test]
async fn register_before_listen_is_31204_and_expiry_is_announced() {
    let lab = lab().await;
    let mut ws = Ws::connect(&lab).await;
    ws.send("register", json!({ "media": { "audio": true } }))
        .await;
    assert_eq!(ws.expect("error").await["error"]["code"], 31204);
    let connected = ws.listen(&lab.credentials.token("carol", 2), 0).await;
    assert!(connected["token"]["ttl"].as_u64().unwrap() <= 2);
    ws.register().await;
    // When the token runs out on a live socket the lab says so.
    assert_eq!(ws.expect("error").await["error"]["code"], 31205);
    ws.send("register", json!({ "media": { "audio": true } }))
        .await;
    assert_eq!(ws.expect("error").await["error"]["code"], 31205);
}

#[tokio::test]
async fn heartbeats_arrive_and_can_be_stopped() {
    let lab = lab().await;
    let mut ws = Ws::online(&lab, "dave").await;
    assert!(ws.try_recv(Duration::from_millis(1300)).await.is_none());
    assert!(
        ws.heartbeats >= 2,
        "heartbeats every 500 ms, got {}",
        ws.heartbeats
    );
    lab.control().fault_stop_heartbeats("dave").await.unwrap();
    let before = ws.heartbeats;
    assert!(ws.try_recv(Duration::from_millis(1200)).await.is_none());
    assert_eq!(ws.heartbeats, before);
}

#[tokio::test]
async fn broken_frames_get_errors_and_the_lab_lives_on() {
    let lab = lab().await;
    let mut ws = Ws::online(&lab, "erin").await;
    ws.send_text("{not json").await;
    assert_eq!(ws.expect("error").await["error"]["code"], 31100);
    ws.send("presence", json!({})).await;
    assert_eq!(ws.expect("error").await["error"]["code"], 31100);
    ws.send_text(r#"{"type":"invite","payload":{"callsid":5}}"#)
        .await;
    assert_eq!(ws.expect("error").await["error"]["code"], 31100);
    ws.send_text(&format!(
        r#"{{"type":"listen","payload":{{"token":"{}"}}}}"#,
        "x".repeat(70_000)
    ))
    .await;
    assert_eq!(ws.expect("error").await["error"]["code"], 31103);
    // Broken SDP in an invite fails that call only.
    ws.send(
        "invite",
        json!({ "callsid": "TJSbad", "sdp": "v=0\r\nm=video 9 X 1\r\n", "twilio": {} }),
    )
    .await;
    let hangup = ws.expect("hangup").await;
    assert_eq!(
        (hangup["callsid"].as_str(), hangup["error"]["code"].as_u64()),
        (Some("TJSbad"), Some(31400))
    );
    ws.send(
        "invite",
        json!({ "callsid": "TJSbad2", "sdp": "garbage", "twilio": {} }),
    )
    .await;
    assert_eq!(ws.expect("hangup").await["error"]["code"], 31400);
    // A WebSocket message over 1 MB closes the socket; the lab still serves others.
    ws.send_text(&"y".repeat(1_100_000)).await;
    assert!(ws.closed().await);
    Ws::online(&lab, "erin").await;
}

/// Places a call from a raw client with a str0m phone. Built-in routing dials with
/// `answerOnBridge`: `ringing` carries the SDP, `answer` the reconnect token. Returns the phone
/// (with the lab's SDP applied) and the `answer` payload with the SDP copied in.
async fn call(ws: &mut Ws, to: &str) -> (Phone, Value) {
    let phone = Phone::offer(700.0).await;
    let params = format!("To={}", offhook_lab::frames::uri_component(to));
    ws.send(
        "invite",
        json!({ "callsid": "TJS1", "sdp": phone.sdp, "twilio": { "params": params } }),
    )
    .await;
    let ringing = ws.expect("ringing").await;
    let mut answer = ws.expect("answer").await;
    assert_eq!(answer["callsid"], ringing["callsid"]);
    assert!(answer.get("sdp").is_none(), "the SDP came with ringing");
    let sdp = ringing["sdp"]
        .as_str()
        .expect("early-media SDP")
        .to_string();
    phone
        .accept(&sdp)
        .await
        .expect("str0m accepts the lab's answer");
    answer["sdp"] = json!(sdp);
    (phone, answer)
}

#[tokio::test]
async fn call_to_the_echo_number_answers_with_twilio_sdp_and_media_flows() {
    let lab = lab().await;
    let mut ws = Ws::online(&lab, "frank").await;
    let (phone, answer) = call(&mut ws, "+12025550100").await;
    let sid = answer["callsid"].as_str().unwrap().to_string();
    assert!(offhook_lab::sid::is_sid(&sid, "CA"), "{sid}");
    assert!(answer["reconnect"].as_str().is_some_and(|t| !t.is_empty()));
    let sdp = answer["sdp"].as_str().unwrap();
    for needle in [
        "s=Twilio Media Gateway\r\n",
        "a=ice-lite\r\n",
        "RTP/SAVPF",
        "a=setup:active\r\n",
        "a=rtpmap:0 PCMU/8000\r\n",
        "telephone-event/8000\r\n",
        "a=ptime:20\r\n",
        "a=end-of-candidates\r\n",
        "typ host\r\n",
        "a=rtcp-mux\r\n",
        "a=sendrecv\r\n",
    ] {
        assert!(sdp.contains(needle), "answer SDP lacks {needle:?}:\n{sdp}");
    }
    assert!(sdp.starts_with("v=0\r\no=root "));
    assert_eq!(sdp.matches("a=candidate:").count(), 1);
    assert!(!sdp.replace("\r\n", "").contains('\n'), "CRLF only");
    phone.wait("ICE+DTLS", |h| h.connected).await;
    // The echo sends our 700 Hz tone back.
    phone
        .wait("the echo", |h| {
            h.analyzer
                .dominant_hz()
                .is_some_and(|f| (f - 700.0).abs() < 5.0)
        })
        .await;
    phone.dtmf('5');
    let control = lab.control();
    let call = control
        .wait_for_call(common::WAIT, |c| {
            // The phone's leg records the event; the echo number gets it when it ends.
            c.legs.len() == 2
                && c.legs.iter().all(|l| {
                    l.media.as_ref().is_some_and(|m| {
                        m.dtmf
                            .iter()
                            .any(|d| d.digit == '5' && d.duration_ms.is_some())
                    })
                })
        })
        .await
        .unwrap();
    let parent = &call.legs[0];
    let media = parent.media.as_ref().unwrap();
    assert_eq!(media.kind, "webrtc");
    assert!(
        media.ice_connected && media.packets_in > 3 && media.packets_out > 3,
        "{media:?}"
    );
    assert_eq!(media.codec_in.as_deref(), Some("PCMU"));
    assert!(
        (media.dominant_hz.unwrap() - 700.0).abs() < 5.0,
        "{media:?}"
    );
    let echo = &call.legs[1];
    assert_eq!(
        (echo.endpoint.as_str(), echo.state.as_str()),
        ("+12025550100", "in-progress")
    );
    assert!(
        echo.media
            .as_ref()
            .unwrap()
            .dtmf
            .iter()
            .any(|d| d.digit == '5')
    );
    // Hang up from the client.
    ws.send("hangup", json!({ "callsid": sid })).await;
    let call = control
        .wait_for_call(common::WAIT, |c| c.phase == "ended")
        .await
        .unwrap();
    assert!(call.legs.iter().all(|l| l.ended_unix_ms.is_some()));
    assert_eq!(call.legs[0].end_reason.as_deref(), Some("client-hangup"));
}

#[tokio::test]
async fn failing_numbers_end_the_call_with_their_codes() {
    let lab = lab().await;
    let mut ws = Ws::online(&lab, "gina").await;
    for (number, code) in [
        ("+12025550103", 31486),
        ("+12025550105", 31603),
        ("+19995550000", 31404),
    ] {
        let phone = Phone::offer(700.0).await;
        let params = format!("To={}", offhook_lab::frames::uri_component(number));
        ws.send(
            "invite",
            json!({ "callsid": "TJS2", "sdp": phone.sdp, "twilio": { "params": params } }),
        )
        .await;
        let ringing = ws.expect("ringing").await;
        assert!(
            ringing["sdp"]
                .as_str()
                .is_some_and(|s| s.contains("Twilio Media Gateway")),
            "early media"
        );
        let hangup = ws.expect("hangup").await;
        assert_eq!(hangup["error"]["code"], code, "{number}: {hangup}");
        assert_eq!(hangup["callsid"], ringing["callsid"]);
    }
}

#[tokio::test]
async fn slow_answer_rings_then_answers_without_sdp() {
    let lab = lab().await;
    let mut ws = Ws::online(&lab, "hank").await;
    let phone = Phone::offer(700.0).await;
    let started = std::time::Instant::now();
    ws.send(
        "invite",
        json!({ "callsid": "TJS3", "sdp": phone.sdp, "twilio": { "params": "To=%2B12025550106" } }),
    )
    .await;
    let ringing = ws.expect("ringing").await;
    let answer = ws.expect("answer").await;
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer["callsid"], ringing["callsid"]);
    assert!(answer.get("sdp").is_none(), "the SDP came with ringing");
    phone
        .accept(ringing["sdp"].as_str().unwrap())
        .await
        .unwrap();
    phone.wait("connected", |h| h.connected).await;
}

#[tokio::test]
async fn incoming_call_rings_the_client_and_cancel_follows_the_caller() {
    let lab = lab().await;
    let control = lab.control();
    let mut ws = Ws::online(&lab, "ivy").await;
    let sid = control
        .start_inbound_call(&offhook_lab::control::types::StartCall {
            from: "+15551234567".into(),
            to: "client:ivy".into(),
            caller: offhook_lab::Behaviour::Tone { hz: 440.0 },
            timeout_secs: Some(30),
            params: vec![("name".into(), "x y".into())],
        })
        .await
        .unwrap();
    let invite = ws.expect("invite").await;
    let child = invite["callsid"].as_str().unwrap().to_string();
    assert_ne!(child, sid);
    let p = &invite["parameters"];
    assert_eq!(p["From"], "+15551234567");
    assert_eq!(p["To"], "client:ivy");
    assert_eq!(p["CallSid"], child.as_str());
    assert_eq!(p["AccountSid"], lab.credentials.account_sid.as_str());
    assert_eq!(p["ApiVersion"], "2010-04-01");
    assert_eq!(p["Params"], "name=x%20y");
    assert!(invite["reconnect"].is_string());
    let offer = invite["sdp"].as_str().unwrap();
    assert!(
        offer.contains("a=setup:actpass\r\n") && offer.contains("a=mid:audio\r\n"),
        "{offer}"
    );
    assert!(
        offer.contains("m=audio ") && offer.contains(" RTP/SAVPF 107 0 101\r\n"),
        "{offer}"
    );
    // The caller gives up: the client gets `cancel`.
    control.hangup_call(&sid).await.unwrap();
    assert_eq!(ws.expect("cancel").await["callsid"], child.as_str());
}

#[tokio::test]
async fn incoming_call_answered_bridges_audio_and_reject_ends_the_caller() {
    let lab = lab().await;
    let control = lab.control();
    let mut ws = Ws::online(&lab, "jack").await;
    let sid = control
        .call_from("+15551234567", "client:jack", 30)
        .await
        .unwrap();
    let invite = ws.expect("invite").await;
    let child = invite["callsid"].as_str().unwrap().to_string();
    let phone = Phone::answer(invite["sdp"].as_str().unwrap(), 900.0)
        .await
        .expect("str0m answers the lab's offer");
    ws.send("answer", json!({ "callsid": child, "sdp": phone.sdp }))
        .await;
    phone.wait("connected", |h| h.connected).await;
    // The virtual caller's 440 Hz tone reaches the phone; the phone's 900 Hz reaches the caller.
    phone
        .wait("the caller's tone", |h| {
            h.analyzer
                .dominant_hz()
                .is_some_and(|f| (f - 440.0).abs() < 5.0)
        })
        .await;
    let call = control
        .wait_for_call(common::WAIT, |c| {
            c.legs[0]
                .media
                .as_ref()
                .and_then(|m| m.dominant_hz)
                .is_some_and(|f| (f - 900.0).abs() < 5.0)
        })
        .await
        .unwrap();
    assert_eq!(call.phase, "bridged");
    // The caller hangs up: the client gets `hangup`.
    control.hangup_call(&sid).await.unwrap();
    assert_eq!(ws.expect("hangup").await["callsid"], child.as_str());

    // A rejected call ends the caller's leg.
    let sid = control
        .call_from("+15551234567", "client:jack", 30)
        .await
        .unwrap();
    let invite = ws.expect("invite").await;
    ws.send("reject", json!({ "callsid": invite["callsid"] }))
        .await;
    let call = control
        .wait_for_call(common::WAIT, |c| c.sid == sid && c.phase == "ended")
        .await
        .unwrap();
    assert_eq!(call.legs[1].state, "busy");
    assert_eq!(call.legs[1].end_reason.as_deref(), Some("rejected"));
}

#[tokio::test]
async fn reconnect_token_brings_a_call_back_within_the_timeout() {
    let lab = lab().await;
    let control = lab.control();
    let token = lab.credentials.token("kim", 600);
    let mut ws = common::Ws::connect(&lab).await;
    ws.listen(&token, 5).await;
    ws.register().await;
    let (phone, answer) = call(&mut ws, "+12025550100").await;
    let sid = answer["callsid"].as_str().unwrap().to_string();
    let reconnect = answer["reconnect"].as_str().unwrap().to_string();
    assert_eq!(control.fault_close_socket("kim", false).await.unwrap(), 1);
    assert!(ws.closed().await);
    let call = control.get_call(&sid).await.unwrap();
    assert!(!call.legs[0].signaling_connected && call.phase != "ended");
    // Back within the timeout: a fresh reconnect token, no SDP.
    let mut ws = common::Ws::connect(&lab).await;
    ws.listen(&token, 5).await;
    ws.send(
        "invite",
        json!({ "callsid": sid, "sdp": phone.sdp, "reconnect": reconnect, "twilio": {} }),
    )
    .await;
    let again = ws.expect("answer").await;
    assert_eq!(again["callsid"], sid.as_str());
    let fresh = again["reconnect"].as_str().unwrap().to_string();
    assert_ne!(fresh, reconnect);
    assert!(again.get("sdp").is_none());
    assert!(control.get_call(&sid).await.unwrap().legs[0].signaling_connected);
    // The old token is spent.
    ws.send(
        "invite",
        json!({ "callsid": sid, "sdp": phone.sdp, "reconnect": reconnect, "twilio": {} }),
    )
    .await;
    assert_eq!(ws.expect("hangup").await["error"]["code"], 31107);
    // Drop again and stay away longer than reconnectTimeout: the call is gone.
    control.fault_close_socket("kim", true).await.unwrap();
    ws.expect("close").await;
    let call = control
        .wait_for_call(Duration::from_secs(8), |c| {
            c.sid == sid && c.phase == "ended"
        })
        .await
        .unwrap();
    assert_eq!(
        call.legs[0].end_reason.as_deref(),
        Some("reconnect-timeout")
    );
    let mut ws = common::Ws::connect(&lab).await;
    ws.listen(&token, 5).await;
    ws.send(
        "invite",
        json!({ "callsid": sid, "sdp": phone.sdp, "reconnect": fresh, "twilio": {} }),
    )
    .await;
    assert_eq!(ws.expect("hangup").await["error"]["code"], 31209);
}

#[tokio::test]
async fn injected_errors_and_refused_connections() {
    let lab = lab().await;
    let control = lab.control();
    control
        .fault_next_error(&NextErrorFault {
            frame: "listen".into(),
            code: 31206,
            message: None,
            retry_after: Some(3),
            close: false,
        })
        .await
        .unwrap();
    let mut ws = Ws::connect(&lab).await;
    ws.send(
        "listen",
        json!({ "token": lab.credentials.token("lee", 600) }),
    )
    .await;
    let error = ws.expect("error").await;
    assert_eq!(
        (
            error["error"]["code"].as_u64(),
            error["error"]["retryAfter"].as_u64()
        ),
        (Some(31206), Some(3))
    );
    ws.listen(&lab.credentials.token("lee", 600), 0).await;
    control
        .fault_next_error(&NextErrorFault {
            frame: "invite".into(),
            code: 31486,
            message: None,
            retry_after: None,
            close: false,
        })
        .await
        .unwrap();
    let phone = Phone::offer(700.0).await;
    ws.send(
        "invite",
        json!({ "callsid": "TJS9", "sdp": phone.sdp, "twilio": {} }),
    )
    .await;
    assert_eq!(ws.expect("hangup").await["error"]["code"], 31486);
    control.fault_refuse_connections(1.0).await.unwrap();
    let config = offhook_lab::tls::client_config(&lab.ca_cert_pem).unwrap();
    let url = format!("wss://localhost:{}/signal", lab.signaling_addr.port());
    let refused = tokio_tungstenite::connect_async_tls_with_config(
        url,
        None,
        false,
        Some(tokio_tungstenite::Connector::Rustls(config)),
    )
    .await;
    assert!(refused.is_err());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    Ws::connect(&lab).await;
}

#[tokio::test]
async fn call_messages_are_acked_recorded_and_sent() {
    let lab = lab().await;
    let control = lab.control();
    let mut ws = Ws::online(&lab, "max").await;
    let (_phone, answer) = call(&mut ws, "+12025550100").await;
    let sid = answer["callsid"].as_str().unwrap();
    let kx = offhook_lab::sid::voice_event_sid();
    ws.send("message", json!({ "callsid": sid, "content": {"hi": 1}, "contenttype": "application/json", "messagetype": "user-defined-message", "voiceeventsid": kx })).await;
    let ack = ws.expect("ack").await;
    assert_eq!(
        (ack["acktype"].as_str(), ack["voiceeventsid"].as_str()),
        (Some("message"), Some(kx.as_str()))
    );
    ws.send(
        "message",
        json!({ "callsid": sid, "content": {}, "messagetype": "other", "voiceeventsid": kx }),
    )
    .await;
    let error = ws.expect("error").await;
    assert_eq!(
        (
            error["error"]["code"].as_u64(),
            error["voiceeventsid"].as_str()
        ),
        (Some(31210), Some(kx.as_str()))
    );
    let big = "z".repeat(11_000);
    ws.send("message", json!({ "callsid": sid, "content": big, "messagetype": "user-defined-message", "voiceeventsid": kx })).await;
    assert_eq!(ws.expect("error").await["error"]["code"], 31212);
    let sent = control
        .send_message(sid, json!({"from": "lab"}))
        .await
        .unwrap();
    let message = ws.expect("message").await;
    assert_eq!(message["content"], json!({"from": "lab"}));
    assert_eq!(message["voiceeventsid"], sent.as_str());
    assert_eq!(message["messagetype"], "user-defined-message");
    let call = control.get_call(sid).await.unwrap();
    let directions: Vec<&str> = call.legs[0]
        .messages
        .iter()
        .map(|m| m.direction.as_str())
        .collect();
    assert_eq!(directions, ["received", "sent"]);
}

/// A client's first frame may arrive right behind the WebSocket handshake (the SDK sends
/// `listen` on `open`, and queued frames after it): none may be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_right_after_the_handshake_are_not_lost() {
    let lab = lab().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let token = lab.credentials.token(&format!("rush{i}"), 600);
        let mut ws = Ws::connect(&lab).await;
        tasks.push(tokio::spawn(async move {
            ws.send("listen", json!({ "token": token })).await;
            ws.send("register", json!({ "media": { "audio": true } }))
                .await;
            ws.expect("connected").await;
            ws.expect("ready").await;
        }));
    }
    for t in tasks {
        t.await.expect("every client got connected and ready");
    }
}

/// A frame of the seed capture (`voice/tests/seed/`, copied verbatim from the seed).
fn seed(name: &str) -> Value {
    let text = match name {
        "server_connected" => include_str!("../../voice/tests/seed/server_connected.json"),
        "server_ready" => include_str!("../../voice/tests/seed/server_ready.json"),
        "server_error_31202" => include_str!("../../voice/tests/seed/server_error_31202.json"),
        "server_close" => include_str!("../../voice/tests/seed/server_close.json"),
        "server_answer" => include_str!("../../voice/tests/seed/server_answer.json"),
        "server_hangup" => include_str!("../../voice/tests/seed/server_hangup.json"),
        "server_invite" => include_str!("../../voice/tests/seed/server_invite.json"),
        other => panic!("no seed frame {other}"),
    };
    serde_json::from_str(text).unwrap()
}

/// Keys, nesting and types, leaves replaced by their type.
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => json!("null"),
    }
}

/// The lab's frame has the seed's shape: the same envelope (`version: ""`), the seed's
/// payload keys with the seed's types, and nothing more than `extra` (what the 2.x SDK reads
/// and the 2020 capture did not have).
fn seed_shaped(name: &str, ours: &Value, extra: &[&str]) {
    let seed = seed(name);
    assert_eq!(shape(&json!({"payload": {}, "type": "", "version": ""})), {
        let mut envelope = shape(ours);
        envelope["payload"] = json!({});
        envelope
    });
    assert_eq!(ours["type"], seed["type"]);
    assert_eq!(ours["version"], "");
    assert_eq!(seed["version"], "");
    let mut payload = ours["payload"].as_object().unwrap().clone();
    for key in extra {
        payload.remove(*key);
    }
    assert_eq!(
        shape(&Value::Object(payload)),
        shape(&seed["payload"]),
        "{name}\nlab:  {ours}\nseed: {seed}"
    );
}

#[tokio::test]
async fn the_seed_form_of_connected_has_only_region_and_gateway() {
    let lab = common::lab_with(|c| {
        c.connected_form = offhook_lab::config::ConnectedForm::Seed;
        c.region = "EU_IRELAND".into();
        c.gateway = "ec2-34-244-67-48.eu-west-1.compute.amazonaws.com".into();
    })
    .await;
    let mut ws = Ws::connect(&lab).await;
    ws.send(
        "listen",
        json!({ "token": lab.credentials.token("alice", 600), "browserinfo": { "p": "browser" } }),
    )
    .await;
    let connected = ws.recv().await;
    assert_eq!(
        connected,
        seed("server_connected"),
        "the seed's frame exactly"
    );
    // Registration is unchanged.
    ws.register().await;
    let conns = lab.control().connections().await.unwrap();
    assert_eq!(conns[0].identity.as_deref(), Some("alice"));
    assert!(conns[0].registered);
    assert_eq!(conns[0].browserinfo, Some(json!({ "p": "browser" })));
    assert_eq!(conns[0].user_agent, None, "tungstenite sends no User-Agent");
}

#[tokio::test]
async fn the_labs_frames_have_the_seeds_shapes() {
    let twiml = common::twiml_server(
        r#"<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Number>+12025550100</Number></Dial></Response>"#,
    )
    .await;
    let lab = common::lab_with(|c| c.app_url = Some(twiml.url.clone())).await;
    twiml.set_auth_token(&lab.credentials.auth_token);
    // connected (full form: 2.x's edge, home and token besides the seed's region, gateway).
    let mut ws = Ws::connect(&lab).await;
    ws.send(
        "listen",
        json!({ "token": lab.credentials.token("twilio-react", 600) }),
    )
    .await;
    seed_shaped(
        "server_connected",
        &ws.recv().await,
        &["edge", "home", "token"],
    );
    ws.send("register", json!({ "media": { "audio": true } }))
        .await;
    assert_eq!(ws.recv().await, seed("server_ready"));

    // error 31202 then close, for a token signed with the wrong secret: the seed's frames.
    let mut wrong = lab.credentials.clone();
    wrong.api_key_secret = "not-the-secret".into();
    let mut refused = Ws::connect(&lab).await;
    refused
        .send("listen", json!({ "token": wrong.token("a", 600) }))
        .await;
    assert_eq!(refused.recv().await, seed("server_error_31202"));
    assert_eq!(refused.recv().await, seed("server_close"));

    // An incoming call's invite (2.x adds `reconnect`); parameters are the seed's five.
    let control = lab.control();
    control
        .call_from("+447381234567", "client:twilio-react", 30)
        .await
        .unwrap();
    let invite = ws.recv().await;
    seed_shaped("server_invite", &invite, &["reconnect"]);
    assert_eq!(invite["payload"]["parameters"]["To"], "client:twilio-react");
    assert_eq!(invite["payload"]["parameters"]["ApiVersion"], "2010-04-01");
    ws.send("reject", json!({ "callsid": invite["payload"]["callsid"] }))
        .await;

    // An outgoing call through the app: answer {callsid, sdp} (2.x adds `reconnect`), then
    // the far end hangs up: hangup {callsid}.
    let phone = Phone::offer(700.0).await;
    ws.send(
        "invite",
        json!({ "callsid": "TJSdd0d056e-b21e-4521-9212-721e43cc5fe0", "sdp": phone.sdp, "twilio": { "params": "phoneNumber=%2B12031234567" } }),
    )
    .await;
    let answer = ws.recv().await;
    seed_shaped("server_answer", &answer, &["reconnect"]);
    let sid = answer["payload"]["callsid"].as_str().unwrap().to_string();
    control.hangup_call(&sid).await.unwrap();
    let hangup = ws.recv().await;
    seed_shaped("server_hangup", &hangup, &[]);
    assert_eq!(hangup["payload"]["callsid"], sid.as_str());
}

#[tokio::test]
async fn refused_listens_until_the_fault_is_cleared() {
    use offhook_lab::control::types::RefuseListenFault;
    let lab = lab().await;
    let control = lab.control();
    control
        .fault_refuse_listen(&RefuseListenFault {
            code: Some(31202),
            message: None,
            close_frame: true,
        })
        .await
        .unwrap();
    for _ in 0..3 {
        let mut ws = Ws::connect(&lab).await;
        ws.send(
            "listen",
            json!({ "token": lab.credentials.token("a", 600) }),
        )
        .await;
        assert_eq!(ws.expect("error").await["error"]["code"], 31202);
        ws.expect("close").await;
        assert!(ws.closed().await);
    }
    // No error at all, the socket just goes (the seed's invalid Account SID).
    control
        .fault_refuse_listen(&RefuseListenFault {
            code: None,
            message: None,
            close_frame: false,
        })
        .await
        .unwrap();
    let mut ws = Ws::connect(&lab).await;
    ws.send(
        "listen",
        json!({ "token": lab.credentials.token("a", 600) }),
    )
    .await;
    assert!(
        ws.try_recv(common::WAIT).await.is_none(),
        "no frame, just gone"
    );
    control.fault_accept_listen().await.unwrap();
    Ws::online(&lab, "a").await;
}
