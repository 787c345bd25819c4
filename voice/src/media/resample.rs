//! Resampling between the device's rate and the codec's, for whole frames: the DSP crate's
//! [`offhook_dsp::Resampler`] behind a push/take queue (and a pass-through when the rates
//! are equal), so that a frame at one rate becomes a frame at the other once enough input
//! has arrived.

pub use offhook_dsp::resample::resample_all;

/// Feeds frames at one rate and takes whole frames at another.
#[derive(Debug, Clone)]
pub struct Resampler {
    in_rate: u32,
    out_rate: u32,
    /// `None` when the rates are equal.
    inner: Option<offhook_dsp::Resampler>,
    /// Output not yet taken, oldest first.
    pending: Vec<i16>,
}

impl Resampler {
    pub fn new(in_rate: u32, out_rate: u32) -> Self {
        Resampler {
            in_rate,
            out_rate,
            inner: offhook_dsp::Resampler::new(in_rate, out_rate),
            pending: Vec::new(),
        }
    }

    pub fn rates(&self) -> (u32, u32) {
        (self.in_rate, self.out_rate)
    }

    /// Feeds input; resampled output accumulates for [`Resampler::take_into`].
    pub fn push(&mut self, input: &[i16]) {
        match &mut self.inner {
            Some(inner) => inner.process(input, &mut self.pending),
            None => self.pending.extend_from_slice(input),
        }
    }

    /// Number of output samples ready.
    pub fn available(&self) -> usize {
        self.pending.len()
    }

    /// Fills `out` with the next `out.len()` output samples if that many are ready (no
    /// allocation: the queue keeps its own).
    pub fn take_into(&mut self, out: &mut [i16]) -> bool {
        let n = out.len();
        if self.pending.len() < n {
            return false;
        }
        out.copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        true
    }

    /// Moves every ready output sample to the back of `out`.
    pub fn drain_into(&mut self, out: &mut std::collections::VecDeque<i16>) {
        out.extend(self.pending.drain(..));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::analysis::dominant_frequency;

    #[test]
    fn frames_in_become_frames_out() {
        let input = offhook_dsp::tone::sine(48_000, 440.0, 10_000.0, 9600);
        let mut r = Resampler::new(48_000, 8000);
        assert_eq!(r.rates(), (48_000, 8000));
        let mut out = Vec::new();
        for frame in input.chunks(960) {
            r.push(frame);
            let mut frame = [0i16; 160];
            while r.take_into(&mut frame) {
                out.extend(frame);
            }
        }
        // All but the filter's look-ahead came out, in whole frames.
        assert!(out.len() >= 1600 - 160 && out.len().is_multiple_of(160));
        assert!(r.available() < 160);
        assert!((dominant_frequency(&out, 8000) - 440.0).abs() < 5.0);
        assert_eq!(out[..], resample_all(&input, 48_000, 8000)[..out.len()]);
    }

    #[test]
    fn equal_rates_pass_through() {
        let mut r = Resampler::new(16_000, 16_000);
        r.push(&[1, 2, 3]);
        assert!(!r.take_into(&mut [0; 4]));
        let mut two = [0; 2];
        assert!(r.take_into(&mut two));
        assert_eq!(two, [1, 2]);
        assert_eq!(r.available(), 1);
    }
}
