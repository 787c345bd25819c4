//! Do-not-disturb and forwarding: offhook-server holds them. The menu asks for a change
//! (`PutSettings`), the screen shows the server's value once saved, and a failed change says
//! so on screen.

use offhook_core::handset::input::Key;

use super::*;
use crate::phone::view::MenuItem;

fn settings(dnd: bool, mode: ForwardMode, to: Option<&str>) -> ServerSettings {
    ServerSettings {
        dnd,
        forwarding: Forwarding {
            mode,
            to: to.map(str::to_string),
            after_secs: 20,
        },
    }
}

fn rows(rig: &Rig) -> Vec<MenuItem> {
    match rig.screen() {
        Screen::Menu { items, .. } => items,
        other => panic!("expected a menu, got {other:?}"),
    }
}

fn value(rig: &Rig, label: &str) -> String {
    rows(rig)
        .into_iter()
        .find(|i| i.label == label)
        .and_then(|i| i.value)
        .unwrap_or_else(|| panic!("no {label} row"))
}

/// Opens Settings and the row labelled `label` (moving down to it).
fn open_setting(rig: &mut Rig, label: &str) {
    rig.key(Key::Menu);
    rig.key(Key::Digit(2));
    let at = rows(rig)
        .iter()
        .position(|i| i.label == label)
        .expect("row");
    for _ in 0..at {
        rig.key(Key::VolumeDown);
    }
    rig.key(Key::Menu);
}

fn put_of(out: &[PhoneOutput]) -> Option<SettingsUpdate> {
    out.iter().find_map(|o| match o {
        PhoneOutput::PutSettings(u) => Some(u.clone()),
        _ => None,
    })
}

#[test]
fn the_servers_settings_are_what_the_phone_does_and_they_are_kept_for_offline() {
    let mut rig = Rig::registered();
    let out = rig.send(PhoneInput::ServerSettings(settings(
        true,
        ForwardMode::Off,
        None,
    )));
    assert!(has(&out, &PhoneOutput::SettingsChanged), "cached locally");
    assert!(rig.phone.user_settings().do_not_disturb);
    assert!(rig.view().status.dnd);
    let (call, out) = rig.ring("+14155550100", &[]);
    assert!(has(&out, &PhoneOutput::Reject { call }));

    // Turned off on the server (another handset's menu, a replacement handset): it follows.
    rig.send(PhoneInput::ServerSettings(settings(
        false,
        ForwardMode::Off,
        None,
    )));
    assert!(!rig.view().status.dnd);
    assert!(!rig.phone.user_settings().do_not_disturb);
    let (call, out) = rig.ring("+14155550100", &[]);
    assert!(!has(&out, &PhoneOutput::Reject { call }));
}

#[test]
fn do_not_disturb_from_the_menu_goes_to_the_server_and_shows_once_saved() {
    let mut rig = Rig::registered();
    rig.send(PhoneInput::ServerSettings(settings(
        false,
        ForwardMode::Off,
        None,
    )));
    open_setting(&mut rig, "Do not disturb");
    rig.key(Key::VolumeDown);
    let out = rig.key(Key::Menu);
    assert_eq!(
        put_of(&out),
        Some(SettingsUpdate {
            dnd: Some(true),
            forwarding: None
        })
    );
    assert!(!has(&out, &PhoneOutput::SettingsChanged));
    assert!(!rig.view().status.dnd, "not before the server says so");
    assert_eq!(value(&rig, "Do not disturb"), "Saving...");
    assert_eq!(notice(&rig).as_deref(), Some("Saving..."));

    let out = rig.send(PhoneInput::SettingsAnswer(Ok(settings(
        true,
        ForwardMode::Off,
        None,
    ))));
    assert!(has(&out, &PhoneOutput::SettingsChanged));
    assert!(rig.view().status.dnd);
    assert_eq!(value(&rig, "Do not disturb"), "On");
    assert_eq!(notice(&rig).as_deref(), Some("Do not disturb: On"));
}

#[test]
fn a_change_the_server_did_not_save_says_so_and_keeps_the_old_value() {
    let mut rig = Rig::registered();
    rig.send(PhoneInput::ServerSettings(settings(
        false,
        ForwardMode::Off,
        None,
    )));
    open_setting(&mut rig, "Do not disturb");
    rig.key(Key::VolumeDown);
    rig.key(Key::Menu);
    rig.advance(secs(1));
    let out = rig.send(PhoneInput::SettingsAnswer(Err("server unreachable".into())));
    assert!(!has(&out, &PhoneOutput::SettingsChanged));
    assert_eq!(
        notice(&rig).as_deref(),
        Some("Not saved: server unreachable")
    );
    assert!(!rig.view().status.dnd);
    assert_eq!(value(&rig, "Do not disturb"), "Off");
    // An error stays up longer than a confirmation, then goes.
    rig.advance(secs(5));
    assert!(notice(&rig).is_some(), "still there after 5 s");
    rig.advance(secs(2));
    assert!(notice(&rig).is_none());
    // The next try goes out again.
    open_setting_again(&mut rig);
    let out = rig.key(Key::Menu);
    assert!(put_of(&out).is_some());
}

/// From the settings page (where a choice page returns to), the DND row again.
fn open_setting_again(rig: &mut Rig) {
    rig.key(Key::Menu);
    rig.key(Key::VolumeDown);
}

