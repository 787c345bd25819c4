//! Measuring tones, for tests (the `testing` feature): `offhook-dsp`'s analysis, with levels
//! relative to full scale (1.0 = a full-scale sample) as the tone tests state them.

pub use offhook_dsp::analysis::has_frequency;

/// Full scale in sample units.
const FULL_SCALE: f64 = 32768.0;

/// Power of `freq` in `samples`, normalised so a full-scale sine at exactly `freq` gives ~0.25
/// whatever the block length (amplitude² / 4).
pub fn goertzel_power(samples: &[i16], sample_rate: u32, freq: f64) -> f64 {
    offhook_dsp::analysis::goertzel_power(samples, sample_rate, freq) / FULL_SCALE.powi(2)
}

/// The RMS level of `samples` relative to full scale (0.0–1.0).
pub fn rms(samples: &[i16]) -> f64 {
    offhook_dsp::analysis::rms(samples) / FULL_SCALE
}
