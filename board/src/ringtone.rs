//! A ring tone on a playback device (a loudspeaker instead of a buzzer): a sans-IO generator
//! of the cadenced tone, and a [`RingTone`] that plays it through its own ALSA playback
//! thread while ringing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use offhook_dsp::ToneGenerator;

use crate::audio::{Audio, AudioConfig, AudioIo, DevicePair};
use crate::cadence::Cadence;
use crate::error::{BoardError, Result};
use crate::indicators::RingTone;

/// Generates a cadenced multi-frequency ring tone, sample by sample.
#[derive(Debug, Clone)]
pub struct RingToneGenerator {
    rate: u32,
    tone: ToneGenerator,
    cadence: Cadence,
    position: u64,
    /// Whether the last sample was in a burst (each burst starts at phase zero).
    on: bool,
}

impl RingToneGenerator {
    /// `level` is the peak amplitude, 0–1, shared by the frequencies.
    pub fn new(rate: u32, frequencies: Vec<f32>, level: f32, cadence: Cadence) -> Self {
        let rate = rate.max(1);
        let freqs: Vec<f64> = frequencies.iter().map(|f| f64::from(*f)).collect();
        let share = f64::from(level.clamp(0.0, 1.0)) / freqs.len().max(1) as f64;
        RingToneGenerator {
            rate,
            tone: ToneGenerator::new(rate, &freqs, share * f64::from(i16::MAX)),
            cadence,
            position: 0,
            on: false,
        }
    }

    /// Fills `out` with the next samples.
    pub fn fill(&mut self, out: &mut [i16]) {
        for s in out.iter_mut() {
            let t = self.position as f64 / f64::from(self.rate);
            let on = self.cadence.is_on(Duration::from_secs_f64(t));
            if on && !self.on {
                self.tone.restart();
            }
            self.on = on;
            *s = if on { self.tone.next_sample() } else { 0 };
            self.position += 1;
        }
    }
}

/// Plays the ring tone on an ALSA playback device while ringing.
pub struct ToneRinger {
    device: String,
    frequencies: Vec<f32>,
    level: f32,
    rate: u32,
    running: Option<(AudioIo, Arc<AtomicBool>, JoinHandle<()>)>,
}

impl ToneRinger {
    pub fn new(device: impl Into<String>, frequencies: Vec<f32>, level: f32) -> Self {
        ToneRinger {
            device: device.into(),
            frequencies,
            level,
            rate: 48_000,
            running: None,
        }
    }
}

impl RingTone for ToneRinger {
    fn start(&mut self, cadence: &Cadence) -> Result<()> {
        self.stop()?;
        let config = AudioConfig {
            rate: self.rate,
            handset: DevicePair {
                capture: String::new(),
                playback: self.device.clone(),
            },
            speaker: DevicePair {
                capture: String::new(),
                playback: self.device.clone(),
            },
            ..AudioConfig::default()
        };
        let Audio { io, playback, .. } = Audio::start(config)?;
        let mut playback = playback;
        let stop = Arc::new(AtomicBool::new(false));
        let mut generator = RingToneGenerator::new(
            self.rate,
            self.frequencies.clone(),
            self.level,
            cadence.clone(),
        );
        let period = playback.period_frames();
        let flag = stop.clone();
        let feeder = std::thread::Builder::new()
            .name("ring-tone".into())
            .spawn(move || {
                let mut block = vec![0i16; period];
                while !flag.load(Ordering::Relaxed) {
                    while playback.queued() < 4 * period {
                        generator.fill(&mut block);
                        playback.write(&block);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
            .map_err(|e| BoardError::io("spawning the ring tone thread", e))?;
        self.running = Some((io, stop, feeder));
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        if let Some((io, stop, feeder)) = self.running.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = feeder.join();
            io.stop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tone_follows_the_cadence() {
        let mut g = RingToneGenerator::new(8000, vec![440.0, 480.0], 0.5, Cadence::uk());
        let mut buf = vec![0i16; 8000]; // 1 s
        g.fill(&mut buf);
        let rms = offhook_dsp::analysis::rms;
        assert!(rms(&buf[0..3200]) > 3000.0, "on for the first 400 ms");
        assert_eq!(rms(&buf[3200..4800]), 0.0, "off 400–600 ms");
        assert!(rms(&buf[4800..8000]) > 3000.0, "on again 600–1000 ms");
        let peak = buf.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!(peak <= (0.5 * 32767.0) as u16 + 1);
        assert!(offhook_dsp::analysis::has_frequency(
            &buf[..3200],
            8000,
            440.0,
            0.4
        ));
        assert!(offhook_dsp::analysis::has_frequency(
            &buf[..3200],
            8000,
            480.0,
            0.4
        ));
    }
}
