//! A streaming windowed-sinc resampler for mono audio, used when a device refuses our rate.
//!
//! 32 taps, 256 fractional phases (nearest phase, error ≤ 1/512 sample), cutoff at 92% of
//! the lower Nyquist frequency, Blackman window, unity DC gain. Integer ratios such as
//! 48 kHz → 16 kHz always hit phase 0 exactly. Added delay: 16 input samples.

const HALF_TAPS: usize = 16;
const TAPS: usize = 2 * HALF_TAPS;
const PHASES: usize = 256;

/// Converts a stream of samples from one rate to another.
#[derive(Debug, Clone)]
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    /// `PHASES + 1` rows of `TAPS` coefficients (the last row is phase 1.0).
    table: Vec<f32>,
    /// Unconsumed input, starting `HALF_TAPS - 1` samples before the current position.
    buf: Vec<f32>,
    /// Fractional part of the position, in units of 1/out_rate input samples.
    frac: u64,
}

impl Resampler {
    /// `None` when the rates are equal or zero (no resampling needed or possible).
    pub fn new(in_rate: u32, out_rate: u32) -> Option<Resampler> {
        if in_rate == out_rate || in_rate == 0 || out_rate == 0 {
            return None;
        }
        let cutoff = 0.92 * (out_rate as f64 / in_rate as f64).min(1.0);
        let mut table = Vec::with_capacity((PHASES + 1) * TAPS);
        for phase in 0..=PHASES {
            let frac = phase as f64 / PHASES as f64;
            let row: Vec<f64> = (0..TAPS)
                .map(|j| {
                    // Tap j multiplies input sample (position - HALF_TAPS + 1 + j).
                    let x = j as f64 - (HALF_TAPS as f64 - 1.0) - frac;
                    let sinc = if x.abs() < 1e-9 {
                        1.0
                    } else {
                        (std::f64::consts::PI * cutoff * x).sin()
                            / (std::f64::consts::PI * cutoff * x)
                    };
                    let w = x / HALF_TAPS as f64; // in [-1, 1]
                    let window = if w.abs() >= 1.0 {
                        0.0
                    } else {
                        0.42 + 0.5 * (std::f64::consts::PI * w).cos()
                            + 0.08 * (2.0 * std::f64::consts::PI * w).cos()
                    };
                    sinc * window
                })
                .collect();
            let sum: f64 = row.iter().sum();
            table.extend(row.iter().map(|c| (c / sum) as f32));
        }
        Some(Resampler {
            in_rate,
            out_rate,
            table,
            buf: vec![0.0; HALF_TAPS - 1],
            frac: 0,
        })
    }

    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// Feeds `input` and appends every output sample that can be computed to `output`.
    pub fn process(&mut self, input: &[i16], output: &mut Vec<i16>) {
        self.buf.extend(input.iter().map(|s| *s as f32));
        let step_int = (self.in_rate / self.out_rate) as usize;
        let step_frac = (self.in_rate % self.out_rate) as u64;
        let out_rate = self.out_rate as u64;
        // `pos` indexes `buf`: the current input sample is buf[pos + HALF_TAPS - 1].
        let mut pos = 0usize;
        while pos + TAPS <= self.buf.len() {
            let phase = ((self.frac * PHASES as u64 + out_rate / 2) / out_rate) as usize;
            let coeffs = &self.table[phase * TAPS..(phase + 1) * TAPS];
            let window = &self.buf[pos..pos + TAPS];
            let acc: f32 = coeffs.iter().zip(window).map(|(c, x)| c * x).sum();
            output.push(acc.round().clamp(i16::MIN as f32, i16::MAX as f32) as i16);
            pos += step_int;
            self.frac += step_frac;
            if self.frac >= out_rate {
                self.frac -= out_rate;
                pos += 1;
            }
        }
        self.buf.drain(..pos.min(self.buf.len()));
    }

    /// Output samples `input_len` more input samples would produce, at most (for buffers).
    pub fn max_output(&self, input_len: usize) -> usize {
        (input_len as u64 * self.out_rate as u64 / self.in_rate as u64) as usize + 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, freq: f64, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (10_000.0 * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin())
                    as i16
            })
            .collect()
    }

    /// Fraction of the signal's energy at `freq` (Goertzel against total energy).
    fn purity(samples: &[i16], rate: u32, freq: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / rate as f64;
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for x in samples {
            let s0 = *x as f64 + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
        let energy: f64 = samples.iter().map(|x| (*x as f64).powi(2)).sum();
        2.0 * power / (samples.len() as f64 * energy)
    }

    #[test]
    fn converts_rates_keeping_frequency_and_length() {
        for (from, to) in [
            (44_100, 48_000),
            (48_000, 16_000),
            (16_000, 48_000),
            (32_000, 44_100),
        ] {
            let mut r = Resampler::new(from, to).unwrap();
            let input = sine(from, 1000.0, from as usize); // 1 s
            let mut out = Vec::new();
            // Feed in odd-sized chunks, as periods of different devices would.
            for chunk in input.chunks(441) {
                r.process(chunk, &mut out);
            }
            // Short by the filter's look-ahead: 16 input samples, in output samples.
            let expected = to as usize;
            let lookahead = (HALF_TAPS + 1) * (to as usize).div_ceil(from as usize);
            assert!(
                out.len().abs_diff(expected) <= lookahead,
                "{from}->{to}: {} samples",
                out.len()
            );
            // Skip the filter's start-up, then the tone must be clean and at 1 kHz.
            let steady = &out[HALF_TAPS * 2..out.len() - HALF_TAPS];
            let p = purity(steady, to, 1000.0);
            assert!(p > 0.995, "{from}->{to}: purity {p}");
            let peak = steady.iter().map(|s| s.unsigned_abs()).max().unwrap();
            assert!(
                (9_800..=10_200).contains(&peak),
                "{from}->{to}: peak {peak}"
            );
        }
    }

    #[test]
    fn downsampling_removes_what_cannot_be_represented() {
        // 7 kHz cannot exist at 8 kHz: it must be filtered, not folded to 1 kHz.
        let mut r = Resampler::new(48_000, 8_000).unwrap();
        let mut out = Vec::new();
        r.process(&sine(48_000, 7000.0, 48_000), &mut out);
        let rms = (out.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / out.len() as f64).sqrt();
        assert!(rms < 300.0, "aliased energy rms {rms}");
    }

    #[test]
    fn same_rate_needs_no_resampler() {
        assert!(Resampler::new(48_000, 48_000).is_none());
        assert!(Resampler::new(0, 48_000).is_none());
    }
}
