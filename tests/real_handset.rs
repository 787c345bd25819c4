//! The real `offhook run` process on the headless simulated board, driven over its control
//! socket, with its microphone and earpiece on virtual ALSA devices (PulseAudio null sinks):
//! what the soak (`scripts/soak`) and the network-fault tests run.
//!
//! - [`VirtualAudioRig`] — a private PulseAudio with the `mic` and `ear` sinks and the ALSA
//!   configuration that names them.
//! - [`write_profile`] — a simulated board profile on those devices.
//! - [`Mouth`] — the test's side of the handset: a tone into `mic`, `ear` recorded.
//! - [`HandsetProcess`] — `offhook run` as a child (optionally inside a network namespace),
//!   killed and reaped on drop; commands, screen waits and `/proc` figures.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use offhook_board::audio::virtual_pulse::VirtualAudio;
use offhook_board::audio::{Audio, AudioConfig, DevicePair};
use offhook_dsp::analysis::{dominant_frequency, rms};

/// The virtual devices' sample rate.
pub const RATE: u32 = 16_000;
/// SCHED_FIFO priority of the handset's and the test's audio threads: the product's default
/// (`offhook_board::audio::AudioConfig`), so a loaded machine delays them as little as it
/// would a phone's. Without the privilege they run normally (the board says so once).
const REALTIME: u8 = 40;

/// The `offhook` binary under test: `$OFFHOOK_BIN`, else the one cargo built beside this
/// executable (`target/<profile>/offhook`; `cargo build -p offhook` makes it, and
/// `cargo test --workspace` does too).
pub fn offhook_binary() -> Result<PathBuf, String> {
    workspace_binary("offhook", "offhook", "OFFHOOK_BIN")
}

/// A binary of the workspace: `$env_var`, else `name` as cargo built it beside this
/// executable (`target/<profile>/<name>`; `cargo build -p <package>` makes it, and
/// `cargo test --workspace` does too).
pub fn workspace_binary(name: &str, package: &str, env_var: &str) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(env_var) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} is missing: build it with `cargo build -p {package}` (or set {env_var})",
            path.display()
        ))
    }
}

/// A private PulseAudio with `mic` and `ear` null sinks, and an ALSA configuration file
/// (`alsa_config`) naming `mic`, `mic_monitor`, `ear` and `ear_monitor`.
pub struct VirtualAudioRig {
    pub alsa_config: PathBuf,
    _server: VirtualAudio,
}

impl VirtualAudioRig {
    pub fn start(dir: &Path) -> Result<VirtualAudioRig, String> {
        let server = VirtualAudio::start(&dir.join("pulse"), &["mic", "ear"], RATE)
            .map_err(|e| format!("PulseAudio (apt-get install pulseaudio): {e}"))?;
        let alsa_config = dir.join("asound.conf");
        std::fs::write(&alsa_config, server.alsa_config(&["mic", "ear"]))
            .map_err(|e| format!("{}: {e}", alsa_config.display()))?;
        Ok(VirtualAudioRig {
            alsa_config,
            _server: server,
        })
    }

    /// The server's address, for clients that speak PulseAudio itself (`PULSE_SERVER`).
    pub fn pulse_server(&self) -> String {
        self._server.server()
    }

    /// Runs `pactl` against the rig's server (e.g. `set-default-source mic.monitor`).
    pub fn pactl(&self, args: &[&str]) -> Result<String, String> {
        self._server.pactl(args).map_err(|e| e.to_string())
    }

    /// Kills the server's processes when this process exits (for a rig kept in a `static`).
    pub fn end_at_exit(&self) {
        self._server.end_at_exit();
    }
}

/// A board profile like `simulated`, with the virtual devices and deeper buffers (PulseAudio's
/// protocol thread is not real-time on a shared machine).
pub fn write_profile(dir: &Path) -> PathBuf {
    write_profile_with(dir, 10, 6, 12)
}

/// The same with the reference builds' buffers (`board/profiles/*.toml`: 10 ms periods, 3
/// queued for playback), for measuring the product. `period_ms` other than 10 keeps about
/// as much queued for playback (at least 2 periods).
pub fn write_product_profile(dir: &Path, period_ms: u32) -> PathBuf {
    let product = offhook_board::audio::AudioConfig::default();
    let product_ms = product.period.as_millis() as u32;
    let playback = (product.playback_periods * product_ms)
        .div_ceil(period_ms.max(1))
        .max(2);
    write_profile_with(dir, period_ms, playback, product.capture_periods)
}

fn write_profile_with(
    dir: &Path,
    period_ms: u32,
    playback_periods: u32,
    capture_periods: u32,
) -> PathBuf {
    let text = format!(
        r#"name = "simulated-virtual-audio"
description = "Simulated board on PulseAudio null sinks"
[keys]
long_press_ms = 800
repeat_ms = 150
[display]
kind = "simulated"
width = 128
height = 64
color = false
[audio]
rate = {RATE}
period_ms = {period_ms}
playback_periods = {playback_periods}
capture_periods = {capture_periods}
realtime_priority = {REALTIME}
handset = {{ capture = "mic_monitor", playback = "ear" }}
speaker = {{ capture = "mic_monitor", playback = "ear" }}
"#
    );
    let path = dir.join("profile.toml");
    std::fs::write(&path, text).expect("profile");
    path
}

