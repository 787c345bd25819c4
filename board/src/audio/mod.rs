//! Audio: one std thread per direction doing blocking ALSA I/O paced by the device clock,
//! connected to the rest of the program by lock-free rings of mono `i16` samples.
//!
//! ```text
//!  microphone ─ALSA─▶ capture thread ─(resample)─▶ ring ─▶ CaptureStream  (voice encoder)
//!  earpiece   ◀─ALSA─ playback thread ◀─(resample)─ ring ◀─ PlaybackStream (jitter buffer)
//! ```
//!
//! - The stream rate is [`AudioConfig::rate`] (16 kHz or 48 kHz); if a device refuses it the
//!   thread runs the device at a rate it takes and resamples (or name a `plughw:` device).
//! - Two routes, [`Route::Handset`] and [`Route::Speaker`], each a capture/playback device
//!   pair; [`AudioIo::set_route`] switches at run time: the new device is opened before the
//!   old one is closed and the old playback device is drained, so the rings never stall.
//! - Overruns and underruns are recovered, counted and logged. A device that fails or
//!   disappears is closed and reopened with exponential backoff; meanwhile the capture ring
//!   gets silence and the playback ring is consumed, both at real-time pace, so readers and
//!   writers keep their rhythm and nothing spins.
//! - A device without a clock (ALSA `file`/`null` plugins) runs at most one second ahead of
//!   real time, then is paced by the monotonic clock.
//!
//! Submodules: `device` (opening and configuring a PCM, I/O, listing), [`resample`],
//! `slot` (device switching, failure and backoff, pacing), `worker` (the two threads),
//! `stats` (counters), `virtual_pulse` (a private PulseAudio for tests and benchmarks; a
//! fixture, with the `testing` feature only).

mod device;
pub mod resample;
mod slot;
mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod virtual_pulse;
mod worker;

pub use device::{AudioDevice, list_devices};
pub use slot::set_realtime;
pub use stats::{AudioStats, DirectionStats};

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{BoardError, Result};

/// A capture/playback device pair. An empty name means "no device" for that direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevicePair {
    pub capture: String,
    pub playback: String,
}

impl Default for DevicePair {
    fn default() -> Self {
        DevicePair {
            capture: "default".into(),
            playback: "default".into(),
        }
    }
}

/// Which device pair is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    #[default]
    Handset,
    Speaker,
}

/// Audio settings, from the board profile or the firmware's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AudioConfig {
    /// Stream rate of the rings, Hz: 16000 or 48000 (others work too).
    pub rate: u32,
    /// ALSA period (and ring granularity).
    #[serde(with = "crate::serde_ms::millis", rename = "period_ms")]
    pub period: Duration,
    /// Capture device buffer, in periods. Adds no latency (each period is read as soon as
    /// it is complete); a deeper buffer only rides out longer scheduling delays.
    pub capture_periods: u32,
    /// Playback device buffer, in periods: the main latency knob on the playback side.
    pub playback_periods: u32,
    /// Ring capacity in each direction.
    #[serde(with = "crate::serde_ms::millis", rename = "ring_ms")]
    pub ring: Duration,
    pub handset: DevicePair,
    pub speaker: DevicePair,
    pub route: Route,
    /// Run devices at this rate and resample (for devices that misbehave at `rate`).
    pub device_rate: Option<u32>,
    /// First retry delay after a device error; doubles up to `retry_max`.
    #[serde(with = "crate::serde_ms::millis", rename = "retry_ms")]
    pub retry: Duration,
    #[serde(with = "crate::serde_ms::millis", rename = "retry_max_ms")]
    pub retry_max: Duration,
    /// SCHED_FIFO priority for the two audio threads (1–99; 0 keeps normal scheduling).
    /// Needs root or CAP_SYS_NICE (systemd: `AmbientCapabilities=CAP_SYS_NICE`); without
    /// it the threads run normally and say so once in the log.
    pub realtime_priority: u8,
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            rate: 16_000,
            period: Duration::from_millis(10),
            capture_periods: 8,
            playback_periods: 3,
            ring: Duration::from_millis(200),
            handset: DevicePair::default(),
            speaker: DevicePair::default(),
            route: Route::Handset,
            device_rate: None,
            retry: Duration::from_millis(250),
            retry_max: Duration::from_secs(5),
            realtime_priority: 40,
        }
    }
}

impl AudioConfig {
    /// Samples per period at the stream rate.
    pub fn period_frames(&self) -> usize {
        (self.rate as u128 * self.period.as_micros() / 1_000_000) as usize
    }

