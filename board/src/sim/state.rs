//! State shared by the simulator's threads, and its line log.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cadence::Cadence;
use crate::display::Frame;
use crate::led::{Led, LedMode};

/// Lines kept in memory for [`super::SimHandle::log_lines`].
const LOG_MEMORY: usize = 10_000;
/// Lines kept in memory when they also go to a sink (stdout, a file), where the whole log
/// already is: a phone run for days must not hold ~1 MB of it.
const LOG_MEMORY_WITH_SINK: usize = 1_000;

/// What the simulated hardware is doing.
#[derive(Debug, Clone, Default)]
pub struct SimState {
    pub off_hook: bool,
    pub leds: BTreeMap<Led, LedMode>,
    pub ringer: Option<Cadence>,
    /// Frames flushed so far.
    pub frames: u64,
    pub last_frame: Option<Frame>,
    /// The firmware's description of the screen (`Display::set_summary`).
    pub summary: String,
    /// The input stream has been closed.
    pub ended: bool,
}

impl SimState {
    pub fn led(&self, led: Led) -> LedMode {
        self.leds.get(&led).copied().unwrap_or_default()
    }
}

pub(crate) struct Inner {
    pub state: SimState,
    log: VecDeque<String>,
    sink: Option<Box<dyn Write + Send>>,
}

pub(crate) struct Shared {
    inner: Mutex<Inner>,
    changed: Condvar,
    started: Instant,
    timestamps: bool,
    /// How many log lines `log_lines` keeps.
    keep: usize,
}

impl Shared {
    pub fn new(sink: Option<Box<dyn Write + Send>>, timestamps: bool) -> Self {
        let keep = if sink.is_some() {
            LOG_MEMORY_WITH_SINK
        } else {
            LOG_MEMORY
        };
        Shared {
            keep,
            inner: Mutex::new(Inner {
                state: SimState::default(),
                log: VecDeque::new(),
                sink,
            }),
            changed: Condvar::new(),
            started: Instant::now(),
            timestamps,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking thread cannot leave the state half-updated in a way that matters here.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state, logs a line, and wakes waiters.
    pub fn update(&self, line: Option<String>, change: impl FnOnce(&mut SimState)) {
        let mut inner = self.lock();
        change(&mut inner.state);
        if let Some(line) = line {
            self.write_line(&mut inner, line);
        }
        drop(inner);
        self.changed.notify_all();
    }

    pub fn log(&self, line: String) {
        self.update(Some(line), |_| {});
    }

    fn write_line(&self, inner: &mut Inner, line: String) {
        let line = if self.timestamps {
            format!("{:9.3} {line}", self.started.elapsed().as_secs_f64())
        } else {
            line
        };
        if let Some(sink) = inner.sink.as_mut() {
            // The log is best effort: a closed stdout must not stop the simulator.
            let _ = writeln!(sink, "{line}");
            let _ = sink.flush();
        }
        while inner.log.len() >= self.keep {
            inner.log.pop_front();
        }
        inner.log.push_back(line);
    }

    pub fn snapshot(&self) -> SimState {
        self.lock().state.clone()
    }

    pub fn log_lines(&self) -> Vec<String> {
        self.lock().log.iter().cloned().collect()
    }

    /// Waits until `pred` holds or `timeout` passes; returns whether it held.
    pub fn wait_until(&self, timeout: Duration, pred: impl Fn(&SimState) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = self.lock();
        loop {
            if pred(&inner.state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            inner = match self.changed.wait_timeout(inner, deadline - now) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
    }
}
