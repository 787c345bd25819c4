//! Helpers shared by the ALSA tests: tones and their analysis.
#![allow(dead_code)]

use std::f64::consts::PI;

/// `n` samples of a sine at `freq` Hz, starting at sample `offset`.
pub fn tone(rate: u32, freq: f64, amplitude: f64, offset: usize, n: usize) -> Vec<i16> {
    (offset..offset + n)
        .map(|i| (amplitude * (2.0 * PI * freq * i as f64 / rate as f64).sin()) as i16)
        .collect()
}

/// Share of the signal's energy at `freq` (Goertzel power over total energy), 0–1.
pub fn purity(samples: &[i16], rate: u32, freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * PI * freq / rate as f64;
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for x in samples {
        let s0 = *x as f64 + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
    let energy: f64 = samples.iter().map(|x| (*x as f64).powi(2)).sum();
    if energy == 0.0 {
        return 0.0;
    }
    2.0 * power / (samples.len() as f64 * energy)
}

/// Frequency from rising zero crossings (interpolated), Hz.
pub fn zero_crossing_frequency(samples: &[i16], rate: u32) -> f64 {
    let mut crossings = Vec::new();
    for (i, w) in samples.windows(2).enumerate() {
        let (a, b) = (w[0] as f64, w[1] as f64);
        if a < 0.0 && b >= 0.0 {
            crossings.push(i as f64 + (-a) / (b - a));
        }
    }
    if crossings.len() < 2 {
        return 0.0;
    }
    let span = crossings[crossings.len() - 1] - crossings[0];
    (crossings.len() - 1) as f64 * rate as f64 / span
}

pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}
