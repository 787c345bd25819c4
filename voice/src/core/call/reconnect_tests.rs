//! Calls through the Device engine when a leg drops: signaling resumed with the reconnect
//! token, media recovered by ICE restarts or ended at the window's end.

use std::time::Duration;

use serde_json::json;

use crate::core::test_rig::*;
use crate::core::{MediaEvent, MediaRequest};
use crate::model::{CallStatus, Codec, DeviceState};
use crate::options::DeviceOptions;
use crate::quality::RawStats;

#[test]
fn dropped_socket_reconnects_reregisters_and_resumes_the_call() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA600"));
    let id = incoming_id(&r);
    r.engine.accept(id, r.now);
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nmy-answer\r\n".into()),
        r.now,
    );
    r.drain();
    r.take_sent();
    let s = r.socket.unwrap();
    r.engine.on_socket_close(s, 1006, "", r.now);
    r.drain();
    assert_eq!(r.engine.state(), DeviceState::Unregistered);
    assert_eq!(
        r.engine.call(id).unwrap().status(),
        CallStatus::Reconnecting
    );
    assert!(r.call_event_names(id).contains(&"reconnecting"));
    r.advance(Duration::from_secs(2));
    r.open();
    r.connected(3600);
    let types = r.sent_types();
    assert_eq!(types, vec!["listen", "register", "invite"]);
    let inv = &r.sent[2]["payload"];
    assert_eq!(inv["callsid"], "CA600");
    assert_eq!(inv["reconnect"], "rtok");
    assert_eq!(inv["sdp"], "v=0\r\nmy-answer\r\n");
    r.server(json!({"type":"ready","payload":{}}));
    r.server(json!({"type":"answer","payload":{"callsid":"CA600","reconnect":"rtok2"}}));
    assert_eq!(r.engine.state(), DeviceState::Registered);
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Open);
    assert_eq!(
        r.call_event_names(id),
        vec!["accept", "reconnecting", "reconnected"]
    );
    assert_eq!(
        r.engine.call(id).unwrap().reconnect_token.as_deref(),
        Some("rtok2")
    );
}

#[test]
fn update_token_mid_call_sends_no_reconnect_invite() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA610"));
    let id = incoming_id(&r);
    r.engine.accept(id, r.now);
    r.engine
        .on_media_event(id, MediaEvent::LocalDescription("v=0\r\n".into()), r.now);
    r.drain();
    r.take_sent();
    r.engine.update_token("token-3".into(), r.now).unwrap();
    r.drain();
    r.connected(3600);
    assert_eq!(r.sent_types(), vec!["listen"]);
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Open);
}

#[test]
fn media_loss_triggers_ice_restart_and_recovers() {
    let mut r = Rig::new(DeviceOptions::default());
    let id = open_call(&mut r);
    let mut totals = RawStats {
        codec_name: "PCMU".into(),
        ..Default::default()
    };
    for _ in 0..6 {
        second(&mut r, id, &mut totals, 50);
    }
    r.engine
        .on_media_event(id, MediaEvent::IceDisconnected, r.now);
    r.drain();
    assert_eq!(
        r.engine.call(id).unwrap().status(),
        CallStatus::Open,
        "no restart without low bytes"
    );
    for _ in 0..3 {
        second(&mut r, id, &mut totals, 0);
    }
    assert_eq!(
        r.engine.call(id).unwrap().status(),
        CallStatus::Reconnecting
    );
    r.advance(Duration::from_millis(5));
    assert_eq!(r.media.last(), Some(&(id, MediaRequest::RestartIce)));
    r.take_sent();
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nrestart\r\n".into()),
        r.now,
    );
    r.drain();
    assert_eq!(
        r.sent,
        vec![
            json!({"type":"reinvite","version":"1.6","payload":{"callsid":"CA800","sdp":"v=0\r\nrestart\r\n"}})
        ]
    );
    r.server(json!({"type":"answer","payload":{"callsid":"CA800","sdp":"v=0\r\nnew-answer\r\n"}}));
    assert!(matches!(
        r.media.last(),
        Some((_, MediaRequest::ApplyAnswer { .. }))
    ));
    r.engine.on_media_event(
        id,
        MediaEvent::RemoteApplied {
            codec: Codec::Pcmu,
            telephone_event: true,
        },
        r.now,
    );
    r.engine.on_media_event(id, MediaEvent::IceConnected, r.now);
    r.drain();
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Open);
    let names = r.call_event_names(id);
    assert!(
        names.contains(&"reconnecting") && names.contains(&"reconnected"),
        "{names:?}"
    );
    assert!(names.contains(&"warning") && names.contains(&"warning-cleared"));
}

