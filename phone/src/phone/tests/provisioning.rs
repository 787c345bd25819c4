//! A configuration provisioned by offhook-server while the phone runs: what applies at once
//! (speed dials, contacts, cadence, volumes), what waits for a moment without a call (edges,
//! codecs), and the About page saying where each setting came from.

use offhook_core::handset::input::Key;

use super::*;
use crate::phone::view::SourceRow;
use crate::screens::words;

fn menu_labels(rig: &Rig) -> Vec<String> {
    match rig.screen() {
        Screen::Menu { items, .. } => items.into_iter().map(|i| i.label).collect(),
        other => panic!("expected a menu, got {other:?}"),
    }
}

/// The US config with speed dial 2 on another number.
fn with_speed_dial(number: &str) -> PhoneConfig {
    let mut cfg = us_config();
    let plan = &cfg.dial_plan;
    let mut speed = BTreeMap::new();
    speed.insert(2, number.to_string());
    speed.insert(5, "101".to_string());
    cfg.dial_plan = DialPlan::new(
        plan.digit_map().clone(),
        plan.country(),
        &[],
        speed,
        plan.directory().clone(),
    )
    .with_voicemail(Some("*97".into()), Some(1));
    cfg
}

fn config_input(cfg: PhoneConfig) -> PhoneInput {
    PhoneInput::Config(Box::new(cfg))
}

#[test]
fn the_speed_dials_page_follows_a_new_config_at_once() {
    let mut rig = Rig::registered();
    rig.key(Key::Menu);
    rig.key(Key::Digit(3));
    let not_set = "(not set)";
    let mut expected = vec!["Voicemail", "+442079460000"];
    expected.resize(9, not_set);
    assert_eq!(menu_labels(&rig), expected);
    // offhook-server changes speed dial 2 to a contact and adds 5 (a handset's extension).
    let out = rig.send(config_input(with_speed_dial("+14155550100")));
    assert!(has(&out, &PhoneOutput::ViewChanged), "redrawn at once");
    let labels = menu_labels(&rig);
    assert_eq!(
        labels[..5],
        ["Voicemail", "Mum", not_set, not_set, "Ext 101"]
    );
    assert_eq!(labels.len(), 9, "a row for each key");
    let summary = words::describe(&rig.view());
    assert!(
        summary.contains("Speed dials #0: Voicemail, Mum, (not set)"),
        "{summary}"
    );
    // A key without a speed dial does nothing; the key of one calls it hands-free.
    let out = rig.key(Key::Digit(3));
    assert!(connect_of(&out).is_none());
    let out = rig.key(Key::Digit(2));
    assert!(has(&out, &PhoneOutput::Route(AudioRoute::Speaker)));
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+14155550100")
    );
}

#[test]
fn a_long_press_dials_the_new_speed_dial() {
    let mut rig = Rig::registered();
    rig.send(config_input(with_speed_dial("+14155550188")));
    let out = rig.input(InputEvent::KeyLongPress(Key::Digit(2)));
    assert_eq!(
        connect_of(&out).map(|c| c.1).as_deref(),
        Some("+14155550188")
    );
}

#[test]
fn without_speed_dials_every_key_says_not_set() {
    let mut cfg = us_config();
    cfg.dial_plan = DialPlan::for_country(Country::by_iso("US").expect("US"));
    let mut rig = Rig::registered_with(cfg);
    rig.key(Key::Menu);
    rig.key(Key::Digit(3));
    assert_eq!(menu_labels(&rig), vec!["(not set)"; 9]);
    let out = rig.key(Key::Menu);
    assert!(connect_of(&out).is_none());
    assert!(matches!(rig.screen(), Screen::Menu { .. }), "still open");
}

