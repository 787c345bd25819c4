//! What both audio threads share: the device slot (open, switch, fail, reopen with backoff),
//! pacing for devices without a clock, and real-time scheduling.

use std::time::{Duration, Instant};

use alsa::Direction;

use super::Shared;
use super::device::{Device, IoFailure, Request, direction_name};
use super::resample::Resampler;
use super::stats::Counters;
use crate::error::BoardError;
use std::sync::atomic::Ordering;

/// How far an unpaced device may run ahead of real time before we pace it.
pub(super) const MAX_LEAD: Duration = Duration::from_secs(1);

/// Exponential backoff between reopen attempts.
pub(super) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(super) fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            next: initial,
        }
    }

    fn reset(&mut self) {
        self.next = self.initial;
    }

    fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }
}

/// Compares audio time moved with wall time, to pace devices that have no clock.
pub(super) struct Pacer {
    start: Instant,
    frames: u64,
    rate: u32,
}

impl Pacer {
    pub(super) fn new(rate: u32) -> Self {
        Pacer {
            start: Instant::now(),
            frames: 0,
            rate,
        }
    }

    pub(super) fn advance(&mut self, frames: usize) {
        self.frames += frames as u64;
    }

    /// When the audio moved so far is due, minus `lead`.
    pub(super) fn due(&self, lead: Duration) -> Instant {
        let audio = Duration::from_micros(self.frames * 1_000_000 / self.rate.max(1) as u64);
        self.start + audio.saturating_sub(lead)
    }
}

/// The device a thread has open, with its converter to/from the stream rate.
pub(super) struct Open {
    pub(super) dev: Device,
    pub(super) resampler: Option<Resampler>,
    /// Periods moved since this device was opened.
    pub(super) periods: u64,
}

/// A device being opened on a helper thread.
pub(super) struct Pending {
    name: String,
    handle: std::thread::JoinHandle<Result<Device, BoardError>>,
}

/// Device management common to both directions.
pub(super) struct Slot {
    dir: Direction,
    pub(super) open: Option<Open>,
    pending: Option<Pending>,
    backoff: Backoff,
    next_attempt: Instant,
    last_failure: Option<String>,
    request: Request,
    stream_rate: u32,
}

impl Slot {
    pub(super) fn new(shared: &Shared, dir: Direction) -> Self {
        let c = &shared.config;
        Slot {
            dir,
            open: None,
            pending: None,
            backoff: Backoff::new(c.retry, c.retry_max),
            next_attempt: Instant::now(),
            last_failure: None,
            request: Request {
                rate: c.rate,
                forced_rate: c.device_rate,
                period: c.period,
                periods: match dir {
                    Direction::Capture => c.capture_periods,
                    Direction::Playback => c.playback_periods,
                },
            },
            stream_rate: c.rate,
        }
    }