#[test]
fn media_that_never_returns_ends_the_call_at_the_window_even_without_ice_events() {
    // The link is gone: signaling is down too, the restart offer is never answered, and no
    // ICE cycle ends to report it. The window alone must end the call.
    let mut r = Rig::new(DeviceOptions::default());
    let id = open_call(&mut r);
    r.engine.on_media_event(id, MediaEvent::IceFailed, r.now);
    r.drain();
    let started = r.now;
    r.advance(Duration::from_millis(5));
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nrestart\r\n".into()),
        r.now,
    );
    r.drain();
    r.advance(Duration::from_secs(29));
    assert_eq!(
        r.engine.call(id).unwrap().status(),
        CallStatus::Reconnecting
    );
    r.advance(Duration::from_secs(2));
    let errs = r.call_error_codes();
    assert_eq!(
        errs,
        vec![31003],
        "ended {:?} after the failure",
        r.now - started
    );
    assert!(
        r.engine
            .call(id)
            .is_none_or(|c| c.status() == CallStatus::Closed)
    );
}

#[test]
fn media_that_never_returns_ends_with_31003_after_30_seconds() {
    let mut r = Rig::new(DeviceOptions::default());
    let id = open_call(&mut r);
    r.engine.on_media_event(id, MediaEvent::IceFailed, r.now);
    r.drain();
    assert_eq!(
        r.engine.call(id).unwrap().status(),
        CallStatus::Reconnecting
    );
    for _ in 0..7 {
        r.advance(Duration::from_millis(5));
        r.engine.on_media_event(
            id,
            MediaEvent::LocalDescription("v=0\r\nrestart\r\n".into()),
            r.now,
        );
        r.drain();
        r.advance(Duration::from_secs(5));
        r.engine.on_media_event(id, MediaEvent::IceFailed, r.now);
        r.drain();
    }
    let errs = r.call_error_codes();
    assert_eq!(errs, vec![31003]);
    let hangup = r
        .sent
        .iter()
        .find(|v| v["type"] == "hangup")
        .expect("hangup sent");
    assert_eq!(
        hangup["payload"]["message"],
        "Connection with Twilio was interrupted."
    );
    assert!(r.engine.call(id).is_none());
}

/// The media's answer to the restart offer is in and ICE is connected again.
fn restart_answered(r: &mut Rig, id: crate::model::CallId) {
    r.server(json!({"type":"answer","payload":{"callsid":"CA800","sdp":"v=0\r\nnew-answer\r\n"}}));
    assert!(
        matches!(r.media.last(), Some((_, MediaRequest::ApplyAnswer { .. }))),
        "{:?}",
        r.media.last()
    );
    r.engine.on_media_event(
        id,
        MediaEvent::RemoteApplied {
            codec: Codec::Pcmu,
            telephone_event: true,
        },
        r.now,
    );
    r.engine.on_media_event(id, MediaEvent::IceConnected, r.now);
    r.drain();
}

fn reconnecting_codes(r: &Rig) -> Vec<u32> {
    r.call_events
        .iter()
        .filter_map(|(_, e)| match e {
            crate::model::CallEvent::Reconnecting(e) => Some(e.code),
            _ => None,
        })
        .collect()
}

fn restarts(r: &Rig, id: crate::model::CallId) -> usize {
    r.media
        .iter()
        .filter(|m| **m == (id, MediaRequest::RestartIce))
        .count()
}

#[test]
fn a_network_change_that_loses_the_path_restarts_ice_at_once_and_reconnects() {
    let mut r = Rig::new(DeviceOptions::default());
    let id = open_call(&mut r);
    r.take_sent();
    r.engine
        .on_media_event(id, MediaEvent::NetworkChanged { path_lost: true }, r.now);
    r.drain();
    // No wait for ICE to notice, and no backoff timer: the restart is asked for now.
    assert_eq!(restarts(&r, id), 1);
    assert_eq!(
        r.engine.call(id).unwrap().status(),
        CallStatus::Reconnecting
    );
    assert_eq!(reconnecting_codes(&r), vec![53405]);
    assert!(r.call_error_codes().is_empty());
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nrestart\r\n".into()),
        r.now,
    );
    r.drain();
    assert_eq!(
        r.sent,
        vec![
            json!({"type":"reinvite","version":"1.6","payload":{"callsid":"CA800","sdp":"v=0\r\nrestart\r\n"}})
        ]
    );
    restart_answered(&mut r, id);
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Open);
    assert_eq!(
        r.call_event_names(id),
        vec!["accept", "reconnecting", "reconnected"]
    );
}

