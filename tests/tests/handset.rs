//! The whole handset end to end: `offhook` on the headless simulated board, with its
//! microphone and earpiece on virtual ALSA devices (PulseAudio null sinks through ALSA's
//! `pulse` plugin), talking to an in-process offhook-server and offhook-lab — the same set-up
//! as `offhook demo`.
//!
//! The test plays the caller's "mouth" into the handset's microphone device and listens to its
//! earpiece device. Every screen flushed during a run is compared with its golden image in
//! `tests/golden/handset/` (re-bless with `OFFHOOK_BLESS=1`).
//!
//! The socket-drop scenario runs the board at pin level: its hook and digits close contacts on
//! simulated GPIO pins, read by the real keypad scanner, debouncers and hook timing.
//!
//! The scenarios share one PulseAudio server (ALSA's configuration is process-wide), so they
//! take turns.

mod rig;

use std::time::{Duration, Instant};

use offhook_dsp::analysis::{dominant_frequency, rms};
use offhook_e2e::real_handset::{Mouth, RATE};
use offhook_e2e::{init_logs, wait_until};
use rig::{Handset, Level, MOUTH_HZ, pulse, start_handset, start_handset_at, wait_hears};

const T: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lift_dial_the_echo_number_and_hear_yourself() {
    init_logs();
    let pulse = pulse();
    let _turn = pulse.turn.lock().await;
    let dir = &pulse.dir;
    let handset = start_handset(&dir.join("echo"), |_| {}).await;
    let mouth = Mouth::start(MOUTH_HZ);
    handset.wait_screen("Ready", T).await;
    handset.cmd("hook up");
    handset.wait_screen("Dial ", T).await;
    // Dial tone in the earpiece (US: 350 + 440 Hz).
    wait_until(T, "dial tone in the earpiece", || async {
        let dial = mouth.last(Duration::from_millis(400));
        if offhook_dsp::analysis::has_frequency(&dial, RATE, 350.0, 0.2) {
            Ok(())
        } else {
            Err(format!("{} samples at rms {}", dial.len(), rms(&dial)))
        }
    })
    .await;
    handset.cmd("dial 2025550100");
    handset.wait_screen("In call with Echo test", T).await;
    // The echo number sends back what the microphone says.
    wait_hears(&mouth, MOUTH_HZ, T).await;
    handset.wait_screen("(0:03)", T).await;
    handset.cmd("hook down");
    handset.wait_screen("Ready", T).await;
    let call = handset
        .env
        .lab
        .control()
        .wait_for_call(T, |c| {
            c.legs
                .iter()
                .any(|l| l.identity.as_deref() == Some("desk") && l.state == "completed")
        })
        .await
        .expect("the hang-up reaches the lab");
    let leg = call
        .legs
        .iter()
        .find(|l| l.identity.as_deref() == Some("desk"))
        .expect("our leg");
    let media = leg.media.as_ref().expect("media stats");
    assert!(
        media
            .dominant_hz
            .is_some_and(|hz| (hz - MOUTH_HZ as f32).abs() < 20.0),
        "the lab heard our microphone: {media:?}"
    );
    drop(mouth);
    handset.finish(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_call_is_answered_by_lifting_the_handset() {
    init_logs();
    let pulse = pulse();
    let _turn = pulse.turn.lock().await;
    let dir = &pulse.dir;
    let handset = start_handset(&dir.join("incoming"), |_| {}).await;
    let mouth = Mouth::start(MOUTH_HZ);
    handset.wait_screen("Ready", T).await;
    let sid = handset
        .env
        .call_in("+12025550170", 440.0, 30)
        .await
        .expect("the lab calls");
    handset.wait_screen("Lab caller", T).await;
    assert!(handset.sim.state().ringer.is_some(), "the ringer rings");
    handset.cmd("hook up");
    handset.wait_screen("In call with Lab caller", T).await;
    assert!(handset.sim.state().ringer.is_none(), "the ringer stops");
    wait_hears(&mouth, 440.0, T).await;
    // The caller hears our microphone.
    let deadline = Instant::now() + T;
    loop {
        let call = handset.env.lab.control().get_call(&sid).await.unwrap();
        let heard = call
            .legs
            .iter()
            .filter_map(|l| l.media.as_ref())
            .find_map(|m| {
                m.dominant_hz
                    .filter(|hz| (hz - MOUTH_HZ as f32).abs() < 20.0 && m.level_dbfs > -40.0)
            });
        if heard.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the caller never heard {MOUTH_HZ} Hz: {call:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The golden "Call ended" screen says "Duration 0:01": hang up once the timer shows it
    // (both ends may hear each other within the first second).
    handset.wait_screen("0:01", T).await;
    handset.env.lab.control().hangup_call(&sid).await.unwrap();
    handset.wait_screen("Call ended", T).await;
    handset.cmd("hook down");
    handset.wait_screen("Ready", T).await;
    drop(mouth);
    handset.finish(true).await;
}

/// The first 100 ms of earpiece audio in the window that does not carry the echoed tone:
/// its offset into the window and its level.
fn first_break(mouth: &Mouth, from: Instant, to: Instant, hz: f64) -> Option<(usize, f64)> {
    let periods = mouth.between(from, to);
    let samples: Vec<i16> = periods
        .iter()
        .flat_map(|(_, s)| s.iter().copied())
        .collect();
    let chunk = RATE as usize / 10;
    for (i, block) in samples.chunks(chunk).enumerate() {
        if block.len() < chunk {
            break;
        }
        let level = rms(block);
        if !(level > 1000.0 && offhook_dsp::analysis::has_frequency(block, RATE, hz, 0.5)) {
            return Some((i * 100, level));
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "flaky (issue 14): about 1 run in 10 here has a hole of ~1 s in the in-process \
            lab's echo (late packets, no stall of the test's runtime or of a plain thread); run \
            it with --ignored"]
async fn a_token_expiring_during_a_call_is_renewed_without_a_break_in_audio() {
    init_logs();
    let pulse = pulse();
    let _turn = pulse.turn.lock().await;
    let dir = &pulse.dir;
    // 60 s tokens (the server's minimum), tokenWillExpire 50 s early: renewed every ~10 s.
    let handset = start_handset(&dir.join("token"), |o| {
        o.token_ttl_secs = 60;
        o.token_refresh_ms = 50_000;
    })
    .await;
    let mouth = Mouth::start(MOUTH_HZ);
    handset.wait_screen("Ready", T).await;
    let listens_before = listens(&handset).await;
    handset.cmd("hook up");
    handset.wait_screen("Dial ", T).await;
    handset.cmd("dial 2025550100");
    handset.wait_screen("In call with Echo test", T).await;
    wait_hears(&mouth, MOUTH_HZ, T).await;
    // The window starts once the echo has settled (a call's first second may have a dip
    // while its jitter buffer finds its level); the first renewal comes seconds later.
    wait_until(T, "a second of the echoed tone without a break", || async {
        let now = Instant::now();
        let last_second = now - Duration::from_secs(1);
        let heard: usize = mouth
            .between(last_second, now)
            .iter()
            .map(|(_, s)| s.len())
            .sum();
        if heard < RATE as usize * 9 / 10 {
            return Err(format!("{heard} samples recorded in the last second"));
        }
        match first_break(&mouth, last_second, now, MOUTH_HZ) {
            None => Ok(()),
            Some((at_ms, level)) => Err(format!(
                "a break {at_ms} ms into the last second (rms {level})"
            )),
        }
    })
    .await;
    let from = Instant::now();
    let from_unix_ms = unix_ms();
    // Past the first token's expiry (60 s after it was issued).
    handset.wait_screen("(1:05)", Duration::from_secs(80)).await;
    let to = Instant::now();
    let renewals = listens(&handset).await - listens_before;
    assert!(
        renewals >= 5,
        "the token was renewed during the call ({renewals} listens)"
    );
    let recorded = mouth.between(from, to).len();
    assert!(
        recorded > 50,
        "too little audio recorded: {recorded} periods"
    );
    let broke = first_break(&mouth, from, to, MOUTH_HZ);
    // Hung up before judging, so the call's audio summary is logged either way.
    handset.cmd("hook down");
    handset.wait_screen("Ready", T).await;
    if let Some((at_ms, level)) = broke {
        // When the renewals happened, to tell a break they caused from one they did not.
        let renewed_at: Vec<i64> = listen_times(&handset)
            .await
            .into_iter()
            .map(|t| t as i64 - from_unix_ms as i64)
            .filter(|t| *t >= 0)
            .collect();
        panic!(
            "audio broke {at_ms} ms into the window (rms {level}); the token was renewed at \
             {renewed_at:?} ms; stalls in the window: {}",
            handset.stalls.between(from, to)
        );
    }
    drop(mouth);
    handset.finish(false).await;
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// When the lab received each `listen` frame from the handset (Unix ms).
async fn listen_times(handset: &Handset) -> Vec<u64> {
    let connections = handset.env.lab.control().connections().await.unwrap();
    connections
        .iter()
        .filter(|c| c.identity.as_deref() == Some("desk"))
        .flat_map(|c| c.frames.iter())
        .filter(|f| f.direction == "in" && f.kind == "listen")
        .map(|f| f.unix_ms)
        .collect()
}

/// `listen` frames the lab received from the handset so far.
async fn listens(handset: &Handset) -> usize {
    let connections = handset.env.lab.control().connections().await.unwrap();
    connections
        .iter()
        .filter(|c| c.identity.as_deref() == Some("desk"))
        .flat_map(|c| c.frames.iter())
        .filter(|f| f.direction == "in" && f.kind == "listen")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_survives_the_lab_dropping_the_socket() {
    init_logs();
    let pulse = pulse();
    let _turn = pulse.turn.lock().await;
    let dir = &pulse.dir;
    // At pin level: the hook and the digits go through the real scanner and debouncers.
    let handset = start_handset_at(&dir.join("socket"), |_| {}, Level::Pins).await;
    let mouth = Mouth::start(MOUTH_HZ);
    handset.wait_screen("Ready", T).await;
    handset.cmd("hook up");
    handset.wait_screen("Dial ", T).await;
    handset.cmd("dial 2025550100");
    handset.wait_screen("In call with Echo test", T).await;
    wait_hears(&mouth, MOUTH_HZ, T).await;
    let n = handset
        .env
        .lab
        .control()
        .fault_close_socket("desk", false)
        .await
        .unwrap();
    assert_eq!(n, 1);
    // Signaling comes back (reconnect invite within reconnectTimeout) and the call goes on.
    let deadline = Instant::now() + T;
    loop {
        let conns = handset.env.lab.control().connections().await.unwrap();
        let back = conns.iter().any(|c| {
            c.identity.as_deref() == Some("desk")
                && c.closed_unix_ms.is_none()
                && c.frames.iter().any(|f| {
                    f.direction == "in" && f.kind == "invite" && f.text.contains("reconnect")
                })
        });
        if back {
            break;
        }
        assert!(Instant::now() < deadline, "no reconnect invite: {conns:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A full second of the echo, all of it played after signaling came back.
    let back_at = Instant::now();
    wait_until(T, "the echo after signaling came back", || async {
        let heard: Vec<i16> = mouth
            .between(back_at, Instant::now())
            .into_iter()
            .flat_map(|(_, samples)| samples)
            .collect();
        let last_second = &heard[heard.len().saturating_sub(RATE as usize)..];
        let f = dominant_frequency(last_second, RATE);
        let level = rms(last_second);
        if last_second.len() == RATE as usize && level > 300.0 && (f - MOUTH_HZ).abs() < 15.0 {
            Ok(())
        } else {
            Err(format!("{} samples, {f} Hz at rms {level}", heard.len()))
        }
    })
    .await;
    assert!(
        handset
            .sim
            .state()
            .summary
            .contains("In call with Echo test"),
        "still in the call: {}",
        handset.sim.state().summary
    );
    let leg = handset.env.lab.control().calls().await.unwrap();
    let leg = leg
        .iter()
        .flat_map(|c| c.legs.iter())
        .find(|l| l.identity.as_deref() == Some("desk"))
        .unwrap()
        .clone();
    assert_eq!(leg.state, "in-progress", "{leg:?}");
    handset.cmd("hook down");
    handset.wait_screen("Ready", T).await;
    drop(mouth);
    handset.finish(false).await;
}
