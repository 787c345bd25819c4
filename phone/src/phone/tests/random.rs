//! Random sequences of everything the phone can be told: it never panics, never leaves a
//! deadline in the past, and keeps its outputs consistent.

use offhook_core::handset::input::{InputEvent, Key};
use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Input(InputEvent),
    Device(u8),
    Call(u8, u8),
    Token(u8),
    Wait(u16),
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        (0u8..10).prop_map(Key::Digit),
        Just(Key::Star),
        Just(Key::Pound),
        Just(Key::Mute),
        Just(Key::Redial),
        Just(Key::VolumeUp),
        Just(Key::VolumeDown),
        Just(Key::Speaker),
        Just(Key::Reject),
        Just(Key::Menu),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Input(InputEvent::OffHook)),
        3 => Just(Op::Input(InputEvent::OnHook)),
        1 => Just(Op::Input(InputEvent::HookFlash)),
        8 => key().prop_map(|k| Op::Input(InputEvent::KeyDown(k))),
        1 => key().prop_map(|k| Op::Input(InputEvent::KeyLongPress(k))),
        1 => key().prop_map(|k| Op::Input(InputEvent::KeyRepeat(k))),
        2 => (0u8..8).prop_map(Op::Device),
        5 => (0u8..4, 0u8..14).prop_map(|(c, e)| Op::Call(c, e)),
        1 => (0u8..3).prop_map(Op::Token),
        4 => (0u16..20_000).prop_map(Op::Wait),
    ]
}

fn call_event(n: u8) -> CallEvent {
    match n {
        0 => CallEvent::Ringing {
            has_early_media: false,
        },
        1 => CallEvent::Ringing {
            has_early_media: true,
        },
        2 => CallEvent::Accept,
        3 => CallEvent::Cancel,
        4 => CallEvent::Disconnect,
        5 => CallEvent::Reject,
        6 => CallEvent::Error(TwilioError::new(31486, "busy")),
        7 => CallEvent::Error(TwilioError::new(31005, "gone")),
        8 => CallEvent::Mute(true),
        9 => CallEvent::Reconnecting(TwilioError::new(53405, "ice")),
        10 => CallEvent::Reconnected,
        11 => CallEvent::Sample(CallSample {
            mos: Some(f64::NAN),
            ..Default::default()
        }),
        12 => CallEvent::Warning("high-rtt".into()),
        _ => CallEvent::MessageReceived {
            content_type: None,
            content: String::new(),
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_phone_survives_anything(ops in prop::collection::vec(op(), 1..80), waiting in any::<bool>()) {
        let mut cfg = us_config();
        cfg.call_waiting = waiting;
        cfg.hook_flash = if waiting { HookFlashAction::AnswerWaiting } else { HookFlashAction::NewCall };
        let mut rig = Rig::registered_with(cfg);
        let mut calls: Vec<CallId> = Vec::new();
        let mut ringer_on = false;
        for op in ops {
            let out = match op {
                Op::Input(event) => rig.input(event),
                Op::Device(n) => match n {
                    0 => rig.send(PhoneInput::Device(DeviceEvent::Registered)),
                    1 => rig.send(PhoneInput::Device(DeviceEvent::Unregistered)),
                    2 => rig.send(PhoneInput::Device(DeviceEvent::Error(TwilioError::new(20104, "expired")))),
                    3 => rig.send(PhoneInput::Device(DeviceEvent::TokenWillExpire)),
                    _ => {
                        let (call, out) = rig.ring("+14155550100", &[]);
                        calls.push(call);
                        out
                    }
                },
                Op::Call(c, e) => match calls.get(c as usize).copied() {
                    Some(call) => rig.call(call, call_event(e)),
                    None => Vec::new(),
                },
                Op::Token(n) => match n {
                    0 => rig.token_ok(),
                    1 => rig.send(PhoneInput::Token(TokenStatus::Fetching)),
                    _ => rig.send(PhoneInput::Token(TokenStatus::Failing {
                        problem: TokenProblem::ServerError(500),
                        retry_in: secs(5),
                        current_valid_for: None,
                    })),
                },
                Op::Wait(ms_) => rig.advance(ms(u64::from(ms_))),
            };
            for o in &out {
                match o {
                    PhoneOutput::Connect { call, .. } => calls.push(*call),
                    PhoneOutput::Ringer(Some(_)) => {
                        prop_assert!(!ringer_on, "ringer switched on twice");
                        ringer_on = true;
                    }
                    PhoneOutput::Ringer(None) => {
                        prop_assert!(ringer_on, "ringer switched off while off");
                        ringer_on = false;
                    }
                    _ => {}
                }
            }
            if let Some(deadline) = rig.phone.poll_timeout() {
                prop_assert!(deadline > rig.now, "a deadline was left in the past");
            }
            let view = rig.view();
            prop_assert_eq!(ringer_on, matches!(view.screen, Screen::Incoming { .. }), "ringer and screen disagree: {:?}", view.screen);
        }
        // Whatever state it ended in draws within the display.
        let view = rig.view();
        for layout in crate::screens::Layout::ALL {
            prop_assert_eq!(crate::screens::render(&view, layout).clipped_pixels(), 0);
        }
    }
}
