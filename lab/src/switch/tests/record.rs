//! `<Record>`: how it ends (key, silence, maxLength, hang-up), the action and the recording
//! status callback Twilio sends, the recordings it leaves, and `<Play>` of them.

use super::*;
use crate::media::audio::Tone;

const VOICE_URL: &str = "http://app.example/voice";

fn tone(secs: f32, hz: f32) -> Vec<i16> {
    let mut samples = vec![0i16; (secs * 8000.0) as usize];
    Tone::new(&[hz], 0.5).fill(&mut samples);
    samples
}

/// The recording the switch asked for: leg, token, silence timeout, maximum, trim.
fn started(h: &Harness) -> (String, u64, Option<Duration>, Duration, bool) {
    h.media
        .iter()
        .rev()
        .find_map(|m| match m {
            MediaCommand::StartRecording {
                leg,
                token,
                silence_timeout,
                max_length,
                trim_silence,
            } => Some((
                leg.clone(),
                *token,
                *silence_timeout,
                *max_length,
                *trim_silence,
            )),
            _ => None,
        })
        .expect("a recording started")
}

fn stops(h: &Harness) -> Vec<u64> {
    h.media
        .iter()
        .filter_map(|m| match m {
            MediaCommand::StopRecording { token, .. } => Some(*token),
            _ => None,
        })
        .collect()
}

fn recorded(h: &mut Harness, leg: &str, token: u64, samples: Vec<i16>) {
    h.input(Input::Media(MediaEvent::Recorded {
        leg: leg.to_string(),
        token,
        samples,
    }));
}

fn press(h: &mut Harness, leg: &str, digit: char) {
    h.input(Input::Media(MediaEvent::Dtmf {
        leg: leg.to_string(),
        digit,
    }));
}

fn recordings(h: &mut Harness) -> Vec<crate::control::types::RecordingInfo> {
    match h.sw.control(ControlRequest::Recordings, h.now) {
        Ok(ControlReply::Recordings(r)) => r,
        other => panic!("{other:?}"),
    }
}

/// A virtual caller on the number, whose TwiML is `doc`; past the beep when `beep`.
fn caller_recording(doc: &str) -> (Harness, String) {
    let mut h = Harness::new(None, Some(VOICE_URL));
    let call = h.inbound(Behaviour::Tone { hz: 440.0 });
    h.reply_webhook(Ok(doc));
    (h, call)
}