#[test]
fn edges_and_codecs_wait_for_the_call_to_end() {
    let mut rig = Rig::registered();
    // The user picked an edge in the menu; the server then changes the list.
    rig.key(Key::Menu);
    rig.key(Key::Digit(2));
    rig.key(Key::Digit(7));
    rig.key(Key::Digit(1));
    assert_eq!(rig.phone.device_edge(), Some("roaming"));
    rig.key(Key::Reject);
    rig.key(Key::Reject);
    let call = rig.place("4155550100");
    rig.call(call, CallEvent::Accept);
    let mut cfg = us_config();
    cfg.edges = vec!["dublin".into(), "frankfurt".into()];
    cfg.codecs = vec![Codec::Pcmu, Codec::Opus];
    let out = rig.send(config_input(cfg));
    assert!(
        !out.iter().any(|o| matches!(
            o,
            PhoneOutput::SetEdge(_) | PhoneOutput::SetCodecPreferences(_)
        )),
        "not during a call: {out:?}"
    );
    assert!(has(&out, &PhoneOutput::SettingsChanged), "the pick is gone");
    assert_eq!(rig.phone.user_settings().edge, None);
    // The call ends: still not while its summary is up and the handset is off-hook.
    let out = rig.call(call, CallEvent::Disconnect);
    assert!(!out.iter().any(|o| matches!(o, PhoneOutput::SetEdge(_))));
    let mut out = rig.input(InputEvent::OnHook);
    out.extend(rig.advance(secs(5)));
    assert!(has(&out, &PhoneOutput::SetEdge("dublin".into())), "{out:?}");
    assert!(has(
        &out,
        &PhoneOutput::SetCodecPreferences(vec![Codec::Pcmu, Codec::Opus])
    ));
    assert_eq!(rig.phone.device_edges(), ["dublin", "frankfurt"]);
    // Once.
    let out = rig.advance(secs(5));
    assert!(!out.iter().any(|o| matches!(o, PhoneOutput::SetEdge(_))));
}

