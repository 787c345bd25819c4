//! What the lab hears on a leg: RMS level and dominant frequency (a Goertzel scan, from the
//! DSP crate), over a rolling window.

use offhook_dsp::analysis::dominant_frequency;
pub use offhook_dsp::analysis::level_dbfs;

use super::audio::RATE;

/// The analysis window: one second.
const WINDOW: usize = RATE as usize;
/// Levels below this count as silence (no dominant frequency is reported).
pub const SILENCE_DBFS: f32 = -60.0;

/// A rolling one-second window of received audio.
#[derive(Debug, Clone)]
pub struct Analyzer {
    ring: Vec<i16>,
    pos: usize,
    filled: usize,
    /// Samples since the last snapshot of the loudest window.
    since_check: usize,
    pub max_level_dbfs: f32,
    pub loudest_dominant_hz: Option<f32>,
}

impl Default for Analyzer {
    fn default() -> Self {
        Analyzer {
            ring: vec![0; WINDOW],
            pos: 0,
            filled: 0,
            since_check: 0,
            max_level_dbfs: -100.0,
            loudest_dominant_hz: None,
        }
    }
}

impl Analyzer {
    pub fn push(&mut self, samples: &[i16]) {
        for &s in samples {
            self.ring[self.pos] = s;
            self.pos = (self.pos + 1) % WINDOW;
        }
        self.filled = (self.filled + samples.len()).min(WINDOW);
        self.since_check += samples.len();
        // Every half second, remember the loudest full window heard so far.
        if self.since_check >= WINDOW / 2 && self.filled == WINDOW {
            self.since_check = 0;
            let level = self.level_dbfs();
            if level > self.max_level_dbfs {
                self.max_level_dbfs = level;
                self.loudest_dominant_hz = self.dominant_hz();
            }
        }
    }

    fn window(&self) -> Vec<i16> {
        let mut w = Vec::with_capacity(self.filled);
        let start = (self.pos + WINDOW - self.filled) % WINDOW;
        for i in 0..self.filled {
            w.push(self.ring[(start + i) % WINDOW]);
        }
        w
    }

    /// RMS of the window in dBFS (−100 for silence or no audio).
    pub fn level_dbfs(&self) -> f32 {
        level_dbfs(&self.window())
    }

    /// The strongest frequency of the window, 50–3950 Hz, if the window is not silent.
    pub fn dominant_hz(&self) -> Option<f32> {
        dominant_hz(&self.window())
    }
}

/// The strongest frequency, 50–3950 Hz, of at least 50 ms of audio that is not silent.
pub fn dominant_hz(samples: &[i16]) -> Option<f32> {
    if samples.len() < 400 || level_dbfs(samples) < SILENCE_DBFS {
        return None;
    }
    Some(dominant_frequency(samples, RATE) as f32)
}

#[cfg(test)]
mod tests {
    use super::super::audio::Tone;
    use super::*;

    #[test]
    fn finds_a_tone_and_its_level() {
        for hz in [440.0, 1000.0, 1633.0, 3000.0] {
            let mut samples = vec![0i16; 8000];
            Tone::new(&[hz], 0.5).fill(&mut samples);
            let found = dominant_hz(&samples).unwrap();
            assert!((found - hz).abs() <= 2.0, "{hz} -> {found}");
            // A sine at half scale is −9 dBFS RMS.
            assert!((level_dbfs(&samples) + 9.0).abs() < 0.5);
        }
        assert_eq!(dominant_hz(&[0; 8000]), None);
        assert_eq!(level_dbfs(&[0; 100]), -100.0);
    }

    #[test]
    fn analyzer_keeps_the_loudest_second() {
        let mut a = Analyzer::default();
        let mut tone = Tone::new(&[700.0], 0.5);
        for _ in 0..100 {
            let mut f = vec![0; 160];
            tone.fill(&mut f);
            a.push(&f);
        }
        for _ in 0..100 {
            a.push(&[0; 160]);
        }
        assert_eq!(a.level_dbfs(), -100.0);
        assert!(a.max_level_dbfs > -10.0);
        let hz = a.loudest_dominant_hz.unwrap();
        assert!((hz - 700.0).abs() <= 2.0);
    }
}
