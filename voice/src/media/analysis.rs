//! Signal measurements used by tests and by audio sinks that check what they hear: level
//! and dominant frequency.

/// Root-mean-square level.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

/// Peak absolute level, 0–32767 (the SDK's audio level scale).
pub fn peak(samples: &[i16]) -> u32 {
    samples
        .iter()
        .map(|s| s.unsigned_abs() as u32)
        .max()
        .unwrap_or(0)
        .min(32767)
}

/// Power of one frequency (Goertzel), normalised by length.
pub fn goertzel_power(samples: &[i16], rate: u32, freq: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * freq / rate as f64;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for x in samples {
        let s0 = *x as f64 + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    power / (samples.len() as f64).powi(2)
}

/// The strongest frequency between 50 Hz and 8 kHz (or the Nyquist limit): a coarse scan
/// over the first 100 ms, then a 1 Hz refinement over everything around the best bin.
pub fn dominant_frequency(samples: &[i16], rate: u32) -> f64 {
    let nyquist = rate as f64 / 2.0 - 50.0;
    // The coarse scan uses 100 ms (10 Hz resolution) so a 5 Hz step cannot miss a peak.
    let coarse_len = samples.len().min(rate as usize / 10);
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
    let coarse = best(&samples[..coarse_len], 50.0, nyquist.min(8000.0), 5.0);
    best(samples, (coarse - 10.0).max(1.0), coarse + 10.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_tone() {
        let tone: Vec<i16> = (0..8000)
            .map(|i| {
                (8000.0 * (2.0 * std::f64::consts::PI * 1234.0 * i as f64 / 8000.0).sin()) as i16
            })
            .collect();
        assert!((dominant_frequency(&tone, 8000) - 1234.0).abs() <= 2.0);
        assert!((rms(&tone) - 5657.0).abs() < 10.0);
        assert!(peak(&tone) >= 7990);
        assert_eq!(rms(&[]), 0.0);
    }
}
