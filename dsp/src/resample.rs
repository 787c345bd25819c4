//! A streaming windowed-sinc resampler for mono `i16` audio between any two rates: the sound
//! card's when it refuses ours (44.1/48 kHz), the handset's 16/48 kHz, the codecs' 8/48 kHz.
//!
//! Polyphase: with `in/out = M/L` in lowest terms, output samples fall on `L` distinct
//! fractions of an input sample, so the Blackman-windowed sinc is computed once per fraction
//! at construction and each output is a dot product with one row of that table. Odd rate
//! pairs (more than [`MAX_EXACT_PHASES`] fractions, such as 11.025 → 48 kHz) use the nearest
//! of 256 phases instead (error ≤ 1/512 of a sample); the position itself is kept exactly, so
//! the output rate never drifts.
//!
//! The kernel spans [`ZERO_CROSSINGS`] zero crossings of the low-pass on each side, so that
//! a 6:1 downsampling filters as well as a 1:6 upsampling; the cut-off is at 92% of the lower
//! Nyquist frequency and every phase has unity DC gain. Output sample `k` is centred on input
//! position `k·M/L`; it is ready once [`Resampler::delay`] more input samples have arrived.
//!
//! Real-time use: [`Resampler::process`] appends to a caller's `Vec` and keeps its own input
//! buffer; once both have grown to a period's size nothing allocates.

/// Zero crossings of the sinc kernel on each side (at the low-pass cut-off).
pub const ZERO_CROSSINGS: f64 = 12.0;
/// Rate pairs with at most this many output fractions get an exact phase table.
pub const MAX_EXACT_PHASES: u64 = 512;
/// Phases of the table for other rate pairs (plus one row for a whole sample).
const INTERPOLATED_PHASES: u64 = 256;
/// The highest rate either side may have (the kernel's length grows with the ratio).
pub const MAX_RATE: u32 = 384_000;
/// Cut-off as a fraction of the lower of the two Nyquist frequencies.
const CUTOFF: f64 = 0.92;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Converts a stream of samples from one rate to another.
#[derive(Debug, Clone)]
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    /// Whole input samples the position advances per output sample.
    step_int: usize,
    /// And the fraction, in units of `1/den` of an input sample.
    step_frac: u64,
    /// `out_rate / gcd`: the denominator of every position.
    den: u64,
    /// Position of the next output past the current centre sample, in `1/den`.
    frac: u64,
    /// Whether row `frac` is exact (`den` rows) or the nearest of the 257 interpolated rows.
    exact: bool,
    /// Taps either side of the centre.
    half: usize,
    /// Rows of `2 * half` coefficients; a row's taps run from `-half + 1` to `+half` around
    /// the centre sample.
    table: Vec<f32>,
    /// Unused input; the current centre sample is `buf[half - 1]`.
    buf: Vec<f32>,
}

impl Resampler {
    /// `None` when the rates are equal (nothing to do), or either is zero or above
    /// [`MAX_RATE`] (nothing possible).
    pub fn new(in_rate: u32, out_rate: u32) -> Option<Resampler> {
        let possible = |rate| (1..=MAX_RATE).contains(&rate);
        if in_rate == out_rate || !possible(in_rate) || !possible(out_rate) {
            return None;
        }
        let (input, output) = (u64::from(in_rate), u64::from(out_rate));
        let g = gcd(input, output);
        let (m, den) = (input / g, output / g);
        let exact = den <= MAX_EXACT_PHASES;
        let rows = if exact { den } else { INTERPOLATED_PHASES + 1 };
        let cutoff = CUTOFF * (output as f64 / input as f64).min(1.0);
        let half = (ZERO_CROSSINGS / cutoff).ceil() as usize;
        let taps = 2 * half;
        let mut table = Vec::with_capacity(rows as usize * taps);
        let mut row = Vec::with_capacity(taps);
        for r in 0..rows {
            let fraction = if exact {
                r as f64 / den as f64
            } else {
                r as f64 / INTERPOLATED_PHASES as f64
            };
            row.clear();
            row.extend((0..taps).map(|j| {
                // Distance of tap j's input sample from the output position.
                let x = j as f64 - (half as f64 - 1.0) - fraction;
                kernel(x, cutoff, half as f64)
            }));
            let sum: f64 = row.iter().sum();
            table.extend(row.iter().map(|c| (c / sum) as f32));
        }
        let mut buf = Vec::with_capacity(taps + 4096);
        // Start on silence so that the first output is centred on the first input sample.
        buf.resize(half - 1, 0.0);
        Some(Resampler {
            in_rate,
            out_rate,
            step_int: (m / den) as usize,
            step_frac: m % den,
            den,
            frac: 0,
            exact,
            half,
            table,
            buf,
        })
    }

