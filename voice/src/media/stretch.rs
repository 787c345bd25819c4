//! Drift-compensating playout on decoded PCM, NetEq-style and sans-IO.
//!
//! A sender whose clock runs ±300 ppm off makes the jitter buffer fill or drain slowly.
//! Instead of dropping or inserting whole frames, [`TimeStretch`] removes (accelerate) or
//! repeats (expand) one pitch period, found by a normalized cross-correlation search and
//! joined by a linear overlap-add, so the output has no hard splice. [`DriftControl`]
//! decides per output frame from the filtered buffer level against the jitter buffer's
//! target, with hysteresis so it does not oscillate. All buffers are allocated up front.

/// Shortest and longest pitch period searched (400 Hz .. 66 Hz).
const MIN_PERIOD_MS: u32 = 2;
const MAX_PERIOD_MS: u32 = 15;
/// A period is only removed or repeated where the signal is this self-similar (or quiet).
const MIN_CORRELATION: f32 = 0.6;
/// Below this mean square the segment is quiet and any period can go.
const QUIET_POWER: f32 = 100.0 * 100.0;

/// What one output frame does to the playout delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Normal,
    /// Remove a pitch period: the buffer runs above target.
    Accelerate,
    /// Insert a pitch period: the buffer runs below target.
    Expand,
}

/// Filtered buffer level against the target, with hysteresis.
#[derive(Debug, Clone)]
pub struct DriftControl {
    filtered_ms: Option<f64>,
    mode: Decision,
}

/// Level above target (ms) that starts accelerating, and where it stops again.
const ACCELERATE_ABOVE_MS: f64 = 40.0;
const ACCELERATE_UNTIL_MS: f64 = 15.0;
/// Level below target (ms) that starts expanding, and where it stops again.
const EXPAND_BELOW_MS: f64 = 20.0;
const EXPAND_UNTIL_MS: f64 = 5.0;
/// Smoothing of the level: about 50 frames (a second).
const LEVEL_ALPHA: f64 = 1.0 / 50.0;

impl Default for DriftControl {
    fn default() -> Self {
        Self::new()
    }
}

impl DriftControl {
    pub fn new() -> Self {
        Self {
            filtered_ms: None,
            mode: Decision::Normal,
        }
    }

    pub fn filtered_ms(&self) -> f64 {
        self.filtered_ms.unwrap_or(0.0)
    }

    /// A stretch changed the level by `delta_ms` at once: the filter must not lag behind
    /// it, or it keeps stretching for a whole filter time constant and overshoots.
    pub fn stretched(&mut self, delta_ms: f64) {
        if let Some(f) = self.filtered_ms.as_mut() {
            *f += delta_ms;
        }
    }

    /// One decision per output frame from the current level and the target delay.
    pub fn decide(&mut self, level_ms: f64, target_ms: f64) -> Decision {
        let filtered = match self.filtered_ms {
            Some(f) => f + LEVEL_ALPHA * (level_ms - f),
            None => level_ms,
        };
        self.filtered_ms = Some(filtered);
        let excess = filtered - target_ms;
        self.mode = match self.mode {
            Decision::Accelerate if excess > ACCELERATE_UNTIL_MS => Decision::Accelerate,
            Decision::Expand if excess < -EXPAND_UNTIL_MS => Decision::Expand,
            _ if excess > ACCELERATE_ABOVE_MS => Decision::Accelerate,
            _ if excess < -EXPAND_BELOW_MS => Decision::Expand,
            _ => Decision::Normal,
        };
        self.mode
    }
}

/// Counts of what the stretcher did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StretchStats {
    pub accelerated: u64,
    pub expanded: u64,
    /// Requests skipped because no self-similar period was found.
    pub skipped: u64,
}

/// Pending decoded PCM between the decoder and the fixed-size output frames.
#[derive(Debug)]
pub struct TimeStretch {
    frame_len: usize,
    min_period: usize,
    max_period: usize,
    pending: Vec<i16>,
    scratch: Vec<i16>,
    stats: StretchStats,
}

impl TimeStretch {
    /// `sample_rate` of the decoded PCM (8, 16 or 48 kHz); frames are 20 ms.
    pub fn new(sample_rate: u32) -> Self {
        let per_ms = (sample_rate / 1000).max(1) as usize;
        let frame_len = per_ms * 20;
        let max_period = per_ms * MAX_PERIOD_MS as usize;
        Self {
            frame_len,
            min_period: per_ms * MIN_PERIOD_MS as usize,
            max_period,
            pending: Vec::with_capacity(3 * frame_len + 2 * max_period),
            scratch: Vec::with_capacity(max_period),
            stats: StretchStats::default(),
        }
    }

    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    pub fn stats(&self) -> StretchStats {
        self.stats
    }

