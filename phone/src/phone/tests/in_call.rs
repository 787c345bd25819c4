//! In a call: DTMF, mute, volume, speaker, hook flash, hang-up.

use offhook_core::handset::input::{InputEvent, Key};

use super::*;
use crate::tones::Tone;

fn in_call() -> (Rig, CallId) {
    let mut rig = Rig::registered();
    let call = rig.place("4155550100");
    rig.call(call, CallEvent::Accept);
    (rig, call)
}

#[test]
fn keypad_sends_dtmf_and_beeps_locally() {
    let (mut rig, call) = in_call();
    let out = rig.key(Key::Digit(5));
    assert!(has(
        &out,
        &PhoneOutput::SendDigits {
            call,
            digits: "5".into()
        }
    ));
    assert_eq!(tones(&out), vec![Some(Tone::Dtmf('5'))]);
    rig.key(Key::Pound);
    assert!(matches!(rig.screen(), Screen::InCall { ref digits_sent, .. } if digits_sent == "5#"));
}

#[test]
fn mute_key_and_lamp() {
    let (mut rig, call) = in_call();
    let out = rig.key(Key::Mute);
    assert!(has(&out, &PhoneOutput::Mute { call, muted: true }));
    assert!(has(
        &out,
        &PhoneOutput::Led {
            led: Led::Mute,
            state: LedState::On
        }
    ));
    assert!(rig.view().status.muted);
    let out = rig.key(Key::Mute);
    assert!(has(&out, &PhoneOutput::Mute { call, muted: false }));
    assert!(has(
        &out,
        &PhoneOutput::Led {
            led: Led::Mute,
            state: LedState::Off
        }
    ));
    // The SDK's own mute event is followed too.
    rig.call(call, CallEvent::Mute(true));
    assert!(matches!(rig.screen(), Screen::InCall { muted: true, .. }));
    // The lamp goes out when the call ends.
    let out = rig.input(InputEvent::OnHook);
    assert!(has(
        &out,
        &PhoneOutput::Led {
            led: Led::Mute,
            state: LedState::Off
        }
    ));
}

#[test]
fn volume_keys_work_per_path_and_are_saved() {
    let (mut rig, _) = in_call();
    let out = rig.key(Key::VolumeUp);
    assert!(has(
        &out,
        &PhoneOutput::Volume {
            path: VolumePath::Handset,
            level: 7
        }
    ));
    assert!(has(&out, &PhoneOutput::SettingsChanged));
    assert!(matches!(
        rig.view().overlay,
        Some(view::Overlay::Volume {
            path: VolumePath::Handset,
            level: 7,
            ..
        })
    ));
    rig.advance(secs(2));
    assert!(rig.view().overlay.is_none());
    rig.key(Key::Speaker);
    let out = rig.input(InputEvent::KeyRepeat(Key::VolumeDown));
    assert!(has(
        &out,
        &PhoneOutput::Volume {
            path: VolumePath::Speaker,
            level: 5
        }
    ));
    rig.input(InputEvent::OnHook);
    // Speaker off with the handset down ends the call; on-hook, the keys set the ringer.
    rig.key(Key::Speaker);
    let out = rig.key(Key::VolumeUp);
    assert!(has(
        &out,
        &PhoneOutput::Volume {
            path: VolumePath::Ringer,
            level: 7
        }
    ));
    let saved = rig.phone.user_settings().volumes;
    assert_eq!((saved.handset, saved.speaker, saved.ringer), (7, 5, 7));
    // Volume stops at the ends.
    for _ in 0..20 {
        rig.key(Key::VolumeUp);
    }
    assert_eq!(rig.phone.user_settings().volumes.ringer, MAX_VOLUME);
}

#[test]
fn speaker_key_switches_route_without_dropping_the_call() {
    let (mut rig, call) = in_call();
    let out = rig.key(Key::Speaker);
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Speaker)));
    assert!(!has(&out, &PhoneOutput::Hangup { call }));
    // Handset back on the cradle: the call carries on, hands-free.
    let out = rig.input(InputEvent::OnHook);
    assert!(!has(&out, &PhoneOutput::Hangup { call }));
    assert!(matches!(rig.screen(), Screen::InCall { speaker: true, .. }));
    // Lifting the handset takes the call back.
    let out = rig.input(InputEvent::OffHook);
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Handset)));
    assert!(!has(&out, &PhoneOutput::Accept { call }));
    // Speaker on, handset down, speaker off: that hangs up.
    rig.key(Key::Speaker);
    rig.input(InputEvent::OnHook);
    let out = rig.key(Key::Speaker);
    assert!(has(&out, &PhoneOutput::Hangup { call }));
}

