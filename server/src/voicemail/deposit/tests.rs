//! The TwiML decisions of an incoming call and of its dial's end: every `DialCallStatus`,
//! do-not-disturb, each forwarding mode, and a database that does not answer.

use std::collections::HashMap;

use super::*;
use crate::calls::{Facts, incoming_with};
use crate::store::handsets::{ForwardWhen, HandsetSettings};
use crate::voicemail::tests::setup;

const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
const MAILBOX: &str = "number%3A%2B447381234567";

fn p(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn call() -> Vec<(String, String)> {
    p(&[("From", "+12025550123"), ("To", "+447381234567")])
}

fn client(identity: &str) -> String {
    format!(
        "<Client><Identity>{identity}</Identity><Parameter name=\"callerNumber\" value=\"+12025550123\"/></Client>"
    )
}

fn dial(timeout: u32, query: &str, targets: &str) -> String {
    format!(
        "{DECL}<Response><Dial callerId=\"+12025550123\" answerOnBridge=\"true\" timeout=\"{timeout}\" \
         action=\"/hooks/voicemail/dial-ended?mailbox={MAILBOX}{query}\" method=\"POST\">{targets}</Dial></Response>"
    )
}

fn voicemail(greeting: &str) -> String {
    format!(
        "{DECL}<Response>{greeting}<Record action=\"/hooks/voicemail/goodbye\" method=\"POST\" maxLength=\"120\" \
         timeout=\"5\" finishOnKey=\"#\" playBeep=\"true\" \
         recordingStatusCallback=\"/hooks/voicemail/recorded?mailbox={MAILBOX}&amp;caller=%2B12025550123\" \
         recordingStatusCallbackMethod=\"POST\" recordingStatusCallbackEvent=\"completed\"/>\
         <Say>{SAY_GOODBYE}</Say><Hangup/></Response>"
    )
}

fn default_voicemail() -> String {
    voicemail(&format!("<Say>{DEFAULT_GREETING}</Say>"))
}

fn settings(list: &[(&str, HandsetSettings)]) -> HashMap<String, HandsetSettings> {
    list.iter()
        .map(|(id, s)| (id.to_string(), s.clone()))
        .collect()
}

fn dnd() -> HandsetSettings {
    HandsetSettings {
        do_not_disturb: true,
        ..HandsetSettings::default()
    }
}

fn forward(when: ForwardWhen, to: &str, after: u32) -> HandsetSettings {
    HandsetSettings {
        do_not_disturb: false,
        forward_when: when,
        forward_to: Some(to.into()),
        no_answer_seconds: after,
    }
}

fn incoming_xml(known: &HashMap<String, HandsetSettings>, greeting: &Greeting) -> String {
    let (config, handsets) = setup(&[]);
    incoming_with(
        &config,
        &handsets,
        &call(),
        Facts::Known {
            settings: known,
            greeting,
        },
    )
    .twiml
    .to_xml()
}

#[test]
fn with_nothing_set_both_handsets_ring_for_the_dial_timeout_then_voicemail() {
    let xml = incoming_xml(&HashMap::new(), &Greeting::default());
    assert_eq!(
        xml,
        dial(20, "", &format!("{}{}", client("desk"), client("kitchen")))
    );
    let (config, handsets) = setup(&[("OFFHOOK_DIAL_TIMEOUT", "35")]);
    let plan = incoming_with(
        &config,
        &handsets,
        &call(),
        Facts::Known {
            settings: &HashMap::new(),
            greeting: &Greeting::default(),
        },
    );
    assert!(plan.twiml.to_xml().contains("timeout=\"35\""));
}

#[test]
fn do_not_disturb_handsets_are_not_rung_and_with_none_left_the_caller_goes_to_voicemail() {
    let one = settings(&[("desk", dnd())]);
    assert_eq!(
        incoming_xml(&one, &Greeting::default()),
        dial(20, "", &client("kitchen"))
    );
    let both = settings(&[("desk", dnd()), ("kitchen", dnd())]);
    assert_eq!(
        incoming_xml(&both, &Greeting::default()),
        default_voicemail()
    );
    // The mailbox's own greeting: spoken text, or a recording (which wins).
    let spoken = Greeting {
        text: Some("You reached the Smiths.".into()),
        recording_url: None,
    };
    assert_eq!(
        incoming_xml(&both, &spoken),
        voicemail("<Say>You reached the Smiths.</Say>")
    );
    let recorded = Greeting {
        text: Some("ignored".into()),
        recording_url: Some("https://api.twilio.com/greeting".into()),
    };
    assert_eq!(
        incoming_xml(&both, &recorded),
        voicemail("<Play>https://api.twilio.com/greeting</Play>")
    );
}

#[test]
fn always_forwarding_dials_the_target_instead() {
    // To a number: the number rings in the handset's place.
    let number = settings(&[("desk", forward(ForwardWhen::Always, "+14155550100", 20))]);
    assert_eq!(
        incoming_xml(&number, &Greeting::default()),
        dial(
            20,
            "",
            &format!("<Number>+14155550100</Number>{}", client("kitchen"))
        )
    );
    // To an extension that rings anyway: it rings once.
    let extension = settings(&[("desk", forward(ForwardWhen::Always, "102", 20))]);
    assert_eq!(
        incoming_xml(&extension, &Greeting::default()),
        dial(20, "", &client("kitchen"))
    );
    // Always-forwarding applies on do-not-disturb too (the handset does not ring either way)…
    let mut quiet = forward(ForwardWhen::Always, "+14155550100", 20);
    quiet.do_not_disturb = true;
    let xml = incoming_xml(
        &settings(&[("desk", quiet), ("kitchen", dnd())]),
        &Greeting::default(),
    );
    assert_eq!(xml, dial(20, "", "<Number>+14155550100</Number>"));
    // …but never rings a handset that is itself on do-not-disturb.
    let to_quiet = settings(&[
        ("desk", forward(ForwardWhen::Always, "102", 20)),
        ("kitchen", dnd()),
    ]);
    assert_eq!(
        incoming_xml(&to_quiet, &Greeting::default()),
        dial(20, "", &client("desk"))
    );
}

#[test]
fn busy_and_no_answer_forwarding_ride_in_the_action_url() {
    let busy = settings(&[("desk", forward(ForwardWhen::Busy, "102", 20))]);
    assert_eq!(
        incoming_xml(&busy, &Greeting::default()),
        dial(
            20,
            "&amp;busy=102",
            &format!("{}{}", client("desk"), client("kitchen"))
        )
    );
    let no_answer = settings(&[
        (
            "kitchen",
            forward(ForwardWhen::NoAnswer, "+14155550100", 12),
        ),
        ("desk", forward(ForwardWhen::NoAnswer, "+14155550199", 30)),
    ]);
    // The first handset in the file that forwards decides (desk), with its ring time.
    assert_eq!(
        incoming_xml(&no_answer, &Greeting::default()),
        dial(
            30,
            "&amp;noanswer=%2B14155550199",
            &format!("{}{}", client("desk"), client("kitchen"))
        )
    );
}

#[test]
fn an_unreachable_database_still_rings_every_handset_with_voicemail_after() {
    let (config, handsets) = setup(&[]);
    let plan = incoming_with(&config, &handsets, &call(), Facts::Unreachable);
    assert_eq!(
        plan.twiml.to_xml(),
        dial(20, "", &format!("{}{}", client("desk"), client("kitchen")))
    );
    // Without a database at all, the server only rings (as before voicemail existed).
    let plain = incoming_with(&config, &handsets, &call(), Facts::NoStore);
    assert!(!plain.twiml.to_xml().contains("action="));
}

fn ended(status: Option<&str>, after: &AfterDial) -> String {
    let (config, handsets) = setup(&[]);
    let mut params = call();
    if let Some(status) = status {
        params.push(("DialCallStatus".into(), status.into()));
    }
    dial_ended(
        &config,
        &handsets,
        &params,
        Some(after),
        &Greeting::default(),
    )
    .twiml
    .to_xml()
}

#[test]
fn every_dial_call_status() {
    let plain = AfterDial {
        mailbox: "number:+447381234567".into(),
        on_busy: None,
        on_no_answer: None,
    };
    let hangup = format!("{DECL}<Response><Hangup/></Response>");
    for status in ["completed", "answered"] {
        assert_eq!(ended(Some(status), &plain), hangup, "{status}");
    }
    for status in [
        Some("busy"),
        Some("no-answer"),
        Some("failed"),
        Some("canceled"),
        Some("something-new"),
        None,
    ] {
        assert_eq!(ended(status, &plain), default_voicemail(), "{status:?}");
    }
}

#[test]
fn busy_and_no_answer_forward_once_then_voicemail() {
    let after = AfterDial {
        mailbox: "number:+447381234567".into(),
        on_busy: Some("102".into()),
        on_no_answer: Some("+14155550100".into()),
    };
    let forwarded = |targets: &str| {
        format!(
            "{DECL}<Response><Dial callerId=\"+12025550123\" answerOnBridge=\"true\" timeout=\"20\" \
             action=\"/hooks/voicemail/dial-ended?mailbox={MAILBOX}\" method=\"POST\">{targets}</Dial></Response>"
        )
    };
    assert_eq!(ended(Some("busy"), &after), forwarded(&client("kitchen")));
    assert_eq!(
        ended(Some("no-answer"), &after),
        forwarded("<Number>+14155550100</Number>")
    );
    for status in ["failed", "canceled"] {
        assert_eq!(ended(Some(status), &after), default_voicemail(), "{status}");
    }
    // A target that has left the handsets file: voicemail rather than a dead end.
    let gone = AfterDial {
        on_busy: Some("109".into()),
        ..after.clone()
    };
    assert_eq!(ended(Some("busy"), &gone), default_voicemail());
    // An anonymous caller forwarded to a number shows the account's number.
    let (config, handsets) = setup(&[]);
    let anonymous = p(&[
        ("From", "anonymous"),
        ("To", "+447381234567"),
        ("DialCallStatus", "no-answer"),
    ]);
    let xml = dial_ended(
        &config,
        &handsets,
        &anonymous,
        Some(&after),
        &Greeting::default(),
    )
    .twiml
    .to_xml();
    assert!(xml.contains("callerId=\"+447381234567\""), "{xml}");
}

#[test]
fn a_dial_end_without_its_query_is_told_not_left_in_silence() {
    let (config, handsets) = setup(&[]);
    let mut params = call();
    params.push(("DialCallStatus".into(), "no-answer".into()));
    let plan = dial_ended(&config, &handsets, &params, None, &Greeting::default());
    assert_eq!(
        plan.twiml.to_xml(),
        format!("{DECL}<Response><Say>{SAY_NO_MAILBOX}</Say><Hangup/></Response>")
    );
    assert_eq!(
        AfterDial::from_query(&p(&[("mailbox", "number:+1"), ("busy", "102")])),
        Some(AfterDial {
            mailbox: "number:+1".into(),
            on_busy: Some("102".into()),
            on_no_answer: None,
        })
    );
    assert_eq!(AfterDial::from_query(&p(&[("busy", "102")])), None);
}

const RE: &str = "RE0123456789abcdef0123456789abcdef";
const CA: &str = "CA0123456789abcdef0123456789abcdef";

fn callback() -> Vec<(String, String)> {
    p(&[
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        ("CallSid", CA),
        ("RecordingSid", RE),
        (
            "RecordingUrl",
            "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Recordings/RE0123456789abcdef0123456789abcdef",
        ),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "3"),
        ("RecordingChannels", "1"),
        ("RecordingSource", "RecordVerb"),
        ("ErrorCode", "0"),
    ])
}

