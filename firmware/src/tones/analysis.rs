//! Measuring tones: Goertzel power at a frequency, and on/off detection. Used by the tests here
//! and by end-to-end tests that check audio coming back from a call.

use std::f64::consts::TAU;

/// Power of `freq` in `samples`, normalised so a full-scale sine at exactly `freq` gives ~0.25
/// whatever the block length (amplitude² / 4).
pub fn goertzel_power(samples: &[i16], sample_rate: u32, freq: f64) -> f64 {
    if samples.is_empty() || sample_rate == 0 {
        return 0.0;
    }
    let coeff = 2.0 * (TAU * freq / f64::from(sample_rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) / 32768.0 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = samples.len() as f64;
    power / (n * n)
}

/// The RMS level of `samples` relative to full scale (0.0–1.0).
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&x| {
            let v = f64::from(x) / 32768.0;
            v * v
        })
        .sum();
    (sum / samples.len() as f64).sqrt()
}

/// Whether `freq` is clearly present: its power is at least `fraction` of the block's total
/// power (a pure two-tone mix puts about half of the power in each component).
pub fn has_frequency(samples: &[i16], sample_rate: u32, freq: f64, fraction: f64) -> bool {
    let total = rms(samples).powi(2);
    if total == 0.0 {
        return false;
    }
    // A sine of amplitude A has power A²/2 (RMS²) and Goertzel power A²/4.
    goertzel_power(samples, sample_rate, freq) * 2.0 >= fraction * total
}
