//! The Device engine: registration, the stream, tokens, refusals and edge fallback.

use std::time::Duration;

use serde_json::json;

use crate::core::test_rig::*;
use crate::model::{DeviceEvent, DeviceState};
use crate::options::DeviceOptions;

#[test]
fn register_sends_listen_then_register_and_becomes_registered() {
    let mut r = Rig::new(DeviceOptions::default());
    r.engine.register(r.now).unwrap();
    r.drain();
    assert_eq!(r.connects, vec!["wss://lab:1/signal"]);
    assert_eq!(r.device_event_names(), vec!["registering"]);
    r.open();
    assert_eq!(r.sent_types(), vec!["listen"]);
    assert_eq!(r.sent[0]["payload"]["token"], "token-1");
    r.connected(600);
    assert_eq!(r.sent_types(), vec!["listen", "register"]);
    assert_eq!(r.sent[1]["payload"], json!({"media":{"audio":true}}));
    r.server(json!({"type":"ready","payload":{}}));
    assert_eq!(r.engine.state(), DeviceState::Registered);
    assert_eq!(r.engine.identity(), Some("alice"));
    assert_eq!(r.engine.edge(), Some("ashburn"));
    assert_eq!(r.engine.home(), Some("us1"));
    // Re-registers every 30 s.
    r.take_sent();
    r.advance(Duration::from_secs(30));
    assert_eq!(r.sent_types(), vec!["register"]);
    assert!(
        r.engine.register(r.now).is_err(),
        "register only from unregistered"
    );
}

#[test]
fn unregister_sends_register_false_and_waits_for_offline() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.take_sent();
    r.engine.unregister(r.now).unwrap();
    r.drain();
    assert_eq!(r.sent[0]["payload"], json!({"media":{"audio":false}}));
    assert_eq!(r.engine.state(), DeviceState::Registered);
    r.server(json!({"type":"offline","payload":{}}));
    assert_eq!(r.engine.state(), DeviceState::Unregistered);
    // No refresh registers after unregistering.
    r.take_sent();
    r.advance(Duration::from_secs(61));
    assert!(r.sent.is_empty());
}

#[test]
fn token_will_expire_fires_ttl_minus_refresh_on_the_monotonic_clock() {
    let mut r = Rig::new(DeviceOptions {
        token_refresh_ms: 10_000,
        ..Default::default()
    });
    r.engine.register(r.now).unwrap();
    r.open();
    r.connected(60);
    r.advance(Duration::from_secs(49));
    assert!(!r.device_event_names().contains(&"tokenWillExpire"));
    r.advance(Duration::from_secs(1));
    assert!(r.device_event_names().contains(&"tokenWillExpire"));
    // update_token sends listen on the live socket and keeps the registration.
    r.server(json!({"type":"ready","payload":{}}));
    r.take_sent();
    r.engine.update_token("token-2".into(), r.now).unwrap();
    r.drain();
    assert_eq!(r.sent_types(), vec!["listen"]);
    assert_eq!(r.sent[0]["payload"]["token"], "token-2");
    r.connected(60);
    assert_eq!(r.engine.state(), DeviceState::Registered);
    assert!(!r.device_event_names().contains(&"unregistered"));
}