    pub fn in_rate(&self) -> u32 {
        self.in_rate
    }

    pub fn out_rate(&self) -> u32 {
        self.out_rate
    }

    /// Input samples an output sample waits for past its own position (the added latency).
    pub fn delay(&self) -> usize {
        self.half
    }

    /// Feeds `input` and appends every output sample that can be computed to `output`.
    pub fn process(&mut self, input: &[i16], output: &mut Vec<i16>) {
        self.buf.extend(input.iter().map(|s| f32::from(*s)));
        let taps = 2 * self.half;
        let mut pos = 0usize;
        while pos + taps <= self.buf.len() {
            let row = if self.exact {
                self.frac as usize
            } else {
                ((self.frac * INTERPOLATED_PHASES + self.den / 2) / self.den) as usize
            };
            let coeffs = &self.table[row * taps..(row + 1) * taps];
            let window = &self.buf[pos..pos + taps];
            let acc: f32 = coeffs.iter().zip(window).map(|(c, x)| c * x).sum();
            output.push(acc.round().clamp(f32::from(i16::MIN), f32::from(i16::MAX)) as i16);
            pos += self.step_int;
            self.frac += self.step_frac;
            if self.frac >= self.den {
                self.frac -= self.den;
                pos += 1;
            }
        }
        // The kernel is wider than a step (26 taps per unit of ratio), so `pos` never passes
        // the end of the buffer.
        self.buf.drain(..pos);
    }

    /// At most this many output samples come from `input_len` more input samples (to size
    /// buffers).
    pub fn max_output(&self, input_len: usize) -> usize {
        (input_len as u64 * u64::from(self.out_rate) / u64::from(self.in_rate)) as usize + 2
    }
}

/// Blackman-windowed sinc with cut-off `cutoff` (fraction of the input Nyquist frequency),
/// zero beyond `width` samples.
fn kernel(x: f64, cutoff: f64, width: f64) -> f64 {
    use std::f64::consts::PI;
    let t = x / width;
    if t.abs() >= 1.0 {
        return 0.0;
    }
    let sinc = if x.abs() < 1e-9 {
        1.0
    } else {
        (PI * cutoff * x).sin() / (PI * cutoff * x)
    };
    let window = 0.42 + 0.5 * (PI * t).cos() + 0.08 * (2.0 * PI * t).cos();
    sinc * window
}