#[test]
fn idle_applies_edges_at_once_and_the_same_config_changes_nothing() {
    let mut rig = Rig::registered();
    let mut cfg = us_config();
    cfg.edges = vec!["ashburn".into()];
    let out = rig.send(config_input(cfg.clone()));
    assert!(has(&out, &PhoneOutput::SetEdge("ashburn".into())));
    assert!(
        !out.iter()
            .any(|o| matches!(o, PhoneOutput::SetCodecPreferences(_))),
        "the codecs did not change"
    );
    let out = rig.send(config_input(cfg));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn provisioned_volumes_apply_once_and_the_keys_still_work() {
    let mut rig = Rig::registered();
    let mut cfg = us_config();
    let volumes = Volumes {
        handset: 3,
        speaker: 4,
        ringer: 9,
    };
    cfg.volumes = Some(volumes);
    let out = rig.send(config_input(cfg.clone()));
    for (path, level) in [
        (VolumePath::Handset, 3),
        (VolumePath::Speaker, 4),
        (VolumePath::Ringer, 9),
    ] {
        assert!(has(&out, &PhoneOutput::Volume { path, level }), "{out:?}");
    }
    assert!(has(&out, &PhoneOutput::SettingsChanged));
    assert_eq!(rig.phone.user_settings().volumes, volumes);
    // The user turns the ringer down; a config that changes something else keeps that.
    rig.key(Key::VolumeDown);
    assert_eq!(rig.phone.user_settings().volumes.ringer, 8);
    cfg.edges = vec!["dublin".into()];
    let out = rig.send(config_input(cfg.clone()));
    assert!(!out.iter().any(|o| matches!(o, PhoneOutput::Volume { .. })));
    assert_eq!(rig.phone.user_settings().volumes.ringer, 8);
    // New volumes from the server win again.
    cfg.volumes = Some(Volumes {
        ringer: 2,
        ..volumes
    });
    let out = rig.send(config_input(cfg.clone()));
    assert!(has(
        &out,
        &PhoneOutput::Volume {
            path: VolumePath::Ringer,
            level: 2
        }
    ));
    // A restart with the same provisioned volumes keeps the user's.
    let mut user = rig.phone.user_settings().clone();
    user.volumes.ringer = 7;
    let phone = Phone::new(cfg.clone(), user, CallHistory::default(), rig.now);
    assert_eq!(phone.user_settings().volumes.ringer, 7);
    // A first start with provisioned volumes takes them.
    let phone = Phone::new(
        cfg,
        UserSettings::default(),
        CallHistory::default(),
        rig.now,
    );
    assert_eq!(phone.user_settings().volumes.ringer, 2);
}

#[test]
fn a_new_default_cadence_replaces_the_users_pick_even_while_ringing() {
    let mut rig = Rig::registered();
    rig.key(Key::Menu);
    rig.key(Key::Digit(2));
    rig.key(Key::Digit(6));
    rig.key(Key::Digit(2));
    assert_eq!(rig.phone.ring_cadence().name, "uk");
    rig.key(Key::Reject);
    rig.key(Key::Reject);
    rig.ring("+14155550100", &[]);
    let mut cfg = us_config();
    let at = cfg
        .ring_cadences
        .iter()
        .position(|c| c.name == "short-short")
        .expect("preset");
    let chosen = cfg.ring_cadences.remove(at);
    cfg.ring_cadences.insert(0, chosen.clone());
    let out = rig.send(config_input(cfg));
    assert_eq!(rig.phone.ring_cadence().name, "short-short");
    assert!(has(&out, &PhoneOutput::Ringer(Some(chosen.cadence))));
    assert!(has(&out, &PhoneOutput::SettingsChanged));
}

#[test]
fn about_says_where_each_setting_came_from_and_scrolls() {
    let mut cfg = us_config();
    cfg.sources = Sources {
        contacts: SettingSource::Server,
        country: SettingSource::Local,
        ..Sources::default()
    };
    let mut rig = Rig::registered_with(cfg);
    rig.key(Key::Menu);
    rig.key(Key::Digit(4));
    let Screen::About {
        sources, scroll, ..
    } = rig.screen()
    else {
        panic!("expected about");
    };
    assert_eq!(scroll, 0);
    let lines: Vec<String> = sources.iter().map(words::source_line).collect();
    assert_eq!(
        lines,
        [
            "Contacts: server",
            "Speed dials: default",
            "Digit map: default",
            "Country: local",
            "Ring: default",
            "Volumes: default",
            "Codecs: default",
            "Edges: default",
            "Forwarding: default",
        ]
    );
    let summary = words::describe(&rig.view());
    assert!(
        summary.contains("Contacts: server") && summary.contains("Country: local"),
        "{summary}"
    );
    // Forwarding is the server's once it has said.
    rig.send(PhoneInput::ServerSettings(ServerSettings {
        dnd: false,
        forwarding: Forwarding {
            mode: ForwardMode::Off,
            to: None,
            after_secs: 20,
        },
    }));
    let Screen::About { sources, .. } = rig.screen() else {
        panic!("expected about");
    };
    assert_eq!(
        sources.last(),
        Some(&SourceRow {
            setting: "Forwarding".into(),
            source: SettingSource::Server
        })
    );
    // A new config's sources show at once.
    let mut cfg = us_config();
    cfg.sources.speed_dials = SettingSource::Server;
    rig.send(config_input(cfg));
    let Screen::About { sources, .. } = rig.screen() else {
        panic!("expected about");
    };
    assert_eq!(sources[1].source, SettingSource::Server);
    // The volume keys scroll, as far as the last line and no further; digits do nothing.
    for _ in 0..20 {
        rig.key(Key::VolumeDown);
    }
    assert!(matches!(rig.screen(), Screen::About { scroll: 9, .. }));
    rig.key(Key::Digit(2));
    assert!(matches!(rig.screen(), Screen::About { scroll: 9, .. }));
    rig.key(Key::VolumeUp);
    assert!(matches!(rig.screen(), Screen::About { scroll: 8, .. }));
    rig.key(Key::Reject);
    assert!(matches!(rig.screen(), Screen::Menu { .. }));
}