#[test]
fn forwarding_needs_a_number_then_round_trips_through_the_server() {
    let mut rig = Rig::registered();
    rig.send(PhoneInput::ServerSettings(settings(
        false,
        ForwardMode::Off,
        None,
    )));
    open_setting(&mut rig, "Forward");
    rig.key(Key::VolumeDown);
    let out = rig.key(Key::Menu);
    assert!(put_of(&out).is_none());
    assert_eq!(notice(&rig).as_deref(), Some("Set Forward to first"));
    assert_eq!(value(&rig, "Forward to"), "none");

    // The number: typed, a wrong key deleted, saved.
    rig.key(Key::Reject);
    rig.key(Key::Reject);
    open_setting(&mut rig, "Forward to");
    assert!(matches!(rig.screen(), Screen::Entry { ref value, .. } if value.is_empty()));
    rig.dial("41555501239", ms(100));
    rig.key(Key::VolumeDown);
    assert!(matches!(rig.screen(), Screen::Entry { ref value, .. } if value == "4155550123"));
    let out = rig.key(Key::Menu);
    let expected = Forwarding {
        mode: ForwardMode::Off,
        to: Some("+14155550123".into()),
        after_secs: 20,
    };
    assert_eq!(
        put_of(&out),
        Some(SettingsUpdate {
            dnd: None,
            forwarding: Some(expected)
        })
    );
    assert_eq!(value(&rig, "Forward to"), "Saving...");
    assert_eq!(value(&rig, "Forward"), "Off", "only what changes is saving");
    rig.send(PhoneInput::SettingsAnswer(Ok(settings(
        false,
        ForwardMode::Off,
        Some("+14155550123"),
    ))));
    assert_eq!(value(&rig, "Forward to"), "(415) 555-0123");

    // Now Always is accepted, with the number kept.
    rig.key(Key::VolumeUp);
    rig.key(Key::Menu);
    rig.key(Key::VolumeDown);
    let out = rig.key(Key::Menu);
    let update = put_of(&out).expect("forwarding sent");
    let forwarding = update.forwarding.expect("forwarding");
    assert_eq!(forwarding.mode, ForwardMode::Always);
    assert_eq!(forwarding.to.as_deref(), Some("+14155550123"));
    assert_eq!(update.dnd, None);
}

#[test]
fn forwarding_cannot_be_changed_before_the_server_has_said_what_it_is() {
    let mut rig = Rig::registered();
    rig.key(Key::Menu);
    rig.key(Key::Digit(2));
    assert_eq!(value(&rig, "Forward"), "-");
    rig.key(Key::Reject);
    rig.key(Key::Reject);
    open_setting(&mut rig, "Forward");
    assert_eq!(
        notice(&rig).as_deref(),
        Some("Not loaded from the server yet")
    );
    assert!(matches!(rig.screen(), Screen::Menu { ref title, .. } if title == "Settings"));
    // Do not disturb still goes out: it needs nothing but a yes or no.
    rig.key(Key::VolumeUp);
    open_setting_again(&mut rig);
    let out = rig.key(Key::Menu);
    assert_eq!(
        put_of(&out),
        Some(SettingsUpdate {
            dnd: Some(true),
            forwarding: None
        })
    );
}

#[test]
fn one_change_at_a_time() {
    let mut rig = Rig::registered();
    rig.send(PhoneInput::ServerSettings(settings(
        false,
        ForwardMode::Off,
        None,
    )));
    open_setting(&mut rig, "Do not disturb");
    rig.key(Key::VolumeDown);
    assert!(put_of(&rig.key(Key::Menu)).is_some());
    rig.key(Key::Menu);
    let out = rig.key(Key::Menu);
    assert!(put_of(&out).is_none());
    assert_eq!(notice(&rig).as_deref(), Some("Still saving, try again"));
}

#[test]
fn the_json_is_the_contracts() {
    let event = r#"{"dnd":true,"forwarding":{"mode":"no-answer","to":"201","after_secs":25}}"#;
    let parsed: ServerSettings = serde_json::from_str(event).expect("settings");
    assert_eq!(
        parsed,
        ServerSettings {
            dnd: true,
            forwarding: Forwarding {
                mode: ForwardMode::NoAnswer,
                to: Some("201".into()),
                after_secs: 25
            }
        }
    );
    let off: ServerSettings = serde_json::from_str(
        r#"{"dnd":false,"forwarding":{"mode":"off","to":null,"after_secs":20}}"#,
    )
    .expect("settings");
    assert_eq!(off.forwarding.to, None);
    assert!(
        serde_json::from_str::<ServerSettings>(
            r#"{"dnd":false,"forwarding":{"mode":"sideways","after_secs":1}}"#
        )
        .is_err()
    );
    let update = SettingsUpdate {
        dnd: Some(true),
        forwarding: None,
    };
    assert_eq!(serde_json::to_string(&update).unwrap(), r#"{"dnd":true}"#);
    let list: VoicemailList = serde_json::from_str(
        r#"{"new":1,"saved":0,"messages":[{"id":5,"caller":"+15550100","received_at":1795269900,"duration_secs":3,"state":"new"}]}"#,
    )
    .expect("list");
    assert_eq!(list.count(), VoicemailCount { new: 1, saved: 0 });
    assert_eq!(list.messages[0].state, MessageState::New);
}
