//! A streaming windowed-sinc resampler for mono i16 audio between any two rates (the
//! device's 8/16/48 kHz and the codec's 8/48 kHz). Pure Rust, no allocation per sample.

use std::collections::VecDeque;

/// Zero crossings of the sinc kernel on each side.
const ZERO_CROSSINGS: usize = 12;

#[derive(Debug, Clone)]
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    /// Input samples not yet fully used, oldest first.
    history: VecDeque<f32>,
    /// Position of the next output sample, in input samples from the start of `history`.
    position: f64,
    step: f64,
    cutoff: f64,
    half_width: f64,
    pending: VecDeque<i16>,
}

impl Resampler {
    pub fn new(in_rate: u32, out_rate: u32) -> Self {
        let step = in_rate as f64 / out_rate as f64;
        // Low-pass just below the lower Nyquist frequency.
        let cutoff = (out_rate as f64 / in_rate as f64).min(1.0) * 0.92;
        let half_width = ZERO_CROSSINGS as f64 / cutoff;
        let mut history = VecDeque::new();
        // Start centred on silence so that the first output has full support.
        history.extend(std::iter::repeat_n(0.0, half_width.ceil() as usize));
        Resampler {
            in_rate,
            out_rate,
            position: half_width.ceil(),
            history,
            step,
            cutoff,
            half_width,
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
        let width = self.half_width;
        while self.position + width + 1.0 < self.history.len() as f64 {
            let centre = self.position;
            let first = (centre - width).ceil().max(0.0) as usize;
            let last = ((centre + width).floor() as usize).min(self.history.len() - 1);
            let mut acc = 0.0f64;
            for k in first..=last {
                let x = centre - k as f64;
                acc += self.history[k] as f64 * self.kernel(x);
            }
            self.pending
                .push_back(acc.round().clamp(i16::MIN as f64, i16::MAX as f64) as i16);
            self.position += self.step;
        }
        // Drop input no longer needed by the next output sample.
        let keep_from = (self.position - width).floor().max(0.0) as usize;
        if keep_from > 0 {
            self.history.drain(..keep_from.min(self.history.len()));
            self.position -= keep_from as f64;
        }
    }

    fn kernel(&self, x: f64) -> f64 {
        let c = self.cutoff;
        let sinc = if x.abs() < 1e-9 {
            1.0
        } else {
            (std::f64::consts::PI * c * x).sin() / (std::f64::consts::PI * c * x)
        };
        // Blackman window over [-width, width].
        let t = (x / self.half_width).clamp(-1.0, 1.0);
        let w = 0.42
            + 0.5 * (std::f64::consts::PI * t).cos()
            + 0.08 * (2.0 * std::f64::consts::PI * t).cos();
        c * sinc * w
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