    fn name(&self) -> &'static str {
        direction_name(self.dir)
    }

    /// Follows the route: opens its device (on a helper thread, so the current device keeps
    /// being serviced meanwhile) when it differs from the open one and a retry is due.
    /// Returns the device it replaced, still open, so the caller can drain it.
    pub(super) fn follow_route(&mut self, wanted: &str, counters: &Counters) -> Option<Open> {
        let current = self.open.as_ref().map(|o| o.dev.name.as_str());
        if current == Some(wanted) {
            return None;
        }
        if wanted.is_empty() {
            if let Some(old) = self.open.take() {
                tracing::info!(
                    "{}: route has no device; closing {}",
                    self.name(),
                    old.dev.name
                );
                counters.set_device(None);
                return Some(old);
            }
            return None;
        }
        if let Some(pending) = self.pending.take() {
            if !pending.handle.is_finished() {
                self.pending = Some(pending);
                return None;
            }
            let result = pending.handle.join().unwrap_or_else(|_| {
                Err(BoardError::AudioUnsupported("the opening thread panicked"))
            });
            if pending.name != wanted {
                // The route changed again while opening; this device is not wanted now.
                return None;
            }
            return match result.and_then(|dev| {
                if self.dir == Direction::Capture {
                    dev.start()?;
                }
                Ok(dev)
            }) {
                Ok(dev) => self.install(dev, counters),
                Err(e) => {
                    self.failed(wanted, e.to_string(), counters);
                    None
                }
            };
        }
        if Instant::now() >= self.next_attempt {
            let (name, dir, request) = (wanted.to_owned(), self.dir, self.request.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("audio-open-{}", self.name()))
                .spawn(move || Device::open(&name, dir, &request));
            match spawned {
                Ok(handle) => {
                    self.pending = Some(Pending {
                        name: wanted.to_owned(),
                        handle,
                    })
                }
                Err(e) => self.failed(wanted, format!("cannot spawn opener: {e}"), counters),
            }
        }
        None
    }

    fn install(&mut self, dev: Device, counters: &Counters) -> Option<Open> {
        tracing::info!(
            "{}: {} open at {} Hz, {} channel(s), period {} frames, buffer {} frames{}",
            self.name(),
            dev.name,
            dev.rate,
            dev.channels,
            dev.period_frames,
            dev.buffer_frames,
            if dev.rate != self.stream_rate {
                format!(" (resampling to/from {} Hz)", self.stream_rate)
            } else {
                String::new()
            }
        );
        counters.set_device(Some(dev.name.clone()));
        counters.device_rate.store(dev.rate, Ordering::Relaxed);
        counters
            .period_frames
            .store(dev.period_frames as u32, Ordering::Relaxed);
        counters
            .buffer_frames
            .store(dev.buffer_frames as u32, Ordering::Relaxed);
        self.backoff.reset();
        self.last_failure = None;
        let resampler = match self.dir {
            Direction::Capture => Resampler::new(dev.rate, self.stream_rate),
            Direction::Playback => Resampler::new(self.stream_rate, dev.rate),
        };
        self.open.replace(Open {
            dev,
            resampler,
            periods: 0,
        })
    }

    /// Records a failure of `device` and schedules the next attempt.
    fn failed(&mut self, device: &str, message: String, counters: &Counters) {
        let delay = self.backoff.step();
        let full = format!("{device}: {message}");
        if self.last_failure.as_deref() != Some(full.as_str()) {
            tracing::warn!(
                "{} device {full}; retrying in {delay:?} (with backoff)",
                self.name()
            );
        } else {
            tracing::debug!("{} device {full}; retrying in {delay:?}", self.name());
        }
        counters.error(full.clone());
        self.last_failure = Some(full);
        self.next_attempt = Instant::now() + delay;
    }

    /// Closes the open device after an I/O failure.
    pub(super) fn lost(&mut self, failure: IoFailure, counters: &Counters) {
        let Some(open) = self.open.take() else { return };
        counters.set_device(None);
        let message = match failure {
            IoFailure::Stalled => "stopped delivering periods (stalled)".to_owned(),
            IoFailure::Gone(m) => format!("lost ({m})"),
            IoFailure::Xrun => "could not recover from an xrun".to_owned(),
        };
        self.failed(&open.dev.name, message, counters);
    }

    /// Handles an xrun: count, log, re-prepare (or give the device up).
    pub(super) fn xrun(&mut self, counters: &Counters) {
        let n = counters.xruns.fetch_add(1, Ordering::Relaxed) + 1;
        let kind = match self.dir {
            Direction::Capture => "overrun",
            Direction::Playback => "underrun",
        };
        let Some(open) = self.open.as_ref() else {
            return;
        };
        tracing::warn!(
            "{} {kind} on {} (#{n}); recovering",
            self.name(),
            open.dev.name
        );
        if let Err(e) = open.dev.recover() {
            self.lost(IoFailure::Gone(e.to_string()), counters);
        }
    }
}

/// Moves the calling thread to SCHED_FIFO so UI work and builds cannot delay a period;
/// without the right (root or CAP_SYS_NICE) it keeps normal scheduling and says so.
pub fn set_realtime(priority: u8, what: &str) {
    if priority == 0 {
        return;
    }
    let param = libc::sched_param {
        sched_priority: i32::from(priority.min(99)),
    };
    // SAFETY: plain syscall on the current thread with a valid sched_param.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc == 0 {
        tracing::debug!("{what} thread at SCHED_FIFO priority {priority}");
    } else {
        tracing::info!(
            "{what} thread keeps normal scheduling (SCHED_FIFO {priority}: {})",
            std::io::Error::from_raw_os_error(rc)
        );
    }
}

/// Timeout for one period before a device counts as stalled. The first period after
/// opening gets longer: USB devices and sound servers can take a while to start streaming.
pub(super) fn stall_timeout(shared: &Shared, first: bool) -> Duration {
    let normal = (shared.config.period * 20).max(Duration::from_millis(200));
    if first {
        normal.max(Duration::from_secs(2))
    } else {
        normal
    }
}