    /// Samples waiting to be played (part of the playout delay).
    pub fn pending_samples(&self) -> usize {
        self.pending.len()
    }

    /// Whether the next output frame needs another decoded frame first.
    pub fn needs_input(&self) -> bool {
        self.pending.len() < self.frame_len
    }

    /// Whether to decode another frame before applying `decision`: a stretch needs two
    /// maximum pitch periods beyond the frame it leaves to play.
    pub fn wants_input(&self, decision: Decision) -> bool {
        let lookahead = match decision {
            Decision::Normal => 0,
            Decision::Accelerate | Decision::Expand => 2 * self.max_period,
        };
        self.pending.len() < self.frame_len + lookahead
    }

    /// Appends one decoded frame.
    pub fn push(&mut self, pcm: &[i16]) {
        self.pending.extend_from_slice(pcm);
    }

    /// Applies `decision` to the pending samples; true if a period was removed or added.
    pub fn apply(&mut self, decision: Decision) -> bool {
        let done = match decision {
            Decision::Normal => return false,
            Decision::Accelerate => self.accelerate(),
            Decision::Expand => self.expand(),
        };
        if !done {
            self.stats.skipped += 1;
        }
        done
    }

    /// Takes one output frame into `out` (len `frame_len`); pads with the last sample
    /// faded to zero if not enough is pending (an underrun).
    pub fn pull(&mut self, out: &mut [i16]) {
        let n = out.len().min(self.pending.len());
        out[..n].copy_from_slice(&self.pending[..n]);
        let last = if n > 0 { out[n - 1] as f32 } else { 0.0 };
        let rest = out.len() - n;
        for (i, s) in out[n..].iter_mut().enumerate() {
            *s = (last * (1.0 - (i + 1) as f32 / rest as f32)) as i16;
        }
        self.pending.drain(..n);
    }

    /// Best period over the last `2 * period` pending samples: (period, correlation, power).
    fn search(&self) -> Option<(usize, f32)> {
        let len = self.pending.len();
        if len < 2 * self.max_period {
            return None;
        }
        let mut best: Option<(usize, f32)> = None;
        for period in self.min_period..=self.max_period {
            let a = &self.pending[len - 2 * period..len - period];
            let b = &self.pending[len - period..];
            let (mut ab, mut aa, mut bb) = (0f32, 0f32, 0f32);
            for (&x, &y) in a.iter().zip(b) {
                let (x, y) = (x as f32, y as f32);
                ab += x * y;
                aa += x * x;
                bb += y * y;
            }
            let power = (aa + bb) / (2 * period) as f32;
            let corr = if power < QUIET_POWER {
                1.0
            } else {
                ab / (aa * bb).sqrt().max(1.0)
            };
            if best.is_none_or(|(_, c)| corr > c) {
                best = Some((period, corr));
            }
        }
        best.filter(|&(_, c)| c >= MIN_CORRELATION)
    }

    /// Replaces the last two periods `a b` with one cross-fade from `a` into `b`.
    fn accelerate(&mut self) -> bool {
        let Some((period, _)) = self.search() else {
            return false;
        };
        let len = self.pending.len();
        let start = len - 2 * period;
        for i in 0..period {
            let w = (i + 1) as f32 / (period + 1) as f32;
            let a = self.pending[start + i] as f32;
            let b = self.pending[start + period + i] as f32;
            self.pending[start + i] = (a * (1.0 - w) + b * w) as i16;
        }
        self.pending.truncate(len - period);
        self.stats.accelerated += 1;
        true
    }

    /// Turns the last two periods `a b` into `a xfade(b→a) b`: one period longer.
    fn expand(&mut self) -> bool {
        let Some((period, _)) = self.search() else {
            return false;
        };
        let len = self.pending.len();
        let start = len - 2 * period;
        self.scratch.clear();
        self.scratch
            .extend_from_slice(&self.pending[len - period..]);
        for i in 0..period {
            let w = (i + 1) as f32 / (period + 1) as f32;
            let b = self.pending[len - period + i] as f32;
            let a = self.pending[start + i] as f32;
            self.pending[len - period + i] = (b * (1.0 - w) + a * w) as i16;
        }
        self.pending.extend_from_slice(&self.scratch);
        self.stats.expanded += 1;
        true
    }
}

#[cfg(test)]
mod tests;