/// Converts a whole signal in one go (files, tests): `len · out / in` samples, the filter's
/// tail flushed with silence.
pub fn resample_all(input: &[i16], in_rate: u32, out_rate: u32) -> Vec<i16> {
    let Some(mut resampler) = Resampler::new(in_rate, out_rate) else {
        return input.to_vec();
    };
    let expected = (input.len() as u64 * u64::from(out_rate) / u64::from(in_rate)) as usize;
    let mut out = Vec::with_capacity(expected + 2);
    resampler.process(input, &mut out);
    let tail = vec![0; resampler.delay() + 1];
    resampler.process(&tail, &mut out);
    out.truncate(expected);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{dominant_frequency, purity, rms};
    use crate::tone::sine;

    #[test]
    fn keeps_frequency_and_level_across_rates() {
        for (from, to) in [
            (48_000, 8000),
            (8000, 48_000),
            (16_000, 8000),
            (8000, 16_000),
            (48_000, 16_000),
            (16_000, 48_000),
            (44_100, 48_000),
            (32_000, 44_100),
            (11_025, 48_000),
        ] {
            let mut r = Resampler::new(from, to).unwrap();
            let input = sine(from, 1000.0, 10_000.0, from as usize); // 1 s
            let mut out = Vec::new();
            // Odd-sized chunks, as periods of different devices would come.
            for chunk in input.chunks(441) {
                r.process(chunk, &mut out);
            }
            // Short by the filter's look-ahead only: the rate is exact.
            let lookahead = (r.delay() + 1) * (to as usize).div_ceil(from as usize);
            assert!(
                out.len().abs_diff(to as usize) <= lookahead,
                "{from}->{to}: {} samples",
                out.len()
            );
            // Skip the filter's start-up, then the tone must be clean, at 1 kHz, at its level.
            let steady = &out[out.len() / 4..out.len() - r.delay()];
            let p = purity(steady, to, 1000.0);
            assert!(p > 0.995, "{from}->{to}: purity {p}");
            let f = dominant_frequency(steady, to);
            assert!((f - 1000.0).abs() < 15.0, "{from}->{to}: {f} Hz");
            let level = rms(steady);
            assert!((level - 7071.0).abs() < 300.0, "{from}->{to}: rms {level}");
            let peak = steady.iter().map(|s| s.unsigned_abs()).max().unwrap();
            assert!(
                (9_800..=10_200).contains(&peak),
                "{from}->{to}: peak {peak}"
            );
        }
    }

    #[test]
    fn removes_what_the_lower_rate_cannot_carry() {
        // 6 and 7 kHz cannot exist at 8 kHz: they must be filtered, not folded to 2 and 1 kHz.
        for hz in [6000.0, 7000.0] {
            let out = resample_all(&sine(48_000, hz, 10_000.0, 24_000), 48_000, 8000);
            let level = rms(&out[400..]);
            assert!(level < 300.0, "{hz} Hz: aliased rms {level}");
        }
    }

    #[test]
    fn streaming_in_frames_equals_one_shot() {
        let input = sine(48_000, 440.0, 10_000.0, 9600);
        let mut r = Resampler::new(48_000, 8000).unwrap();
        let mut streamed = Vec::new();
        for chunk in input.chunks(960) {
            r.process(chunk, &mut streamed);
        }
        let one_shot = resample_all(&input, 48_000, 8000);
        assert_eq!(one_shot.len(), 1600);
        assert_eq!(streamed[..], one_shot[..streamed.len()]);
    }

    #[test]
    fn integer_ratios_land_on_input_samples() {
        // 48 → 16 kHz: every output is centred on an input sample (phase 0), so an impulse
        // on such a sample comes out symmetric.
        let mut impulse = vec![0i16; 960];
        impulse[480] = 30_000;
        let out = resample_all(&impulse, 48_000, 16_000);
        assert!(out[160] > 0);
        for k in 1..20 {
            assert_eq!(out[160 - k], out[160 + k], "tap {k}");
        }
    }

    #[test]
    fn same_rate_needs_no_resampler() {
        assert!(Resampler::new(48_000, 48_000).is_none());
        assert!(Resampler::new(0, 48_000).is_none());
        assert!(Resampler::new(48_000, 0).is_none());
        assert!(Resampler::new(u32::MAX, 8000).is_none());
        assert_eq!(resample_all(&[1, 2, 3], 8000, 8000), vec![1, 2, 3]);
    }

    #[test]
    fn extreme_ratios_keep_time() {
        // A step of 96 samples still keeps time exactly, across chunk ends.
        let mut r = Resampler::new(96_000, 1000).unwrap();
        let mut out = Vec::new();
        for chunk in vec![0i16; 96_000].chunks(7) {
            r.process(chunk, &mut out);
        }
        // Short by the filter's look-ahead (1253 input samples, 13 outputs) and no more.
        let lookahead = r.delay().div_ceil(96) + 1;
        assert!(
            out.len() <= 1000 && 1000 - out.len() <= lookahead,
            "{}",
            out.len()
        );
    }
}
