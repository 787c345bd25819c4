//! `statusCallback` on `<Dial>`'s nouns: the signed call-progress events of each dialled leg,
//! with the child's `CallSid`, the parent's `ParentCallSid`, `Direction=outbound-dial` and
//! how the leg ended.

use super::*;

const VOICE_URL: &str = "http://app.example/voice";
const STATUS: &str = "http://app.example/status";

/// The status callbacks made so far (taken out of the harness), in order.
fn progress(h: &mut Harness) -> Vec<WebhookRequest> {
    let (mine, rest): (Vec<_>, Vec<_>) = h
        .webhooks
        .drain(..)
        .partition(|(_, _, r)| r.url.starts_with(STATUS));
    h.webhooks = rest;
    mine.into_iter().map(|(_, _, r)| r).collect()
}

fn statuses(requests: &[WebhookRequest]) -> Vec<(&str, &str)> {
    requests
        .iter()
        .map(|r| {
            (
                param(r, "CallStatus").unwrap_or(""),
                param(r, "SequenceNumber").unwrap_or(""),
            )
        })
        .collect()
}

/// A virtual caller whose call the Voice URL answers with `twiml`; returns its SID.
fn caller_dialling(h: &mut Harness, twiml: &str) -> String {
    let call = h.inbound(Behaviour::Tone { hz: 440.0 });
    h.reply_webhook(Ok(twiml));
    call
}

#[test]
fn every_event_of_a_number_nobody_answers_is_posted_in_order_and_signed() {
    let mut h = Harness::new(None, Some(VOICE_URL));
    let call = caller_dialling(
        &mut h,
        r#"<Response><Dial timeout="10" callerId="+15550001111">
             <Number statusCallback="/status?leg=1"
                     statusCallbackEvent="initiated ringing answered completed">+12025550104</Number>
           </Dial></Response>"#,
    );
    let first = progress(&mut h);
    assert_eq!(statuses(&first), [("initiated", "0"), ("ringing", "1")]);
    h.advance(Duration::from_secs(11));
    let last = progress(&mut h);
    assert_eq!(statuses(&last), [("no-answer", "2")]);
    let child = h.calls()[0].legs[1].sid.clone();
    let req = &last[0];
    assert_eq!(req.url, "http://app.example/status?leg=1", "resolved");
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.signature,
        twilio_signature(&h.creds.auth_token, &req.url, &req.params)
    );
    for (k, v) in [
        ("AccountSid", h.creds.account_sid.as_str()),
        ("CallSid", child.as_str()),
        ("ParentCallSid", call.as_str()),
        ("From", "+15550001111"),
        ("To", "+12025550104"),
        ("Direction", "outbound-dial"),
        ("CallDuration", "0"),
        ("CallbackSource", "call-progress-events"),
    ] {
        assert_eq!(param(req, k), Some(v), "{k}");
    }
    let stamp = param(req, "Timestamp").unwrap();
    assert!(stamp.ends_with("+0000") && stamp.contains(", "), "{stamp}");
    assert!(
        param(&first[0], "CallDuration").is_none(),
        "only on completed"
    );
}

#[test]
fn an_answered_client_is_completed_with_its_talk_time() {
    let mut h = Harness::new(None, Some(VOICE_URL));
    h.online(1, "bob", 0);
    let call = caller_dialling(
        &mut h,
        &format!(
            r#"<Response><Dial><Client statusCallback="{STATUS}" statusCallbackEvent="answered completed"><Identity>bob</Identity></Client></Dial></Response>"#
        ),
    );
    let invite = h.take_frames(1);
    let child = invite[0]["payload"]["callsid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(progress(&mut h).is_empty(), "ringing was not asked for");
    h.frame(1, "answer", json!({ "callsid": child, "sdp": "v=0" }));
    assert_eq!(statuses(&progress(&mut h)), [("in-progress", "0")]);
    h.advance(Duration::from_secs(4));
    h.frame(1, "hangup", json!({ "callsid": child }));
    let done = progress(&mut h);
    assert_eq!(statuses(&done), [("completed", "1")]);
    assert_eq!(param(&done[0], "To"), Some("client:bob"));
    assert_eq!(param(&done[0], "From"), Some("+15557654321"));
    assert_eq!(param(&done[0], "CallSid"), Some(child.as_str()));
    assert_eq!(param(&done[0], "ParentCallSid"), Some(call.as_str()));
    assert_eq!(param(&done[0], "CallDuration"), Some("4"));
}

#[test]
fn unanswered_legs_end_busy_no_answer_failed_or_canceled() {
    // Default event (completed only), one callback per noun that has a URL.
    let mut h = Harness::new(None, Some(VOICE_URL));
    h.online(1, "bob", 0);
    let call = caller_dialling(
        &mut h,
        &format!(
            r#"<Response><Dial>
                 <Number statusCallback="{STATUS}?n=busy">+12025550103</Number>
                 <Number statusCallback="{STATUS}?n=missing">+19995550000</Number>
                 <Client statusCallback="{STATUS}?n=offline">nobody</Client>
                 <Client statusCallback="{STATUS}?n=bob">bob</Client>
                 <Number>+12025550104</Number>
               </Dial></Response>"#
        ),
    );
    let at_once = progress(&mut h);
    let by_url: Vec<(&str, &str)> = at_once
        .iter()
        .map(|r| (r.url.as_str(), param(r, "CallStatus").unwrap()))
        .collect();
    assert_eq!(
        by_url,
        [
            ("http://app.example/status?n=busy", "busy"),
            ("http://app.example/status?n=missing", "failed"),
            ("http://app.example/status?n=offline", "no-answer"),
        ]
    );
    assert!(
        at_once
            .iter()
            .all(|r| param(r, "SequenceNumber") == Some("0"))
    );
    // The caller gives up while bob rings: his leg is canceled.
    h.sw.control(ControlRequest::HangupCall(call), h.now)
        .unwrap();
    h.drain();
    let canceled = progress(&mut h);
    assert_eq!(statuses(&canceled), [("canceled", "0")]);
    assert_eq!(param(&canceled[0], "To"), Some("client:bob"));
}

#[test]
fn get_callbacks_carry_the_parameters_in_the_signed_url() {
    let mut h = Harness::new(None, Some(VOICE_URL));
    caller_dialling(
        &mut h,
        &format!(
            r#"<Response><Dial><Number statusCallback="{STATUS}?x=1" statusCallbackMethod="GET">+12025550103</Number></Dial></Response>"#
        ),
    );
    let [req] = progress(&mut h).try_into().unwrap();
    assert_eq!(req.method, "GET");
    assert!(req.params.is_empty());
    assert!(
        req.url
            .starts_with("http://app.example/status?x=1&AccountSid=")
    );
    assert!(req.url.contains("CallStatus=busy"));
    assert_eq!(
        req.signature,
        twilio_signature(&h.creds.auth_token, &req.url, &[])
    );
}

#[test]
fn nouns_without_a_status_callback_post_nothing() {
    let mut h = Harness::new(None, Some(VOICE_URL));
    h.online(1, "bob", 0);
    let call = caller_dialling(
        &mut h,
        r#"<Response><Dial><Client statusCallbackEvent="completed">bob</Client><Number>+12025550103</Number></Dial></Response>"#,
    );
    h.sw.control(ControlRequest::HangupCall(call), h.now)
        .unwrap();
    h.drain();
    assert!(h.webhooks.is_empty(), "{:?}", h.webhooks);
}