/// Issue 12 item 6: with no `token` in `connected`, the identity comes from the token's grant
/// and `tokenWillExpire` from its `exp - iat`, counted from when the Device got the token
/// (the token says it was issued in 2001: the Device's own clock is never asked).
#[test]
fn connected_without_token_reads_identity_and_expiry_from_the_token() {
    let mut r = Rig::new(DeviceOptions {
        token_refresh_ms: 10_000,
        ..Default::default()
    });
    let start = r.now;
    r.engine
        .update_token(jwt("alice", 60, 1_000_000_000), r.now)
        .unwrap();
    r.engine.register(r.now).unwrap();
    r.advance(Duration::from_secs(3));
    r.open();
    seed_connected(&mut r);
    assert_eq!(r.sent_types(), vec!["listen", "register"], "registers");
    r.server(json!({"payload":{},"type":"ready","version":""}));
    assert_eq!(r.engine.state(), DeviceState::Registered);
    assert_eq!(r.engine.identity(), Some("alice"));
    assert_eq!(r.engine.edge(), Some("dublin"), "the edge of EU_IRELAND");
    assert_eq!(r.engine.region(), Some("ie1"));
    assert_eq!(r.engine.home(), None);
    // 60 s from when the token was given, minus tokenRefreshMs: 50 s after the start, not
    // after `connected` (3 s later).
    r.advance(start + Duration::from_millis(49_900) - r.now);
    assert!(!r.device_event_names().contains(&"tokenWillExpire"));
    r.advance(Duration::from_millis(100));
    assert!(r.device_event_names().contains(&"tokenWillExpire"));
    // A fresh token: its own 60 s start from the update.
    r.device_events.clear();
    let updated = r.now;
    r.engine
        .update_token(jwt("alice", 60, 1_000_000_050), r.now)
        .unwrap();
    r.drain();
    seed_connected(&mut r);
    r.advance(updated + Duration::from_millis(49_900) - r.now);
    assert!(!r.device_event_names().contains(&"tokenWillExpire"));
    r.advance(Duration::from_millis(100));
    assert_eq!(r.device_event_names(), vec!["tokenWillExpire"]);
    assert_eq!(r.engine.state(), DeviceState::Registered);
}

/// `connected.token.ttl`, when present, still wins over the token's own lifetime (the SDK).
#[test]
fn connected_token_ttl_wins_over_the_tokens_lifetime() {
    let mut r = Rig::new(DeviceOptions {
        token_refresh_ms: 10_000,
        ..Default::default()
    });
    r.engine
        .update_token(jwt("alice", 3600, 1_000_000_000), r.now)
        .unwrap();
    r.engine.register(r.now).unwrap();
    r.open();
    r.server(json!({"type":"connected","payload":{"region":"EU_IRELAND","token":{"identity":"bob","ttl":20}}}));
    assert_eq!(r.engine.identity(), Some("bob"));
    r.advance(Duration::from_millis(9_900));
    assert!(!r.device_event_names().contains(&"tokenWillExpire"));
    r.advance(Duration::from_millis(100));
    assert!(r.device_event_names().contains(&"tokenWillExpire"));
}

/// Issue 12 item 7: a server that refuses with `error` + `close` (the seed's 31202) is
/// neither retried in a spin nor given up on: a new stream after 1 s, 2 s, 4 s … ±40 %,
/// capped at a minute, each refusal an `error` event with its code; once the server side is
/// fixed the next attempt registers, with no `register()` from the application.
#[test]
fn a_refused_stream_is_retried_with_capped_backoff_until_the_server_accepts() {
    let mut r = Rig::new(DeviceOptions::default());
    r.heartbeats = false;
    r.engine.register(r.now).unwrap();
    let refusal = [
        json!({"payload":{"error":{"code":31202,"message":"JWT signature validation failed"}},"type":"error","version":""}),
        json!({"payload":{},"type":"close","version":""}),
    ];
    let waits = refusals(&mut r, 10, &refusal);
    for (i, w) in waits.iter().enumerate() {
        let base = 1000.0 * 2f64.powi(i as i32);
        let ms = w.as_millis() as f64;
        assert!(
            ms >= (base * 0.6).min(60_000.0) - 1.0 && ms <= (base * 1.4).min(60_000.0) + 1.0,
            "attempt {i}: {ms} ms after the close; all: {waits:?}"
        );
    }
    assert_eq!(waits[9], Duration::from_secs(60), "capped");
    let codes: Vec<u32> = r
        .device_events
        .iter()
        .filter_map(|e| match e {
            DeviceEvent::Error { error, .. } => Some(error.code),
            _ => None,
        })
        .collect();
    assert_eq!(codes, vec![53000; 10], "every refusal is reported");
    assert_eq!(r.engine.state(), DeviceState::Registering);
    // The server is fixed: the attempt in progress registers.
    r.open();
    r.connected(3600);
    r.server(json!({"type":"ready","payload":{}}));
    assert_eq!(r.engine.state(), DeviceState::Registered);
    // And the backoff starts afresh: a later refusal is retried after about a second.
    r.engine.update_token("token-2".into(), r.now).unwrap();
    r.drain();
    for f in &refusal {
        r.server(f.clone());
    }
    let t = r.engine.poll_timeout().unwrap();
    assert!(t - r.now <= Duration::from_millis(1400), "{:?}", t - r.now);
}

