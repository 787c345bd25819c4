//! Incoming calls: ringer, caller id, answer, reject, missed, waiting.

use offhook_core::handset::input::{InputEvent, Key};

use super::*;
use crate::history::{CallResult, Direction};
use offhook_core::handset::cadence::Cadence;

use crate::tones::Tone;

fn ringer_on(out: &[PhoneOutput]) -> Option<Cadence> {
    out.iter().find_map(|o| match o {
        PhoneOutput::Ringer(Some(c)) => Some(c.clone()),
        _ => None,
    })
}

#[test]
fn rings_with_the_region_cadence_and_shows_the_caller() {
    let mut rig = Rig::registered();
    let (_, out) = rig.ring("+14155550100", &[]);
    let cadence = ringer_on(&out).expect("ringer on");
    assert_eq!(cadence, Cadence::north_america());
    assert_eq!(cadence.segments(), [(secs(2), secs(4))]);
    let Screen::Incoming { party } = rig.screen() else {
        panic!("expected incoming");
    };
    assert_eq!(party.name.as_deref(), Some("Mum"));
    assert_eq!(party.number, "(415) 555-0100");
}

#[test]
fn server_parameters_name_the_caller() {
    let mut rig = Rig::registered();
    rig.ring(
        "client:kitchen",
        &[("callerName", "Kitchen & Co"), ("callerExtension", "102")],
    );
    let Screen::Incoming { party } = rig.screen() else {
        panic!("expected incoming");
    };
    assert_eq!(
        (party.name.as_deref(), party.number.as_str()),
        (Some("Kitchen & Co"), "Ext 102")
    );
    let mut rig = Rig::registered();
    rig.ring("+15550001111", &[("callerNumber", "+442079460000")]);
    let Screen::Incoming { party } = rig.screen() else {
        panic!("expected incoming");
    };
    assert_eq!((party.name, party.number.as_str()), (None, "+442079460000"));
}

#[test]
fn lifting_the_handset_answers() {
    let mut rig = Rig::registered();
    let (call, _) = rig.ring("+14155550100", &[]);
    let out = rig.input(InputEvent::OffHook);
    assert!(has(&out, &PhoneOutput::Accept { call }));
    assert!(has(&out, &PhoneOutput::Ringer(None)));
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Handset)));
    assert!(tones(&out).is_empty(), "no dial tone when answering");
    rig.call(call, CallEvent::Accept);
    rig.advance(secs(7));
    assert!(matches!(
        rig.screen(),
        Screen::InCall {
            elapsed_secs: 7,
            ..
        }
    ));
    let out = rig.input(InputEvent::OnHook);
    assert!(has(&out, &PhoneOutput::Hangup { call }));
    let entry = &rig.phone.history().entries()[0];
    assert_eq!(
        (entry.direction, entry.duration_secs),
        (Direction::Received, Some(7))
    );
}

#[test]
fn speaker_key_answers_hands_free() {
    let mut rig = Rig::registered();
    let (call, _) = rig.ring("+14155550100", &[]);
    let out = rig.key(Key::Speaker);
    assert!(has(&out, &PhoneOutput::Accept { call }));
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Speaker)));
    assert!(has(
        &out,
        &PhoneOutput::Led {
            led: Led::Speaker,
            state: LedState::On
        }
    ));
    assert!(rig.view().status.speaker);
}

#[test]
fn reject_key_declines() {
    let mut rig = Rig::registered();
    let (call, _) = rig.ring("+14155550100", &[]);
    let out = rig.key(Key::Reject);
    assert!(has(&out, &PhoneOutput::Reject { call }));
    assert!(has(&out, &PhoneOutput::Ringer(None)));
    let entry = &rig.phone.history().entries()[0];
    assert_eq!(
        (entry.direction, &entry.result),
        (Direction::Received, &CallResult::Rejected)
    );
    assert_eq!(rig.phone.history().unseen_missed(), 0);
}

#[test]
fn caller_giving_up_is_a_missed_call_on_the_screen_not_the_lamp() {
    let mut rig = Rig::registered();
    let (call, _) = rig.ring("+14155550177", &[]);
    let out = rig.call(call, CallEvent::Cancel);
    assert!(has(&out, &PhoneOutput::Ringer(None)));
    assert!(has(&out, &PhoneOutput::HistoryChanged));
    assert!(
        !out.iter().any(|o| matches!(
            o,
            PhoneOutput::Led {
                led: Led::Message,
                ..
            }
        )),
        "the message lamp is for voicemail: {out:?}"
    );
    assert!(matches!(rig.screen(), Screen::Idle { missed: 1, .. }));
    assert_eq!(rig.view().status.missed, 1);
    assert_eq!(
        rig.phone.history().entries()[0].direction,
        Direction::Missed
    );
}

