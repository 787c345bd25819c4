//! Off-hook, dial tone and dialing (redial, speed dial).

use offhook_core::handset::input::{InputEvent, Key};

use super::*;
use crate::history::{CallResult, Direction, HistoryEntry};
use crate::phone::dialing::{DialFailure, DialStage};
use crate::phone::view::DialHint;
use crate::tones::Tone;

#[test]
fn off_hook_gives_dial_tone_at_once_when_registered() {
    let mut rig = Rig::registered();
    let out = rig.input(InputEvent::OffHook);
    // Same instant as the hook event: well within 100 ms.
    assert_eq!(tones(&out), vec![Some(Tone::Dial)]);
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Handset)));
    assert_eq!(
        rig.screen(),
        Screen::Dialing {
            digits: String::new(),
            hint: DialHint::Ready
        }
    );
}

#[test]
fn off_hook_without_registration_gives_no_service_tone_and_says_why() {
    let mut rig = Rig::unregistered(us_config());
    let out = rig.input(InputEvent::OffHook);
    assert_eq!(tones(&out), vec![Some(Tone::NoService)]);
    let Screen::NoService { title, reason, .. } = rig.screen() else {
        panic!("expected no-service, got {:?}", rig.screen());
    };
    assert_eq!(title, "Connecting");
    assert_eq!(reason, "Getting an access token.");
    // Digits do nothing without service.
    assert!(
        rig.key(Key::Digit(4))
            .iter()
            .all(|o| *o == PhoneOutput::ViewChanged)
    );
}

#[test]
fn no_network_and_bad_credentials_are_explained() {
    let mut rig = Rig::unregistered(us_config());
    rig.send(PhoneInput::Device(DeviceEvent::Error(TwilioError::new(
        53000,
        "ws closed",
    ))));
    rig.input(InputEvent::OffHook);
    let Screen::NoService { reason, .. } = rig.screen() else {
        panic!("expected no-service");
    };
    assert_eq!(reason, "Can't reach Twilio — retrying.");
    assert_eq!(rig.view().status.registration, view::Registration::Offline);

    let mut rig = Rig::unregistered(us_config());
    rig.send(PhoneInput::Token(TokenStatus::Failing {
        problem: TokenProblem::CredentialsRejected,
        retry_in: secs(30),
        current_valid_for: None,
    }));
    rig.input(InputEvent::OffHook);
    let Screen::NoService { reason, action, .. } = rig.screen() else {
        panic!("expected no-service");
    };
    assert_eq!(reason, "Device credentials rejected by the server.");
    assert!(action.ends_with("Retry in 30 s."), "{action}");
    assert_eq!(rig.view().status.registration, view::Registration::NoToken);
}

#[test]
fn registration_while_off_hook_switches_the_tone() {
    let mut rig = Rig::unregistered(us_config());
    rig.token_ok();
    assert_eq!(
        tones(&rig.input(InputEvent::OffHook)),
        vec![Some(Tone::NoService)]
    );
    let out = rig.send(PhoneInput::Device(DeviceEvent::Registered));
    assert_eq!(tones(&out), vec![Some(Tone::Dial)]);
    let out = rig.send(PhoneInput::Device(DeviceEvent::Unregistered));
    assert_eq!(tones(&out), vec![Some(Tone::NoService)]);
}

#[test]
fn first_digit_stops_dial_tone_and_every_key_beeps() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    let out = rig.key(Key::Digit(4));
    assert_eq!(tones(&out), vec![None, Some(Tone::Dtmf('4'))]);
    let out = rig.key(Key::Digit(1));
    assert_eq!(tones(&out), vec![Some(Tone::Dtmf('1'))]);
    let out = rig.key(Key::Star);
    // `*` mid-number is not in any rule: reorder after the beep.
    assert_eq!(
        tones(&out),
        vec![Some(Tone::Dtmf('*')), Some(Tone::Reorder)]
    );
    assert_eq!(
        rig.phone.dial_stage(),
        Some(DialStage::Failed(DialFailure::Invalid))
    );
}

#[test]
fn a_ten_digit_number_dials_when_complete() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    let out = rig.dial("415555010", ms(400));
    assert!(connect_of(&out).is_none());
    let out = rig.dial("0", ms(0));
    let Some((call, to)) = connect_of(&out) else {
        panic!("no connect in {out:?}");
    };
    assert_eq!(to, "+14155550100");
    assert!(has(
        &out,
        &PhoneOutput::Connect {
            call,
            to: "+14155550100".into(),
            params: vec![("To".into(), "+14155550100".into())]
        }
    ));
    let Screen::Calling { party, stage } = rig.screen() else {
        panic!("expected calling");
    };
    assert_eq!(party.name.as_deref(), Some("Mum"));
    assert_eq!(party.number, "(415) 555-0100");
    assert_eq!(stage, view::CallingStage::Connecting);
}

#[test]
fn pound_sends_and_short_timer_completes() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    rig.dial("011442079460000", ms(200));
    let out = rig.key(Key::Pound);
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+442079460000")
    );

    // The same number without `#` goes after the 3 s short timer, not before.
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    rig.dial("011442079460000", ms(200));
    assert!(connect_of(&rig.advance(ms(2999))).is_none());
    let out = rig.advance(ms(1));
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+442079460000")
    );
}

