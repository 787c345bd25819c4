//! Tone generators: phase-continuous sine oscillators mixed equally — one tone, a dual tone
//! (DTMF, call progress), or any mix. What a tone *means* (cadences, levels per region)
//! belongs to the phone; this only makes the waveform.
//!
//! Phases are kept in cycles (0..1) in `f64`, so a tone stays exact over hours, and nothing
//! allocates after construction.

use std::f64::consts::TAU;

/// A mix of sines, each of the same peak amplitude.
#[derive(Debug, Clone, PartialEq)]
pub struct ToneGenerator {
    /// Per oscillator: the advance per sample and the phase, both in cycles.
    oscillators: Vec<(f64, f64)>,
    /// Peak amplitude of each component, in sample units.
    amplitude: f64,
}

impl ToneGenerator {
    /// Sines at `freqs` Hz at `rate`, each with peak `amplitude` (sample units: 32767 is full
    /// scale; the sum of several can clip, and is then clamped).
    pub fn new(rate: u32, freqs: &[f64], amplitude: f64) -> ToneGenerator {
        let rate = f64::from(rate.max(1));
        ToneGenerator {
            oscillators: freqs.iter().map(|f| (f / rate, 0.0)).collect(),
            amplitude,
        }
    }

    /// One sine.
    pub fn sine(rate: u32, freq: f64, amplitude: f64) -> ToneGenerator {
        ToneGenerator::new(rate, &[freq], amplitude)
    }

    /// Two sines, as DTMF and most call-progress tones are.
    pub fn dual(rate: u32, low: f64, high: f64, amplitude: f64) -> ToneGenerator {
        ToneGenerator::new(rate, &[low, high], amplitude)
    }

    /// The next value of the mix of unit sines (−n..n for n oscillators), for callers that
    /// shape the level themselves (ramps, cadences).
    pub fn next_unit(&mut self) -> f64 {
        let mut sum = 0.0;
        for (step, cycle) in &mut self.oscillators {
            sum += (*cycle * TAU).sin();
            *cycle = (*cycle + *step).fract();
        }
        sum
    }

    /// The next sample at the generator's amplitude.
    pub fn next_sample(&mut self) -> i16 {
        to_sample(self.next_unit() * self.amplitude)
    }

    /// Writes the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for s in out {
            *s = self.next_sample();
        }
    }

    /// Back to phase zero: a burst that starts with its sines rising from zero.
    pub fn restart(&mut self) {
        self.seek(0);
    }

    /// To the phase of sample `n` counted from phase zero (a writer that resumes where a
    /// short write stopped).
    pub fn seek(&mut self, n: u64) {
        for (step, cycle) in &mut self.oscillators {
            *cycle = (*step * n as f64).fract();
        }
    }
}

/// Rounds and clamps to a sample.
pub fn to_sample(value: f64) -> i16 {
    value
        .round()
        .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
}

/// `n` samples of a sine at `freq` Hz with peak `amplitude`, from phase zero.
pub fn sine(rate: u32, freq: f64, amplitude: f64, n: usize) -> Vec<i16> {
    let mut out = vec![0; n];
    ToneGenerator::sine(rate, freq, amplitude).fill(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_is_a_sine() {
        let s = sine(8000, 1000.0, 10_000.0, 8);
        // 1 kHz at 8 kHz: eight samples per cycle.
        let expected = [0, 7071, 10_000, 7071, 0, -7071, -10_000, -7071];
        assert_eq!(s, expected);
        // Phase-continuous across calls.
        let mut g = ToneGenerator::sine(8000, 1000.0, 10_000.0);
        let mut a = vec![0; 3];
        let mut b = vec![0; 5];
        g.fill(&mut a);
        g.fill(&mut b);
        assert_eq!([a, b].concat(), expected);
        g.restart();
        assert_eq!(g.next_sample(), 0);
        g.seek(6);
        assert_eq!(g.next_sample(), -10_000);
    }

    #[test]
    fn a_mix_clamps_instead_of_wrapping() {
        let mut g = ToneGenerator::new(8000, &[1000.0, 1000.0], 30_000.0);
        let mut s = vec![0; 8];
        g.fill(&mut s);
        assert_eq!(s[2], i16::MAX);
        assert_eq!(s[6], i16::MIN);
        assert_eq!(to_sample(1e9), i16::MAX);
    }

    #[test]
    fn stays_on_frequency_over_a_minute() {
        // The phase is reduced every sample, so it does not lose precision with time.
        let mut g = ToneGenerator::sine(48_000, 1000.0, 10_000.0);
        for _ in 0..48_000 * 60 {
            g.next_unit();
        }
        let mut s = vec![0; 48];
        g.fill(&mut s);
        assert_eq!(s[0].abs(), 0);
        assert_eq!(s[12], 10_000);
    }
}
