//! The simulated board: runs anywhere, the firmware cannot tell it from a Pi.
//!
//! - **Terminal mode**: the display drawn with half-block characters, keys from the keyboard
//!   (`0-9 * #`, space = hook, `f` = flash, `m`/`r`/`+`/`-`/`s`/`x`/Enter = mute, redial,
//!   volume, speaker, reject, menu; F1–F5 too; `l` then a key = long press; `q` quits).
//! - **Headless mode**: inputs from a [`Script`] and/or a Unix control socket (one command
//!   per line, answered `ok` or `error: …`); every frame written as PNG; LED, ringer, screen,
//!   frame and input changes logged as lines such as `led mute on`, `ringer on 2000/4000`,
//!   `input key-down 5`, `frame 3 regions=1 frames/frame-00003.png`, `screen "Dialling 5"`.
//!
//! - **Pin level** ([`SimOptions::pins`], `offhook demo --sim-pins`): keys and hook close
//!   contacts on simulated GPIO pins ([`pins`]), and the real keypad scanner, debouncers,
//!   long press and hook-flash timing make the events, as on a Pi.
//!
//! The firmware's input stream ends when the script finishes (unless a control socket or
//! the terminal is also in use), on `quit`, or when `q` is pressed.

mod input;
mod outputs;
pub mod pins;
mod run;
pub mod script;
mod state;
mod terminal;

pub use pins::SimPins;
pub use script::{Command, Expectation, HookAction, Script};
pub use state::SimState;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::audio::{Audio, AudioConfig};
use crate::board::Board;
use crate::display::{Display, Layout};
use crate::error::{BoardError, Result};
use crate::keys::KeyTiming;
use crate::profile::Profile;
use input::RawInput;
use run::{Executor, Flow};
use state::Shared;

/// Where the simulator's log lines go.
pub enum SimLog {
    /// Only kept in memory ([`SimHandle::log_lines`]).
    Memory,
    Stdout,
    Stderr,
    File(PathBuf),
    Writer(Box<dyn Write + Send>),
}

/// How to run the simulator.
pub struct SimOptions {
    pub layout: Layout,
    /// Draw in the terminal and read the keyboard.
    pub terminal: bool,
    pub script: Option<Script>,
    /// Listen for commands on this Unix socket path.
    pub control_socket: Option<PathBuf>,
    /// Write every flushed frame as `frame-NNNNN.png` here.
    pub frames_dir: Option<PathBuf>,
    /// PNG pixel scale.
    pub png_scale: u32,
    pub log: SimLog,
    /// Prefix log lines with seconds since start.
    pub timestamps: bool,
    pub key_timing: KeyTiming,
    /// How long a tapped key stays down.
    pub tap: Duration,
    /// Audio through ALSA (e.g. the `default` device), or none.
    pub audio: Option<AudioConfig>,
    /// Work at pin level: keys and hook close contacts on simulated GPIO pins, which the real
    /// matrix scanner, debouncers and hook-flash timing read (else they become events
    /// directly).
    pub pins: Option<SimPins>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            layout: Layout::OLED_128X64,
            terminal: false,
            script: None,
            control_socket: None,
            frames_dir: None,
            png_scale: 2,
            log: SimLog::Memory,
            timestamps: false,
            key_timing: KeyTiming::default(),
            tap: Duration::from_millis(80),
            audio: None,
            pins: None,
        }
    }
}

impl SimOptions {
    /// Headless options from a `simulated` profile: its display size and colour, key
    /// timing, and audio if the profile names devices.
    pub fn from_profile(profile: &Profile) -> SimOptions {
        let d = &profile.display;
        let (width, height) = (d.width.unwrap_or(128), d.height.unwrap_or(64));
        let layout = if d.color {
            Layout::Color { width, height }
        } else {
            Layout::Mono { width, height }
        };
        let audio = profile.audio.clone().filter(|a| {
            [&a.handset, &a.speaker]
                .iter()
                .any(|p| !p.capture.is_empty() || !p.playback.is_empty())
        });
        SimOptions {
            layout,
            key_timing: profile.keys.clone(),
            audio,
            ..SimOptions::default()
        }
    }
}

/// Control over a running simulator, for the program and tests that started it.
pub struct SimHandle {
    exec: Executor,
    script: Option<JoinHandle<Result<()>>>,
    socket: Option<(PathBuf, Arc<AtomicBool>)>,
    raw_mode: Option<terminal::RawMode>,
}

impl SimHandle {
    /// A snapshot of the simulated hardware.
    pub fn state(&self) -> SimState {
        self.exec.shared.snapshot()
    }

    /// The log so far (the last 10 000 lines).
    pub fn log_lines(&self) -> Vec<String> {
        self.exec.shared.log_lines()
    }

    /// Runs one command line as the control socket would (blocks for waits and expects).
    pub fn run(&self, line: &str) -> Result<()> {
        let cmd = Command::parse(line).map_err(|e| BoardError::Script {
            line: 0,
            source: Box::new(e),
        })?;
        if let Some(cmd) = cmd {
            self.exec
                .run(&cmd)
                .map_err(|e| BoardError::ExpectationFailed {
                    line: 0,
                    source: Box::new(e),
                })?;
        }
        Ok(())
    }

    /// Waits for the script to finish; its first failure, if any.
    pub fn wait_script(&mut self) -> Result<()> {
        match self.script.take() {
            Some(handle) => handle.join().unwrap_or_else(|_| {
                Err(BoardError::Script {
                    line: 0,
                    source: Box::new(BoardError::command("the script thread panicked")),
                })
            }),
            None => Ok(()),
        }
    }