#[test]
fn a_network_change_beside_a_working_path_restarts_ice_without_reconnecting() {
    let mut r = Rig::new(DeviceOptions::default());
    let id = open_call(&mut r);
    r.engine
        .on_media_event(id, MediaEvent::NetworkChanged { path_lost: false }, r.now);
    r.drain();
    assert_eq!(restarts(&r, id), 1);
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Open);
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nrestart\r\n".into()),
        r.now,
    );
    r.drain();
    assert_eq!(r.sent_types().last().map(String::as_str), Some("reinvite"));
    restart_answered(&mut r, id);
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Open);
    assert_eq!(r.call_event_names(id), vec!["accept"]);
}

#[test]
fn a_network_change_during_a_restart_restarts_again_once_it_is_answered() {
    let mut r = Rig::new(DeviceOptions::default());
    let id = open_call(&mut r);
    r.engine
        .on_media_event(id, MediaEvent::NetworkChanged { path_lost: true }, r.now);
    r.drain();
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nrestart\r\n".into()),
        r.now,
    );
    // The network changes again while the offer is out: it gathered on the old one.
    r.engine
        .on_media_event(id, MediaEvent::NetworkChanged { path_lost: true }, r.now);
    r.drain();
    assert_eq!(restarts(&r, id), 1, "one offer at a time");
    assert_eq!(reconnecting_codes(&r), vec![53405], "one reconnecting");
    r.server(json!({"type":"answer","payload":{"callsid":"CA800","sdp":"v=0\r\nnew-answer\r\n"}}));
    r.engine.on_media_event(
        id,
        MediaEvent::RemoteApplied {
            codec: Codec::Pcmu,
            telephone_event: true,
        },
        r.now,
    );
    r.drain();
    assert_eq!(restarts(&r, id), 2, "and another once it is answered");
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nrestart-2\r\n".into()),
        r.now,
    );
    r.drain();
    restart_answered(&mut r, id);
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Open);
    assert_eq!(restarts(&r, id), 2);
}

#[test]
fn a_restart_offer_lost_with_the_socket_is_sent_again_once_signaling_is_back() {
    let mut r = Rig::new(DeviceOptions::default());
    let id = open_call(&mut r);
    r.engine
        .on_media_event(id, MediaEvent::NetworkChanged { path_lost: true }, r.now);
    r.drain();
    // The socket died with the old address; the offer comes while it is down.
    let s = r.socket.unwrap();
    r.engine.on_socket_close(s, 1006, "", r.now);
    r.drain();
    r.take_sent();
    r.engine.on_media_event(
        id,
        MediaEvent::LocalDescription("v=0\r\nrestart\r\n".into()),
        r.now,
    );
    r.drain();
    assert!(
        !r.sent_types().contains(&"reinvite".to_string()),
        "{:?}",
        r.sent_types()
    );
    r.advance(Duration::from_secs(1));
    r.open();
    r.connected(3600);
    r.take_sent();
    // The reconnect invite's answer has no SDP: it is no answer to the restart offer.
    r.server(json!({"type":"answer","payload":{"callsid":"CA800","reconnect":"rtok2"}}));
    assert_eq!(
        r.sent,
        vec![
            json!({"type":"reinvite","version":"1.6","payload":{"callsid":"CA800","sdp":"v=0\r\nrestart\r\n"}})
        ]
    );
    assert_eq!(
        r.engine.call(id).unwrap().status(),
        CallStatus::Reconnecting,
        "media is not back yet"
    );
    restart_answered(&mut r, id);
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Open);
    let names = r.call_event_names(id);
    assert_eq!(names.last(), Some(&"reconnected"), "{names:?}");
}

#[test]
fn a_network_change_before_the_call_is_connected_changes_nothing() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    let id = outgoing(&mut r, vec![]);
    r.engine
        .on_media_event(id, MediaEvent::NetworkChanged { path_lost: true }, r.now);
    r.drain();
    assert_eq!(restarts(&r, id), 0);
    assert_eq!(r.engine.call(id).unwrap().status(), CallStatus::Connecting);
}
