//! Outgoing call progress and how failed calls sound and read.

use offhook_core::handset::input::{InputEvent, Key};

use super::*;
use crate::history::{CallResult, Direction};
use crate::tones::Tone;

fn error(code: u32) -> CallEvent {
    CallEvent::Error(TwilioError::new(code, "from the test"))
}

#[test]
fn progress_connecting_ringing_answered_with_local_ringback() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    assert!(matches!(
        rig.screen(),
        Screen::Calling {
            stage: view::CallingStage::Connecting,
            ..
        }
    ));
    let out = rig.call(
        call,
        CallEvent::Ringing {
            has_early_media: false,
        },
    );
    assert_eq!(tones(&out), vec![Some(Tone::Ringback)]);
    assert!(matches!(
        rig.screen(),
        Screen::Calling {
            stage: view::CallingStage::Ringing,
            ..
        }
    ));
    // Ringing for 20 s must not count as talk time.
    rig.advance(secs(20));
    let out = rig.call(call, CallEvent::Accept);
    assert_eq!(tones(&out), vec![None]);
    let answered = rig.now;
    rig.advance(secs(65));
    let Screen::InCall {
        elapsed_secs,
        party,
        ..
    } = rig.screen()
    else {
        panic!("expected in-call, got {:?}", rig.screen());
    };
    assert_eq!(elapsed_secs, 65);
    assert_eq!(party.name.as_deref(), Some("Mum"));
    // The timer redraws once a second, on the second.
    assert_eq!(rig.phone.poll_timeout(), Some(answered + secs(66)));
}

#[test]
fn early_media_means_no_local_ringback() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    let out = rig.call(
        call,
        CallEvent::Ringing {
            has_early_media: true,
        },
    );
    assert!(!tones(&out).contains(&Some(Tone::Ringback)));
}

#[test]
fn busy_gives_busy_tone_then_silence() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    rig.call(
        call,
        CallEvent::Ringing {
            has_early_media: false,
        },
    );
    rig.call(call, error(31486));
    let out = rig.call(call, CallEvent::Disconnect);
    assert_eq!(tones(&out), vec![None, Some(Tone::Busy)]);
    assert!(
        matches!(rig.screen(), Screen::CallEnded { ref cause, duration_secs: None, .. } if cause == "Busy")
    );
    assert_eq!(tones(&rig.advance(secs(30))), vec![None]);
    let entry = &rig.phone.history().entries()[0];
    assert_eq!(entry.direction, Direction::Placed);
    assert_eq!(entry.result, CallResult::Busy);
    assert_eq!(entry.number, "+14155550100");
}

#[test]
fn failure_causes_map_to_tones_and_words() {
    for (code, tone, words) in [
        (31603, Tone::Busy, "Declined"),
        (31002, Tone::Busy, "Declined"),
        (31480, Tone::Reorder, "Not available"),
        (31404, Tone::Reorder, "Number not found"),
        (31005, Tone::Reorder, "No connection (31005)"),
        (31003, Tone::Reorder, "Connection lost (31003)"),
    ] {
        let mut rig = Rig::registered();
        let call = rig.place("4155550100");
        rig.call(call, error(code));
        let out = rig.call(call, CallEvent::Disconnect);
        assert!(tones(&out).contains(&Some(tone)), "{code}: {out:?}");
        let Screen::CallEnded { cause, .. } = rig.screen() else {
            panic!("{code}: expected call ended");
        };
        assert_eq!(cause, words, "{code}");
    }
}

#[test]
fn token_error_on_a_call_asks_for_a_new_token() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    let out = rig.call(call, error(20104));
    assert!(has(&out, &PhoneOutput::RefreshToken));
}

#[test]
fn error_without_disconnect_ends_the_call_anyway() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    rig.call(call, error(31005));
    assert!(!has(&rig.advance(ms(2999)), &PhoneOutput::Hangup { call }));
    let out = rig.advance(ms(1));
    assert!(has(&out, &PhoneOutput::Hangup { call }));
    assert!(tones(&out).contains(&Some(Tone::Reorder)));
}

#[test]
fn minor_call_message_errors_do_not_end_the_call() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    rig.call(call, CallEvent::Accept);
    rig.call(call, error(31212));
    rig.advance(secs(10));
    assert!(matches!(rig.screen(), Screen::InCall { .. }));
}