#[test]
fn incomplete_number_fails_after_the_long_timer() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    rig.dial("415", ms(100));
    assert!(tones(&rig.advance(ms(9999))).is_empty());
    let out = rig.advance(ms(1));
    assert_eq!(tones(&out), vec![Some(Tone::Reorder)]);
    assert_eq!(
        rig.screen(),
        Screen::Dialing {
            digits: "415".into(),
            hint: DialHint::Invalid
        }
    );
}

#[test]
fn initial_digit_timeout_then_reorder_then_howler_then_silence() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    assert!(tones(&rig.advance(ms(9999))).is_empty());
    assert_eq!(tones(&rig.advance(ms(1))), vec![Some(Tone::Reorder)]);
    assert_eq!(rig.elapsed(), secs(10));
    assert!(matches!(
        rig.screen(),
        Screen::Dialing {
            hint: DialHint::TimedOut,
            ..
        }
    ));
    assert!(tones(&rig.advance(secs(60) - ms(1))).is_empty());
    assert_eq!(tones(&rig.advance(ms(1))), vec![Some(Tone::Howler)]);
    assert_eq!(tones(&rig.advance(secs(10))), vec![None]);
    assert_eq!(rig.elapsed(), secs(80));
    // Keys do nothing now; hanging up and lifting again gives a fresh dial tone.
    assert!(tones(&rig.key(Key::Digit(5))).is_empty());
    rig.input(InputEvent::OnHook);
    assert_eq!(
        tones(&rig.input(InputEvent::OffHook)),
        vec![Some(Tone::Dial)]
    );
}

#[test]
fn emergency_numbers_dial_at_once() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    let out = rig.dial("911", ms(100));
    assert_eq!(connect_of(&out).map(|c| c.1).as_deref(), Some("911"));
}

#[test]
fn extension_dials_the_handset() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    let out = rig.dial("101", ms(100));
    assert_eq!(connect_of(&out).map(|c| c.1).as_deref(), Some("101"));
    let Screen::Calling { party, .. } = rig.screen() else {
        panic!("expected calling");
    };
    assert_eq!(party.name.as_deref(), Some("Kitchen"));
    assert_eq!(party.number, "Ext 101");
}

#[test]
fn star_first_and_long_zero_give_plus() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    rig.dial("*442079460000", ms(100));
    assert!(matches!(rig.screen(), Screen::Dialing { digits, .. } if digits == "+442079460000"));
    let out = rig.key(Key::Pound);
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+442079460000")
    );

    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    rig.key(Key::Digit(0));
    rig.input(InputEvent::KeyLongPress(Key::Digit(0)));
    rig.dial("33142685300", ms(100));
    let out = rig.advance(secs(3));
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+33142685300")
    );
}

#[test]
fn long_pressed_digit_is_a_speed_dial() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    rig.key(Key::Digit(2));
    let out = rig.input(InputEvent::KeyLongPress(Key::Digit(2)));
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+442079460000")
    );
    // An empty slot does nothing.
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    rig.key(Key::Digit(3));
    assert!(connect_of(&rig.input(InputEvent::KeyLongPress(Key::Digit(3)))).is_none());
}

#[test]
fn redial_calls_the_last_number_placed() {
    let mut history = CallHistory::default();
    history.add(HistoryEntry {
        direction: Direction::Placed,
        number: "+14155550123".into(),
        name: None,
        started_unix: None,
        duration_secs: Some(3),
        result: CallResult::Answered,
    });
    let mut rig = Rig::with_history(us_config(), history);
    rig.token_ok();
    rig.send(PhoneInput::Device(DeviceEvent::Registered));
    rig.input(InputEvent::OffHook);
    let out = rig.key(Key::Redial);
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+14155550123")
    );
}

#[test]
fn redial_on_hook_goes_hands_free() {
    let mut rig = Rig::registered();
    let first = rig.place("4155550123");
    rig.input(InputEvent::OnHook);
    assert!(
        rig.call(first, CallEvent::Disconnect)
            .iter()
            .all(|o| *o == PhoneOutput::ViewChanged)
    );
    let out = rig.key(Key::Redial);
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Speaker)));
    assert!(has(
        &out,
        &PhoneOutput::Led {
            led: Led::Speaker,
            state: LedState::On
        }
    ));
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+14155550123")
    );
}

#[test]
fn missed_calls_leave_the_dial_tone_steady() {
    // The stutter means new voicemail (tests/voicemail.rs), not missed calls.
    let mut rig = Rig::registered();
    let (call, _) = rig.ring("+14155550188", &[]);
    rig.call(call, CallEvent::Cancel);
    let out = rig.input(InputEvent::OffHook);
    assert_eq!(tones(&out), vec![Some(Tone::Dial)]);
}

#[test]
fn hanging_up_while_dialing_stops_everything() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    rig.dial("415", ms(100));
    let out = rig.input(InputEvent::OnHook);
    assert!(connect_of(&out).is_none());
    assert!(rig.phone.poll_timeout().is_none(), "no timers left running");
    assert!(matches!(rig.screen(), Screen::Idle { .. }));
}
