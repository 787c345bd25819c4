//! Voicemail: the lamp and the stutter dial tone follow new messages (not missed calls), the
//! idle screen counts them, the voicemail key and `*97` call the mailbox, and the history lists
//! messages beside calls.

use offhook_core::handset::input::{InputEvent, Key};

use super::*;
use crate::phone::view::{HistoryRow, RowKind};
use crate::screens::words::{describe, new_voicemails};
use crate::screens::{Layout, drawn_text};
use crate::tones::Tone;

fn count(new: u32, saved: u32) -> PhoneInput {
    PhoneInput::Voicemail(VoicemailCount { new, saved })
}

fn idle_counts(rig: &Rig) -> (u32, u32) {
    match rig.screen() {
        Screen::Idle {
            missed, voicemail, ..
        } => (missed, voicemail),
        other => panic!("expected idle, got {other:?}"),
    }
}

#[test]
fn new_voicemail_lights_the_lamp_and_stutters_the_dial_tone() {
    let mut rig = Rig::registered();
    let out = rig.send(count(2, 1));
    assert_eq!(message_lamp(&out), vec![LedState::On]);
    assert!(has(&out, &PhoneOutput::ViewChanged));
    assert_eq!(idle_counts(&rig), (0, 2));
    assert_eq!(rig.view().status.voicemail, 2);

    let out = rig.input(InputEvent::OffHook);
    assert_eq!(tones(&out), vec![Some(Tone::MessageWaitingDial)]);

    // Listened to from another handset: the tone steadies and the lamp goes out, at once.
    let out = rig.send(count(0, 3));
    assert_eq!(message_lamp(&out), vec![LedState::Off]);
    assert_eq!(tones(&out), vec![Some(Tone::Dial)]);
    rig.input(InputEvent::OnHook);
    assert_eq!(idle_counts(&rig), (0, 0));

    // The same count again changes nothing.
    let out = rig.send(count(0, 3));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn saved_messages_alone_leave_the_lamp_off() {
    let mut rig = Rig::registered();
    let out = rig.send(count(0, 4));
    assert!(message_lamp(&out).is_empty(), "{out:?}");
    let out = rig.input(InputEvent::OffHook);
    assert_eq!(tones(&out), vec![Some(Tone::Dial)]);
}

#[test]
fn missed_calls_and_voicemail_keep_separate_indicators() {
    let mut rig = Rig::registered();
    let (call, _) = rig.ring("+14155550177", &[]);
    let out = rig.call(call, CallEvent::Cancel);
    assert!(
        message_lamp(&out).is_empty(),
        "a missed call alone: no lamp"
    );
    assert_eq!(idle_counts(&rig), (1, 0));

    let out = rig.send(count(1, 0));
    assert_eq!(message_lamp(&out), vec![LedState::On]);
    assert_eq!(idle_counts(&rig), (1, 1));
    let description = describe(&rig.view());
    assert!(description.contains("missed 1"), "{description}");
    assert!(description.contains("1 new voicemail"), "{description}");

    // Looking at the history clears the missed calls, not the voicemail.
    rig.key(Key::Menu);
    let out = rig.key(Key::Menu);
    assert!(message_lamp(&out).is_empty(), "{out:?}");
    rig.key(Key::Reject);
    rig.key(Key::Reject);
    assert_eq!(idle_counts(&rig), (0, 1));
    let out = rig.input(InputEvent::OffHook);
    assert_eq!(tones(&out), vec![Some(Tone::MessageWaitingDial)]);
}

#[test]
fn the_idle_screen_counts_new_voicemails_in_words() {
    assert_eq!(new_voicemails(1), "1 new voicemail");
    assert_eq!(new_voicemails(2), "2 new voicemails");
    for (n, words) in [(1, "1 new voicemail"), (2, "2 new voicemails")] {
        let mut rig = Rig::registered();
        rig.send(count(n, 0));
        let view = rig.view();
        assert!(describe(&view).contains(words), "{}", describe(&view));
        for layout in Layout::ALL {
            let drawn = drawn_text(&view, layout);
            assert!(
                drawn.iter().any(|d| d == words),
                "{}: {drawn:?}",
                layout.name()
            );
            if n == 1 {
                assert!(!drawn.iter().any(|d| d.contains("voicemails")), "{drawn:?}");
            }
        }
    }
}

#[test]
fn long_press_of_1_on_hook_calls_voicemail_hands_free() {
    let mut rig = Rig::registered();
    rig.send(count(1, 0));
    rig.key(Key::Digit(1));
    let out = rig.input(InputEvent::KeyLongPress(Key::Digit(1)));
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Speaker)));
    let Some(PhoneOutput::Connect { to, params, .. }) = out
        .iter()
        .find(|o| matches!(o, PhoneOutput::Connect { .. }))
    else {
        panic!("no call placed: {out:?}");
    };
    assert_eq!(to, "*97");
    assert_eq!(params, &vec![("To".to_string(), "*97".to_string())]);
    match rig.screen() {
        Screen::Calling { party, .. } => assert_eq!(party.headline(), "Voicemail"),
        other => panic!("expected calling, got {other:?}"),
    }
}

#[test]
fn long_press_of_1_at_dial_tone_calls_voicemail() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    let out = rig.key(Key::Digit(1));
    assert!(connect_of(&out).is_none(), "a tap of 1 is just a digit");
    let out = rig.input(InputEvent::KeyLongPress(Key::Digit(1)));
    assert_eq!(connect_of(&out).map(|c| c.1).as_deref(), Some("*97"));
    assert!(
        !has(&out, &PhoneOutput::Route(AudioRoute::Speaker)),
        "the handset is up: the call stays on it"
    );
    assert!(
        rig.phone.poll_timeout() > Some(rig.now + secs(20)),
        "no digit timer left"
    );
}

