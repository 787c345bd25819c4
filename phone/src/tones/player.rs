//! Turns a [`ToneSpec`] into PCM: sample-exact cadences, short ramps so switching does not click.

use offhook_dsp::ToneGenerator;

use super::{Repeat, ToneSpec};

/// A sample rate the player cannot use (cadences are in milliseconds, so the rate must be a
/// whole number of samples per millisecond).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tone sample rate {0} Hz is not supported (use a multiple of 1000 Hz from 8000 to 96000)")]
pub struct ToneRateError(pub u32);

/// Plays one tone. Call [`TonePlayer::fill`] with 10 ms frames ([`TonePlayer::frame_len`]).
#[derive(Debug, Clone)]
pub struct TonePlayer {
    spec: ToneSpec,
    rate: u32,
    phase: usize,
    repetition: u32,
    segment: usize,
    /// In the "on" half of the current segment (else the "off" half).
    on: bool,
    /// Samples already played of the current half-step.
    position: u64,
    /// The current phase's frequencies, at unit amplitude.
    oscillators: ToneGenerator,
    finished: bool,
}

/// 0 dBm0 is 3.14 dB below a full-scale sine (the G.711 A-law convention; not π).
#[allow(clippy::approx_constant)]
const DBM0_BELOW_FULL_SCALE: f64 = 3.14;

/// Ramp up/down over this long at each burst edge (limited to a quarter of the burst).
const RAMP_MS: u64 = 2;

impl TonePlayer {
    pub fn new(spec: ToneSpec, sample_rate: u32) -> Result<TonePlayer, ToneRateError> {
        if !sample_rate.is_multiple_of(1000) || !(8000..=96000).contains(&sample_rate) {
            return Err(ToneRateError(sample_rate));
        }
        let mut player = TonePlayer {
            spec,
            rate: sample_rate,
            phase: 0,
            repetition: 0,
            segment: 0,
            on: true,
            position: 0,
            oscillators: ToneGenerator::new(sample_rate, &[], 1.0),
            finished: false,
        };
        player.enter_phase(0);
        Ok(player)
    }

    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Samples in one 10 ms frame.
    pub fn frame_len(&self) -> usize {
        (self.rate / 100) as usize
    }

    /// Whether the tone has ended (everything after is silence).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Writes the next `out.len()` samples (silence once finished).
    pub fn fill(&mut self, out: &mut [i16]) {
        for sample in out.iter_mut() {
            *sample = self.next_sample();
        }
    }

    /// The next 10 ms.
    pub fn next_frame(&mut self) -> Vec<i16> {
        let mut frame = vec![0; self.frame_len()];
        self.fill(&mut frame);
        frame
    }

    fn samples(&self, ms: u32) -> u64 {
        u64::from(ms) * u64::from(self.rate / 1000)
    }

    fn enter_phase(&mut self, index: usize) {
        self.phase = index;
        self.repetition = 0;
        self.segment = 0;
        self.on = true;
        self.position = 0;
        match self.spec.phases.get(index) {
            None => self.finished = true,
            Some(phase) => {
                let freqs: Vec<f64> = phase.freqs.iter().map(|f| f64::from(*f)).collect();
                self.oscillators = ToneGenerator::new(self.rate, &freqs, 1.0);
                let period: u64 = phase
                    .pattern
                    .iter()
                    .map(|s| u64::from(s.on_ms) + u64::from(s.off_ms))
                    .sum();
                let empty_run = matches!(phase.repeat, Repeat::Times(0))
                    || (!phase.pattern.is_empty() && period == 0);
                if empty_run {
                    self.enter_phase(index + 1);
                } else {
                    self.skip_empty_steps();
                }
            }
        }
    }

    /// Length of the current half-step in samples (`None` = forever).
    fn step_len(&self) -> Option<u64> {
        let phase = self.spec.phases.get(self.phase)?;
        let segment = phase.pattern.get(self.segment)?;
        Some(self.samples(if self.on {
            segment.on_ms
        } else {
            segment.off_ms
        }))
    }

    fn skip_empty_steps(&mut self) {
        while !self.finished && self.step_len() == Some(0) {
            self.next_step();
        }
    }

    fn next_step(&mut self) {
        self.position = 0;
        if self.on {
            self.on = false;
            return;
        }
        self.on = true;
        self.oscillators.restart();
        let Some(phase) = self.spec.phases.get(self.phase) else {
            self.finished = true;
            return;
        };
        self.segment += 1;
        if self.segment < phase.pattern.len() {
            return;
        }
        self.segment = 0;
        self.repetition += 1;
        if let Repeat::Times(n) = phase.repeat
            && self.repetition >= n
        {
            let next = self.phase + 1;
            self.enter_phase(next);
        }
    }

    fn next_sample(&mut self) -> i16 {
        if self.finished {
            return 0;
        }
        let Some(phase) = self.spec.phases.get(self.phase) else {
            self.finished = true;
            return 0;
        };
        let len = self.step_len();
        let value = if self.on {
            let amplitude =
                10f64.powf((f64::from(phase.level_dbm0) - DBM0_BELOW_FULL_SCALE) / 20.0) * 32767.0;
            let sum = self.oscillators.next_unit();
            let ramp = match len {
                Some(len) => (self.samples(RAMP_MS as u32)).min(len / 4).max(1),
                None => self.samples(RAMP_MS as u32),
            };
            let from_start = self.position as f64 / ramp as f64;
            let to_end = match len {
                Some(len) => (len - self.position) as f64 / ramp as f64,
                None => 1.0,
            };
            let gain = from_start.min(to_end).min(1.0);
            (sum * amplitude * gain)
                .round()
                .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
        } else {
            0
        };
        self.position += 1;
        if let Some(len) = len
            && self.position >= len
        {
            self.next_step();
            self.skip_empty_steps();
        }
        value
    }
}