#[test]
fn recording_callbacks_are_checked() {
    let (config, handsets) = setup(&[]);
    let query = p(&[
        ("mailbox", "number:+447381234567"),
        ("caller", "+12025550123"),
    ]);
    let message = recording(&config, &handsets, &query, &callback(), 1_000)
        .unwrap()
        .unwrap();
    assert_eq!(message.mailbox, "number:+447381234567");
    assert_eq!(message.recording_sid, RE);
    assert_eq!(message.call_sid, CA);
    assert_eq!(message.caller, "+12025550123");
    assert_eq!(message.duration_seconds, 3);
    assert_eq!(message.received_at, 1_000);

    let without = |name: &str| -> Vec<(String, String)> {
        callback().into_iter().filter(|(k, _)| k != name).collect()
    };
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        let mut params = without(name);
        params.push((name.into(), value.into()));
        params
    };
    for bad in [
        without("RecordingSid"),
        with("RecordingSid", "RE123"),
        without("CallSid"),
        with("CallSid", "XX0123456789abcdef0123456789abcdef"),
        without("RecordingUrl"),
        with("RecordingUrl", "file:///etc/passwd"),
        with("RecordingUrl", "not a url"),
        without("RecordingDuration"),
        with("RecordingDuration", "-1"),
        with("RecordingDuration", "3.5"),
        with("AccountSid", "AC00000000000000000000000000000000"),
    ] {
        assert!(
            recording(&config, &handsets, &query, &bad, 1_000).is_err(),
            "{bad:?}"
        );
    }
    // Unknown mailboxes, or none: a callback for a call this server never sent to voicemail.
    for query in [
        p(&[("mailbox", "number:+15550000000")]),
        p(&[("mailbox", "handset:desk")]),
        p(&[("caller", "+12025550123")]),
    ] {
        assert!(recording(&config, &handsets, &query, &callback(), 1_000).is_err());
    }
    // A callback about a recording that did not complete keeps nothing.
    assert_eq!(
        recording(
            &config,
            &handsets,
            &query,
            &with("RecordingStatus", "absent"),
            1
        ),
        Ok(None)
    );
    // An odd caller text is kept short and printable.
    let odd = p(&[
        ("mailbox", "number:+447381234567"),
        ("caller", &format!("a\u{7}{}", "x".repeat(100))),
    ]);
    let message = recording(&config, &handsets, &odd, &callback(), 1)
        .unwrap()
        .unwrap();
    assert_eq!(message.caller.chars().count(), MAX_CALLER_CHARS);
    assert!(message.caller.starts_with("axx"));
}

