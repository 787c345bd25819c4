//! The parser against documents Twilio accepts and refuses.
use super::*;

#[test]
fn parses_the_captured_documents() {
    let out = parse(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Dial callerId="+447381234567">
<Number>+12031234567</Number>
  </Dial>
</Response>"#,
    )
    .unwrap();
    let [Verb::Dial(dial)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(dial.caller_id.as_deref(), Some("+447381234567"));
    assert_eq!(
        dial.targets,
        vec![DialTarget::Number {
            number: "+12031234567".into(),
            status_callback: None,
        }]
    );
    assert_eq!(dial.timeout_secs, 30);
    assert!(!dial.answer_on_bridge);

    let out = parse("<Response><Dial><Client>twilio-react</Client></Dial></Response>").unwrap();
    assert_eq!(
        out,
        vec![Verb::Dial(Dial {
            targets: vec![DialTarget::Client {
                identity: "twilio-react".into(),
                params: vec![],
                status_callback: None,
            }],
            caller_id: None,
            answer_on_bridge: false,
            timeout_secs: 30,
            action: None,
            method: "POST".into(),
            time_limit_secs: None,
        })]
    );
}

#[test]
fn client_identity_form_with_parameters_and_attributes() {
    let out = parse(
        r#"<Response><Dial answerOnBridge="true" timeout="10" action="/after">
             <Client><Identity>alice</Identity><Parameter name="k" value="v &amp; w"/></Client>
           </Dial><Say loop="2">Goodbye &amp; thanks</Say><Pause length="3"/><Hangup/></Response>"#,
    )
    .unwrap();
    let Verb::Dial(dial) = &out[0] else { panic!() };
    assert!(dial.answer_on_bridge);
    assert_eq!(dial.timeout_secs, 10);
    assert_eq!(dial.action.as_deref(), Some("/after"));
    assert_eq!(
        dial.targets,
        vec![DialTarget::Client {
            identity: "alice".into(),
            params: vec![("k".into(), "v & w".into())],
            status_callback: None,
        }]
    );
    assert_eq!(
        out[1],
        Verb::Say {
            text: "Goodbye & thanks".into(),
            loops: 2
        }
    );
    assert_eq!(out[2], Verb::Pause { secs: 3 });
    assert_eq!(out[3], Verb::Hangup);
}

#[test]
fn bad_documents_carry_twilio_codes() {
    assert_eq!(
        parse("<Response><Say>x</Response>").unwrap_err().code(),
        12100
    );
    assert_eq!(parse("not xml at all <").unwrap_err().code(), 12100);
    assert_eq!(parse("").unwrap_err().code(), 12100);
    assert_eq!(parse("<Reply/>").unwrap_err().code(), 12200);
    assert_eq!(
        parse("<Response><Dance/></Response>").unwrap_err().code(),
        12200
    );
    assert_eq!(
        parse("<Response><Dial/></Response>").unwrap_err().code(),
        12200
    );
    assert_eq!(
        parse(r#"<Response><Pause length="x"/></Response>"#)
            .unwrap_err()
            .code(),
        12200
    );
    assert_eq!(
        parse(r#"<Response><Reject reason="later"/></Response>"#)
            .unwrap_err()
            .code(),
        12200
    );
    assert_eq!(parse("<Response/>").unwrap(), vec![]);
    assert_eq!(
        parse(r#"<Response><Reject reason="busy"/></Response>"#).unwrap(),
        vec![Verb::Reject { busy: true }]
    );
    assert_eq!(
        parse(r#"<Response><Play digits="12w#"/></Response>"#).unwrap(),
        vec![Verb::Play {
            url: None,
            digits: Some("12w#".into()),
            loops: 1
        }]
    );
}

#[test]
fn record_defaults_follow_twilio() {
    let out = parse("<Response><Record/></Response>").unwrap();
    assert_eq!(
        out,
        vec![Verb::Record(Record {
            action: None,
            method: "POST".into(),
            timeout_secs: 5,
            finish_on_key: "1234567890*#".into(),
            max_length_secs: 3600,
            play_beep: true,
            trim_silence: true,
            recording_status_callback: None,
            recording_status_callback_method: "POST".into(),
            recording_status_callback_events: vec!["completed".into()],
        })]
    );
}

#[test]
fn record_attributes() {
    let out = parse(
        r##"<Response><Record action="/vm/done?box=1" method="get" timeout="3" finishOnKey="#*"
             maxLength="120" playBeep="false" trim="do-not-trim"
             recordingStatusCallback="/vm/status" recordingStatusCallbackMethod="GET"
             recordingStatusCallbackEvent="in-progress completed"/></Response>"##,
    )
    .unwrap();
    let [Verb::Record(r)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(r.action.as_deref(), Some("/vm/done?box=1"));
    assert_eq!(r.method, "GET");
    assert_eq!(r.timeout_secs, 3);
    assert_eq!(r.finish_on_key, "#*");
    assert_eq!(r.max_length_secs, 120);
    assert!(!r.play_beep && !r.trim_silence);
    assert_eq!(r.recording_status_callback.as_deref(), Some("/vm/status"));
    assert_eq!(r.recording_status_callback_method, "GET");
    assert!(r.posts_completed());
    // maxLength="0" is the default; an empty finishOnKey disables keys.
    let out = parse(r#"<Response><Record maxLength="0" finishOnKey=""/></Response>"#).unwrap();
    let [Verb::Record(r)] = out.as_slice() else {
        panic!()
    };
    assert_eq!((r.max_length_secs, r.finish_on_key.as_str()), (3600, ""));
    // Only `completed` is posted, and only with a URL.
    assert!(!r.posts_completed());
    let out = parse(
        r#"<Response><Record recordingStatusCallback="/s" recordingStatusCallbackEvent="absent"/></Response>"#,
    )
    .unwrap();
    let [Verb::Record(r)] = out.as_slice() else {
        panic!()
    };
    assert!(!r.posts_completed());
}

#[test]
fn gather_with_prompts() {
    let out = parse(
        r#"<Response><Gather numDigits="1" timeout="7" action="/menu" actionOnEmptyResult="true">
             <Say>Press 7 to delete</Say><Pause length="1"/><Play>/beep.wav</Play>
           </Gather><Say>Goodbye</Say></Response>"#,
    )
    .unwrap();
    let Verb::Gather(g) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(g.num_digits, Some(1));
    assert_eq!(g.timeout_secs, 7);
    assert_eq!(g.finish_on_key, Some('#'));
    assert_eq!(g.action.as_deref(), Some("/menu"));
    assert!(g.action_on_empty_result && g.dtmf);
    assert_eq!(g.prompts.len(), 3);
    assert_eq!(
        g.prompts[0],
        Verb::Say {
            text: "Press 7 to delete".into(),
            loops: 1
        }
    );
    let out = parse(r#"<Response><Gather finishOnKey="" input="speech"/></Response>"#).unwrap();
    let Verb::Gather(g) = &out[0] else { panic!() };
    assert_eq!((g.finish_on_key, g.dtmf, g.timeout_secs), (None, false, 5));
}

#[test]
fn bad_record_and_gather_attributes_are_schema_errors() {
    for doc in [
        r#"<Response><Record maxLength="abc"/></Response>"#,
        r#"<Response><Record timeout="-1"/></Response>"#,
        r#"<Response><Record finishOnKey="1x"/></Response>"#,
        r#"<Response><Record playBeep="maybe"/></Response>"#,
        r#"<Response><Record trim="some"/></Response>"#,
        r#"<Response><Record method="PUT"/></Response>"#,
        r#"<Response><Record recordingStatusCallbackEvent="done"/></Response>"#,
        r#"<Response><Record><Say>x</Say></Record></Response>"#,
        r#"<Response><Gather numDigits="0"/></Response>"#,
        r#"<Response><Gather numDigits="two"/></Response>"#,
        r##"<Response><Gather finishOnKey="#*"/></Response>"##,
        r#"<Response><Gather input="voice"/></Response>"#,
        r#"<Response><Gather><Dial>+15551234567</Dial></Gather></Response>"#,
        r#"<Response><Gather><Say loop="x">hi</Say></Gather></Response>"#,
    ] {
        assert_eq!(parse(doc).map_err(|e| e.code()), Err(12200), "{doc}");
    }
}

#[test]
fn noun_status_callbacks_default_to_completed_and_post() {
    let out = parse(
        r#"<Response><Dial>
             <Number statusCallback="/status?leg=n" statusCallbackMethod="get"
                     statusCallbackEvent="initiated ringing answered completed">+12025550100</Number>
             <Client statusCallback="https://x.example/status"><Identity>desk</Identity></Client>
             <Client statusCallbackEvent="ringing">kitchen</Client>
           </Dial></Response>"#,
    )
    .unwrap();
    let [Verb::Dial(dial)] = out.as_slice() else {
        panic!("{out:?}")
    };
    let callbacks: Vec<Option<&StatusCallback>> = dial
        .targets
        .iter()
        .map(DialTarget::status_callback)
        .collect();
    assert_eq!(
        callbacks,
        [
            Some(&StatusCallback {
                url: "/status?leg=n".into(),
                method: "GET".into(),
                events: vec![
                    CallProgress::Initiated,
                    CallProgress::Ringing,
                    CallProgress::Answered,
                    CallProgress::Completed
                ],
            }),
            Some(&StatusCallback {
                url: "https://x.example/status".into(),
                method: "POST".into(),
                events: vec![CallProgress::Completed],
            }),
            // Events without a URL post nothing.
            None,
        ]
    );
    for doc in [
        r#"<Response><Dial><Number statusCallback="/s" statusCallbackEvent="hungup">+1</Number></Dial></Response>"#,
        r#"<Response><Dial><Client statusCallback="/s" statusCallbackMethod="PUT">a</Client></Dial></Response>"#,
    ] {
        assert_eq!(parse(doc).map_err(|e| e.code()), Err(12200), "{doc}");
    }
}