#[test]
fn a_call_that_never_progresses_is_given_up() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    assert!(!has(
        &rig.advance(ms(29_999)),
        &PhoneOutput::Hangup { call }
    ));
    let out = rig.advance(ms(1));
    assert!(has(&out, &PhoneOutput::Hangup { call }));
    assert!(matches!(rig.screen(), Screen::CallEnded { ref cause, .. } if cause == "No response"));
    // Events arriving later for that call change nothing.
    assert!(
        rig.call(call, CallEvent::Accept)
            .iter()
            .all(|o| *o == PhoneOutput::ViewChanged)
    );
    assert!(matches!(rig.screen(), Screen::CallEnded { .. }));
}

#[test]
fn hanging_up_while_it_rings_cancels() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    rig.call(
        call,
        CallEvent::Ringing {
            has_early_media: false,
        },
    );
    let out = rig.input(InputEvent::OnHook);
    assert!(has(&out, &PhoneOutput::Hangup { call }));
    assert_eq!(tones(&out), vec![None]);
    assert!(matches!(rig.screen(), Screen::CallEnded { ref cause, .. } if cause == "Cancelled"));
    assert_eq!(
        rig.phone.history().entries()[0].result,
        CallResult::Cancelled
    );
    rig.advance(secs(3));
    assert!(matches!(rig.screen(), Screen::Idle { .. }));
}

#[test]
fn media_lost_after_disconnect_says_so_not_they_hung_up() {
    // The SDK's order when media never comes back: `disconnect`, then `error` 31003.
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    rig.call(call, CallEvent::Accept);
    rig.advance(secs(30));
    rig.call(call, CallEvent::Disconnect);
    rig.call(call, error(31003));
    let cause = ended_cause(&rig);
    assert!(cause.starts_with("Connection lost"), "{cause}");
    // A late error for another call leaves the screen alone.
    rig.call(CallId(call.0 + 100), error(31486));
    let cause = ended_cause(&rig);
    assert!(cause.starts_with("Connection lost"), "{cause}");
}

#[test]
fn a_disconnect_while_reconnecting_says_connection_lost_before_the_error_comes() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    rig.call(call, CallEvent::Accept);
    rig.advance(secs(5));
    rig.call(
        call,
        CallEvent::Reconnecting(TwilioError::new(53405, "Media connection failed.")),
    );
    rig.advance(secs(30));
    rig.call(call, CallEvent::Disconnect);
    let cause = ended_cause(&rig);
    assert_eq!(cause, "Connection lost");
    rig.call(call, error(31003));
    let cause = ended_cause(&rig);
    assert_eq!(cause, "Connection lost (31003)");
}

#[test]
fn far_end_hangs_up_while_off_hook_reorder_after_delay_then_silence() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    rig.call(call, CallEvent::Accept);
    rig.advance(secs(42));
    let out = rig.call(call, CallEvent::Disconnect);
    assert!(
        !has(&out, &PhoneOutput::Hangup { call }),
        "the far end already hung up"
    );
    let Screen::CallEnded {
        cause,
        duration_secs,
        ..
    } = rig.screen()
    else {
        panic!("expected call ended");
    };
    assert_eq!((cause.as_str(), duration_secs), ("They hung up", Some(42)));
    assert!(tones(&rig.advance(ms(4999))).is_empty());
    assert_eq!(tones(&rig.advance(ms(1))), vec![Some(Tone::Reorder)]);
    assert_eq!(tones(&rig.advance(secs(60))), vec![None]);
    assert!(rig.phone.poll_timeout().is_none());
    let entry = &rig.phone.history().entries()[0];
    assert_eq!(
        (entry.result.clone(), entry.duration_secs),
        (CallResult::Answered, Some(42))
    );
    // Keys do nothing until the handset goes down.
    assert!(connect_of(&rig.key(Key::Digit(5))).is_none());
}

#[test]
fn reject_key_ends_the_call_and_gives_dial_tone() {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    rig.call(call, CallEvent::Accept);
    let out = rig.key(Key::Reject);
    assert!(has(&out, &PhoneOutput::Hangup { call }));
    assert_eq!(tones(&out).last(), Some(&Some(Tone::Dial)));
}

/// The call-ended screen's cause line.
fn ended_cause(rig: &Rig) -> String {
    let Screen::CallEnded { cause, .. } = rig.screen() else {
        panic!("expected call ended, got {:?}", rig.screen());
    };
    cause
}
