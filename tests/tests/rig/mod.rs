//! The handset rig the end-to-end handset tests share: one PulseAudio server per test
//! binary (ALSA's configuration is process-wide, so scenarios take turns), `offhook run` on the
//! simulated board against the demo's in-process server and lab, screen waits, and the
//! golden-image check of every screen seen.

#![allow(dead_code)] // each test binary uses its own part of the rig
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use offhook::app::{AppError, RunOptions};
use offhook::demo::{DemoEnv, DemoOptions};
use offhook_board::audio::virtual_pulse::VirtualAudio;
use offhook_board::sim::{SimHandle, SimOptions, SimPins};
use offhook_dsp::analysis::{dominant_frequency, rms};
use offhook_e2e::real_handset::{Mouth, RATE, write_profile};
use offhook_e2e::wait_until;

pub const MOUTH_HZ: f64 = 700.0;

/// One PulseAudio server for the whole test binary, and a lock so scenarios take turns.
pub struct Pulse {
    pub turn: tokio::sync::Mutex<()>,
    pub dir: PathBuf,
    _server: Mutex<VirtualAudio>,
}

pub fn pulse() -> &'static Pulse {
    static PULSE: OnceLock<Pulse> = OnceLock::new();
    PULSE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("offhook-handset-e2e-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let server =
            VirtualAudio::start(&dir.join("pulse"), &["mic", "ear"], RATE).unwrap_or_else(|e| {
                panic!("these tests need PulseAudio (apt-get install pulseaudio): {e}")
            });
        // Kept in a static, never dropped: ended when the test binary exits.
        server.end_at_exit();
        let conf = dir.join("asound.conf");
        std::fs::write(&conf, server.alsa_config(&["mic", "ear"])).expect("ALSA config");
        // SAFETY: set before any audio thread of this process reads ALSA's configuration.
        unsafe { std::env::set_var("ALSA_CONFIG_PATH", &conf) };
        Pulse {
            turn: tokio::sync::Mutex::new(()),
            dir,
            _server: Mutex::new(server),
        }
    })
}

pub struct Handset {
    pub env: DemoEnv,
    pub sim: SimHandle,
    stop: tokio::sync::watch::Sender<bool>,
    app: tokio::task::JoinHandle<Result<(), AppError>>,
    /// When the test's runtime or the machine held things up.
    pub stalls: StallWatch,
}

/// Notes when a 10 ms sleep on the test's tokio runtime, and one on a plain thread, took far
/// longer: a runtime stall alone is work blocking the runtime the in-process lab, server and
/// handset share; both at once is the machine. Tells a test's audio break from its cause.
pub struct StallWatch {
    seen: std::sync::Arc<Mutex<Vec<Stall>>>,
    task: tokio::task::JoinHandle<()>,
    thread_stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug, Clone)]
pub struct Stall {
    pub at: Instant,
    pub on_runtime: bool,
    pub late: Duration,
}

impl StallWatch {
    const TICK: Duration = Duration::from_millis(10);
    const NOTABLE: Duration = Duration::from_millis(50);

    fn start() -> StallWatch {
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let thread_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let note = |seen: &Mutex<Vec<Stall>>, began: Instant, on_runtime: bool| {
            let late = began.elapsed().saturating_sub(Self::TICK);
            if late > Self::NOTABLE {
                seen.lock().unwrap().push(Stall {
                    at: began,
                    on_runtime,
                    late,
                });
            }
        };
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                loop {
                    let began = Instant::now();
                    tokio::time::sleep(Self::TICK).await;
                    note(&seen, began, true);
                }
            }
        });
        std::thread::spawn({
            let (seen, stop) = (seen.clone(), thread_stop.clone());
            move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let began = Instant::now();
                    std::thread::sleep(Self::TICK);
                    note(&seen, began, false);
                }
            }
        });
        StallWatch {
            seen,
            task,
            thread_stop,
        }
    }

    /// The stalls seen between `from` and `to`, as text relative to `from`.
    pub fn between(&self, from: Instant, to: Instant) -> String {
        let seen = self.seen.lock().unwrap();
        let list: Vec<String> = seen
            .iter()
            .filter(|s| s.at >= from && s.at <= to)
            .map(|s| {
                format!(
                    "{} ms: {} {} ms late",
                    s.at.duration_since(from).as_millis(),
                    if s.on_runtime { "runtime" } else { "thread" },
                    s.late.as_millis()
                )
            })
            .collect();
        if list.is_empty() {
            "none".into()
        } else {
            list.join(", ")
        }
    }
}