/// A `retryAfter` in the refusal is waited at least; an application that unregistered is
/// not re-registered behind its back.
#[test]
fn a_refusal_with_retry_after_waits_and_unregistered_devices_stay_so() {
    let mut r = Rig::new(DeviceOptions::default());
    r.heartbeats = false;
    r.engine.register(r.now).unwrap();
    let waits = refusals(
        &mut r,
        1,
        &[
            json!({"type":"error","payload":{"error":{"code":31206,"message":"Rate exceeded","retryAfter":30}}}),
            json!({"type":"close","payload":{}}),
        ],
    );
    assert!(waits[0] >= Duration::from_secs(30), "{waits:?}");
    // Registered, then unregistered: a close afterwards schedules nothing.
    r.open();
    r.connected(3600);
    r.server(json!({"type":"ready","payload":{}}));
    r.engine.unregister(r.now).unwrap();
    r.server(json!({"type":"offline","payload":{}}));
    r.server(json!({"type":"close","payload":{}}));
    let before = r.connects.len();
    r.advance(Duration::from_secs(600));
    assert_eq!(r.connects.len(), before);
    assert_eq!(r.engine.state(), DeviceState::Unregistered);
}

/// Issue 15: `retryAfter: 1e20` and then a signaling `close` (not a socket close): the Device
/// waits no longer than its backoff ceiling before it tries again, never an hour.
#[test]
fn an_absurd_retry_after_before_a_close_waits_at_most_the_backoff_ceiling() {
    let mut r = Rig::new(DeviceOptions::default());
    r.heartbeats = false;
    r.engine.register(r.now).unwrap();
    let waits = refusals(
        &mut r,
        2,
        &[
            json!({"type":"error","payload":{"error":{"code":31206,"message":"Rate exceeded","retryAfter":1e20}}}),
            json!({"type":"close","payload":{}}),
        ],
    );
    let ceiling = Duration::from_millis(super::RESTREAM_BACKOFF.max_ms);
    assert!(waits.iter().all(|w| *w <= ceiling), "{waits:?}");
    assert!(
        waits[0] >= Duration::from_secs(30),
        "the retryAfter is still honoured: {waits:?}"
    );
}

/// The seed's invalid Account SID: the socket opens, `listen` goes out, and the server just
/// drops it, over and over. Each drop is an `error` (31005); the reconnects back off to
/// 20 s apart instead of the SDK's endless ~100 ms.
#[test]
fn a_server_that_drops_every_listen_is_retried_with_growing_delays() {
    let mut r = Rig::new(DeviceOptions::default());
    r.heartbeats = false;
    r.engine.register(r.now).unwrap();
    let mut waits = Vec::new();
    for _ in 0..10 {
        r.open();
        assert_eq!(r.sent.last().unwrap()["type"], "listen");
        let s = r.socket.unwrap();
        r.engine.on_socket_close(s, 1006, "", r.now);
        r.drain();
        let dropped = r.now;
        let before = r.connects.len();
        while r.connects.len() == before {
            r.now = r.engine.poll_timeout().unwrap().max(r.now);
            r.engine.handle_timeout(r.now);
            r.drain();
        }
        waits.push(r.now - dropped);
    }
    assert!(
        waits
            .windows(2)
            .all(|w| w[1] >= w[0] || w[1] >= Duration::from_secs(10)),
        "{waits:?}"
    );
    assert!(waits[7] >= Duration::from_secs(7), "{waits:?}");
    assert!(
        waits.iter().all(|w| *w <= Duration::from_secs(20)),
        "{waits:?}"
    );
    let drops = r
        .device_events
        .iter()
        .filter(|e| matches!(e, DeviceEvent::Error { error, .. } if error.code == 31005))
        .count();
    assert_eq!(drops, 10);
    r.open();
    r.take_sent();
    r.connected(3600);
    assert_eq!(
        r.sent_types(),
        vec!["register"],
        "still wants to be registered"
    );
    r.server(json!({"type":"ready","payload":{}}));
    assert_eq!(r.engine.state(), DeviceState::Registered);
}

