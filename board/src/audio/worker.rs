//! The two audio threads. Each owns at most one open device, moves one period per loop
//! iteration, and handles route switches, xruns, lost devices (reopened with backoff) and
//! devices without a clock.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use alsa::Direction;

use super::Shared;
use super::device::{Device, IoFailure, Request, direction_name};
use super::resample::Resampler;
use super::stats::Counters;

/// How far an unpaced device may run ahead of real time before we pace it.
const MAX_LEAD: Duration = Duration::from_secs(1);

/// Exponential backoff between reopen attempts.
struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
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
struct Pacer {
    start: Instant,
    frames: u64,
    rate: u32,
}

impl Pacer {
    fn new(rate: u32) -> Self {
        Pacer {
            start: Instant::now(),
            frames: 0,
            rate,
        }
    }

    fn advance(&mut self, frames: usize) {
        self.frames += frames as u64;
    }

    /// When the audio moved so far is due, minus `lead`.
    fn due(&self, lead: Duration) -> Instant {
        let audio = Duration::from_micros(self.frames * 1_000_000 / self.rate.max(1) as u64);
        self.start + audio.saturating_sub(lead)
    }
}

/// The device a thread has open, with its converter to/from the stream rate.
struct Open {
    dev: Device,
    resampler: Option<Resampler>,
    /// Periods moved since this device was opened.
    periods: u64,
}

/// A device being opened on a helper thread.
struct Pending {
    name: String,
    handle: std::thread::JoinHandle<Result<Device, String>>,
}

/// Device management common to both directions.
struct Slot {
    dir: Direction,
    open: Option<Open>,
    pending: Option<Pending>,
    backoff: Backoff,
    next_attempt: Instant,
    last_failure: Option<String>,
    request: Request,
    stream_rate: u32,
}