/// The test's side of the handset: a tone into the microphone device, the earpiece recorded.
/// ALSA must already be configured for this process (`ALSA_CONFIG_PATH`).
pub struct Mouth {
    heard: Arc<Mutex<Vec<Period>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How much earpiece audio [`Mouth::wait_to_hear`] judges at once.
const HEARING_WINDOW: Duration = Duration::from_millis(400);

/// One earpiece period and when it was recorded.
type Period = (Instant, Vec<i16>);

/// How much earpiece audio a [`Mouth`] keeps (older periods are dropped: a soak runs for hours).
const KEEP: Duration = Duration::from_secs(120);

impl Mouth {
    pub fn start(hz: f64) -> Mouth {
        let config = AudioConfig {
            rate: RATE,
            playback_periods: 6,
            capture_periods: 12,
            realtime_priority: REALTIME,
            handset: DevicePair {
                capture: "ear_monitor".into(),
                playback: "mic".into(),
            },
            speaker: DevicePair {
                capture: "ear_monitor".into(),
                playback: "mic".into(),
            },
            ..AudioConfig::default()
        };
        let Audio {
            io,
            mut capture,
            mut playback,
        } = Audio::start(config).expect("the test's audio starts");
        let heard = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (heard.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            // The test's ear and mouth must not be what breaks under load.
            offhook_board::audio::set_realtime(REALTIME, "mouth");
            let mut tone = offhook_dsp::ToneGenerator::sine(RATE, hz, 8000.0);
            let period = capture.period_frames();
            let mut buf = vec![0i16; period];
            while !s.load(Ordering::Relaxed) {
                // A continuous tone: queue deep (150 ms) so a late wake-up never starves it.
                while playback.free() >= period && playback.queued() < period * 15 {
                    let mut frame = vec![0i16; period];
                    tone.fill(&mut frame);
                    playback.write(&frame);
                }
                while capture.read_exact(&mut buf) {
                    if let Ok(mut v) = h.lock() {
                        let now = Instant::now();
                        v.push((now, buf.clone()));
                        let old = v.partition_point(|(t, _)| now.duration_since(*t) > KEEP);
                        if old > 1000 {
                            v.drain(..old);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            io.stop();
        });
        Mouth {
            heard,
            stop,
            thread: Some(thread),
        }
    }

    /// What the earpiece played in the last `window`.
    pub fn last(&self, window: Duration) -> Vec<i16> {
        let now = Instant::now();
        let v = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        v.iter()
            .filter(|(t, _)| now.duration_since(*t) <= window)
            .flat_map(|(_, s)| s.iter().copied())
            .collect()
    }

    /// Periods (timestamped) heard between `from` and `to`.
    pub fn between(&self, from: Instant, to: Instant) -> Vec<(Instant, Vec<i16>)> {
        let v = self.heard.lock().unwrap_or_else(|p| p.into_inner());
        v.iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .cloned()
            .collect()
    }

    /// True when the last `window` of the earpiece carries `hz` (within 15 Hz, rms over 300).
    pub fn hears(&self, hz: f64, window: Duration) -> bool {
        let heard = self.last(window);
        rms(&heard) > 300.0 && (dominant_frequency(&heard, RATE) - hz).abs() < 15.0
    }

    /// Waits until the earpiece carries `hz`; what it heard instead when it does not.
    pub fn wait_to_hear(&self, hz: f64, timeout: Duration) -> Result<(), String> {
        self.wait_to_hear_after(Instant::now() - HEARING_WINDOW, hz, timeout)
    }

    /// Waits until the earpiece carries `hz` in a window that lies wholly after `since`.
    pub fn wait_to_hear_after(
        &self,
        since: Instant,
        hz: f64,
        timeout: Duration,
    ) -> Result<(), String> {
        let window = HEARING_WINDOW;
        let deadline = Instant::now() + timeout;
        loop {
            if since.elapsed() >= window && self.hears(hz, window) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let heard = self.last(window);
                return Err(format!(
                    "expected {hz} Hz in the earpiece within {timeout:?}, heard {:.0} Hz at rms {:.0}",
                    dominant_frequency(&heard, RATE),
                    rms(&heard)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Mouth {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Memory, open files and threads of a process, from `/proc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStats {
    pub rss_kb: u64,
    pub fds: usize,
    pub threads: usize,
}

impl ProcStats {
    pub fn of(pid: u32) -> Result<ProcStats, String> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
        let rss_kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))?;
        let count = |what: &str| {
            std::fs::read_dir(format!("/proc/{pid}/{what}"))
                .map(|d| d.count())
                .map_err(|e| format!("/proc/{pid}/{what}: {e}"))
        };
        Ok(ProcStats {
            rss_kb,
            fds: count("fd")?,
            threads: count("task")?,
        })
    }
}

/// `offhook run --config CONFIG --control-socket SOCKET` as a child process, killed and
/// reaped on drop. Its stdout (the simulator's log) and stderr go to files in `dir`.
pub struct HandsetProcess {
    child: Mutex<Child>,
    pid: u32,
    control: Mutex<Option<(BufReader<UnixStream>, UnixStream)>>,
    pub socket: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl HandsetProcess {
    /// Starts it; `prefix` runs it through another program (e.g. `ip netns exec NAME`, which
    /// execs it in place, so the pid stays the phone's).
    pub fn spawn(
        prefix: &[&str],
        config: &Path,
        dir: &Path,
        alsa_config: &Path,
    ) -> Result<HandsetProcess, String> {
        let binary = offhook_binary()?;
        let socket = dir.join("control.sock");
        let _ = std::fs::remove_file(&socket);
        let stdout = dir.join("offhook.stdout");
        let stderr = dir.join("offhook.stderr");
        let file = |p: &Path| std::fs::File::create(p).map_err(|e| format!("{}: {e}", p.display()));
        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        command
            .arg("run")
            .arg("--config")
            .arg(config)
            .arg("--control-socket")
            .arg(&socket)
            .env("ALSA_CONFIG_PATH", alsa_config)
            .env(
                "RUST_LOG",
                std::env::var("OFFHOOK_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(file(&stdout)?)
            .stderr(file(&stderr)?);
        // SAFETY: prctl only; async-signal-safe. The phone dies with whoever started it,
        // even when that is killed outright and no Drop runs.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let pid = child.id();
        let handset = HandsetProcess {
            child: Mutex::new(child),
            pid,
            control: Mutex::new(None),
            socket,
            stdout,
            stderr,
        };
        handset.connect(Duration::from_secs(20))?;
        Ok(handset)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn connect(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Err(format!("offhook exited with {status}\n{}", self.log_tail()));
            }
            if let Ok(stream) = UnixStream::connect(&self.socket) {
                let writer = stream
                    .try_clone()
                    .map_err(|e| format!("control socket: {e}"))?;
                *self.control.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((BufReader::new(stream), writer));
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no control socket {} within {timeout:?}\n{}",
                    self.socket.display(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn try_wait(&self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child.try_wait().ok().flatten()
    }

    /// Runs one simulator command (`hook up`, `dial 123`, `expect screen X within 5s`);
    /// blocks until the phone answers.
    pub fn cmd(&self, line: &str) -> Result<(), String> {
        let mut control = self.control.lock().unwrap_or_else(|p| p.into_inner());
        let (reader, writer) = control.as_mut().ok_or("not connected")?;
        writeln!(writer, "{line}").map_err(|e| format!("{line}: control socket: {e}"))?;
        let mut reply = String::new();
        match reader.read_line(&mut reply) {
            Ok(0) => Err(format!("{line}: the phone closed its control socket")),
            Ok(_) if reply.trim() == "ok" => Ok(()),
            Ok(_) => Err(format!("{line}: {}", reply.trim())),
            Err(e) => Err(format!("{line}: control socket: {e}")),
        }
    }

    /// Waits until the screen's summary contains `text`; the error says what it shows.
    pub fn wait_screen(&self, text: &str, timeout: Duration) -> Result<(), String> {
        self.cmd(&format!(
            "expect screen \"{text}\" within {}ms",
            timeout.as_millis()
        ))
    }

    /// The screen summary last logged (`screen "…"` lines on stdout).
    pub fn screen(&self) -> String {
        let log = std::fs::read_to_string(&self.stdout).unwrap_or_default();
        log.lines()
            .rev()
            .find_map(|l| l.strip_prefix("screen "))
            .map(|s| s.trim_matches('"').to_string())
            .unwrap_or_default()
    }

    /// Waits until `pred` holds for the screen summary; the summary it held for.
    pub fn wait_screen_where(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return Ok(screen);
            }
            if let Some(status) = self.try_wait() {
                return Err(format!("offhook exited with {status} waiting for {what}"));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no screen with {what} within {timeout:?}; showing {screen:?}\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stats(&self) -> Result<ProcStats, String> {
        ProcStats::of(self.pid)
    }

    /// True while the process runs.
    pub fn alive(&self) -> bool {
        self.try_wait().is_none()
    }

    /// The last lines of its stderr (the tracing log).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!(
            "--- {} (last 40 lines)\n{}",
            self.stderr.display(),
            lines[lines.len().saturating_sub(40)..].join("\n")
        )
    }

    /// SIGTERM (a clean shutdown), then SIGKILL after `grace`; the exit status.
    pub fn stop(&self, grace: Duration) -> Option<std::process::ExitStatus> {
        self.control
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        terminate(&mut child, grace)
    }
}

impl Drop for HandsetProcess {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// Ends a child process the test started: SIGTERM (a clean shutdown), then SIGKILL after
/// `grace`; reaped either way. Its exit status.
pub fn terminate(
    child: &mut std::process::Child,
    grace: Duration,
) -> Option<std::process::ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: signals our own child, which has not been reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    wait_or_kill(child, grace)
}

/// Waits up to `grace` for a child to exit on its own, then kills it; reaped either way.
pub fn wait_or_kill(
    child: &mut std::process::Child,
    grace: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait().ok()
}
