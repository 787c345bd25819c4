//! Executes simulator commands (from a script, the control socket or the keyboard).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use crate::display::render;
use crate::error::{BoardError, Result};
use crate::input::Key;
use crate::sim::input::RawInput;
use crate::sim::script::{Command, Expectation};
use crate::sim::state::{Shared, SimState};

/// What to do after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Quit,
}

#[derive(Clone)]
pub(crate) struct Executor {
    pub shared: Arc<Shared>,
    pub input: mpsc::Sender<RawInput>,
    /// How long a `key` tap holds the key down.
    pub tap: Duration,
    /// Gap between keys when dialling.
    pub gap: Duration,
    pub png_scale: u32,
    /// Frames flushed when the last non-`expect` command started: `expect frame` wants more.
    pub frame_mark: Arc<AtomicU64>,
}

impl Executor {
    fn send(&self, raw: RawInput) -> Result<()> {
        self.input.send(raw).map_err(|_| BoardError::SimulatorEnded)
    }

    fn tap(&self, key: Key) -> Result<()> {
        self.send(RawInput::Press(key))?;
        std::thread::sleep(self.tap);
        self.send(RawInput::Release(key))
    }

    /// Runs one command to completion (waits and expectations block).
    pub fn run(&self, cmd: &Command) -> Result<Flow> {
        if !matches!(cmd, Command::Expect { .. }) {
            self.frame_mark
                .store(self.shared.snapshot().frames, Ordering::SeqCst);
        }
        match cmd {
            Command::Hook(action) => self.send(RawInput::Hook(*action))?,
            Command::Tap(key) => self.tap(*key)?,
            Command::Press(key) => self.send(RawInput::Press(*key))?,
            Command::Release(key) => self.send(RawInput::Release(*key))?,
            Command::Hold(key, d) => {
                self.send(RawInput::Press(*key))?;
                std::thread::sleep(*d);
                self.send(RawInput::Release(*key))?;
            }
            Command::Dial(keys) => {
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        std::thread::sleep(self.gap);
                    }
                    self.tap(*key)?;
                }
            }
            Command::Wait(d) => std::thread::sleep(*d),
            Command::Expect { what, within } => self.expect(what, *within)?,
            Command::Snapshot(path) => {
                let frame = self
                    .shared
                    .snapshot()
                    .last_frame
                    .ok_or(BoardError::NoFrameYet)?;
                render::save_png(&frame, self.png_scale, path)?;
                self.shared.log(format!("snapshot {}", path.display()));
            }
            Command::Log(text) => self.shared.log(format!("log {text}")),
            Command::Quit => {
                let _ = self.send(RawInput::End);
                return Ok(Flow::Quit);
            }
            Command::Unplug => {
                let _ = self.send(RawInput::Unplug);
                return Ok(Flow::Quit);
            }
        }
        Ok(Flow::Continue)
    }

    fn expect(&self, what: &Expectation, within: Duration) -> Result<()> {
        let frames_before = self.frame_mark.load(Ordering::SeqCst);
        let holds = |s: &SimState| match what {
            Expectation::Led(led, mode) => s.led(*led) == *mode,
            Expectation::RingerOn(None) => s.ringer.is_some(),
            Expectation::RingerOn(Some(c)) => s.ringer.as_ref() == Some(c),
            Expectation::RingerOff => s.ringer.is_none(),
            Expectation::Screen(text) => s.summary.contains(text.as_str()),
            Expectation::Frame => s.frames > frames_before,
        };
        if self.shared.wait_until(within, holds) {
            return Ok(());
        }
        let s = self.shared.snapshot();
        let actual = match what {
            Expectation::Led(led, _) => format!("led {led} is {}", s.led(*led)),
            Expectation::RingerOn(_) | Expectation::RingerOff => match &s.ringer {
                Some(c) => format!("ringer is on ({c})"),
                None => "ringer is off".into(),
            },
            Expectation::Screen(_) => format!("screen is {:?}", s.summary),
            Expectation::Frame => format!("no new frame (frames so far: {})", s.frames),
        };
        Err(BoardError::NotMet {
            expected: describe(what),
            within,
            actual,
        })
    }
}

fn describe(what: &Expectation) -> String {
    match what {
        Expectation::Led(led, mode) => format!("led {led} {mode}"),
        Expectation::RingerOn(None) => "ringer on".into(),
        Expectation::RingerOn(Some(c)) => format!("ringer {c}"),
        Expectation::RingerOff => "ringer off".into(),
        Expectation::Screen(t) => format!("screen {t:?}"),
        Expectation::Frame => "a new frame".into(),
    }
}
