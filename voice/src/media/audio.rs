//! Where a call's audio comes from and goes to: mono 16-bit PCM at the device's rate, in
//! 20 ms frames. ALSA (the `board` crate), files and memory all plug in here.

use std::f64::consts::PI;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::model::CallId;

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

/// Opens the audio for each call (the Device asks when a call's media starts).
pub trait AudioDevice: Send + Sync {
    fn open(&self, call: CallId) -> Result<(Box<dyn AudioSource>, Box<dyn AudioSink>), String>;
}

/// A steady sine tone (test signal, or a "tone" caller).
pub struct ToneSource {
    rate: u32,
    freq: f64,
    amplitude: f64,
    n: u64,
}

impl ToneSource {
    pub fn new(rate: u32, freq: f64, amplitude: i16) -> Self {
        ToneSource {
            rate,
            freq,
            amplitude: amplitude as f64,
            n: 0,
        }
    }
}

impl AudioSource for ToneSource {
    fn sample_rate(&self) -> u32 {
        self.rate
    }
    fn read(&mut self, frame: &mut [i16]) -> bool {
        for s in frame.iter_mut() {
            *s = (self.amplitude * (2.0 * PI * self.freq * self.n as f64 / self.rate as f64).sin())
                as i16;
            self.n += 1;
        }
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
    pub fn open(path: &Path, looping: bool) -> Result<Self, String> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let (rate, samples) = parse_wav(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
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

/// Parses a PCM WAV file (16-bit; the first channel if there are several).
pub fn parse_wav(bytes: &[u8]) -> Result<(u32, Vec<i16>), String> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let mut pos = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body_start = pos + 8;
        let body_end = body_start
            .checked_add(len)
            .filter(|e| *e <= bytes.len())
            .ok_or("truncated chunk")?;
        let body = &bytes[body_start..body_end];
        if id == b"fmt " {
            if body.len() < 16 {
                return Err("short fmt chunk".into());
            }
            let tag = u16::from_le_bytes([body[0], body[1]]);
            let channels = u16::from_le_bytes([body[2], body[3]]);
            let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            format = Some((tag, channels, rate, bits));
        } else if id == b"data" {
            let (tag, channels, rate, bits) = format.ok_or("data before fmt")?;
            if tag != 1 || bits != 16 || channels == 0 {
                return Err(format!(
                    "unsupported WAV format (tag {tag}, {bits} bits); need 16-bit PCM"
                ));
            }
            let step = 2 * channels as usize;
            let samples = body
                .chunks_exact(step)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return Ok((rate, samples));
        }
        pos = body_end + (len & 1);
    }
    Err("no data chunk".into())
}

/// Encodes mono 16-bit PCM as a WAV file.
pub fn wav_bytes(rate: u32, samples: &[i16]) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
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
pub struct TestAudio {
    pub rate: u32,
    /// Tone frequency for the microphone; `None` = silence.
    pub tone_hz: Option<f64>,
    pub sinks: Arc<Mutex<Vec<(CallId, RecordingSink)>>>,
}

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

impl AudioDevice for TestAudio {
    fn open(&self, call: CallId) -> Result<(Box<dyn AudioSource>, Box<dyn AudioSink>), String> {
        let source: Box<dyn AudioSource> = match self.tone_hz {
            Some(f) => Box::new(ToneSource::new(self.rate, f, 8000)),
            None => Box::new(SilenceSource(self.rate)),
        };
        let sink = RecordingSink::new(self.rate);
        if let Ok(mut s) = self.sinks.lock() {
            s.push((call, sink.clone()));
        }
        Ok((source, Box::new(sink)))
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
}