    fn validate(&self) -> Result<()> {
        let bad = |message: String| BoardError::Audio {
            device: String::new(),
            direction: "config",
            message,
        };
        if !(8_000..=192_000).contains(&self.rate) {
            return Err(bad(format!("rate {} Hz is out of range", self.rate)));
        }
        if self.period < Duration::from_millis(2) || self.period > Duration::from_millis(100) {
            return Err(bad(format!("period {:?} must be 2–100 ms", self.period)));
        }
        if self.ring < self.period * 2 {
            return Err(bad("the ring must hold at least two periods".into()));
        }
        for name in [
            &self.handset.capture,
            &self.handset.playback,
            &self.speaker.capture,
            &self.speaker.playback,
        ] {
            if name.contains('\0') {
                return Err(bad(format!("device name {name:?} contains a NUL byte")));
            }
        }
        Ok(())
    }
}

/// State shared by the control handle and both threads.
pub(crate) struct Shared {
    pub config: AudioConfig,
    route: AtomicU8,
    stop: AtomicBool,
    pub capture: stats::Counters,
    pub playback: stats::Counters,
    /// Wakes sleeping threads on stop or route change.
    wake: (Mutex<u64>, Condvar),
    pub readable: Arc<Readable>,
}

/// Wakes the thread reading the capture ring when a period is pushed, without a lock: the
/// reader registers itself on its first wait and the capture thread unparks it.
#[derive(Debug, Default)]
pub struct Readable {
    reader: std::sync::OnceLock<std::thread::Thread>,
}

impl Readable {
    pub(crate) fn wake(&self) {
        if let Some(t) = self.reader.get() {
            t.unpark();
        }
    }

    fn wait(&self, timeout: Duration) {
        let me = std::thread::current();
        let reader = self.reader.get_or_init(|| me.clone());
        if reader.id() == me.id() {
            std::thread::park_timeout(timeout);
        } else {
            // Only the first reading thread is woken; another one polls.
            std::thread::sleep(timeout.min(Duration::from_millis(1)));
        }
    }
}

impl Shared {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    pub fn route(&self) -> Route {
        if self.route.load(Ordering::SeqCst) == 1 {
            Route::Speaker
        } else {
            Route::Handset
        }
    }

    pub fn devices(&self) -> &DevicePair {
        match self.route() {
            Route::Handset => &self.config.handset,
            Route::Speaker => &self.config.speaker,
        }
    }