#[test]
fn unanswered_call_is_ignored_after_the_ring_timeout() {
    let mut rig = Rig::registered();
    let (call, _) = rig.ring("+14155550177", &[]);
    assert!(!has(
        &rig.advance(ms(59_999)),
        &PhoneOutput::Ignore { call }
    ));
    let out = rig.advance(ms(1));
    assert!(has(&out, &PhoneOutput::Ignore { call }));
    assert!(has(&out, &PhoneOutput::Ringer(None)));
    assert_eq!(rig.phone.history().unseen_missed(), 1);
}

#[test]
fn a_call_while_dialing_is_turned_away_but_listed() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    let (call, out) = rig.ring("+14155550177", &[]);
    assert!(has(&out, &PhoneOutput::Reject { call }));
    assert!(ringer_on(&out).is_none());
    assert_eq!(rig.phone.history().unseen_missed(), 1);
}

#[test]
fn do_not_disturb_declines() {
    let mut rig = Rig::registered();
    rig.phone.user.do_not_disturb = true;
    let (call, out) = rig.ring("+14155550177", &[]);
    assert!(has(&out, &PhoneOutput::Reject { call }));
    assert!(ringer_on(&out).is_none());
    assert!(rig.view().status.dnd);
}

#[test]
fn call_waiting_tone_flash_to_answer_and_missed_when_it_gives_up() {
    let mut cfg = us_config();
    cfg.call_waiting = true;
    cfg.hook_flash = HookFlashAction::AnswerWaiting;
    let mut rig = Rig::registered_with(cfg);
    let first = rig.place("4155550100");
    rig.call(first, CallEvent::Accept);
    let (second, out) = rig.ring("+442079460000", &[]);
    assert_eq!(tones(&out), vec![Some(Tone::CallWaiting)]);
    assert!(ringer_on(&out).is_none(), "no bell during a call");
    let Screen::InCall {
        waiting: Some(party),
        ..
    } = rig.screen()
    else {
        panic!("expected in-call with a waiting caller");
    };
    assert_eq!(party.number, "+442079460000");
    let out = rig.input(InputEvent::HookFlash);
    assert!(has(&out, &PhoneOutput::Hangup { call: first }));
    assert!(has(&out, &PhoneOutput::Accept { call: second }));
    rig.call(second, CallEvent::Accept);
    assert!(matches!(rig.screen(), Screen::InCall { waiting: None, .. }));

    // A third caller who gives up while waiting is missed.
    let (third, _) = rig.ring("+14155550199", &[]);
    let out = rig.call(third, CallEvent::Cancel);
    assert_eq!(tones(&out), vec![None]);
    assert_eq!(rig.phone.history().unseen_missed(), 1);
}

#[test]
fn hanging_up_with_a_call_waiting_rings_it() {
    let mut cfg = us_config();
    cfg.call_waiting = true;
    let mut rig = Rig::registered_with(cfg);
    let first = rig.place("4155550100");
    rig.call(first, CallEvent::Accept);
    let (second, _) = rig.ring("+442079460000", &[]);
    let out = rig.input(InputEvent::OnHook);
    assert!(has(&out, &PhoneOutput::Hangup { call: first }));
    assert!(ringer_on(&out).is_some());
    assert!(matches!(rig.screen(), Screen::Incoming { .. }));
    assert!(has(
        &rig.input(InputEvent::OffHook),
        &PhoneOutput::Accept { call: second }
    ));
}

#[test]
fn reject_key_declines_the_waiting_call_only() {
    let mut cfg = us_config();
    cfg.call_waiting = true;
    let mut rig = Rig::registered_with(cfg);
    let first = rig.place("4155550100");
    rig.call(first, CallEvent::Accept);
    let (second, _) = rig.ring("+442079460000", &[]);
    let out = rig.key(Key::Reject);
    assert!(has(&out, &PhoneOutput::Reject { call: second }));
    assert!(!has(&out, &PhoneOutput::Hangup { call: first }));
    assert!(matches!(rig.screen(), Screen::InCall { .. }));
}
