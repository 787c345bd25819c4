//! The bench's mouth and ears: a signal (an aperiodic click train, or a tone) into the `mic`
//! sink, both `mic`'s monitor (the reference: what the phone's microphone hears) and `ear`'s
//! monitor (what its earpiece plays) recorded; each click's delay found by cross-correlation.
//!
//! The two recordings come through identical paths (a null sink's monitor, the ALSA pulse
//! plugin, the board's capture thread), so their capture latency cancels. Each recording's
//! time base is the lower envelope of `read time − samples read / rate` over all its reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use offhook_board::audio::{Audio, AudioConfig, DevicePair};
use offhook_e2e::real_handset::RATE;
use twilio_voice::media::analysis::{dominant_frequency, rms};

/// One click: a Hann-windowed linear chirp, 12 ms from 600 Hz to 3 kHz (inside PCMU's band).
fn click() -> Vec<i16> {
    let n = (RATE as usize * 12) / 1000;
    let (f0, f1) = (600.0, 3000.0);
    let dur = n as f64 / RATE as f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / RATE as f64;
            let phase = 2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) * t * t / (2.0 * dur));
            let window = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
            (12_000.0 * window * phase.sin()) as i16
        })
        .collect()
}

/// The click train: click, then 250–650 ms of silence (a fixed pseudo-random sequence, so no
/// two neighbouring intervals repeat and the correlation over a few clicks has one peak).
struct ClickTrain {
    click: Vec<i16>,
    pos: usize,
    next_gap: usize,
    seed: u32,
}

impl ClickTrain {
    fn new() -> ClickTrain {
        let mut t = ClickTrain {
            click: click(),
            pos: 0,
            next_gap: 0,
            seed: 0x9E37_79B9,
        };
        t.next_gap = t.gap();
        t
    }

    fn gap(&mut self) -> usize {
        // xorshift32
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 17;
        self.seed ^= self.seed << 5;
        let ms = 250 + (self.seed % 400) as usize;
        RATE as usize * ms / 1000
    }

    fn next(&mut self) -> i16 {
        let s = self.click.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        if self.pos >= self.click.len() + self.next_gap {
            self.pos = 0;
            self.next_gap = self.gap();
        }
        s
    }
}

/// A recording and its time base: sample `n` was captured at `base + offset + n / RATE`.
#[derive(Default, Clone)]
pub struct Track {
    pub samples: Vec<i16>,
    offset: Option<f64>,
}

impl Track {
    fn push(&mut self, read_at: f64, period: &[i16]) {
        self.samples.extend_from_slice(period);
        let start = read_at - self.samples.len() as f64 / RATE as f64;
        self.offset = Some(self.offset.map_or(start, |o| o.min(start)));
    }

    /// Seconds since the recorder's start at which sample `n` was captured.
    pub fn time_of(&self, n: usize) -> f64 {
        self.offset.unwrap_or(0.0) + n as f64 / RATE as f64
    }

    /// The sample index captured at `t` seconds since the recorder's start.
    pub fn index_at(&self, t: f64) -> i64 {
        ((t - self.offset.unwrap_or(0.0)) * RATE as f64).round() as i64
    }
}

#[derive(Default)]
struct Tracks {
    reference: Track,
    ear: Track,
}

/// What the probe plays into `mic`.
#[derive(Clone, Copy)]
pub enum Signal {
    Clicks,
    Tone(f64),
}

