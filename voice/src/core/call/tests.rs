//! Calls through the Device engine: incoming and outgoing, DTMF, messages; and a call's
//! state machine on its own.

use std::time::Duration;

use serde_json::{Value, json};

use crate::core::test_rig::*;
use crate::core::{MediaEvent, MediaRequest};
use crate::model::{CallEvent, CallStatus, Codec};
use crate::options::DeviceOptions;

#[test]
fn incoming_invite_surfaces_parameters_and_reject_sends_reject() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA100"));
    let id = incoming_id(&r);
    let call = r.engine.call(id).unwrap();
    assert_eq!(call.status(), CallStatus::Pending);
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
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Closed);
    assert_eq!(r.engine.calls(), vec![id]);
    r.server(json!({"type":"cancel","payload":{"callsid":"CA200"}}));
    assert_eq!(r.call_event_names(id), vec!["cancel"]);
    assert!(r.engine.calls().is_empty());
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
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Connecting);
    r.server(json!({"type":"ringing","payload":{"callsid":"CA900"}}));
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Ringing);
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
        r.engine.call(id).unwrap().status() != CallStatus::Open,
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
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Open);
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
        let errs = r.call_error_codes();
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
        r.engine.call(id).unwrap().status(),
        CallStatus::Open,
        "a message error does not end the call"
    );
}

/// The call's state machine on its own, without a Device: inputs with a time in, outputs
/// and a deadline out.
#[test]
fn a_call_alone_defers_its_invite_and_ends_at_its_media_deadline() {
    use std::time::Instant;

    use crate::core::call::{CallConfig, CallCore, CallOutput, Ending, Invite, Link, Phase};
    use crate::protocol::frame::ClientMessage;

    let now = Instant::now();
    let config = CallConfig::from_options(&DeviceOptions::default());
    let mut call = CallCore::outgoing(vec![], "TJS1".into(), config, now);
    assert_eq!(
        call.poll(),
        Some(CallOutput::Media(MediaRequest::CreateOffer))
    );
    let before_connected = Link {
        up: true,
        connected: false,
    };
    let link = Link {
        up: true,
        connected: true,
    };
    call.on_media_event(
        MediaEvent::LocalDescription("v=0\r\n".into()),
        before_connected,
        now,
    );
    assert_eq!(call.invite(), Invite::Deferred);
    assert_eq!(call.poll(), None, "nothing goes out before `connected`");
    call.send_deferred_invite();
    assert!(matches!(
        call.poll(),
        Some(CallOutput::Send(ClientMessage::Invite { callsid, .. })) if callsid == "TJS1"
    ));
    call.on_answer(Some("CA1"), Some("v=0\r\n".into()), Some("rtok".into()));
    assert!(matches!(
        call.poll(),
        Some(CallOutput::Media(MediaRequest::ApplyAnswer { .. }))
    ));
    assert_eq!(call.status(), CallStatus::Connecting);
    let applied = MediaEvent::RemoteApplied {
        codec: Codec::Pcmu,
        telephone_event: true,
    };
    call.on_media_event(applied, link, now);
    assert_eq!(call.poll(), Some(CallOutput::Event(CallEvent::Accept)));
    assert_eq!(call.poll(), Some(CallOutput::Accepted));
    assert_eq!(
        (call.phase(), call.status()),
        (&Phase::Open, CallStatus::Open)
    );
    assert_eq!(call.poll_timeout(), None);

    // ICE fails: reconnecting, a restart due at once, then the window's end.
    call.on_media_event(MediaEvent::IceFailed, link, now);
    assert!(matches!(
        call.poll(),
        Some(CallOutput::Event(CallEvent::Reconnecting(e))) if e.code == 53405
    ));
    let restart = call.poll_timeout().expect("a restart is due");
    assert!(restart - now < Duration::from_millis(10));
    call.handle_timeout(restart, link);
    assert_eq!(
        call.poll(),
        Some(CallOutput::Media(MediaRequest::RestartIce))
    );
    let deadline = call.poll_timeout().expect("the reconnect window ends");
    assert_eq!(deadline - now, crate::core::call::MEDIA_RECONNECT_WINDOW);
    call.handle_timeout(deadline - Duration::from_millis(1), link);
    assert_eq!(call.poll(), None, "nothing before the deadline");
    call.handle_timeout(deadline, link);
    let outs: Vec<CallOutput> = std::iter::from_fn(|| call.poll()).collect();
    assert!(
        matches!(&outs[0], CallOutput::Send(ClientMessage::Hangup { callsid, .. }) if callsid == "CA1")
    );
    assert_eq!(
        outs[1..4],
        [
            CallOutput::Media(MediaRequest::Close),
            CallOutput::Event(CallEvent::Disconnect),
            CallOutput::Closed(Ending::Other),
        ]
    );
    assert!(matches!(&outs[4], CallOutput::Event(CallEvent::Error(e)) if e.code == 31003));
    assert_eq!(call.status(), CallStatus::Closed);
    assert_eq!(call.poll_timeout(), None);
}