#[test]
fn a_finish_key_ends_it_then_the_action_and_a_signed_status_callback_follow() {
    let (mut h, call) = caller_recording(
        r##"<Response><Record action="/vm/done" maxLength="30" finishOnKey="#"
             recordingStatusCallback="/vm/status?box=7"/><Say>unreachable</Say></Response>"##,
    );
    assert_eq!(h.plays[0].2, vec![PlayItem::Beep], "the beep comes first");
    assert_eq!(h.phase(&call), "recording");
    assert!(
        !h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StartRecording { .. })),
        "nothing is recorded during the beep"
    );
    let started_ms = h.now.unix_ms + 500;
    h.advance(Duration::from_millis(500));
    h.finish_plays();
    let (leg, token, silence, max, trim) = started(&h);
    assert_eq!(leg, call, "the caller's leg is recorded");
    assert_eq!(
        silence,
        Some(Duration::from_secs(5)),
        "Twilio's default timeout"
    );
    assert_eq!(max, Duration::from_secs(30));
    assert!(trim, "trim-silence by default");

    h.advance(Duration::from_secs(2));
    press(&mut h, &call, '1');
    assert!(stops(&h).is_empty(), "1 is not a finishOnKey key");
    press(&mut h, &call, '#');
    assert_eq!(stops(&h), [token]);
    press(&mut h, &call, '#');
    assert_eq!(stops(&h), [token], "stopped once");
    assert!(h.webhooks.is_empty(), "nothing before the audio is in");
    recorded(&mut h, &leg, token, tone(2.0, 440.0));

    let rec = &recordings(&mut h)[0];
    let url = format!(
        "{API}/2010-04-01/Accounts/{}/Recordings/{}",
        h.creds.account_sid, rec.sid
    );
    assert!(
        rec.sid.starts_with("RE") && rec.sid.len() == 34,
        "{}",
        rec.sid
    );
    assert_eq!(rec.url, url);
    assert_eq!((rec.duration_ms, rec.duration_secs), (2000, 2));
    assert_eq!(
        (rec.ended_by.as_str(), rec.digits.as_str()),
        ("finish-key", "#")
    );
    assert_eq!(rec.call_sid, call);
    assert_eq!(
        rec.start_unix_ms, started_ms,
        "recording starts after the beep"
    );
    assert!((rec.dominant_hz.unwrap() - 440.0).abs() < 3.0, "{rec:?}");

    let status = h.reply_to("http://app.example/vm/status", Ok("ignored"));
    assert_eq!(status.url, "http://app.example/vm/status?box=7");
    assert_eq!(status.method, "POST");
    assert_eq!(
        status.signature,
        twilio_signature(&h.creds.auth_token, &status.url, &status.params),
        "signed over the URL with its query and the sorted parameters"
    );
    let start_time = crate::switch::recordings::rfc2822(started_ms);
    for (k, v) in [
        ("AccountSid", h.creds.account_sid.as_str()),
        ("CallSid", call.as_str()),
        ("RecordingSid", rec.sid.as_str()),
        ("RecordingUrl", url.as_str()),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "2"),
        ("RecordingChannels", "1"),
        ("RecordingStartTime", start_time.as_str()),
        ("RecordingSource", "RecordVerb"),
        ("ErrorCode", "0"),
    ] {
        assert_eq!(param(&status, k), Some(v), "{k}");
    }
    assert_eq!(status.params.len(), 10, "no From/To: {:?}", status.params);

    let action = h.reply_to(
        "http://app.example/vm/done",
        Ok("<Response><Say>Thank you</Say></Response>"),
    );
    for (k, v) in [
        ("RecordingUrl", url.as_str()),
        ("RecordingDuration", "2"),
        ("RecordingSid", rec.sid.as_str()),
        ("Digits", "#"),
        ("CallStatus", "in-progress"),
        ("From", "+15557654321"),
    ] {
        assert_eq!(param(&action, k), Some(v), "{k}");
    }
    assert_eq!(
        action.signature,
        twilio_signature(&h.creds.auth_token, &action.url, &action.params)
    );
    assert_eq!(
        h.plays.last().unwrap().2,
        vec![PlayItem::Say("Thank you".into())],
        "the action's TwiML runs, not the verb after <Record>"
    );
}

