//! Measurements of mono `i16` audio: level (RMS, peak, dBFS), the power of one frequency
//! (Goertzel), how much of a signal is one frequency (purity), and the dominant frequency.
//! The lab reports these about every leg; tests check with them what a call carried.
//!
//! Levels are in sample units (a full-scale sine has an RMS of 23 170) unless the name says
//! dBFS.

use std::f64::consts::TAU;

/// What [`level_dbfs`] says for silence or no samples.
pub const SILENT_DBFS: f32 = -100.0;

/// Root-mean-square level, in sample units.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (energy(samples) / samples.len() as f64).sqrt()
}

fn energy(samples: &[i16]) -> f64 {
    samples.iter().map(|s| f64::from(*s).powi(2)).sum()
}

/// Peak absolute level, 0–32767 (the Voice SDK's audio level scale).
pub fn peak(samples: &[i16]) -> u32 {
    samples
        .iter()
        .map(|s| u32::from(s.unsigned_abs()))
        .max()
        .unwrap_or(0)
        .min(32767)
}

/// RMS level relative to full scale, in dB; [`SILENT_DBFS`] below −100 dBFS or for nothing.
pub fn level_dbfs(samples: &[i16]) -> f32 {
    let relative = rms(samples) / 32768.0;
    if relative <= 1e-5 {
        SILENT_DBFS
    } else {
        (20.0 * relative.log10()) as f32
    }
}