    /// Sleeps until `deadline`, waking early on stop or route change.
    pub fn sleep_until(&self, deadline: Instant) {
        let (lock, cvar) = &self.wake;
        let mut generation = lock.lock().unwrap_or_else(|e| e.into_inner());
        let start = *generation;
        while *generation == start && !self.stopped() {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            generation = match cvar.wait_timeout(generation, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }

    fn wake_all(&self) {
        let (lock, cvar) = &self.wake;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        cvar.notify_all();
    }
}

/// The microphone side: mono samples at the stream rate, in order, as they are captured.
pub struct CaptureStream {
    consumer: rtrb::Consumer<i16>,
    readable: Arc<Readable>,
    rate: u32,
    period_frames: usize,
}

impl CaptureStream {
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Samples per period (10 ms by default).
    pub fn period_frames(&self) -> usize {
        self.period_frames
    }

    /// Samples waiting in the ring.
    pub fn available(&self) -> usize {
        self.consumer.slots()
    }

    /// Copies up to `out.len()` samples; returns how many. Never blocks.
    pub fn read(&mut self, out: &mut [i16]) -> usize {
        let (popped, _) = self.consumer.pop_partial_slice(out);
        popped.len()
    }

    /// Fills `out` completely if that many samples are waiting; otherwise takes nothing.
    pub fn read_exact(&mut self, out: &mut [i16]) -> bool {
        self.consumer.pop_entire_slice(out).is_ok()
    }

    /// Blocks until the capture thread has pushed more samples, or `timeout` passes (it may
    /// also return early: check [`CaptureStream::available`]). Meant for one reading thread.
    pub fn wait_readable(&self, timeout: Duration) {
        if self.consumer.slots() == 0 {
            self.readable.wait(timeout);
        }
    }

    /// The underlying ring, for callers that want rtrb's chunk API.
    pub fn consumer(&mut self) -> &mut rtrb::Consumer<i16> {
        &mut self.consumer
    }
}

/// The earpiece side: write mono samples at the stream rate. The playback thread takes one
/// period every period; keep about two periods queued (pull model: top up when
/// [`PlaybackStream::queued`] drops) so it never runs dry and latency stays low.
pub struct PlaybackStream {
    producer: rtrb::Producer<i16>,
    rate: u32,
    period_frames: usize,
}

impl PlaybackStream {
    pub fn rate(&self) -> u32 {
        self.rate
    }

    pub fn period_frames(&self) -> usize {
        self.period_frames
    }

    /// Free space in the ring, in samples.
    pub fn free(&self) -> usize {
        self.producer.slots()
    }

    /// Samples queued and not yet taken by the playback thread.
    pub fn queued(&self) -> usize {
        self.producer.buffer().capacity() - self.producer.slots()
    }

    /// Queues as many samples as fit; returns how many. Never blocks.
    pub fn write(&mut self, samples: &[i16]) -> usize {
        let (pushed, _) = self.producer.push_partial_slice(samples);
        pushed.len()
    }

    /// The underlying ring, for callers that want rtrb's chunk API.
    pub fn producer(&mut self) -> &mut rtrb::Producer<i16> {
        &mut self.producer
    }
}

/// Control over the running audio threads. Dropping it stops them.
pub struct AudioIo {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl AudioIo {
    /// Switches between handset and speaker devices without stopping the streams.
    pub fn set_route(&self, route: Route) {
        let v = match route {
            Route::Handset => 0,
            Route::Speaker => 1,
        };
        if self.shared.route.swap(v, Ordering::SeqCst) != v {
            tracing::info!(?route, "audio route");
            self.shared.wake_all();
        }
    }

    pub fn route(&self) -> Route {
        self.shared.route()
    }

    pub fn config(&self) -> &AudioConfig {
        &self.shared.config
    }

    pub fn stats(&self) -> AudioStats {
        AudioStats {
            capture: self.shared.capture.snapshot(),
            playback: self.shared.playback.snapshot(),
        }
    }

    /// Waits until every configured device of the current route is open; on timeout returns
    /// the last device error (for start-up messages and tests).
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let stats = self.stats();
            let devices = self.shared.devices();
            let capture_ok = devices.capture.is_empty() || stats.capture.device.is_some();
            let playback_ok = devices.playback.is_empty() || stats.playback.device.is_some();
            if capture_ok && playback_ok {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let (dir, name, s) = if capture_ok {
                    ("playback", &devices.playback, stats.playback)
                } else {
                    ("capture", &devices.capture, stats.capture)
                };
                return Err(BoardError::Audio {
                    device: name.clone(),
                    direction: dir,
                    message: s
                        .last_error
                        .unwrap_or_else(|| format!("not open after {timeout:?}")),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops both threads and closes the devices.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for AudioIo {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Running audio: the control handle and the two ring ends.
pub struct Audio {
    pub io: AudioIo,
    pub capture: CaptureStream,
    pub playback: PlaybackStream,
}

impl Audio {
    /// Starts the capture and playback threads. Missing devices are not an error here: they
    /// are retried in the background (see [`AudioIo::wait_ready`] and [`AudioIo::stats`]).
    pub fn start(config: AudioConfig) -> Result<Audio> {
        config.validate()?;
        let ring = ((config.rate as u128 * config.ring.as_micros()) / 1_000_000) as usize;
        let (cap_tx, cap_rx) = rtrb::RingBuffer::new(ring);
        let (play_tx, play_rx) = rtrb::RingBuffer::new(ring);
        let readable = Arc::new(Readable::default());
        let shared = Arc::new(Shared {
            route: AtomicU8::new(match config.route {
                Route::Handset => 0,
                Route::Speaker => 1,
            }),
            config,
            stop: AtomicBool::new(false),
            capture: Default::default(),
            playback: Default::default(),
            wake: (Mutex::new(0), Condvar::new()),
            readable: readable.clone(),
        });
        let rate = shared.config.rate;
        let period_frames = shared.config.period_frames();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map_err(|e| BoardError::io(format!("spawning {name}"), e))
        };
        let s = shared.clone();
        let capture = spawn(
            "audio-capture",
            Box::new(move || worker::capture(s, cap_tx)),
        )?;
        let s = shared.clone();
        let playback = spawn(
            "audio-playback",
            Box::new(move || worker::playback(s, play_rx)),
        )?;
        Ok(Audio {
            io: AudioIo {
                shared,
                threads: vec![capture, playback],
            },
            capture: CaptureStream {
                consumer: cap_rx,
                readable,
                rate,
                period_frames,
            },
            playback: PlaybackStream {
                producer: play_tx,
                rate,
                period_frames,
            },
        })
    }
}