#[test]
fn silence_reported_by_the_media_ends_it_without_digits() {
    let (mut h, call) = caller_recording(
        r#"<Response><Record timeout="2" playBeep="false" action="/vm/done"/></Response>"#,
    );
    assert!(h.plays.is_empty(), "playBeep=false: no beep");
    let (leg, token, silence, _, _) = started(&h);
    assert_eq!(silence, Some(Duration::from_secs(2)));
    // The media layer heard two seconds of silence and sends what it has unasked.
    recorded(&mut h, &leg, token, tone(1.2, 700.0));
    assert!(stops(&h).is_empty());
    let action = h.reply_to("http://app.example/vm/done", Ok("<Response/>"));
    assert_eq!(param(&action, "RecordingDuration"), Some("1"));
    assert_eq!(param(&action, "Digits"), None);
    assert_eq!(recordings(&mut h)[0].ended_by, "silence");
    assert_eq!(
        h.phase(&call),
        "ended",
        "the action's empty TwiML ends the call"
    );
    // timeout="0": silence never ends it.
    let (h, _) = caller_recording(r#"<Response><Record timeout="0" playBeep="false"/></Response>"#);
    assert_eq!(started(&h).2, None);
}

#[test]
fn an_empty_recording_requests_no_action_and_the_next_verb_runs() {
    let (mut h, call) = caller_recording(
        r#"<Response><Record playBeep="false" action="/vm/done" recordingStatusCallback="/vm/status"/><Say>No message</Say></Response>"#,
    );
    let (leg, token, ..) = started(&h);
    recorded(&mut h, &leg, token, Vec::new());
    let status = h.reply_to("http://app.example/vm/status", Ok(""));
    assert_eq!(param(&status, "RecordingDuration"), Some("0"));
    assert!(h.webhooks.is_empty(), "no action: {:?}", h.webhooks);
    assert_eq!(h.plays[0].2, vec![PlayItem::Say("No message".into())]);
    assert_eq!(h.phase(&call), "playing");
}

#[test]
fn max_length_ends_it_on_the_virtual_clock() {
    let (mut h, call) = caller_recording(
        r#"<Response><Record playBeep="false" maxLength="3" timeout="10"/></Response>"#,
    );
    let (leg, token, _, max, _) = started(&h);
    assert_eq!(max, Duration::from_secs(3));
    h.advance(Duration::from_millis(2990));
    assert!(stops(&h).is_empty());
    h.advance(Duration::from_millis(20));
    assert_eq!(stops(&h), [token]);
    recorded(&mut h, &leg, token, tone(3.0, 440.0));
    // No action: Twilio requests the current document again.
    let action = h.reply_to(VOICE_URL, Ok("<Response><Hangup/></Response>"));
    assert_eq!(param(&action, "RecordingDuration"), Some("3"));
    assert_eq!(param(&action, "Digits"), None);
    assert_eq!(recordings(&mut h)[0].ended_by, "max-length");
    assert_eq!(h.phase(&call), "ended");
}

#[test]
fn a_hang_up_keeps_the_message_posts_the_callback_and_tells_the_action() {
    let mut h = Harness::new(Some("http://app.example/voice"), None);
    h.online(1, "alice", 0);
    h.invite(1, "+15551234567");
    h.reply_webhook(Ok(
        r#"<Response><Record action="/vm/done" recordingStatusCallback="/vm/status"/></Response>"#,
    ));
    assert_eq!(h.take(1), ["answer"], "<Record> answers the call");
    h.finish_plays();
    let (leg, token, ..) = started(&h);
    let call = h.calls()[0].sid.clone();
    assert_eq!(leg, call);
    h.media.clear();
    h.frame(1, "hangup", json!({ "callsid": call }));
    let stop_at = h
        .media
        .iter()
        .position(|m| matches!(m, MediaCommand::StopRecording { token: t, .. } if *t == token));
    let close_at = h
        .media
        .iter()
        .position(|m| matches!(m, MediaCommand::Close { leg: l } if *l == call));
    assert!(
        stop_at.expect("the recording is stopped") < close_at.expect("the leg closes"),
        "stopped before its media closes: {:?}",
        h.media
    );
    assert_eq!(h.phase(&call), "ended");
    recorded(&mut h, &leg, token, tone(1.0, 440.0));
    let rec = &recordings(&mut h)[0];
    assert_eq!(
        (rec.ended_by.as_str(), rec.digits.as_str()),
        ("hangup", "hangup")
    );
    let status = h.reply_to("http://app.example/vm/status", Ok(""));
    assert_eq!(param(&status, "RecordingStatus"), Some("completed"));
    assert_eq!(param(&status, "RecordingDuration"), Some("1"));
    // Twilio still requests the action, says the call is over, and runs none of its TwiML.
    let action = h.reply_to(
        "http://app.example/vm/done",
        Ok("<Response><Say>Too late</Say></Response>"),
    );
    assert_eq!(param(&action, "Digits"), Some("hangup"));
    assert_eq!(param(&action, "CallStatus"), Some("completed"));
    assert!(h.plays.is_empty(), "{:?}", h.plays);
    assert_eq!(h.phase(&call), "ended");
    assert!(h.take(1).is_empty(), "nothing more to the client");
}

#[test]
fn a_hang_up_during_the_beep_records_nothing() {
    let (mut h, call) =
        caller_recording(r#"<Response><Record recordingStatusCallback="/s"/></Response>"#);
    h.sw.control(ControlRequest::HangupCall(call.clone()), h.now)
        .unwrap();
    h.drain();
    h.finish_plays();
    assert!(recordings(&mut h).is_empty());
    assert!(h.webhooks.is_empty());
    assert!(stops(&h).is_empty());
}

#[test]
fn signaling_dtmf_from_a_client_finishes_it() {
    let mut h = Harness::new(Some("http://app.example/voice"), None);
    h.online(1, "alice", 0);
    h.invite(1, "+15551234567");
    h.reply_webhook(Ok(
        r#"<Response><Record playBeep="false" finishOnKey="*"/></Response>"#,
    ));
    let (leg, token, ..) = started(&h);
    h.frame(1, "dtmf", json!({ "callsid": leg, "dtmf": "1*" }));
    assert_eq!(stops(&h), [token]);
    recorded(&mut h, &leg, token, tone(0.5, 440.0));
    let action = h.reply_to(VOICE_URL, Ok("<Response/>"));
    assert_eq!(param(&action, "Digits"), Some("*"));
}

#[test]
fn play_of_an_own_recording_url_plays_it_directly_and_a_missing_one_moves_on() {
    let (mut h, call) = caller_recording(r#"<Response><Record playBeep="false"/></Response>"#);
    let (leg, token, ..) = started(&h);
    let audio = tone(1.0, 440.0);
    recorded(&mut h, &leg, token, audio.clone());
    let rec = recordings(&mut h)[0].clone();
    let doc = format!(
        "<Response><Play>{}.wav</Play><Play>{}</Play><Play>{API}/2010-04-01/Accounts/{}/Recordings/RE00000000000000000000000000000000</Play><Say>bye</Say></Response>",
        rec.url, rec.url, h.creds.account_sid
    );
    h.reply_to(VOICE_URL, Ok(&doc));
    for _ in 0..2 {
        let [(_, _, items)] = h.plays.as_slice() else {
            panic!("{:?}", h.plays)
        };
        let [PlayItem::Recording { sid, audio: played }] = items.as_slice() else {
            panic!("{items:?}")
        };
        assert_eq!(sid, &rec.sid);
        assert_eq!(played.samples(), audio.as_slice());
        h.finish_plays();
    }
    assert_eq!(h.plays[0].2, vec![], "an unknown recording plays nothing");
    let errors = &h.calls()[0].errors;
    assert_eq!(errors[0].code, 11200, "{errors:?}");
    h.finish_plays();
    assert_eq!(h.plays[0].2, vec![PlayItem::Say("bye".into())]);
    // Deleted, it is gone for <Play> too.
    h.sw.control(ControlRequest::DeleteRecording(rec.sid.clone()), h.now)
        .unwrap();
    assert!(
        h.sw.control(ControlRequest::DeleteRecording(rec.sid.clone()), h.now)
            .is_err(),
        "deleted once"
    );
    let listed = &recordings(&mut h)[0];
    assert!(listed.deleted && listed.deleted_unix_ms.is_some());
    let Ok(ControlReply::Recording { audio: None, .. }) =
        h.sw.control(ControlRequest::Recording(rec.sid.clone()), h.now)
    else {
        panic!("the audio is gone")
    };
    let _ = call;
}

#[test]
fn malformed_record_and_gather_attributes_are_application_errors() {
    for doc in [
        r#"<Response><Record maxLength="abc"/></Response>"#,
        r#"<Response><Gather numDigits="0"><Say>x</Say></Gather></Response>"#,
    ] {
        let (mut h, _) = caller_recording(doc);
        assert!(matches!(&h.plays[0].2[0], PlayItem::Say(t) if t.contains("application error")));
        h.finish_plays();
        let call = &h.calls()[0];
        assert_eq!(call.errors[0].code, 12200, "{doc}");
        assert_eq!(call.phase, "ended");
    }
}

#[test]
fn a_virtual_leg_presses_keys_through_the_media_layer() {
    let (mut h, call) = caller_recording(r#"<Response><Record playBeep="false"/></Response>"#);
    h.sw.control(
        ControlRequest::SendDigits {
            leg: call.clone(),
            digits: "1w#".into(),
        },
        h.now,
    )
    .unwrap();
    h.drain();
    assert!(h.media.iter().any(
        |m| matches!(m, MediaCommand::SendDigits { leg, digits } if *leg == call && digits == "1w#")
    ));
    for (leg, digits) in [(call.as_str(), "12x"), (call.as_str(), ""), ("CAnope", "1")] {
        let refused = h.sw.control(
            ControlRequest::SendDigits {
                leg: leg.into(),
                digits: digits.into(),
            },
            h.now,
        );
        assert!(refused.is_err(), "{leg} {digits}");
    }
    let mut h = Harness::new(None, None);
    h.online(1, "alice", 0);
    h.invite(1, "+12025550100");
    let client_leg = h.calls()[0].sid.clone();
    let refused = h.sw.control(
        ControlRequest::SendDigits {
            leg: client_leg,
            digits: "1".into(),
        },
        h.now,
    );
    assert_eq!(refused.map(|_| ()).unwrap_err().status, 400);
}