#[test]
fn far_end_ending_a_hands_free_call_turns_the_speaker_off() {
    let (mut rig, call) = in_call();
    rig.key(Key::Speaker);
    rig.input(InputEvent::OnHook);
    let out = rig.call(call, CallEvent::Disconnect);
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Handset)));
    assert!(has(
        &out,
        &PhoneOutput::Led {
            led: Led::Speaker,
            state: LedState::Off
        }
    ));
    assert!(tones(&out).iter().all(Option::is_none));
    rig.advance(secs(3));
    assert!(matches!(rig.screen(), Screen::Idle { .. }));
}

#[test]
fn hook_flash_is_ignored_by_default() {
    let (mut rig, _) = in_call();
    let out = rig.input(InputEvent::HookFlash);
    assert_eq!(out, vec![PhoneOutput::ViewChanged]);
    assert!(matches!(rig.screen(), Screen::InCall { .. }));
}

#[test]
fn hook_flash_mapped_to_new_call() {
    let mut cfg = us_config();
    cfg.hook_flash = HookFlashAction::NewCall;
    let mut rig = Rig::registered_with(cfg);
    let call = rig.place("4155550100");
    rig.call(call, CallEvent::Accept);
    let out = rig.input(InputEvent::HookFlash);
    assert!(has(&out, &PhoneOutput::Hangup { call }));
    assert_eq!(tones(&out).last(), Some(&Some(Tone::Dial)));
}

#[test]
fn hanging_up_ends_and_records_the_call() {
    let (mut rig, call) = in_call();
    rig.advance(secs(125));
    let out = rig.input(InputEvent::OnHook);
    assert!(has(&out, &PhoneOutput::Hangup { call }));
    assert!(has(&out, &PhoneOutput::HistoryChanged));
    let Screen::CallEnded {
        duration_secs,
        cause,
        ..
    } = rig.screen()
    else {
        panic!("expected call ended");
    };
    assert_eq!((duration_secs, cause.as_str()), (Some(125), "Call ended"));
    // The SDK's disconnect after our hang-up changes nothing.
    rig.call(call, CallEvent::Disconnect);
    assert_eq!(rig.phone.history().entries().len(), 1);
}

#[test]
fn reconnecting_quality_and_warnings_show() {
    let (mut rig, call) = in_call();
    rig.call(
        call,
        CallEvent::Sample(CallSample {
            mos: Some(4.4),
            ..Default::default()
        }),
    );
    assert_eq!(rig.view().status.quality, Some(4));
    rig.call(
        call,
        CallEvent::Sample(CallSample {
            mos: Some(3.3),
            ..Default::default()
        }),
    );
    assert_eq!(rig.view().status.quality, Some(2));
    rig.call(call, CallEvent::Warning("high-jitter".into()));
    assert!(
        matches!(rig.screen(), Screen::InCall { ref warning, .. } if warning.as_deref() == Some("High jitter"))
    );
    rig.call(call, CallEvent::WarningCleared("high-jitter".into()));
    assert!(matches!(rig.screen(), Screen::InCall { warning: None, .. }));
    rig.call(
        call,
        CallEvent::Reconnecting(TwilioError::new(53405, "ice")),
    );
    assert!(matches!(
        rig.screen(),
        Screen::InCall {
            reconnecting: true,
            ..
        }
    ));
    rig.call(call, CallEvent::Reconnected);
    assert!(matches!(
        rig.screen(),
        Screen::InCall {
            reconnecting: false,
            ..
        }
    ));
}

#[test]
fn shutdown_hangs_up_first() {
    let (mut rig, call) = in_call();
    assert_eq!(rig.phone.active_call(), Some(call));
    rig.phone.shutdown(rig.now);
    let out = rig.drain();
    assert!(has(&out, &PhoneOutput::Hangup { call }));
    assert_eq!(rig.phone.active_call(), None);
}
