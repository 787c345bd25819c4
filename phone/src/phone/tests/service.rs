//! Registration, token and Device errors on screen; history and settings across restarts.

use offhook_core::handset::input::InputEvent;

use super::*;
use crate::history::Direction;
use crate::state_file::tests::TempDir;

#[test]
fn boot_then_registering_then_idle() {
    let mut rig = Rig::unregistered(us_config());
    assert!(matches!(rig.screen(), Screen::Boot { .. }));
    assert_eq!(rig.view().status.registration, view::Registration::Starting);
    rig.send(PhoneInput::Token(TokenStatus::Fetching));
    assert!(
        matches!(rig.screen(), Screen::Registering { ref detail, .. } if detail == "Getting an access token.")
    );
    rig.token_ok();
    rig.send(PhoneInput::Device(DeviceEvent::Registering));
    assert!(
        matches!(rig.screen(), Screen::Registering { ref detail, .. } if detail == "Registering with Twilio.")
    );
    rig.send(PhoneInput::Device(DeviceEvent::Registered));
    let Screen::Idle {
        identity, missed, ..
    } = rig.screen()
    else {
        panic!("expected idle");
    };
    assert_eq!((identity.as_deref(), missed), (Some("desk"), 0));
    assert_eq!(
        rig.view().status.registration,
        view::Registration::Registered
    );
}

#[test]
fn device_errors_become_error_screens_with_advice() {
    let mut rig = Rig::unregistered(us_config());
    rig.token_ok();
    rig.send(PhoneInput::Device(DeviceEvent::Error(TwilioError::new(
        31202,
        "JWT signature validation failed",
    ))));
    let Screen::Error { code, cause, .. } = rig.screen() else {
        panic!("expected error, got {:?}", rig.screen());
    };
    assert_eq!(code, Some(31202));
    assert_eq!(cause, "Server credentials rejected — check the API secret.");
    // Registration clears it.
    rig.send(PhoneInput::Device(DeviceEvent::Registered));
    assert!(matches!(rig.screen(), Screen::Idle { .. }));
}

#[test]
fn token_trouble_asks_for_a_refresh() {
    let mut rig = Rig::registered();
    let out = rig.send(PhoneInput::Device(DeviceEvent::TokenWillExpire));
    assert!(has(&out, &PhoneOutput::RefreshToken));
    let out = rig.send(PhoneInput::Device(DeviceEvent::Error(TwilioError::new(
        20104, "expired",
    ))));
    assert!(has(&out, &PhoneOutput::RefreshToken));
    // Still registered: a pop-up, not an error screen.
    assert!(matches!(rig.screen(), Screen::Idle { .. }));
    assert!(
        matches!(rig.view().overlay, Some(view::Overlay::Notice { ref text }) if text == "Token expired (20104)")
    );
}

#[test]
fn failing_renewal_is_shown_while_the_token_still_works() {
    let mut rig = Rig::registered();
    rig.send(PhoneInput::Token(TokenStatus::Failing {
        problem: TokenProblem::ServerUnreachable("connection refused".into()),
        retry_in: secs(8),
        current_valid_for: Some(secs(600)),
    }));
    let Screen::Idle {
        notice: Some(notice),
        ..
    } = rig.screen()
    else {
        panic!("expected idle with a notice, got {:?}", rig.screen());
    };
    assert_eq!(
        notice,
        "Token renewal failing (No token server). Retry in 8 s; 10 min left."
    );
    assert_eq!(
        rig.view().status.registration,
        view::Registration::Registered
    );
    // Calls still go out.
    rig.input(InputEvent::OffHook);
    assert!(connect_of(&rig.dial("4155550100", ms(100))).is_some());
}

#[test]
fn status_bar_clock_ticks_on_the_minute() {
    let mut rig = Rig::registered();
    // 2026-11-21 14:05:09 UTC.
    rig.send(PhoneInput::WallClock {
        unix_secs: 1_795_269_909,
        utc_offset_secs: 0,
    });
    assert_eq!(rig.view().status.clock.as_deref(), Some("14:05"));
    assert!(
        matches!(rig.screen(), Screen::Idle { ref date, .. } if date.as_deref() == Some("Sat 21 Nov"))
    );
    let out = rig.advance(secs(51));
    assert!(has(&out, &PhoneOutput::ViewChanged));
    assert_eq!(rig.view().status.clock.as_deref(), Some("14:06"));
    assert_eq!(rig.phone.poll_timeout(), Some(rig.now + secs(60)));
}

#[test]
fn history_and_missed_count_survive_a_restart() {
    let dir = TempDir::new("phone-restart");
    let path = dir.0.join("history.json");
    let mut rig = Rig::registered();
    rig.send(PhoneInput::WallClock {
        unix_secs: 1_795_269_909,
        utc_offset_secs: 0,
    });
    let (call, _) = rig.ring("+14155550177", &[]);
    let out = rig.call(call, CallEvent::Cancel);
    assert!(has(&out, &PhoneOutput::HistoryChanged));
    rig.phone.history().save(&path).expect("save");

    let (history, problem) = CallHistory::load(&path);
    assert!(problem.is_none());
    assert_eq!(history.entries()[0].started_unix, Some(1_795_269_909));
    assert_eq!(history.entries()[0].direction, Direction::Missed);
    let phone = Phone::new(
        us_config(),
        UserSettings::default(),
        history,
        Instant::now(),
    );
    let mut phone = phone;
    let out: Vec<_> = std::iter::from_fn(|| phone.poll_output()).collect();
    // The missed call is still counted; the message lamp is voicemail's, so it starts off.
    assert_eq!(phone.view(Instant::now()).status.missed, 1);
    assert!(has(
        &out,
        &PhoneOutput::Led {
            led: Led::Message,
            state: LedState::Off
        }
    ));
}

#[test]
fn start_up_applies_saved_volumes() {
    let mut user = UserSettings::default();
    user.volumes.handset = 9;
    let mut phone = Phone::new(us_config(), user, CallHistory::default(), Instant::now());
    let out: Vec<_> = std::iter::from_fn(|| phone.poll_output()).collect();
    assert!(has(
        &out,
        &PhoneOutput::Volume {
            path: VolumePath::Handset,
            level: 9
        }
    ));
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Handset)));
}

#[test]
fn a_token_server_name_that_does_not_resolve_says_no_network() {
    let mut rig = Rig::unregistered(us_config());
    rig.send(PhoneInput::Token(TokenStatus::Failing {
        problem: TokenProblem::NoNetwork("cannot resolve phone.example.com".into()),
        retry_in: secs(4),
        current_valid_for: None,
    }));
    let Screen::Error {
        title,
        cause,
        action,
        ..
    } = rig.screen()
    else {
        panic!("expected an error screen, got {:?}", rig.screen());
    };
    assert_eq!(title, "No network");
    assert!(cause.contains("phone.example.com"), "{cause}");
    assert!(action.contains("Retry in 4 s"), "{action}");
}
