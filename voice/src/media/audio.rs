//! Where a call's audio comes from and goes to: mono 16-bit PCM at the device's rate.
//!
//! A call's media runs on the sound card's clock: an [`AudioPort`] hands over one capture
//! period at a time, and takes back the same length of earpiece audio. The firmware's port
//! is a pair of lock-free rings to its mixer (paced by ALSA); [`PacedPort`] turns a plain
//! [`AudioSource`]/[`AudioSink`] pair (tones, WAV files, recordings) into a port paced by
//! the monotonic clock, a stand-in for a card that has no clock of its own.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use offhook_dsp::ToneGenerator;
pub use offhook_dsp::wav::WavError;

use crate::model::CallId;

/// Why a call's audio could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Wav { path: PathBuf, source: WavError },
    /// The audio device refused (an implementation's own error as the source).
    #[error("audio device: {0}")]
    Device(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The microphone side of a call.
pub trait AudioSource: Send {
    /// Samples per second (8000, 16000 or 48000 are typical).
    fn sample_rate(&self) -> u32;
    /// Fills `frame` (20 ms at `sample_rate`) with the next samples. `false` when not enough
    /// were ready: the frame goes out as silence.
    fn read(&mut self, frame: &mut [i16]) -> bool;
}

/// The earpiece side of a call.
pub trait AudioSink: Send {
    fn sample_rate(&self) -> u32;
    /// Takes 20 ms of received audio at `sample_rate`.
    fn write(&mut self, frame: &[i16]);
}

/// One call's side of a sound card: the periods the card delivers, on its clock.
pub trait AudioPort: Send {
    /// Samples per second, both ways.
    fn sample_rate(&self) -> u32;
    /// Waits at most `timeout` for the next capture period and copies it into `mic`
    /// (at most `mic.len()` samples). Returns how many samples came: 0 when no period did.
    fn capture(&mut self, mic: &mut [i16], timeout: Duration) -> usize;
    /// The earpiece audio for the period just captured (the same length).
    fn play(&mut self, out: &[i16]);
}

/// Opens the audio for each call (the Device asks when a call's media starts).
pub trait AudioDevice: Send + Sync {
    fn open(&self, call: CallId) -> Result<Box<dyn AudioPort>, AudioError>;
}

/// The period of a [`PacedPort`].
pub const PACED_PERIOD: Duration = Duration::from_millis(20);
/// A paced port that fell this far behind (a suspended process) starts again from now
/// instead of delivering the missed periods in a burst.
const PACED_MAX_LAG: Duration = Duration::from_millis(200);

/// An [`AudioSource`] and an [`AudioSink`] as a port with 20 ms periods, paced by the
/// monotonic clock (absolute deadlines, so the rate does not drift with scheduling).
pub struct PacedPort {
    source: Box<dyn AudioSource>,
    sink: Box<dyn AudioSink>,
    next: Option<Instant>,
}

impl PacedPort {
    /// Both must run at the same rate (the source's is used).
    pub fn new(source: Box<dyn AudioSource>, sink: Box<dyn AudioSink>) -> Self {
        PacedPort {
            source,
            sink,
            next: None,
        }
    }

    fn period_samples(&self) -> usize {
        (self.source.sample_rate() as u128 * PACED_PERIOD.as_millis() / 1000) as usize
    }
}

impl AudioPort for PacedPort {
    fn sample_rate(&self) -> u32 {
        self.source.sample_rate()
    }

    fn capture(&mut self, mic: &mut [i16], timeout: Duration) -> usize {
        let now = Instant::now();
        let due = *self.next.get_or_insert(now);
        if due > now {
            if due - now > timeout {
                std::thread::sleep(timeout);
                return 0;
            }
            std::thread::sleep(due - now);
        }
        let next = due + PACED_PERIOD;
        self.next = Some(if now > next + PACED_MAX_LAG {
            now
        } else {
            next
        });
        let n = self.period_samples().min(mic.len());
        if !self.source.read(&mut mic[..n]) {
            mic[..n].fill(0);
        }
        n
    }

    fn play(&mut self, out: &[i16]) {
        self.sink.write(out);
    }
}

/// An [`AudioDevice`] without audio: calls send silence and play nowhere.
#[derive(Debug, Clone, Copy)]
pub struct SilentAudio(pub u32);

impl AudioDevice for SilentAudio {
    fn open(&self, _call: CallId) -> Result<Box<dyn AudioPort>, AudioError> {
        Ok(Box::new(PacedPort::new(
            Box::new(SilenceSource(self.0)),
            Box::new(NullSink(self.0)),
        )))
    }
}

/// A steady sine tone (test signal, or a "tone" caller).
pub struct ToneSource {
    rate: u32,
    tone: ToneGenerator,
}

impl ToneSource {
    pub fn new(rate: u32, freq: f64, amplitude: i16) -> Self {
        ToneSource {
            rate,
            tone: ToneGenerator::sine(rate, freq, f64::from(amplitude)),
        }
    }
}

impl AudioSource for ToneSource {
    fn sample_rate(&self) -> u32 {
        self.rate
    }
    fn read(&mut self, frame: &mut [i16]) -> bool {
        self.tone.fill(frame);
        true
    }
}

/// Silence.
pub struct SilenceSource(pub u32);

impl AudioSource for SilenceSource {
    fn sample_rate(&self) -> u32 {
        self.0
    }
    fn read(&mut self, frame: &mut [i16]) -> bool {
        frame.fill(0);
        true
    }
}

/// Keeps everything played, for inspection (shared with the test that made it).
#[derive(Clone)]
pub struct RecordingSink {
    rate: u32,
    samples: Arc<Mutex<Vec<i16>>>,
}

impl RecordingSink {
    pub fn new(rate: u32) -> Self {
        RecordingSink {
            rate,
            samples: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Everything recorded so far.
    pub fn samples(&self) -> Vec<i16> {
        self.samples.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The last `ms` milliseconds recorded.
    pub fn last_ms(&self, ms: u32) -> Vec<i16> {
        let all = self.samples();
        let n = (self.rate as usize * ms as usize / 1000).min(all.len());
        all[all.len() - n..].to_vec()
    }

    pub fn clear(&self) {
        if let Ok(mut s) = self.samples.lock() {
            s.clear();
        }
    }
}

impl AudioSink for RecordingSink {
    fn sample_rate(&self) -> u32 {
        self.rate
    }
    fn write(&mut self, frame: &[i16]) {
        if let Ok(mut s) = self.samples.lock() {
            s.extend_from_slice(frame);
        }
    }
}

/// Discards what it is given.
pub struct NullSink(pub u32);

impl AudioSink for NullSink {
    fn sample_rate(&self) -> u32 {
        self.0
    }
    fn write(&mut self, _frame: &[i16]) {}
}

/// A source reading a mono 16-bit WAV file, looping or ending in silence.
pub struct WavSource {
    rate: u32,
    samples: Vec<i16>,
    pos: usize,
    looping: bool,
}

impl WavSource {
    pub fn open(path: &Path, looping: bool) -> Result<Self, AudioError> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|source| AudioError::File {
                path: path.to_path_buf(),
                source,
            })?;
        let (rate, samples) = parse_wav(&bytes).map_err(|source| AudioError::Wav {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(WavSource {
            rate,
            samples,
            pos: 0,
            looping,
        })
    }
}

impl AudioSource for WavSource {
    fn sample_rate(&self) -> u32 {
        self.rate
    }
    fn read(&mut self, frame: &mut [i16]) -> bool {
        for s in frame.iter_mut() {
            if self.pos >= self.samples.len() {
                if self.looping && !self.samples.is_empty() {
                    self.pos = 0;
                } else {
                    *s = 0;
                    continue;
                }
            }
            *s = self.samples[self.pos];
            self.pos += 1;
        }
        true
    }
}

/// Parses a WAV file (PCM 8/16-bit, μ-law or A-law; the first channel if there are several).
pub fn parse_wav(bytes: &[u8]) -> Result<(u32, Vec<i16>), WavError> {
    offhook_dsp::wav::read(bytes).map(|wav| (wav.rate, wav.samples))
}

/// Encodes mono 16-bit PCM as a WAV file.
pub fn wav_bytes(rate: u32, samples: &[i16]) -> Vec<u8> {
    offhook_dsp::wav::write(rate, samples)
}

/// A sink writing a WAV file when dropped (and on `flush`).
pub struct WavSink {
    rate: u32,
    path: std::path::PathBuf,
    samples: Vec<i16>,
}

impl WavSink {
    pub fn create(path: &Path, rate: u32) -> Self {
        WavSink {
            rate,
            path: path.to_path_buf(),
            samples: Vec::new(),
        }
    }

    pub fn flush(&self) -> std::io::Result<()> {
        let mut f = std::fs::File::create(&self.path)?;
        f.write_all(&wav_bytes(self.rate, &self.samples))
    }
}

impl AudioSink for WavSink {
    fn sample_rate(&self) -> u32 {
        self.rate
    }
    fn write(&mut self, frame: &[i16]) {
        self.samples.extend_from_slice(frame);
    }
}

impl Drop for WavSink {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write WAV");
        }
    }
}

/// An [`AudioDevice`] that gives every call the same kind of source and a recording sink.
/// A test fixture: only with the `testing` feature.
#[cfg(any(test, feature = "testing"))]
pub struct TestAudio {
    pub rate: u32,
    /// Tone frequency for the microphone; `None` = silence.
    pub tone_hz: Option<f64>,
    pub sinks: Arc<Mutex<Vec<(CallId, RecordingSink)>>>,
}

#[cfg(any(test, feature = "testing"))]
impl TestAudio {
    pub fn new(rate: u32, tone_hz: Option<f64>) -> Self {
        TestAudio {
            rate,
            tone_hz,
            sinks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The recording sink of a call.
    pub fn sink(&self, call: CallId) -> Option<RecordingSink> {
        self.sinks
            .lock()
            .ok()?
            .iter()
            .find(|(c, _)| *c == call)
            .map(|(_, s)| s.clone())
    }
}

#[cfg(any(test, feature = "testing"))]
impl AudioDevice for TestAudio {
    fn open(&self, call: CallId) -> Result<Box<dyn AudioPort>, AudioError> {
        let source: Box<dyn AudioSource> = match self.tone_hz {
            Some(f) => Box::new(ToneSource::new(self.rate, f, 8000)),
            None => Box::new(SilenceSource(self.rate)),
        };
        let sink = RecordingSink::new(self.rate);
        if let Ok(mut s) = self.sinks.lock() {
            s.push((call, sink.clone()));
        }
        Ok(Box::new(PacedPort::new(source, Box::new(sink))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trip() {
        let samples: Vec<i16> = (0..1000).map(|i| (i * 7) as i16).collect();
        let bytes = wav_bytes(16_000, &samples);
        assert_eq!(parse_wav(&bytes).unwrap(), (16_000, samples));
        assert!(parse_wav(b"RIFF").is_err());
        assert!(parse_wav(&bytes[..50]).is_err());
    }

    #[test]
    fn wav_files_open_or_say_why_not() {
        let dir = std::env::temp_dir().join(format!("voice-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.wav");
        std::fs::write(&good, wav_bytes(8000, &[1, 2, 3])).unwrap();
        let mut source = WavSource::open(&good, true).unwrap();
        let mut frame = [0; 4];
        assert!(source.read(&mut frame));
        assert_eq!(frame, [1, 2, 3, 1]);
        let bad = dir.join("bad.wav");
        std::fs::write(&bad, b"RIFF").unwrap();
        let err = WavSource::open(&bad, false).err().unwrap();
        assert!(matches!(
            err,
            AudioError::Wav {
                source: WavError::NotWave,
                ..
            }
        ));
        let missing = WavSource::open(&dir.join("missing.wav"), false)
            .err()
            .unwrap();
        assert!(matches!(missing, AudioError::File { .. }), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn silent_audio_is_silent() {
        let mut port = SilentAudio(16_000).open(CallId(1)).unwrap();
        assert_eq!(port.sample_rate(), 16_000);
        let mut frame = [7i16; 320];
        // A paced port: the first period is due at once.
        assert_eq!(port.capture(&mut frame, Duration::from_secs(1)), 320);
        assert!(frame.iter().all(|s| *s == 0));
        port.play(&frame);
    }
}