impl Slot {
    fn new(shared: &Shared, dir: Direction) -> Self {
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
    fn follow_route(&mut self, wanted: &str, counters: &Counters) -> Option<Open> {
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
            let result = pending
                .handle
                .join()
                .unwrap_or_else(|_| Err("the opening thread panicked".into()));
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
                Err(message) => {
                    self.failed(wanted, message, counters);
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
    fn lost(&mut self, failure: IoFailure, counters: &Counters) {
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
    fn xrun(&mut self, counters: &Counters) {
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
        if let Err(m) = open.dev.recover() {
            self.lost(IoFailure::Gone(m), counters);
        }
    }
}

/// Moves the calling thread to SCHED_FIFO so UI work and builds cannot delay a period.
fn set_realtime(priority: u8, what: &str) {
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
fn stall_timeout(shared: &Shared, first: bool) -> Duration {
    let normal = (shared.config.period * 20).max(Duration::from_millis(200));
    if first {
        normal.max(Duration::from_secs(2))
    } else {
        normal
    }
}

pub(crate) fn capture(shared: Arc<Shared>, mut ring: rtrb::Producer<i16>) {
    set_realtime(shared.config.realtime_priority, "capture");
    let counters = &shared.capture;
    let period = shared.config.period_frames();
    let mut slot = Slot::new(&shared, Direction::Capture);
    let mut pacer = Pacer::new(shared.config.rate);
    let mut raw: Vec<i16> = Vec::new();
    let mut converted: Vec<i16> = Vec::new();
    let silence = vec![0i16; period];
    while !shared.stopped() {
        let wanted = shared.devices().capture.clone();
        if let Some(mut old) = slot.follow_route(&wanted, counters) {
            // Keep what the old device already captured.
            let readable = old.dev.readable();
            raw.clear();
            if readable >= old.dev.period_frames
                && old.dev.read_period(&mut raw, Duration::ZERO).is_ok()
            {
                push_converted(
                    &mut ring,
                    &raw,
                    old.resampler.as_mut(),
                    &mut converted,
                    counters,
                );
            }
            pacer = Pacer::new(shared.config.rate);
        }
        let moved = match slot.open.as_mut() {
            Some(open) => {
                raw.clear();
                let timeout = stall_timeout(&shared, open.periods == 0);
                match open.dev.read_period(&mut raw, timeout) {
                    Ok(_) => {
                        open.periods += 1;
                        counters.periods.fetch_add(1, Ordering::Relaxed);
                        counters
                            .delay_frames
                            .store(open.dev.delay_frames(), Ordering::Relaxed);
                        push_converted(
                            &mut ring,
                            &raw,
                            open.resampler.as_mut(),
                            &mut converted,
                            counters,
                        )
                    }
                    Err(IoFailure::Xrun) => {
                        slot.xrun(counters);
                        0
                    }
                    Err(f) => {
                        slot.lost(f, counters);
                        pacer = Pacer::new(shared.config.rate);
                        0
                    }
                }
            }
            None => {
                // No device: silence at real-time pace keeps the reader's rhythm.
                shared.sleep_until(pacer.due(Duration::ZERO));
                push(&mut ring, &silence, counters)
            }
        };
        if moved > 0 {
            shared.readable.notify_one();
        }
        pacer.advance(moved);
        let due = pacer.due(MAX_LEAD);
        if due > Instant::now() {
            shared.sleep_until(due);
        }
    }
}

fn push_converted(
    ring: &mut rtrb::Producer<i16>,
    raw: &[i16],
    resampler: Option<&mut Resampler>,
    converted: &mut Vec<i16>,
    counters: &Counters,
) -> usize {
    match resampler {
        Some(r) => {
            converted.clear();
            r.process(raw, converted);
            push(ring, converted, counters)
        }
        None => push(ring, raw, counters),
    }
}

/// Pushes what fits; the rest is dropped and counted (the reader is too slow).
fn push(ring: &mut rtrb::Producer<i16>, samples: &[i16], counters: &Counters) -> usize {
    let (pushed, dropped) = ring.push_partial_slice(samples);
    if !dropped.is_empty() {
        let n = counters
            .ring_shortfalls
            .fetch_add(dropped.len() as u64, Ordering::Relaxed);
        if n == 0 {
            tracing::warn!("capture ring full: the reader is not keeping up; dropping samples");
        }
    }
    pushed.len() + dropped.len()
}

pub(crate) fn playback(shared: Arc<Shared>, mut ring: rtrb::Consumer<i16>) {
    set_realtime(shared.config.realtime_priority, "playback");
    let counters = &shared.playback;
    let period = shared.config.period_frames();
    let mut slot = Slot::new(&shared, Direction::Playback);
    let mut pacer = Pacer::new(shared.config.rate);
    let mut block = vec![0i16; period];
    let mut converted: Vec<i16> = Vec::new();
    let mut last_full = false;
    while !shared.stopped() {
        let wanted = shared.devices().playback.clone();
        if let Some(old) = slot.follow_route(&wanted, counters) {
            // Let the old device play what it holds before the new one takes over.
            old.dev.drain();
            pacer = Pacer::new(shared.config.rate);
        }
        if let Some(open) = slot.open.as_mut()
            && open.periods == 0
        {
            // Prime a newly opened device with one period of silence: a cushion against
            // the first scheduling hiccup.
            let silence = vec![0i16; open.dev.period_frames];
            let _ = open.dev.write(&silence);
        }

        let taken = {
            let (popped, _) = ring.pop_partial_slice(&mut block);
            popped.len()
        };
        block[taken..].fill(0);
        if taken < period && last_full {
            counters.ring_shortfalls.fetch_add(1, Ordering::Relaxed);
        }
        last_full = taken == period;

        match slot.open.as_mut() {
            Some(open) => {
                let samples: &[i16] = match open.resampler.as_mut() {
                    Some(r) => {
                        converted.clear();
                        r.process(&block, &mut converted);
                        &converted
                    }
                    None => &block,
                };
                match open.dev.write(samples) {
                    Ok(()) => {
                        open.periods += 1;
                        counters.periods.fetch_add(1, Ordering::Relaxed);
                        counters
                            .delay_frames
                            .store(open.dev.delay_frames(), Ordering::Relaxed);
                    }
                    Err(IoFailure::Xrun) => {
                        slot.xrun(counters);
                        if let Some(open) = slot.open.as_mut() {
                            let silence = vec![0i16; open.dev.period_frames];
                            let _ = open.dev.write(&silence);
                        }
                    }
                    Err(f) => {
                        slot.lost(f, counters);
                        pacer = Pacer::new(shared.config.rate);
                    }
                }
            }
            None => {
                // No device: consume the ring at real-time pace so latency does not build up.
                shared.sleep_until(pacer.due(Duration::ZERO));
            }
        }
        pacer.advance(period);
        let due = pacer.due(MAX_LEAD);
        if due > Instant::now() {
            shared.sleep_until(due);
        }
    }
}
