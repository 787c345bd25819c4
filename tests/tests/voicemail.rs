//! Voicemail end to end: the lab plays Twilio (`<Dial action>`, `<Record>`, the recording
//! callback, `<Gather>`, the Recordings resource), the in-process `offhook-server` keeps the
//! mailbox in SQLite and pushes its counts, and the real `offhook run` on the simulated board
//! shows them, with its earpiece on a virtual sound card.
//!
//! A virtual caller rings the handset's number and nobody lifts; after the greeting and the
//! beep it leaves three seconds of a tone. The message lamp comes on and the idle screen says
//! so; lifting gives the stutter dial tone; dialling the voicemail number plays the tone back
//! in the earpiece; `7` deletes it, at Twilio too, and the lamp goes off.

mod rig;

use std::time::{Duration, Instant};

use offhook_board::led::{Led, LedMode};
use offhook_dsp::analysis::{dominant_frequency, has_frequency, rms};
use offhook_e2e::real_handset::{Mouth, RATE};
use offhook_e2e::{init_logs, wait_until};
use rig::{Handset, MOUTH_HZ, pulse, start_handset, wait_hears};

const T: Duration = Duration::from_secs(15);
/// The caller's message: a tone no `<Say>` word, beep or dial tone uses.
const MESSAGE_HZ: f32 = 1200.0;
/// How long the caller speaks after the beep.
const MESSAGE: Duration = Duration::from_secs(3);

async fn message_lamp(handset: &Handset, lit: bool, timeout: Duration) {
    let want = if lit { "on" } else { "off" };
    wait_until(timeout, &format!("the message lamp {want}"), || async {
        let mode = handset.sim.state().led(Led::Message);
        if (mode != LedMode::Off) == lit {
            Ok(())
        } else {
            Err(format!(
                "{mode:?}; screen {:?}",
                handset.sim.state().summary
            ))
        }
    })
    .await
}

/// The dial tone in the earpiece since `from` starts with gaps: tone, silence, tone.
fn stutters(mouth: &Mouth, from: Instant) -> Result<(), String> {
    let heard: Vec<i16> = mouth
        .between(from, Instant::now())
        .into_iter()
        .flat_map(|(_, samples)| samples)
        .collect();
    let block = RATE as usize / 40; // 25 ms
    let mut seen_tone = false;
    let mut gaps_between_tones = 0;
    let mut in_gap = false;
    for chunk in heard.chunks_exact(block) {
        let tone = has_frequency(chunk, RATE, 350.0, 0.2) && rms(chunk) > 300.0;
        let silent = rms(chunk) < 100.0;
        if tone {
            if in_gap {
                gaps_between_tones += 1;
            }
            seen_tone = true;
            in_gap = false;
        } else if silent && seen_tone {
            in_gap = true;
        }
    }
    if gaps_between_tones >= 3 {
        Ok(())
    } else {
        Err(format!(
            "{gaps_between_tones} gaps between dial tone bursts in {} ms",
            heard.len() * 1000 / RATE as usize
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_call_leaves_a_message_that_lights_the_lamp_and_plays_back() {
    init_logs();
    let pulse = pulse();
    let _turn = pulse.turn.lock().await;
    let handset = start_handset(&pulse.dir.join("voicemail"), |o| {
        o.dial_timeout_secs = 5;
    })
    .await;
    let mouth = Mouth::start(MOUTH_HZ);
    handset.wait_screen("Ready", T).await;
    assert_eq!(handset.sim.state().led(Led::Message), LedMode::Off);
    let lab = handset.env.lab.control();

    // Nobody lifts: the dial times out, the caller hears the greeting and the beep, and speaks.
    let sid = handset
        .env
        .call_in("+12025550170", MESSAGE_HZ, 90)
        .await
        .expect("the lab calls");
    handset.wait_screen("Lab caller", T).await;
    wait_until(
        Duration::from_secs(60),
        "the caller's message recorded",
        || async {
            let call = lab.get_call(&sid).await.map_err(|e| e.to_string())?;
            let recorded = call
                .legs
                .iter()
                .filter_map(|l| l.media.as_ref()?.recording_ms)
                .max()
                .unwrap_or(0);
            if recorded >= MESSAGE.as_millis() as u64 {
                Ok(())
            } else {
                Err(format!("{recorded} ms recorded; phase {}", call.phase))
            }
        },
    )
    .await;
    lab.hangup_call(&sid).await.expect("the caller hangs up");
    let recording = lab
        .wait_for_recording(T, |r| r.call_sid == sid)
        .await
        .expect("the lab keeps the recording");
    assert!(
        recording
            .dominant_hz
            .is_some_and(|hz| (hz - MESSAGE_HZ).abs() < 20.0),
        "the recording holds the caller's tone: {recording:?}"
    );

    // The server stores it from the signed callback and pushes the count to the handset.
    message_lamp(&handset, true, T).await;
    handset.wait_screen("1 new voicemail", T).await;

    // Lifting gives the stutter dial tone.
    let lifted = Instant::now();
    handset.cmd("hook up");
    handset.wait_screen("Dial ", T).await;
    wait_until(T, "a stutter dial tone", || async {
        stutters(&mouth, lifted)
    })
    .await;

    // The voicemail number plays the message back.
    handset.cmd("dial *97");
    handset.wait_screen("In call", T).await;
    wait_hears(&mouth, f64::from(MESSAGE_HZ), Duration::from_secs(40)).await;
    let heard = mouth.last(Duration::from_millis(500));
    assert!(
        (dominant_frequency(&heard, RATE) - f64::from(MESSAGE_HZ)).abs() < 20.0,
        "the earpiece plays the message"
    );

    // 7 deletes it: at Twilio (the lab's Recordings resource) and on the lamp.
    handset.cmd("key 7");
    lab.wait_for_recording(T, |r| r.sid == recording.sid && r.deleted)
        .await
        .expect("the recording is deleted at Twilio");
    message_lamp(&handset, false, T).await;
    handset.cmd("hook down");
    handset.wait_screen("Ready", T).await;
    assert!(
        !handset.sim.state().summary.contains("voicemail"),
        "no voicemail left on the idle screen: {}",
        handset.sim.state().summary
    );
    drop(mouth);
    handset.finish(true).await;
}