#[test]
fn signaling_errors_remap_with_and_without_precision() {
    for (precise, expect) in [(false, 53000), (true, 31202)] {
        let mut r = Rig::new(DeviceOptions {
            enable_improved_signaling_error_precision: precise,
            ..Default::default()
        });
        r.engine.register(r.now).unwrap();
        r.open();
        r.server(json!({"type":"error","payload":{"error":{"code":31202,"message":"JWT signature validation failed"}}}));
        r.server(json!({"type":"close","payload":{}}));
        let codes: Vec<u32> = r
            .device_events
            .iter()
            .filter_map(|e| match e {
                DeviceEvent::Error { error, .. } => Some(error.code),
                _ => None,
            })
            .collect();
        assert_eq!(codes, vec![expect]);
        assert_eq!(r.engine.state(), DeviceState::Unregistered);
        // close: no reconnect on this stream; a new one only after the backoff (≥ 0.6 s).
        let before = r.connects.len();
        r.advance(Duration::from_millis(590));
        assert_eq!(r.connects.len(), before);
    }
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(
        json!({"type":"error","payload":{"error":{"code":31205,"message":"JWT token expired"}}}),
    );
    let DeviceEvent::Error { error, .. } = r.device_events.last().unwrap() else {
        panic!()
    };
    assert_eq!((error.code, error.wire_code()), (20104, 31205));
    // 31205 stops the register refresh.
    r.take_sent();
    r.advance(Duration::from_secs(31));
    assert!(!r.sent_types().contains(&"register".to_string()));
}

#[test]
fn malformed_invite_is_31400_and_busy_invites_are_dropped() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(json!({"type":"invite","payload":{"parameters":{}}}));
    let DeviceEvent::Error { error, .. } = r.device_events.last().unwrap() else {
        panic!()
    };
    assert_eq!(error.code, 31400);
    let _ = r.engine.connect(vec![], r.now).unwrap();
    r.drain();
    let n = r.device_events.len();
    r.server(invite("CA300"));
    assert_eq!(r.device_events.len(), n, "busy: invite ignored");
}

#[test]
fn stopped_heartbeats_reconnect_within_the_timeout() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.heartbeats = false;
    let connects = r.connects.len();
    r.advance(Duration::from_secs(14));
    assert_eq!(r.connects.len(), connects);
    r.advance(Duration::from_secs(2));
    assert_eq!(
        r.connects.len(),
        connects + 1,
        "reconnected after 15 s of silence"
    );
}

#[test]
fn edge_fallback_when_the_first_host_refuses() {
    let mut r = Rig::new(DeviceOptions::default());
    r.engine
        .update_options(
            DeviceOptions {
                chunderw: Some(vec!["bad:1".into(), "good:2".into()]),
                random_seed: Some(7),
                ..Default::default()
            },
            r.now,
        )
        .unwrap();
    r.engine.register(r.now).unwrap();
    r.drain();
    assert_eq!(r.connects.last().unwrap(), "wss://bad:1/signal");
    let s = r.socket.unwrap();
    r.engine
        .on_socket_close(s, 1006, "connection refused", r.now);
    r.drain();
    let DeviceEvent::Error { error, .. } = r.device_events.last().unwrap() else {
        panic!()
    };
    assert_eq!(error.code, 31005);
    r.advance(Duration::from_secs(10));
    assert_eq!(r.connects.last().unwrap(), "wss://good:2/signal");
}

