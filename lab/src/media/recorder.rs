//! Recording a leg for `<Record>`: what the leg's party says, in 20 ms frames, until the
//! switch stops it or `timeout` of silence passes. Time is counted in the leg's 20 ms ticks
//! (so a party that sends nothing at all is silent too), audio in the frames it sends.

use std::time::Duration;

use super::analysis::level_dbfs;
use super::audio::{FRAME, RATE};

/// Frames quieter than this are silence: for the silence timeout, and what trimming cuts.
pub const SILENCE_DBFS: f32 = -45.0;

/// A tick's length: the legs' frame clock.
const TICK: Duration = Duration::from_millis(20);

#[derive(Debug)]
pub struct Recorder {
    pub token: u64,
    samples: Vec<i16>,
    max_samples: usize,
    /// Ticks of silence that end the recording (`None`: silence never does).
    silence_ticks: Option<u64>,
    /// Ticks since one that heard sound.
    quiet_ticks: u64,
    /// Sound arrived since the last tick.
    heard: bool,
    trim_silence: bool,
}

impl Recorder {
    pub fn new(
        token: u64,
        silence_timeout: Option<Duration>,
        max_length: Duration,
        trim_silence: bool,
    ) -> Self {
        let max_samples =
            usize::try_from(max_length.as_millis() * u128::from(RATE) / 1000).unwrap_or(usize::MAX);
        Recorder {
            token,
            samples: Vec::new(),
            max_samples,
            silence_ticks: silence_timeout
                .map(|t| (t.as_millis() / TICK.as_millis()).max(1) as u64),
            quiet_ticks: 0,
            heard: false,
            trim_silence,
        }
    }

    /// Audio from the leg's party (kept up to the maximum length).
    pub fn push(&mut self, frame: &[i16]) {
        let room = self.max_samples.saturating_sub(self.samples.len());
        self.samples
            .extend_from_slice(&frame[..frame.len().min(room)]);
        if level_dbfs(frame) >= SILENCE_DBFS {
            self.heard = true;
        }
    }

    /// 20 ms passed; true once that makes the silence timeout.
    pub fn tick(&mut self) -> bool {
        if std::mem::take(&mut self.heard) {
            self.quiet_ticks = 0;
        } else {
            self.quiet_ticks += 1;
        }
        self.silence_ticks.is_some_and(|n| self.quiet_ticks >= n)
    }

    /// Audio kept so far, ms.
    pub fn recorded_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / u64::from(RATE)
    }

    /// The recording, without leading and trailing silence when trimming was asked for.
    pub fn finish(self) -> Vec<i16> {
        if self.trim_silence {
            trim_silence(&self.samples).to_vec()
        } else {
            self.samples
        }
    }
}

/// `samples` from its first to its last 20 ms frame that is not silence (empty if all is).
pub fn trim_silence(samples: &[i16]) -> &[i16] {
    let loud = |c: &[i16]| level_dbfs(c) >= SILENCE_DBFS;
    let frames: Vec<&[i16]> = samples.chunks(FRAME).collect();
    let Some(first) = frames.iter().position(|c| loud(c)) else {
        return &[];
    };
    let last = frames.iter().rposition(|c| loud(c)).unwrap_or(first);
    let end = ((last + 1) * FRAME).min(samples.len());
    &samples[first * FRAME..end]
}

#[cfg(test)]
mod tests {
    use super::super::audio::Tone;
    use super::*;

    fn tone_frame(tone: &mut Tone) -> Vec<i16> {
        tone.frame()
    }

    #[test]
    fn silence_ends_it_after_the_timeout_and_speech_resets_the_count() {
        let mut r = Recorder::new(
            1,
            Some(Duration::from_secs(1)),
            Duration::from_secs(60),
            true,
        );
        let mut tone = Tone::new(&[440.0], 0.5);
        // 40 ticks of tone, 49 of silence: not yet.
        for _ in 0..40 {
            r.push(&tone_frame(&mut tone));
            assert!(!r.tick());
        }
        for _ in 0..49 {
            r.push(&[0; FRAME]);
            assert!(!r.tick());
        }
        // A loud frame starts the count again.
        r.push(&tone_frame(&mut tone));
        assert!(!r.tick());
        for _ in 0..49 {
            r.push(&[0; FRAME]);
            assert!(!r.tick());
        }
        assert!(r.tick(), "one second of silence");
        let audio = r.finish();
        assert_eq!(
            audio.len(),
            (40 + 49 + 1) * FRAME,
            "trailing silence trimmed, the rest kept"
        );
    }

    #[test]
    fn ticks_without_audio_count_as_silence() {
        let mut r = Recorder::new(
            1,
            Some(Duration::from_millis(200)),
            Duration::from_secs(9),
            true,
        );
        assert!((0..9).all(|_| !r.tick()));
        assert!(r.tick());
        assert!(r.finish().is_empty());
    }

    #[test]
    fn no_timeout_keeps_recording_up_to_the_maximum_length() {
        let mut r = Recorder::new(1, None, Duration::from_millis(100), false);
        for _ in 0..1000 {
            r.push(&[0; FRAME]);
            assert!(!r.tick());
        }
        assert_eq!(r.finish().len(), 800, "100 ms at 8 kHz, silence kept");
    }

    #[test]
    fn trimming_cuts_only_the_silent_ends() {
        let mut tone = vec![0i16; 800];
        Tone::new(&[1000.0], 0.5).fill(&mut tone);
        let mut samples = vec![0i16; 1600];
        samples.extend_from_slice(&tone);
        samples.extend(std::iter::repeat_n(0, 480));
        samples.extend_from_slice(&tone);
        samples.extend(std::iter::repeat_n(0, 1000));
        let trimmed = trim_silence(&samples);
        assert_eq!(trimmed.len(), 800 + 480 + 800);
        assert_eq!(trimmed[..800], tone[..]);
        assert!(trim_silence(&[0; 5000]).is_empty());
        assert!(trim_silence(&[]).is_empty());
    }
}