/// Power of one frequency (Goertzel), normalised by the length squared: a sine of amplitude
/// `A` exactly at `freq` gives about `A² / 4` whatever the block's length.
pub fn goertzel_power(samples: &[i16], rate: u32, freq: f64) -> f64 {
    if samples.is_empty() || rate == 0 {
        return 0.0;
    }
    let coeff = 2.0 * (TAU * freq / f64::from(rate)).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for x in samples {
        let s0 = f64::from(*x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (samples.len() as f64).powi(2)
}

/// The share of the signal's power at `freq`, 0–1: a pure sine at `freq` gives 1, each
/// component of an even two-tone mix about ½.
pub fn purity(samples: &[i16], rate: u32, freq: f64) -> f64 {
    let total = rms(samples).powi(2);
    if total == 0.0 {
        return 0.0;
    }
    // A sine of amplitude A has power A²/2 (RMS²) and Goertzel power A²/4.
    2.0 * goertzel_power(samples, rate, freq) / total
}

/// Whether `freq` is clearly present: at least `fraction` of the signal's power (never in
/// silence).
pub fn has_frequency(samples: &[i16], rate: u32, freq: f64, fraction: f64) -> bool {
    rms(samples) > 0.0 && purity(samples, rate, freq) >= fraction
}

/// The strongest frequency between 50 Hz and 8 kHz (or the Nyquist frequency): a 5 Hz scan
/// over the loudest 100 ms (10 Hz resolution, so no peak falls between two steps), then a
/// 1 Hz refinement over everything around the best step. 0 for fewer than 2 samples.
pub fn dominant_frequency(samples: &[i16], rate: u32) -> f64 {
    if samples.len() < 2 || rate == 0 {
        return 0.0;
    }
    let top = (f64::from(rate) / 2.0 - 50.0).min(8000.0);
    let block = samples.len().min(rate as usize / 10).max(1);
    // The loudest block: a leg's audio often starts or ends with silence.
    let loudest = samples
        .chunks(block)
        .filter(|c| c.len() == block)
        .max_by(|a, b| energy(a).total_cmp(&energy(b)))
        .unwrap_or(samples);
    let best = |window: &[i16], from: f64, to: f64, step: f64| {
        let mut f = from;
        let mut best = (from, -1.0);
        while f <= to {
            let p = goertzel_power(window, rate, f);
            if p > best.1 {
                best = (f, p);
            }
            f += step;
        }
        best.0
    };
    let coarse = best(loudest, 50.0, top, 5.0);
    best(samples, (coarse - 10.0).max(1.0), coarse + 10.0, 1.0)
}

/// Frequency from rising zero crossings (interpolated), Hz; 0 without two crossings. Exact
/// for one clean tone, whatever the block's length; no use for mixtures.
pub fn zero_crossing_frequency(samples: &[i16], rate: u32) -> f64 {
    let mut first = None;
    let mut last = 0.0;
    let mut count = 0usize;
    for (i, w) in samples.windows(2).enumerate() {
        let (a, b) = (f64::from(w[0]), f64::from(w[1]));
        if a < 0.0 && b >= 0.0 {
            let at = i as f64 + (-a) / (b - a);
            first.get_or_insert(at);
            last = at;
            count += 1;
        }
    }
    match first {
        Some(first) if count >= 2 && last > first => {
            (count - 1) as f64 * f64::from(rate) / (last - first)
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::{ToneGenerator, sine};

    #[test]
    fn finds_the_tone_and_its_level() {
        let tone = sine(8000, 1234.0, 8000.0, 8000);
        assert!((dominant_frequency(&tone, 8000) - 1234.0).abs() <= 2.0);
        assert!((zero_crossing_frequency(&tone, 8000) - 1234.0).abs() < 0.5);
        assert!((rms(&tone) - 5657.0).abs() < 10.0);
        assert!(peak(&tone) >= 7990);
        assert_eq!(rms(&[]), 0.0);
        assert_eq!(peak(&[i16::MIN]), 32767);
        assert_eq!(dominant_frequency(&[], 8000), 0.0);
        assert_eq!(zero_crossing_frequency(&[0; 100], 8000), 0.0);
    }

    #[test]
    fn finds_tones_at_every_rate_and_after_silence() {
        for rate in [8000, 16_000, 48_000] {
            for hz in [440.0, 1000.0, 1633.0, 3000.0] {
                // Half silence, then the tone: the scan must look where the sound is.
                let mut samples = vec![0i16; rate as usize / 2];
                samples.extend(sine(rate, hz, 16_384.0, rate as usize / 2));
                let found = dominant_frequency(&samples, rate);
                assert!((found - hz).abs() <= 2.0, "{hz} Hz at {rate}: {found}");
            }
        }
    }

    #[test]
    fn levels_in_dbfs() {
        // A sine at half scale is −9 dBFS RMS.
        let half_scale = sine(8000, 1000.0, 16_384.0, 8000);
        assert!((level_dbfs(&half_scale) + 9.0).abs() < 0.5);
        assert_eq!(level_dbfs(&[0; 100]), SILENT_DBFS);
        assert_eq!(level_dbfs(&[]), SILENT_DBFS);
    }

    #[test]
    fn goertzel_and_purity() {
        // Full-scale sine: Goertzel power A²/4, whatever the length.
        for n in [800, 8000] {
            let s = sine(8000, 1000.0, 32_767.0, n);
            let p = goertzel_power(&s, 8000, 1000.0) / 32_767f64.powi(2);
            assert!((p - 0.25).abs() < 0.01, "{n}: {p}");
            assert!(purity(&s, 8000, 1000.0) > 0.99);
            assert!(purity(&s, 8000, 1300.0) < 0.01);
        }
        // A dual tone puts about half of its power in each component.
        let mut dual = ToneGenerator::dual(8000, 697.0, 1209.0, 8000.0);
        let mut s = vec![0; 8000];
        dual.fill(&mut s);
        for f in [697.0, 1209.0] {
            let p = purity(&s, 8000, f);
            assert!((p - 0.5).abs() < 0.02, "{f}: {p}");
            assert!(has_frequency(&s, 8000, f, 0.4));
        }
        assert!(!has_frequency(&s, 8000, 941.0, 0.1));
        assert!(!has_frequency(&[0; 100], 8000, 941.0, 0.0));
        assert_eq!(goertzel_power(&[], 8000, 1000.0), 0.0);
    }
}
