//! Helpers shared by the ALSA tests: tones and their analysis, from `offhook-dsp`.
#![allow(dead_code, unused_imports)]

use offhook_dsp::ToneGenerator;
pub use offhook_dsp::analysis::{purity, rms, zero_crossing_frequency};

/// `n` samples of a sine at `freq` Hz, starting at sample `offset`.
pub fn tone(rate: u32, freq: f64, amplitude: f64, offset: usize, n: usize) -> Vec<i16> {
    let mut generator = ToneGenerator::sine(rate, freq, amplitude);
    generator.seek(offset as u64);
    let mut out = vec![0; n];
    generator.fill(&mut out);
    out
}
