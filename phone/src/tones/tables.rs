//! The tone plans. Sources: Cisco SPA regional defaults for North America,
//! BT SIN 350 for the UK, CEPT / ETSI TR 101 041 recommendations for continental Europe.

use super::{Region, Repeat, Segment, Tone, TonePhase, ToneSpec, dtmf_frequencies};

/// Length of one key-feedback beep.
pub const DTMF_FEEDBACK_MS: u32 = 120;

fn seg(on_ms: u32, off_ms: u32) -> Segment {
    Segment { on_ms, off_ms }
}

fn steady(freqs: &[f32], level_dbm0: f32) -> TonePhase {
    TonePhase {
        freqs: freqs.to_vec(),
        level_dbm0,
        pattern: Vec::new(),
        repeat: Repeat::Forever,
    }
}

fn cadenced(freqs: &[f32], level_dbm0: f32, pattern: &[Segment], repeat: Repeat) -> TonePhase {
    TonePhase {
        freqs: freqs.to_vec(),
        level_dbm0,
        pattern: pattern.to_vec(),
        repeat,
    }
}

fn one(phase: TonePhase) -> ToneSpec {
    ToneSpec {
        phases: vec![phase],
    }
}

// Levels per frequency component, dBm0.
const DIAL: f32 = -13.0;
const PROGRESS: f32 = -19.0;
const LOUD: f32 = -3.0;
const FEEDBACK: f32 = -16.0;

pub fn tone(tone: Tone, region: Region) -> ToneSpec {
    use Region::*;
    use Repeat::*;
    match (tone, region) {
        (Tone::Dtmf(key), _) => match dtmf_frequencies(key) {
            Some((low, high)) => one(cadenced(
                &[low, high],
                FEEDBACK,
                &[seg(DTMF_FEEDBACK_MS, 0)],
                Times(1),
            )),
            None => ToneSpec { phases: Vec::new() },
        },
        (Tone::Confirm, _) => one(cadenced(&[600.0], DIAL, &[seg(250, 0)], Times(1))),
        // Off-hook warning: loud fast interrupted tone (Cisco default, all regions).
        (Tone::Howler, _) => one(cadenced(&[480.0, 620.0], LOUD, &[seg(125, 125)], Forever)),

        (Tone::Dial, Us | Uk) => one(steady(&[350.0, 440.0], DIAL)),
        (Tone::Dial, Eu) => one(steady(&[425.0], DIAL)),
        (Tone::MessageWaitingDial, Us) => ToneSpec {
            phases: vec![
                cadenced(&[350.0, 440.0], DIAL, &[seg(100, 100)], Times(10)),
                steady(&[350.0, 440.0], DIAL),
            ],
        },
        (Tone::MessageWaitingDial, Uk) => ToneSpec {
            phases: vec![
                cadenced(&[350.0, 440.0], DIAL, &[seg(750, 750)], Times(2)),
                steady(&[350.0, 440.0], DIAL),
            ],
        },
        (Tone::MessageWaitingDial, Eu) => ToneSpec {
            phases: vec![
                cadenced(&[425.0], DIAL, &[seg(400, 40)], Times(5)),
                steady(&[425.0], DIAL),
            ],
        },

        (Tone::Ringback, Us) => one(cadenced(
            &[440.0, 480.0],
            PROGRESS,
            &[seg(2000, 4000)],
            Forever,
        )),
        (Tone::Ringback, Uk) => one(cadenced(
            &[400.0, 450.0],
            PROGRESS,
            &[seg(400, 200), seg(400, 2000)],
            Forever,
        )),
        (Tone::Ringback, Eu) => one(cadenced(&[425.0], PROGRESS, &[seg(1000, 4000)], Forever)),

        (Tone::Busy, Us) => one(cadenced(
            &[480.0, 620.0],
            PROGRESS,
            &[seg(500, 500)],
            Forever,
        )),
        (Tone::Busy, Uk) => one(cadenced(&[400.0], PROGRESS, &[seg(375, 375)], Forever)),
        (Tone::Busy, Eu) => one(cadenced(&[425.0], PROGRESS, &[seg(500, 500)], Forever)),

        (Tone::Reorder, Us) | (Tone::NoService, Us) => one(cadenced(
            &[480.0, 620.0],
            PROGRESS,
            &[seg(250, 250)],
            Forever,
        )),
        (Tone::Reorder, Uk) => one(cadenced(
            &[400.0],
            PROGRESS,
            &[seg(400, 350), seg(225, 525)],
            Forever,
        )),
        // BT "number unobtainable": steady 400 Hz.
        (Tone::NoService, Uk) => one(steady(&[400.0], PROGRESS)),
        (Tone::Reorder, Eu) | (Tone::NoService, Eu) => {
            one(cadenced(&[425.0], PROGRESS, &[seg(250, 250)], Forever))
        }

        (Tone::CallWaiting, Us) => one(cadenced(&[440.0], DIAL, &[seg(300, 9700)], Forever)),
        (Tone::CallWaiting, Uk) => one(cadenced(&[400.0], DIAL, &[seg(100, 2000)], Forever)),
        (Tone::CallWaiting, Eu) => one(cadenced(
            &[425.0],
            DIAL,
            &[seg(200, 200), seg(200, 9400)],
            Forever,
        )),
    }
}