#[test]
fn the_voicemail_key_is_recognised_only_from_a_handset() {
    let (_, handsets) = setup(&[]);
    let access = |from: &str, dialled: &str| {
        crate::calls::voicemail_access(&handsets, &p(&[("From", from), ("phoneNumber", dialled)]))
            .map(|h| h.id.clone())
    };
    assert_eq!(access("client:desk", "*97").as_deref(), Some("desk"));
    assert_eq!(access("client:mallory", "*97"), None);
    assert_eq!(access("client:desk", "97"), None);
    assert_eq!(access("+12025550123", "*97"), None);
}

#[test]
fn a_caller_who_hung_up_is_not_offered_voicemail() {
    // Twilio requests the action after the caller hangs up while the handsets ring, with
    // `DialCallStatus=canceled` and `CallStatus=completed`; nobody is left to hear a greeting.
    let (config, handsets) = setup(&[]);
    let after = AfterDial {
        mailbox: "number:+447381234567".into(),
        on_busy: None,
        on_no_answer: Some("+14155550100".into()),
    };
    let gone = p(&[
        ("From", "+14155550199"),
        ("To", "+447381234567"),
        ("CallStatus", "completed"),
        ("DialCallStatus", "canceled"),
    ]);
    let xml = dial_ended(
        &config,
        &handsets,
        &gone,
        Some(&after),
        &Greeting::default(),
    )
    .twiml
    .to_xml();
    assert_eq!(xml, format!("{DECL}<Response><Hangup/></Response>"));
}