#[test]
fn dialing_star_97_calls_voicemail_and_its_menu_keys_go_out_as_dtmf() {
    let mut rig = Rig::registered();
    rig.input(InputEvent::OffHook);
    rig.key(Key::Star);
    assert!(
        matches!(rig.screen(), Screen::Dialing { digits, .. } if digits == "*"),
        "`*` stays `*` while it can still be the voicemail code"
    );
    let out = rig.dial("97", ms(300));
    let (call, to) = connect_of(&out).expect("*97 dials at once, without the timer");
    assert_eq!(to, "*97");
    rig.call(call, CallEvent::Accept);
    for (key, c) in [
        (Key::Digit(7), "7"),
        (Key::Digit(9), "9"),
        (Key::Pound, "#"),
        (Key::Star, "*"),
    ] {
        let out = rig.key(key);
        assert!(
            has(
                &out,
                &PhoneOutput::SendDigits {
                    call,
                    digits: c.into()
                }
            ),
            "{c}: {out:?}"
        );
    }
    // A long press in the call is nothing more than its digit.
    let out = rig.input(InputEvent::KeyLongPress(Key::Digit(1)));
    assert!(connect_of(&out).is_none());
}

#[test]
fn the_voicemail_key_wins_over_a_speed_dial_and_can_be_turned_off() {
    let mut cfg = us_config();
    let us = cfg.dial_plan.country();
    let mut speed = std::collections::BTreeMap::new();
    speed.insert(1, "+14155550100".to_string());
    let map = DigitMap::parse(default_digit_map(us)).expect("map");
    let plan = DialPlan::new(map, us, &[], speed, Directory::default());
    cfg.dial_plan = plan.clone().with_voicemail(Some("*97".into()), Some(1));
    let mut rig = Rig::registered_with(cfg.clone());
    rig.key(Key::Digit(1));
    let out = rig.input(InputEvent::KeyLongPress(Key::Digit(1)));
    assert_eq!(connect_of(&out).map(|c| c.1).as_deref(), Some("*97"));

    // No voicemail code: the key is the speed dial again, and `*` gives `+`.
    cfg.dial_plan = plan.with_voicemail(None, Some(1));
    let mut rig = Rig::registered_with(cfg);
    rig.key(Key::Digit(1));
    let out = rig.input(InputEvent::KeyLongPress(Key::Digit(1)));
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+14155550100")
    );
    rig.key(Key::Speaker);
    rig.input(InputEvent::OffHook);
    rig.key(Key::Star);
    assert!(matches!(rig.screen(), Screen::Dialing { digits, .. } if digits == "+"));
}

fn message(id: i64, caller: &str, received_at: i64, state: MessageState) -> VoicemailMessage {
    VoicemailMessage {
        id,
        caller: caller.into(),
        received_at,
        duration_secs: 12,
        state,
    }
}

#[test]
fn the_history_lists_voicemails_beside_calls_and_calls_the_mailbox() {
    let t = 1_795_269_900;
    let mut rig = Rig::registered();
    rig.send(PhoneInput::WallClock {
        unix_secs: t,
        utc_offset_secs: 0,
    });
    let (call, _) = rig.ring("+14155550177", &[]);
    rig.call(call, CallEvent::Cancel);
    rig.send(PhoneInput::VoicemailList(VoicemailList {
        new: 1,
        saved: 1,
        messages: vec![
            message(7, "+14155550100", t + 60, MessageState::New),
            message(3, "anonymous", t - 86_400 * 2, MessageState::Saved),
        ],
    }));
    assert_eq!(rig.view().status.voicemail, 1, "the list's counts count");
    rig.key(Key::Menu);
    rig.key(Key::Menu);
    let Screen::History { rows, .. } = rig.screen() else {
        panic!("expected history");
    };
    let summary: Vec<(RowKind, &str, &str)> = rows
        .iter()
        .map(|r: &HistoryRow| (r.kind, r.label.as_str(), r.detail.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (RowKind::Voicemail { new: true }, "Mum", "New 0:12"),
            (
                RowKind::Call {
                    direction: crate::history::Direction::Missed
                },
                "(415) 555-0177",
                "Missed"
            ),
            (RowKind::Voicemail { new: false }, "Unknown", "Saved 0:12"),
        ]
    );
    assert_eq!(rows[0].when.as_deref(), Some("14:06"));
    assert_eq!(rows[2].when.as_deref(), Some("19 Nov"));

    // A voicemail row calls the mailbox; a call row calls back.
    let out = rig.key(Key::Menu);
    assert_eq!(connect_of(&out).map(|c| c.1).as_deref(), Some("*97"));
    let mut rig2 = Rig::registered();
    let (call, _) = rig2.ring("+14155550177", &[]);
    rig2.call(call, CallEvent::Cancel);
    rig2.send(PhoneInput::VoicemailList(VoicemailList {
        new: 0,
        saved: 1,
        messages: vec![message(3, "+14155550100", 1, MessageState::Saved)],
    }));
    rig2.key(Key::Menu);
    rig2.key(Key::Menu);
    rig2.key(Key::VolumeDown);
    let out = rig2.key(Key::Menu);
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+14155550177"),
        "a call without a known time sorts after the message of 1970, still callable"
    );
}
