//! Counters shared between the audio threads and the rest of the program.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

/// A snapshot of one direction's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// The device in use, `None` while none is open (missing, unplugged, being retried).
    pub device: Option<String>,
    /// The rate the device runs at (differs from the stream rate when we resample).
    pub device_rate: u32,
    /// Device period and buffer, in device frames.
    pub period_frames: u32,
    pub buffer_frames: u32,
    /// Periods moved between device and ring.
    pub periods: u64,
    /// Capture overruns / playback underruns reported by ALSA (each recovered).
    pub xruns: u64,
    /// Device failures: open errors, disappearances, stalls.
    pub device_errors: u64,
    /// Capture: samples dropped because the ring was full (the reader is too slow).
    /// Playback: periods padded with silence because the ring ran dry mid-stream.
    pub ring_shortfalls: u64,
    /// Frames between the ring and the converter at the last period (ALSA delay).
    pub delay_frames: i64,
    /// The last device error, for display.
    pub last_error: Option<String>,
}

/// Capture and playback counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AudioStats {
    pub capture: DirectionStats,
    pub playback: DirectionStats,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub device: Mutex<Option<String>>,
    pub last_error: Mutex<Option<String>>,
    pub device_rate: AtomicU32,
    pub period_frames: AtomicU32,
    pub buffer_frames: AtomicU32,
    pub periods: AtomicU64,
    pub xruns: AtomicU64,
    pub device_errors: AtomicU64,
    pub ring_shortfalls: AtomicU64,
    pub delay_frames: AtomicI64,
}

fn lock<T: Clone>(m: &Mutex<T>) -> T {
    m.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Counters {
    pub fn set_device(&self, device: Option<String>) {
        *self.device.lock().unwrap_or_else(|e| e.into_inner()) = device;
    }

    pub fn error(&self, message: String) {
        self.device_errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    pub fn snapshot(&self) -> DirectionStats {
        DirectionStats {
            device: lock(&self.device),
            device_rate: self.device_rate.load(Ordering::Relaxed),
            period_frames: self.period_frames.load(Ordering::Relaxed),
            buffer_frames: self.buffer_frames.load(Ordering::Relaxed),
            periods: self.periods.load(Ordering::Relaxed),
            xruns: self.xruns.load(Ordering::Relaxed),
            device_errors: self.device_errors.load(Ordering::Relaxed),
            ring_shortfalls: self.ring_shortfalls.load(Ordering::Relaxed),
            delay_frames: self.delay_frames.load(Ordering::Relaxed),
            last_error: lock(&self.last_error),
        }
    }
}