#[test]
fn destroy_rejects_pending_hangs_up_and_emits_unregistered_destroyed() {
    let mut r = Rig::new(DeviceOptions::default());
    r.registered();
    r.server(invite("CA700"));
    r.take_sent();
    r.device_events.clear();
    r.engine.destroy(r.now);
    r.drain();
    assert_eq!(r.sent_types(), vec!["reject"]);
    assert_eq!(r.device_event_names(), vec!["unregistered", "destroyed"]);
    assert!(r.engine.connect(vec![], r.now).is_err());
    assert!(r.engine.update_token("x".into(), r.now).is_err());
}

/// Ten minutes of virtual time with 60 s tokens: the scripted server checks every token as the
/// lab does (`token::verify` against a virtual clock) and answers `connected` with the time
/// left; the phone refreshes on `tokenWillExpire`. Registration never lapses.
#[test]
fn short_ttl_tokens_refreshed_for_ten_minutes_of_virtual_time() {
    use crate::token::{AccessToken, VoiceGrant, verify};
    let epoch = 1_800_000_000u64;
    let mint = |at: u64| {
        AccessToken::new("AC1", "SK1", "secret", "alice")
            .with_ttl(60)
            .with_voice(VoiceGrant::handset("AP1"))
            .to_jwt(at)
            .unwrap()
    };
    let mut r = Rig::new(DeviceOptions::default());
    let start = r.now;
    let unix = |r: &Rig| epoch + (r.now - start).as_secs();
    r.engine.update_token(mint(epoch), r.now).unwrap();
    r.engine.register(r.now).unwrap();
    r.open();
    let mut refreshes = 0;
    let mut answered_listens = 0;
    while r.now - start < Duration::from_secs(600) {
        // The server answers every listen like the lab: verify, then `connected` or an error.
        let listens: Vec<String> = r
            .take_sent()
            .into_iter()
            .filter(|f| f["type"] == "listen")
            .filter_map(|f| f["payload"]["token"].as_str().map(String::from))
            .collect();
        for token in listens {
            answered_listens += 1;
            match verify(&token, unix(&r), |_| Some("secret".into())) {
                Ok(claims) => {
                    let ttl = claims.exp - unix(&r);
                    r.server(json!({"type":"connected","payload":{"region":"US_EAST_VIRGINIA","token":{"identity":"alice","ttl":ttl}}}));
                    if r.engine.state() == DeviceState::Registering {
                        r.server(json!({"type":"ready","payload":{}}));
                    }
                }
                Err(e) => {
                    r.server(json!({"type":"error","payload":{"error":{"code":e.twilio_code(),"message":e.to_string()}}}));
                }
            }
        }
        if r.device_events
            .iter()
            .any(|e| matches!(e, DeviceEvent::TokenWillExpire))
        {
            r.device_events
                .retain(|e| !matches!(e, DeviceEvent::TokenWillExpire));
            refreshes += 1;
            let fresh = mint(unix(&r));
            r.engine.update_token(fresh, r.now).unwrap();
            r.drain();
            continue;
        }
        r.advance(Duration::from_secs(1));
    }
    assert!(
        refreshes >= 11,
        "a 60 s token refreshed every ~50 s: {refreshes}; events {:?}; state {:?}",
        r.device_events,
        r.engine.state()
    );
    assert!(answered_listens >= refreshes);
    assert_eq!(r.engine.state(), DeviceState::Registered);
    let bad: Vec<&DeviceEvent> = r
        .device_events
        .iter()
        .filter(|e| matches!(e, DeviceEvent::Unregistered | DeviceEvent::Error { .. }))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}