    /// Ends the firmware's input stream.
    pub fn quit(&self) {
        let _ = self.exec.input.send(RawInput::End);
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some((path, stop)) = self.socket.take() {
            stop.store(true, Ordering::SeqCst);
            // Wake the accept loop so it sees the flag.
            let _ = UnixStream::connect(&path);
            let _ = std::fs::remove_file(&path);
        }
        self.raw_mode.take();
    }
}

/// Starts the simulated board.
pub fn start(options: SimOptions) -> Result<(Board, SimHandle)> {
    let sink: Option<Box<dyn Write + Send>> =
        match options.log {
            SimLog::Memory => None,
            SimLog::Stdout => Some(Box::new(std::io::stdout())),
            SimLog::Stderr => Some(Box::new(std::io::stderr())),
            SimLog::File(path) => Some(Box::new(std::fs::File::create(&path).map_err(|e| {
                BoardError::io(format!("creating log file {}", path.display()), e)
            })?)),
            SimLog::Writer(w) => Some(w),
        };
    if let Some(dir) = &options.frames_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| BoardError::io(format!("creating {}", dir.display()), e))?;
    }
    let shared = Arc::new(Shared::new(sink, options.timestamps));
    let (event_tx, event_rx) = tokio::sync::mpsc::unbounded_channel();
    let quit = Arc::new(AtomicBool::new(false));
    let input = input::spawn(
        shared.clone(),
        event_tx,
        options.key_timing,
        options.pins,
        quit.clone(),
    )?;
    let exec = Executor {
        shared: shared.clone(),
        input,
        tap: options.tap,
        gap: Duration::from_millis(120),
        png_scale: options.png_scale,
        frame_mark: Arc::new(AtomicU64::new(0)),
    };

    let raw_mode = if options.terminal {
        Some(terminal::RawMode::enter()?)
    } else {
        None
    };

    let socket = match &options.control_socket {
        Some(path) => Some((path.clone(), spawn_socket(path.clone(), exec.clone())?)),
        None => None,
    };

    let ends_session = socket.is_none() && !options.terminal;
    let script = match options.script {
        Some(script) => {
            let exec = exec.clone();
            Some(
                std::thread::Builder::new()
                    .name("sim-script".into())
                    .spawn(move || run_script(&exec, &script, ends_session))
                    .map_err(|e| BoardError::io("spawning the script thread", e))?,
            )
        }
        None => None,
    };

    if options.terminal {
        terminal::spawn_keyboard(exec.clone())
            .map_err(|e| BoardError::io("spawning the keyboard thread", e))?;
        outputs::draw_terminal(&shared.snapshot());
    }

    let panel = outputs::SimPanel {
        shared: shared.clone(),
        layout: options.layout,
        frames_dir: options.frames_dir,
        png_scale: options.png_scale,
        terminal: options.terminal,
    };
    let board = Board {
        name: "simulated".into(),
        events: event_rx,
        indicators: Box::new(outputs::SimIndicators {
            shared: shared.clone(),
            terminal: options.terminal,
        }),
        display: Display::new(Box::new(panel)),
        audio: match options.audio {
            Some(config) => Some(Audio::start(config)?),
            None => None,
        },
        _keep: Vec::new(),
        quit,
    };
    Ok((
        board,
        SimHandle {
            exec,
            script,
            socket,
            raw_mode,
        },
    ))
}

fn run_script(exec: &Executor, script: &Script, ends_session: bool) -> Result<()> {
    let mut result = Ok(());
    for (line, cmd) in &script.commands {
        match exec.run(cmd) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Quit) => return Ok(()),
            Err(e) => {
                exec.shared.log(format!("error: script line {line}: {e}"));
                result = Err(BoardError::ExpectationFailed {
                    line: *line,
                    source: Box::new(e),
                });
                break;
            }
        }
    }
    if result.is_ok() {
        exec.shared.log("script done".into());
    }
    if ends_session || result.is_err() {
        let _ = exec.input.send(RawInput::End);
    }
    result
}

fn spawn_socket(path: PathBuf, exec: Executor) -> Result<Arc<AtomicBool>> {
    // A socket file left by an earlier run would make bind fail.
    if path.exists() {
        std::fs::remove_file(&path)
            .map_err(|e| BoardError::io(format!("removing stale socket {}", path.display()), e))?;
    }
    let listener = UnixListener::bind(&path)
        .map_err(|e| BoardError::io(format!("binding control socket {}", path.display()), e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    std::thread::Builder::new()
        .name("sim-socket".into())
        .spawn(move || {
            for conn in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let exec = exec.clone();
                std::thread::spawn(move || serve_connection(conn, &exec));
            }
        })
        .map_err(|e| BoardError::io("spawning the control socket thread", e))?;
    Ok(stop)
}

fn serve_connection(conn: UnixStream, exec: &Executor) {
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    for line in BufReader::new(conn).lines() {
        let Ok(line) = line else { return };
        let reply = match Command::parse(&line) {
            Ok(None) => continue,
            Ok(Some(cmd)) => match exec.run(&cmd) {
                Ok(Flow::Continue) => "ok".to_owned(),
                Ok(Flow::Quit) => {
                    let _ = writeln!(writer, "ok");
                    return;
                }
                Err(e) => format!("error: {e}"),
            },
            Err(e) => format!("error: {e}"),
        };
        if writeln!(writer, "{reply}").is_err() {
            return;
        }
    }
}
