//! The engine as a whole: the injected random source reproduces a run.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;

use super::test_rig::Rig;
use super::{Engine, MediaEvent};
use crate::model::Codec;
use crate::options::DeviceOptions;

fn options(seed: u64) -> DeviceOptions {
    DeviceOptions {
        // Two hosts: the first reconnect waits a random 1–5 s before falling back.
        chunderw: Some(vec!["lab:1".into(), "lab:2".into()]),
        random_seed: Some(seed),
        ..Default::default()
    }
}

/// Waits (in virtual time) until the engine asks for a new socket.
fn until_next_socket(r: &mut Rig) {
    let before = r.connects.len();
    while r.connects.len() == before {
        let t = r.engine.poll_timeout().expect("a retry is scheduled");
        r.now = t.max(r.now);
        r.engine.handle_timeout(r.now);
        r.drain();
    }
}

/// A run that draws on every random number the engine uses: a refused stream (restream
/// jitter), an outgoing call (its `TJS…` SID), a call message (its `KX…` SID) and a dropped
/// socket (the transport's backoff jitter and edge fallback). Returns every output with
/// the virtual time it came at.
fn run(engine: Engine) -> Vec<(Duration, String)> {
    let mut r = Rig::with_engine(engine);
    r.heartbeats = false;
    r.engine.register(r.now).unwrap();
    r.open();
    r.server(json!({"type":"error","payload":{"error":{"code":31202,"message":"JWT signature validation failed"}}}));
    r.server(json!({"type":"close","payload":{}}));
    until_next_socket(&mut r);
    r.open();
    r.connected(3600);
    r.server(json!({"type":"ready","payload":{}}));
    let id = r
        .engine
        .connect(vec![("To".into(), "+1".into())], r.now)
        .unwrap();
    r.drain();
    r.engine
        .on_media_event(id, MediaEvent::LocalDescription("v=0\r\n".into()), r.now);
    r.drain();
    r.server(
        json!({"type":"answer","payload":{"callsid":"CA1","sdp":"v=0\r\n","reconnect":"rtok"}}),
    );
    let applied = MediaEvent::RemoteApplied {
        codec: Codec::Pcmu,
        telephone_event: true,
    };
    r.engine.on_media_event(id, applied, r.now);
    r.engine
        .send_message(id, json!({"n": 1}), None, "user-defined-message", r.now)
        .unwrap();
    r.drain();
    for _ in 0..4 {
        let s = r.socket.unwrap();
        r.engine.on_socket_close(s, 1006, "", r.now);
        r.drain();
        until_next_socket(&mut r);
    }
    r.log
}

fn seeded(seed: u64) -> Engine {
    Engine::new("token-1".into(), options(seed)).unwrap()
}

#[test]
fn the_same_seed_reproduces_a_run_and_another_seed_does_not() {
    let first = run(seeded(11));
    assert_eq!(first, run(seeded(11)), "same seed, same frames and timers");
    // An RNG passed in is the same source as a seed in the options.
    let injected =
        Engine::with_rng("token-1".into(), options(999), StdRng::seed_from_u64(11)).unwrap();
    assert_eq!(first, run(injected));

    let other = run(seeded(12));
    assert_ne!(first, other);
    // They differ where randomness is used: the SIDs drawn and the jittered waits.
    let text = |log: &[(Duration, String)], needle: &str| -> Vec<String> {
        log.iter()
            .filter(|(_, o)| o.contains(needle))
            .map(|(_, o)| o.clone())
            .collect()
    };
    let invite = |log: &[(Duration, String)]| text(log, "TJS");
    assert_eq!(invite(&first).len(), invite(&other).len());
    assert_ne!(invite(&first), invite(&other), "temporary call SIDs");
    assert_ne!(text(&first, "KX"), text(&other, "KX"), "voice event SIDs");
    let connect_times = |log: &[(Duration, String)]| -> Vec<Duration> {
        log.iter()
            .filter(|(_, o)| o.contains("Connect {"))
            .map(|(t, _)| *t)
            .collect()
    };
    assert_eq!(connect_times(&first).len(), connect_times(&other).len());
    assert_ne!(
        connect_times(&first),
        connect_times(&other),
        "backoff jitter"
    );
    // And nowhere else: the same outputs in the same order once SIDs and times are set aside.
    let shape = |log: &[(Duration, String)]| -> Vec<String> {
        log.iter()
            .map(|(_, o)| o.split(['"', '\\']).next().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(shape(&first), shape(&other));
}
