//! A streaming windowed-sinc resampler for mono i16 audio between any two rates (the
//! device's 8/16/48 kHz and the codec's 8/48 kHz). Pure Rust, no allocation per sample.
//!
//! Polyphase: with `in/out = M/L` in lowest terms, output sample positions fall on `L`
//! distinct fractions of an input sample, so the Blackman-windowed sinc is computed once per
//! fraction at construction and each output is a dot product with one row of that table.

use std::collections::VecDeque;

/// Zero crossings of the sinc kernel on each side.
const ZERO_CROSSINGS: usize = 12;
/// Above this many phases (odd rate pairs) the table would be large; such pairs are rounded
/// to the nearest of this many phases.
const MAX_PHASES: u64 = 512;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[derive(Debug, Clone)]
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    /// Input samples not yet fully used, oldest first.
    history: VecDeque<f32>,
    /// Position of the next output sample, in 1/`phases` of an input sample, from the start
    /// of `history`.
    position: u64,
    /// Advance per output sample, in the same unit.
    step: u64,
    phases: u64,
    /// Taps either side of the centre.
    half: usize,
    /// `phases` rows of `2 * half` coefficients; row `p` is the kernel for a centre `p/phases`
    /// past an input sample, taps from `-half + 1` to `+half` around it.
    table: Vec<f32>,
    pending: VecDeque<i16>,
}

impl Resampler {
    pub fn new(in_rate: u32, out_rate: u32) -> Self {
        let (i, o) = (in_rate.max(1) as u64, out_rate.max(1) as u64);
        let g = gcd(i, o);
        let (mut phases, mut step) = (o / g, i / g);
        if phases > MAX_PHASES {
            step = ((step as f64) * MAX_PHASES as f64 / phases as f64)
                .round()
                .max(1.0) as u64;
            phases = MAX_PHASES;
        }
        // Low-pass just below the lower Nyquist frequency.
        let cutoff = (o as f64 / i as f64).min(1.0) * 0.92;
        let half_width = ZERO_CROSSINGS as f64 / cutoff;
        let half = half_width.ceil() as usize;
        let mut table = Vec::with_capacity(phases as usize * 2 * half);
        for p in 0..phases {
            let frac = p as f64 / phases as f64;
            for j in 0..2 * half {
                // Tap j is input sample (index - half + 1 + j); its distance from the centre:
                let x = (half as f64 - 1.0 - j as f64) + frac;
                table.push(kernel(x, cutoff, half_width) as f32);
            }
        }
        let mut history = VecDeque::new();
        // Start centred on silence so that the first output has full support.
        history.extend(std::iter::repeat_n(0.0, half));
        Resampler {
            in_rate,
            out_rate,
            history,
            position: (half as u64) * phases,
            step,
            phases,
            half,
            table,
            pending: VecDeque::new(),
        }
    }

    pub fn rates(&self) -> (u32, u32) {
        (self.in_rate, self.out_rate)
    }

    /// Feeds input; resampled output accumulates for [`Resampler::take`].
    pub fn push(&mut self, input: &[i16]) {
        if self.in_rate == self.out_rate {
            self.pending.extend(input);
            return;
        }
        self.history.extend(input.iter().map(|s| *s as f32));
        self.history.make_contiguous();
        let taps = 2 * self.half;
        loop {
            let index = (self.position / self.phases) as usize;
            if index + self.half >= self.history.len() {
                break;
            }
            let phase = (self.position % self.phases) as usize;
            let row = &self.table[phase * taps..(phase + 1) * taps];
            let first = index + 1 - self.half;
            let (samples, _) = self.history.as_slices();
            let window = &samples[first..first + taps];
            let acc: f32 = window.iter().zip(row).map(|(s, c)| s * c).sum();
            self.pending
                .push_back(acc.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16);
            self.position += self.step;
        }
        // Drop input no longer needed by the next output sample.
        let index = (self.position / self.phases) as usize;
        let keep_from = (index + 1)
            .saturating_sub(self.half)
            .min(self.history.len());
        if keep_from > 0 {
            self.history.drain(..keep_from);
            self.position -= keep_from as u64 * self.phases;
        }
    }

    /// Number of output samples ready.
    pub fn available(&self) -> usize {
        self.pending.len()
    }

    /// Takes exactly `n` output samples if that many are ready.
    pub fn take(&mut self, n: usize) -> Option<Vec<i16>> {
        (self.pending.len() >= n).then(|| self.pending.drain(..n).collect())
    }
}

/// Blackman-windowed sinc with cut-off `c` (fraction of the input Nyquist), zero beyond `width`.
fn kernel(x: f64, c: f64, width: f64) -> f64 {
    if x.abs() >= width {
        return 0.0;
    }
    let sinc = if x.abs() < 1e-9 {
        1.0
    } else {
        (std::f64::consts::PI * c * x).sin() / (std::f64::consts::PI * c * x)
    };
    let t = x / width;
    let w = 0.42
        + 0.5 * (std::f64::consts::PI * t).cos()
        + 0.08 * (2.0 * std::f64::consts::PI * t).cos();
    c * sinc * w
}

/// Converts a whole signal in one go (tests, tone generation).
pub fn resample_all(input: &[i16], in_rate: u32, out_rate: u32) -> Vec<i16> {
    let mut r = Resampler::new(in_rate, out_rate);
    r.push(input);
    let n = r.available();
    r.take(n).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::{dominant_frequency, rms};

    fn tone(freq: f64, rate: u32, secs: f64) -> Vec<i16> {
        let n = (rate as f64 * secs) as usize;
        (0..n)
            .map(|i| {
                (10000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin())
                    as i16
            })
            .collect()
    }

    #[test]
    fn keeps_frequency_and_level_across_rates() {
        for (a, b) in [
            (48_000, 8000),
            (8000, 48_000),
            (16_000, 8000),
            (8000, 16_000),
            (48_000, 16_000),
            (16_000, 48_000),
        ] {
            let input = tone(1000.0, a, 0.5);
            let out = resample_all(&input, a, b);
            let expected = (input.len() as f64 * b as f64 / a as f64) as usize;
            assert!(
                out.len().abs_diff(expected) < b as usize / 50,
                "{a}->{b}: {} vs {expected}",
                out.len()
            );
            let tail = &out[out.len() / 4..];
            let f = dominant_frequency(tail, b);
            assert!((f - 1000.0).abs() < 15.0, "{a}->{b}: {f} Hz");
            let level = rms(tail);
            assert!((level - 7071.0).abs() < 700.0, "{a}->{b}: rms {level}");
        }
    }

    #[test]
    fn removes_what_the_lower_rate_cannot_carry() {
        // 6 kHz at 48 kHz must not alias into the 8 kHz output.
        let out = resample_all(&tone(6000.0, 48_000, 0.5), 48_000, 8000);
        assert!(rms(&out[400..]) < 300.0, "rms {}", rms(&out[400..]));
    }

    #[test]
    fn streaming_in_frames_equals_one_shot() {
        let input = tone(440.0, 48_000, 0.2);
        let mut r = Resampler::new(48_000, 8000);
        let mut streamed = Vec::new();
        for chunk in input.chunks(960) {
            r.push(chunk);
            let n = r.available();
            streamed.extend(r.take(n).unwrap());
        }
        assert_eq!(streamed, resample_all(&input, 48_000, 8000));
    }
}