impl Drop for StallWatch {
    fn drop(&mut self) {
        self.task.abort();
        self.thread_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

pub async fn start_handset(dir: &Path, tweak: impl FnOnce(&mut DemoOptions)) -> Handset {
    start_handset_at(dir, tweak, Level::Events).await
}

/// How the simulated board makes its inputs.
#[derive(Clone, Copy, PartialEq)]
pub enum Level {
    /// Keys and the hook as events, straight to the phone.
    Events,
    /// Contacts closing on simulated GPIO pins, read by the real keypad scanner, debouncers
    /// and hook timing, as on a Pi.
    Pins,
}

pub async fn start_handset_at(
    dir: &Path,
    tweak: impl FnOnce(&mut DemoOptions),
    level: Level,
) -> Handset {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let mut options = DemoOptions {
        capture: "mic_monitor".into(),
        playback: "ear".into(),
        sample_rate: RATE,
        board_profile: write_profile(dir).display().to_string(),
        ..Default::default()
    };
    tweak(&mut options);
    let env = offhook::demo::start(&dir.join("env"), &options)
        .await
        .expect("server and lab start");
    let config = env.config().expect("the demo config is valid");
    let profile = offhook::app::board_profile(&config).expect("profile");
    let frames = dir.join("frames");
    let sim = SimOptions {
        frames_dir: Some(frames),
        png_scale: 1,
        pins: (level == Level::Pins)
            .then(|| SimPins::from_profile(&profile).expect("the profile wires the pins")),
        ..SimOptions::from_profile(&profile)
    };
    let stalls = StallWatch::start();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (handle_tx, handle_rx) = tokio::sync::oneshot::channel();
    let app = tokio::spawn(offhook::app::run(
        config,
        RunOptions {
            sim: Some(sim),
            wall_clock: false,
            stop: Some(stop_rx),
            sim_handle: Some(handle_tx),
        },
    ));
    let sim = tokio::time::timeout(Duration::from_secs(10), handle_rx)
        .await
        .expect("board up")
        .expect("sim handle");
    Handset {
        env,
        sim,
        stop,
        app,
        stalls,
    }
}

impl Handset {
    pub fn cmd(&self, line: &str) {
        self.sim.run(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }

    pub async fn wait_screen(&self, contains: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.sim.state().summary;
            if s.contains(contains) {
                return s;
            }
            if Instant::now() > deadline {
                panic!(
                    "no screen with {contains:?} within {timeout:?}; showing {s:?}\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let lines = self.sim.log_lines();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Every flushed frame with the screen summary it belonged to.
    pub fn frames(&self) -> Vec<(String, PathBuf)> {
        let mut summary = String::new();
        let mut out = Vec::new();
        for line in self.sim.log_lines() {
            if let Some(rest) = line.strip_prefix("screen ") {
                summary = rest.trim_matches('"').to_string();
            } else if line.starts_with("frame ")
                && let Some(path) = line
                    .split_whitespace()
                    .last()
                    .filter(|p| p.ends_with(".png"))
            {
                out.push((summary.clone(), PathBuf::from(path)));
            }
        }
        out
    }

    /// Stops the phone; with `goldens`, checks the screens seen against their golden images.
    pub async fn finish(self, goldens: bool) {
        let frames = self.frames();
        let _ = self.stop.send(true);
        let result = tokio::time::timeout(Duration::from_secs(15), self.app).await;
        assert!(
            matches!(result, Ok(Ok(Ok(())))),
            "the phone stops cleanly: {result:?}"
        );
        self.env.shutdown().await;
        if goldens {
            check_goldens(&frames);
        }
    }
}

pub fn slug(summary: &str) -> String {
    let mut s: String = summary
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').to_string()
}

/// The screen's key for golden images: its description without what changes by the second
/// (the call timer, quality bars, quality warnings).
pub fn golden_key(summary: &str) -> String {
    let mut out = Vec::new();
    let mut skip_warning = false;
    for word in summary.split(' ') {
        let timer = word.starts_with('(')
            && word.ends_with(')')
            && word[1..word.len() - 1]
                .split(':')
                .all(|p| p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty());
        let duration = word.contains(':')
            && word
                .split(':')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
        let quality = word.len() == 2
            && word.starts_with('q')
            && word[1..].chars().all(|c| c.is_ascii_digit());
        if word == "warning" {
            skip_warning = true;
            continue;
        }
        if word == "|" {
            skip_warning = false;
        }
        if skip_warning || quality {
            continue;
        }
        out.push(if timer {
            "(T)"
        } else if duration {
            "T"
        } else {
            word
        });
    }
    out.join(" ")
}

/// From the first "Ready" screen on, the first frame of every screen must equal that screen's
/// golden image (`OFFHOOK_BLESS=1` writes missing ones and replaces the rest). Later frames of
/// the same screen differ only in the call timer and quality bars.
pub fn check_goldens(frames: &[(String, PathBuf)]) {
    let golden_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/handset");
    let bless = std::env::var_os("OFFHOOK_BLESS").is_some();
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let start = frames
        .iter()
        .position(|(s, _)| s.contains("| Ready"))
        .unwrap_or(frames.len());
    assert!(
        start < frames.len(),
        "the phone never showed Ready: {frames:?}"
    );
    for (summary, path) in &frames[start..] {
        let key = golden_key(summary);
        if !seen.insert(key.clone()) {
            continue;
        }
        let golden = golden_dir.join(format!("{}.png", slug(&key)));
        let Ok(frame) = image::open(path) else {
            problems.push(format!("cannot read frame {}", path.display()));
            continue;
        };
        match image::open(&golden) {
            Ok(g) if same_but_the_call_time(&key, &g.to_rgb8(), &frame.to_rgb8()) => {}
            _ if bless => {
                std::fs::create_dir_all(&golden_dir).unwrap();
                std::fs::copy(path, &golden).unwrap();
            }
            Ok(_) => problems.push(format!(
                "{summary:?}: {} differs from {}",
                path.display(),
                golden.display()
            )),
            Err(_) => problems.push(format!(
                "{summary:?}: no golden image {} (run with OFFHOOK_BLESS=1)",
                golden.display()
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "screens that do not match their golden images:\n{}",
        problems.join("\n")
    );
}

/// Whether a frame equals its golden image, but for the call timer or duration on screens
/// that show one: the second a test reaches a screen at is not part of the screen's look.
fn same_but_the_call_time(key: &str, golden: &image::RgbImage, frame: &image::RgbImage) -> bool {
    use offhook_phone::screens::mono;
    if golden.dimensions() != frame.dimensions() {
        return false;
    }
    let timed = (mono::WIDTH, mono::HEIGHT) == frame.dimensions();
    let area = if timed && key.starts_with("In call") {
        Some(mono::CALL_TIMER_AREA)
    } else if timed && key.starts_with("Call ended") {
        Some(mono::CALL_DURATION_AREA)
    } else {
        None
    };
    golden
        .enumerate_pixels()
        .zip(frame.pixels())
        .all(|((x, y, g), f)| {
            g == f
                || area.is_some_and(|a| {
                    let (x, y) = (x as i32, y as i32);
                    (a.top_left.x..a.top_left.x + a.size.width as i32).contains(&x)
                        && (a.top_left.y..a.top_left.y + a.size.height as i32).contains(&y)
                })
        })
}

/// Waits until the last second the earpiece played has `hz` as its dominant frequency.
pub async fn wait_hears(mouth: &Mouth, hz: f64, timeout: Duration) {
    wait_until(timeout, &format!("the earpiece plays {hz} Hz"), || async {
        let heard = mouth.last(Duration::from_millis(1000));
        let f = dominant_frequency(&heard, RATE);
        let level = rms(&heard);
        if level > 300.0 && (f - hz).abs() < 15.0 {
            Ok(())
        } else {
            Err(format!("{f} Hz at rms {level}"))
        }
    })
    .await
}