/// Plays a [`Signal`] into `mic` and records `mic` and `ear`'s monitors until dropped. ALSA
/// must already be configured for this process (`ALSA_CONFIG_PATH`).
pub struct Probe {
    start: Instant,
    tracks: Arc<Mutex<Tracks>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn config(capture: &str, playback: &str) -> AudioConfig {
    let pair = DevicePair {
        capture: capture.into(),
        playback: playback.into(),
    };
    AudioConfig {
        rate: RATE,
        playback_periods: 6,
        capture_periods: 12,
        // Real time where allowed, so that a loaded machine starves the phone, not the bench.
        realtime_priority: 30,
        ring: Duration::from_millis(500),
        handset: pair.clone(),
        speaker: pair,
        ..AudioConfig::default()
    }
}

impl Probe {
    pub fn start(signal: Signal) -> Result<Probe, String> {
        let mouth = Audio::start(config("mic_monitor", "mic")).map_err(|e| e.to_string())?;
        let ear = Audio::start(config("ear_monitor", "")).map_err(|e| e.to_string())?;
        for audio in [&mouth, &ear] {
            audio
                .io
                .wait_ready(Duration::from_secs(10))
                .map_err(|e| format!("the bench's audio devices: {e}"))?;
        }
        let start = Instant::now();
        let tracks = Arc::new(Mutex::new(Tracks::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (tracks.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let Audio {
                io: mouth_io,
                capture: mut reference,
                mut playback,
            } = mouth;
            let Audio {
                io: ear_io,
                capture: mut heard,
                ..
            } = ear;
            let period = reference.period_frames();
            let mut train = ClickTrain::new();
            let mut n = 0u64;
            let mut next = move || match signal {
                Signal::Clicks => train.next(),
                Signal::Tone(hz) => {
                    n += 1;
                    let t = n as f64 / RATE as f64;
                    (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16
                }
            };
            let mut buf = vec![0i16; period];
            while !s.load(Ordering::Relaxed) {
                while playback.free() >= period && playback.queued() < period * 3 {
                    let frame: Vec<i16> = (0..period).map(|_| next()).collect();
                    playback.write(&frame);
                }
                for (capture, is_ear) in [(&mut reference, false), (&mut heard, true)] {
                    while capture.read_exact(&mut buf) {
                        let now = start.elapsed().as_secs_f64();
                        let mut tracks = t.lock().unwrap_or_else(|p| p.into_inner());
                        let track = if is_ear {
                            &mut tracks.ear
                        } else {
                            &mut tracks.reference
                        };
                        track.push(now, &buf);
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            mouth_io.stop();
            ear_io.stop();
        });
        Ok(Probe {
            start,
            tracks,
            stop,
            thread: Some(thread),
        })
    }

    /// Seconds since the recorder started (the tracks' time base).
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// What the microphone and the earpiece carried between `from` and `to` (seconds on the
    /// tracks' time base).
    pub fn recorded(&self, from: f64, to: f64) -> (Vec<i16>, Vec<i16>) {
        let tracks = self.tracks.lock().unwrap_or_else(|p| p.into_inner());
        let cut = |track: &Track| {
            let len = track.samples.len() as i64;
            let a = track.index_at(from).clamp(0, len) as usize;
            let b = track.index_at(to).clamp(0, len) as usize;
            track.samples[a..b.max(a)].to_vec()
        };
        (cut(&tracks.reference), cut(&tracks.ear))
    }

    /// The recordings' extent, for a failure message.
    pub fn describe(&self) -> String {
        let tracks = self.tracks.lock().unwrap_or_else(|p| p.into_inner());
        let span = |t: &Track| format!("{:.1}-{:.1} s", t.time_of(0), t.time_of(t.samples.len()));
        format!(
            "microphone recorded {}, earpiece {} (now {:.1} s)",
            span(&tracks.reference),
            span(&tracks.ear),
            self.now()
        )
    }

    /// Waits until the last 400 ms of the earpiece carry `hz` (within 15 Hz, rms over 300).
    pub fn wait_to_hear(&self, hz: f64, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = self.now();
            let (_, heard) = self.recorded(now - 0.4, now);
            let (f, level) = (dominant_frequency(&heard, RATE), rms(&heard));
            if level > 300.0 && (f - hz).abs() < 15.0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "expected {hz} Hz in the earpiece within {timeout:?}, heard {f:.0} Hz at rms {level:.0}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The delay of every click the microphone heard between `from` and `to` (seconds on the
    /// tracks' time base) that came back in the earpiece.
    pub fn delays(&self, from: f64, to: f64) -> Delays {
        let tracks = self.tracks.lock().unwrap_or_else(|p| p.into_inner());
        measure(&tracks.reference, &tracks.ear, from, to)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What [`Probe::delays`] found.
pub struct Delays {
    /// Milliseconds, one per click matched.
    pub ms: Vec<f64>,
    /// Clicks sent in the window that were not found in the earpiece.
    pub missed: usize,
}

/// Longest mouth-to-ear delay searched for.
const MAX_DELAY_S: f64 = 1.5;
/// Envelope resolution for the coarse search: 1 ms.
const BIN: usize = RATE as usize / 1000;
/// The coarse search correlates ±0.7 s of envelope around a click (two or three clicks at
/// irregular spacing: one peak).
const CONTEXT_BINS: usize = 700;
/// The smallest normalized correlation of a matched click's waveform, and of the envelope
/// around it (all clicks look alike: only the envelope tells them apart).
const MIN_MATCH: f64 = 0.5;
const MIN_ENVELOPE_MATCH: f64 = 0.6;

fn envelope(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks(BIN)
        .map(|c| c.iter().map(|s| (*s as f64).abs()).sum::<f64>())
        .collect()
}

/// Onsets of the clicks in the reference: the first loud sample after 100 ms of quiet.
fn onsets(reference: &[i16]) -> Vec<usize> {
    let quiet = RATE as usize / 10;
    let mut out = Vec::new();
    let mut last_loud: Option<usize> = None;
    for (i, s) in reference.iter().enumerate() {
        if s.unsigned_abs() > 1500 {
            if last_loud.is_none_or(|l| i - l > quiet) {
                out.push(i);
            }
            last_loud = Some(i);
        }
    }
    out
}

fn normalized(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let ea: f64 = a.iter().map(|x| x * x).sum();
    let eb: f64 = b.iter().map(|x| x * x).sum();
    if ea == 0.0 || eb == 0.0 {
        0.0
    } else {
        dot / (ea * eb).sqrt()
    }
}

fn measure(reference: &Track, ear: &Track, from: f64, to: f64) -> Delays {
    let ref_env = envelope(&reference.samples);
    let ear_env = envelope(&ear.samples);
    let mut ms = Vec::new();
    let mut missed = 0;
    for onset in onsets(&reference.samples) {
        let t = reference.time_of(onset);
        if t < from || t > to {
            continue;
        }
        match match_click(reference, ear, &ref_env, &ear_env, onset) {
            Some(d) => ms.push(d * 1000.0),
            None => missed += 1,
        }
    }
    Delays { ms, missed }
}

/// The delay (seconds) of the click at `onset` in the reference, or None when the earpiece
/// does not carry it.
fn match_click(
    reference: &Track,
    ear: &Track,
    ref_env: &[f64],
    ear_env: &[f64],
    onset: usize,
) -> Option<f64> {
    let centre = onset / BIN;
    let lo = centre.checked_sub(CONTEXT_BINS)?;
    let window = ref_env.get(lo..centre + CONTEXT_BINS)?;
    // Ear bin holding what was captured at the same moment as reference bin `lo`.
    let ear_lo = ear.index_at(reference.time_of(lo * BIN)) / BIN as i64;
    let mut best = (f64::MIN, 0usize);
    for lag in 0..(MAX_DELAY_S * 1000.0) as usize {
        let start = ear_lo + lag as i64;
        if start < 0 {
            continue;
        }
        let Some(seg) = ear_env.get(start as usize..start as usize + window.len()) else {
            break;
        };
        let score = normalized(window, seg);
        if score > best.0 {
            best = (score, lag);
        }
    }
    if best.0 < MIN_ENVELOPE_MATCH {
        return None;
    }
    // Fine: the click's own waveform against the earpiece within ±3 ms of the coarse lag.
    let snippet: Vec<f64> = reference
        .samples
        .get(onset.checked_sub(BIN * 2)?..onset + BIN * 14)?
        .iter()
        .map(|s| *s as f64)
        .collect();
    let coarse = ear.index_at(reference.time_of(onset - BIN * 2)) + (best.1 * BIN) as i64;
    let mut fine = (f64::MIN, 0i64);
    for shift in -(BIN as i64 * 3)..=(BIN as i64 * 3) {
        let start = coarse + shift;
        if start < 0 {
            continue;
        }
        let Some(seg) = ear
            .samples
            .get(start as usize..start as usize + snippet.len())
        else {
            continue;
        };
        let seg: Vec<f64> = seg.iter().map(|s| *s as f64).collect();
        let score = normalized(&snippet, &seg).abs();
        if score > fine.0 {
            fine = (score, start);
        }
    }
    if fine.0 < MIN_MATCH {
        return None;
    }
    let sent = reference.time_of(onset - BIN * 2);
    Some(ear.time_of(fine.1 as usize) - sent)
}

/// The `p`-th percentile (0–100) of `values`, nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}
