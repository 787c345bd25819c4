//! `<Dial action>` when the dialled parties are clients: `DialCallStatus` for a rejection
//! (busy), no answer, an offline client, a bridge that ends, and a caller who hangs up — for
//! which Twilio still requests the action (`canceled` while ringing, `completed` once
//! bridged) with `CallStatus=completed`, and runs none of its TwiML.

use super::*;

const VOICE_URL: &str = "http://app.example/voice";
const DIAL: &str =
    r#"<Response><Dial action="/after" timeout="10"><Client>bob</Client></Dial></Response>"#;

/// A virtual caller dialling bob (online on connection 1 unless `offline`); returns the
/// call and bob's leg (if invited).
fn dialling_bob(offline: bool) -> (Harness, String, Option<String>) {
    let mut h = Harness::new(None, Some(VOICE_URL));
    if !offline {
        h.online(1, "bob", 0);
    }
    let call = h.inbound(Behaviour::Tone { hz: 440.0 });
    h.reply_webhook(Ok(DIAL));
    let child = h.take_frames(1).first().map(|invite| {
        assert_eq!(invite["type"], "invite");
        invite["payload"]["callsid"].as_str().unwrap().to_string()
    });
    (h, call, child)
}

fn after(h: &mut Harness, reply: &str) -> WebhookRequest {
    h.reply_to("http://app.example/after", Ok(reply))
}

#[test]
fn a_client_that_rejects_is_busy() {
    let (mut h, _, child) = dialling_bob(false);
    h.frame(1, "reject", json!({ "callsid": child.unwrap() }));
    let req = after(&mut h, "<Response><Say>Busy</Say></Response>");
    assert_eq!(param(&req, "DialCallStatus"), Some("busy"));
    assert_eq!(param(&req, "DialCallSid"), None);
    assert_eq!(
        h.plays.last().unwrap().2,
        vec![PlayItem::Say("Busy".into())]
    );
}

#[test]
fn nobody_answering_before_the_timeout_is_no_answer() {
    let (mut h, _, _) = dialling_bob(false);
    h.advance(Duration::from_secs(9));
    assert!(h.webhooks.is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(h.take(1), ["cancel"]);
    let req = after(&mut h, "<Response/>");
    assert_eq!(param(&req, "DialCallStatus"), Some("no-answer"));
}

#[test]
fn an_offline_client_is_no_answer_at_once() {
    let (mut h, _, child) = dialling_bob(true);
    assert!(child.is_none());
    let req = after(&mut h, "<Response/>");
    assert_eq!(param(&req, "DialCallStatus"), Some("no-answer"));
}

#[test]
fn a_bridge_the_client_ends_is_completed_and_the_action_runs() {
    let (mut h, call, child) = dialling_bob(false);
    let child = child.unwrap();
    h.frame(1, "answer", json!({ "callsid": child, "sdp": "v=0" }));
    assert_eq!(h.phase(&call), "bridged");
    h.advance(Duration::from_secs(4));
    h.frame(1, "hangup", json!({ "callsid": child }));
    let req = after(&mut h, "<Response><Say>Bye</Say></Response>");
    assert_eq!(param(&req, "DialCallStatus"), Some("completed"));
    assert_eq!(param(&req, "DialCallSid"), Some(child.as_str()));
    assert_eq!(param(&req, "DialCallDuration"), Some("4"));
    assert_eq!(h.plays.last().unwrap().2, vec![PlayItem::Say("Bye".into())]);
}

#[test]
fn a_caller_hanging_up_while_it_rings_is_canceled_and_its_twiml_is_not_run() {
    let (mut h, call, _) = dialling_bob(false);
    h.advance(Duration::from_secs(3));
    h.sw.control(ControlRequest::HangupCall(call.clone()), h.now)
        .unwrap();
    h.drain();
    assert_eq!(h.take(1), ["cancel"], "bob stops ringing");
    let req = after(&mut h, "<Response><Record/></Response>");
    assert_eq!(param(&req, "DialCallStatus"), Some("canceled"));
    assert_eq!(param(&req, "CallStatus"), Some("completed"));
    assert_eq!(
        req.signature,
        twilio_signature(&h.creds.auth_token, &req.url, &req.params)
    );
    assert_eq!(h.phase(&call), "ended");
    assert!(h.plays.is_empty() && h.webhooks.is_empty());
    assert!(
        !h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StartRecording { .. })),
        "the reply is ignored"
    );
}

#[test]
fn a_caller_hanging_up_a_bridge_is_completed_with_the_dialled_leg() {
    let (mut h, call, child) = dialling_bob(false);
    let child = child.unwrap();
    h.frame(1, "answer", json!({ "callsid": child, "sdp": "v=0" }));
    h.advance(Duration::from_secs(7));
    h.sw.control(ControlRequest::HangupCall(call.clone()), h.now)
        .unwrap();
    h.drain();
    assert_eq!(h.take(1), ["hangup"]);
    let req = after(&mut h, "<Response><Say>x</Say></Response>");
    assert_eq!(param(&req, "DialCallStatus"), Some("completed"));
    assert_eq!(param(&req, "DialCallSid"), Some(child.as_str()));
    assert_eq!(param(&req, "DialCallDuration"), Some("7"));
    assert_eq!(param(&req, "CallStatus"), Some("completed"));
    assert!(h.plays.is_empty());
    // A dial without action asks nothing.
    let mut h = Harness::new(None, Some(VOICE_URL));
    h.online(1, "bob", 0);
    let call = h.inbound(Behaviour::Silence);
    h.reply_webhook(Ok("<Response><Dial><Client>bob</Client></Dial></Response>"));
    h.sw.control(ControlRequest::HangupCall(call), h.now)
        .unwrap();
    h.drain();
    assert!(h.webhooks.is_empty());
}
