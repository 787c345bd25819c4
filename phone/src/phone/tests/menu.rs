//! The on-hook menu: settings from data, history, about.

use offhook_core::handset::cadence::Cadence;
use offhook_core::handset::input::{InputEvent, Key};

use super::*;
use crate::phone::view::MenuItem;

fn devices(rig: &mut Rig) {
    rig.send(PhoneInput::AudioDevices {
        microphones: vec![
            AudioDevice {
                id: "default".into(),
                label: "Handset mic".into(),
            },
            AudioDevice {
                id: "plughw:CARD=USB,DEV=0".into(),
                label: "USB headset".into(),
            },
        ],
        speakers: vec![AudioDevice {
            id: "default".into(),
            label: "Earpiece".into(),
        }],
    });
}

fn menu_items(rig: &Rig) -> (String, Vec<MenuItem>, usize) {
    match rig.screen() {
        Screen::Menu {
            title,
            items,
            selected,
        } => (title, items, selected),
        other => panic!("expected a menu, got {other:?}"),
    }
}

#[test]
fn choose_a_microphone_from_the_list() {
    let mut rig = Rig::registered();
    devices(&mut rig);
    rig.key(Key::Menu);
    assert_eq!(menu_items(&rig).0, "Menu");
    rig.key(Key::VolumeDown);
    rig.key(Key::Menu);
    let (title, items, _) = menu_items(&rig);
    assert_eq!(title, "Settings");
    assert_eq!(items[0].label, "Microphone");
    assert_eq!(items[0].value.as_deref(), Some("default"));
    rig.key(Key::Menu);
    let (title, items, _) = menu_items(&rig);
    assert_eq!(title, "Microphone");
    assert_eq!(
        items.iter().map(|i| i.label.as_str()).collect::<Vec<_>>(),
        ["Handset mic", "USB headset"]
    );
    rig.key(Key::VolumeDown);
    let out = rig.key(Key::Menu);
    assert!(has(
        &out,
        &PhoneOutput::UseAudioDevice {
            role: DeviceRole::Microphone,
            id: "plughw:CARD=USB,DEV=0".into()
        }
    ));
    assert!(has(&out, &PhoneOutput::SettingsChanged));
    assert_eq!(
        rig.phone.user_settings().microphone.as_deref(),
        Some("plughw:CARD=USB,DEV=0")
    );
    let (title, items, selected) = menu_items(&rig);
    assert_eq!((title.as_str(), selected), ("Settings", 0));
    assert_eq!(items[0].value.as_deref(), Some("USB headset"));
    // Back out completely.
    rig.key(Key::Reject);
    rig.key(Key::Reject);
    assert!(matches!(rig.screen(), Screen::Idle { .. }));
}

#[test]
fn edge_codec_cadence_and_volume_settings() {
    let mut cfg = us_config();
    cfg.edges = vec!["roaming".into(), "ashburn".into(), "dublin".into()];
    let mut rig = Rig::registered_with(cfg);
    rig.key(Key::Menu);
    rig.key(Key::Digit(2)); // Settings
    rig.key(Key::Digit(7)); // Edge
    let (_, items, selected) = menu_items(&rig);
    assert_eq!(selected, 0);
    assert!(items[0].checked);
    let out = rig.key(Key::Digit(3));
    assert!(has(&out, &PhoneOutput::SetEdge("dublin".into())));
    assert_eq!(rig.phone.device_edge(), Some("dublin"));
    rig.key(Key::Digit(8)); // Codec
    let out = rig.key(Key::Digit(2));
    assert!(has(
        &out,
        &PhoneOutput::SetCodecPreferences(vec![Codec::Pcmu, Codec::Opus])
    ));
    rig.key(Key::Digit(6)); // Ring
    rig.key(Key::Digit(2));
    assert_eq!(rig.phone.ring_cadence().name, "uk");
    rig.key(Key::Digit(3)); // Handset volume
    assert!(matches!(rig.screen(), Screen::Level { level: 6, .. }));
    let out = rig.key(Key::VolumeUp);
    assert!(has(
        &out,
        &PhoneOutput::Volume {
            path: VolumePath::Handset,
            level: 7
        }
    ));
    assert!(
        !matches!(rig.view().overlay, Some(view::Overlay::Volume { .. })),
        "the level screen shows it already"
    );
    rig.key(Key::Menu);
    let (_, items, _) = menu_items(&rig);
    assert_eq!(items[2].value.as_deref(), Some("7"));
    assert_eq!(items[6].value.as_deref(), Some("dublin"));
    assert_eq!(items[7].value.as_deref(), Some("PCMU first"));
    // The chosen cadence is what rings.
    rig.key(Key::Reject);
    rig.key(Key::Reject);
    let (_, out) = rig.ring("+14155550100", &[]);
    assert!(
        out.iter()
            .any(|o| matches!(o, PhoneOutput::Ringer(Some(c)) if *c == Cadence::uk()))
    );
}

#[test]
fn history_clears_the_missed_count_and_calls_back() {
    let mut rig = Rig::registered();
    let (call, _) = rig.ring("+14155550177", &[]);
    rig.call(call, CallEvent::Cancel);
    assert_eq!(rig.view().status.missed, 1);
    rig.key(Key::Menu);
    let (_, items, _) = menu_items(&rig);
    assert_eq!(items[0].value.as_deref(), Some("1 new"));
    let out = rig.key(Key::Menu);
    assert!(has(&out, &PhoneOutput::HistoryChanged));
    assert_eq!(rig.view().status.missed, 0, "looked at: no longer counted");
    let Screen::History { rows, selected } = rig.screen() else {
        panic!("expected history");
    };
    assert_eq!((rows.len(), selected), (1, 0));
    assert_eq!(rows[0].label, "(415) 555-0177");
    assert_eq!(rows[0].detail, "Missed");
    let out = rig.key(Key::Menu);
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Speaker)));
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+14155550177")
    );
}

#[test]
fn about_shows_identity_and_address() {
    let mut rig = Rig::registered();
    rig.send(PhoneInput::Network {
        ip: Some("192.0.2.7".into()),
    });
    rig.send(PhoneInput::Device(DeviceEvent::Edge(Some(
        "ashburn".into(),
    ))));
    rig.key(Key::Menu);
    rig.key(Key::Digit(4));
    let Screen::About {
        identity,
        ip,
        edge,
        version,
        ..
    } = rig.screen()
    else {
        panic!("expected about");
    };
    assert_eq!(identity.as_deref(), Some("desk"));
    assert_eq!(ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(edge.as_deref(), Some("ashburn"));
    assert_eq!(version, "0.1.0");
}

#[test]
fn menu_closes_by_itself_and_when_lifting() {
    let mut rig = Rig::registered();
    rig.key(Key::Menu);
    rig.advance(secs(30));
    assert!(matches!(rig.screen(), Screen::Idle { .. }));
    rig.key(Key::Menu);
    let out = rig.input(InputEvent::OffHook);
    assert_eq!(tones(&out), vec![Some(crate::tones::Tone::Dial)]);
    assert!(matches!(rig.screen(), Screen::Dialing { .. }));
}

#[test]
fn an_incoming_call_takes_over_the_menu() {
    let mut rig = Rig::registered();
    rig.key(Key::Menu);
    rig.ring("+14155550100", &[]);
    assert!(matches!(rig.screen(), Screen::Incoming { .. }));
}
