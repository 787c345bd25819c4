//! `<Gather input="dtmf">`: prompts, digits (which interrupt them), `numDigits`,
//! `finishOnKey`, the timeout, and falling through with no input.

use super::*;

const VOICE_URL: &str = "http://app.example/voice";

fn press(h: &mut Harness, leg: &str, digits: &str) {
    for digit in digits.chars() {
        h.input(Input::Media(MediaEvent::Dtmf {
            leg: leg.to_string(),
            digit,
        }));
    }
}

fn gathering(doc: &str) -> (Harness, String) {
    let mut h = Harness::new(None, Some(VOICE_URL));
    let call = h.inbound(Behaviour::Silence);
    h.reply_webhook(Ok(doc));
    (h, call)
}

#[test]
fn digits_interrupt_the_prompt_and_num_digits_submits_them() {
    let (mut h, call) = gathering(
        r#"<Response><Gather numDigits="2" action="/menu" method="GET"><Say>Press two keys</Say><Pause length="2"/></Gather><Say>not reached</Say></Response>"#,
    );
    assert_eq!(h.phase(&call), "gathering");
    assert_eq!(h.plays[0].2, vec![PlayItem::Say("Press two keys".into())]);
    let prompt = h.plays[0].1;
    press(&mut h, &call, "4");
    assert!(
        h.media
            .iter()
            .any(|m| matches!(m, MediaCommand::StopPlayback { leg } if *leg == call)),
        "the digit stops the prompt"
    );
    // The stopped prompt's end starts nothing (the pause is skipped too).
    h.input(Input::Media(MediaEvent::PlayDone {
        leg: call.clone(),
        token: prompt,
    }));
    h.plays.clear();
    h.finish_plays();
    assert!(h.plays.is_empty());
    assert!(h.webhooks.is_empty());
    press(&mut h, &call, "2");
    let (_, _, action) = h.webhooks.remove(0);
    assert_eq!(action.method, "GET");
    assert!(
        action.url.starts_with("http://app.example/menu?") && action.url.contains("Digits=42"),
        "{}",
        action.url
    );
    assert_eq!(
        action.signature,
        twilio_signature(&h.creds.auth_token, &action.url, &[])
    );
    assert_eq!(h.phase(&call), "fetching");
}

#[test]
fn the_finish_key_submits_without_itself_and_the_timeout_submits_what_came() {
    let (mut h, call) = gathering(
        r#"<Response><Gather action="/menu"><Say>Enter your PIN</Say></Gather></Response>"#,
    );
    h.finish_plays();
    press(&mut h, &call, "12#");
    let action = h.reply_to("http://app.example/menu", Ok("<Response/>"));
    assert_eq!(param(&action, "Digits"), Some("12"));

    let (mut h, call) = gathering(r#"<Response><Gather timeout="3"/></Response>"#);
    press(&mut h, &call, "5");
    h.advance(Duration::from_millis(2900));
    press(&mut h, &call, "7");
    h.advance(Duration::from_millis(2900));
    assert!(h.webhooks.is_empty(), "each digit restarts the wait");
    h.advance(Duration::from_millis(200));
    // No action: the current document again.
    let action = h.reply_to(VOICE_URL, Ok("<Response/>"));
    assert_eq!(param(&action, "Digits"), Some("57"));
}

#[test]
fn no_digits_fall_through_to_the_next_verb() {
    let (mut h, call) = gathering(
        r#"<Response><Gather timeout="5" action="/menu"><Say>Hello</Say><Play digits="1"/></Gather><Say>Goodbye</Say></Response>"#,
    );
    assert_eq!(h.plays[0].2, vec![PlayItem::Say("Hello".into())]);
    h.finish_plays();
    assert_eq!(
        h.plays[0].2,
        vec![PlayItem::Digits("1".into())],
        "prompts play in turn"
    );
    h.finish_plays();
    // The wait starts once the prompts are over.
    h.advance(Duration::from_millis(4990));
    assert_eq!(h.phase(&call), "gathering");
    h.advance(Duration::from_millis(20));
    assert!(h.webhooks.is_empty(), "no action without input");
    assert_eq!(h.plays[0].2, vec![PlayItem::Say("Goodbye".into())]);

    // The finish key alone is no input either.
    let (mut h, call) =
        gathering(r#"<Response><Gather action="/menu"/><Say>Goodbye</Say></Response>"#);
    press(&mut h, &call, "#");
    assert!(h.webhooks.is_empty());
    assert_eq!(h.plays[0].2, vec![PlayItem::Say("Goodbye".into())]);

    // actionOnEmptyResult asks anyway.
    let (mut h, _) = gathering(
        r#"<Response><Gather action="/menu" actionOnEmptyResult="true" timeout="1"/></Response>"#,
    );
    h.advance(Duration::from_secs(1));
    let action = h.reply_to("http://app.example/menu", Ok("<Response/>"));
    assert_eq!(param(&action, "Digits"), Some(""));
}

#[test]
fn digits_outside_a_gather_or_from_another_leg_are_no_input() {
    let (mut h, call) = gathering(r#"<Response><Say>Wait</Say><Gather numDigits="1"/></Response>"#);
    press(&mut h, &call, "9");
    h.finish_plays();
    assert_eq!(h.phase(&call), "gathering", "the early key was not kept");
    press(&mut h, "CAsomeoneelse", "1");
    assert_eq!(h.phase(&call), "gathering");
    press(&mut h, &call, "3");
    let action = h.reply_to(VOICE_URL, Ok("<Response/>"));
    assert_eq!(param(&action, "Digits"), Some("3"));
    // input="speech" hears no keys.
    let (mut h, call) =
        gathering(r#"<Response><Gather input="speech" timeout="1"/><Say>x</Say></Response>"#);
    press(&mut h, &call, "1");
    h.advance(Duration::from_secs(1));
    assert!(h.webhooks.is_empty());
    assert_eq!(h.plays[0].2, vec![PlayItem::Say("x".into())]);
}
