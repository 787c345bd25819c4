//! The whole handset end to end: `offhook` on the headless simulated board, with its
//! microphone and earpiece on virtual ALSA devices (PulseAudio null sinks through ALSA's
//! `pulse` plugin), talking to an in-process offhook-server and offhook-lab — the same set-up
//! as `offhook demo`.
//!
//! The test plays the caller's "mouth" into the handset's microphone device and listens to its
//! earpiece device. Every screen flushed during a run is compared with its golden image in
//! `tests/golden/handset/` (re-bless with `OFFHOOK_BLESS=1`).
//!
//! The socket-drop scenario runs the board at pin level: its hook and digits close contacts on
//! simulated GPIO pins, read by the real keypad scanner, debouncers and hook timing.
//!
//! The scenarios share one PulseAudio server (ALSA's configuration is process-wide), so they
//! take turns.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use offhook::app::{AppError, RunOptions};
use offhook::demo::{DemoEnv, DemoOptions};
use offhook_board::audio::virtual_pulse::VirtualAudio;
use offhook_board::sim::{SimHandle, SimOptions, SimPins};
use offhook_dsp::analysis::{dominant_frequency, rms};
use offhook_e2e::real_handset::{Mouth, RATE, write_profile};
use offhook_e2e::{init_logs, wait_until};

const MOUTH_HZ: f64 = 700.0;

/// One PulseAudio server for the whole test binary, and a lock so scenarios take turns.
struct Pulse {
    turn: tokio::sync::Mutex<()>,
    dir: PathBuf,
    _server: Mutex<VirtualAudio>,
}

fn pulse() -> &'static Pulse {
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

struct Handset {
    env: DemoEnv,
    sim: SimHandle,
    stop: tokio::sync::watch::Sender<bool>,
    app: tokio::task::JoinHandle<Result<(), AppError>>,
}

async fn start_handset(dir: &Path, tweak: impl FnOnce(&mut DemoOptions)) -> Handset {
    start_handset_at(dir, tweak, Level::Events).await
}

/// How the simulated board makes its inputs.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    /// Keys and the hook as events, straight to the phone.
    Events,
    /// Contacts closing on simulated GPIO pins, read by the real keypad scanner, debouncers
    /// and hook timing, as on a Pi.
    Pins,
}

async fn start_handset_at(
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
    }
}

impl Handset {
    fn cmd(&self, line: &str) {
        self.sim.run(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }

    async fn wait_screen(&self, contains: &str, timeout: Duration) -> String {
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

    fn log_tail(&self) -> String {
        let lines = self.sim.log_lines();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Every flushed frame with the screen summary it belonged to.
    fn frames(&self) -> Vec<(String, PathBuf)> {
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
    async fn finish(self, goldens: bool) {
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

fn slug(summary: &str) -> String {
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
fn golden_key(summary: &str) -> String {
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
fn check_goldens(frames: &[(String, PathBuf)]) {
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
            Ok(g) if g.to_rgb8() == frame.to_rgb8() => {}
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

/// Waits until the last second the earpiece played has `hz` as its dominant frequency.
async fn wait_hears(mouth: &Mouth, hz: f64, timeout: Duration) {
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

const T: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lift_dial_the_echo_number_and_hear_yourself() {
    init_logs();
    let pulse = pulse();
    let _turn = pulse.turn.lock().await;
    let dir = &pulse.dir;
    let handset = start_handset(&dir.join("echo"), |_| {}).await;
    let mouth = Mouth::start(MOUTH_HZ);
    handset.wait_screen("Ready", T).await;
    handset.cmd("hook up");
    handset.wait_screen("Dial ", T).await;
    // Dial tone in the earpiece (US: 350 + 440 Hz).
    wait_until(T, "dial tone in the earpiece", || async {
        let dial = mouth.last(Duration::from_millis(400));
        if offhook_dsp::analysis::has_frequency(&dial, RATE, 350.0, 0.2) {
            Ok(())
        } else {
            Err(format!("{} samples at rms {}", dial.len(), rms(&dial)))
        }
    })
    .await;
    handset.cmd("dial 2025550100");
    handset.wait_screen("In call with Echo test", T).await;
    // The echo number sends back what the microphone says.
    wait_hears(&mouth, MOUTH_HZ, T).await;
    handset.wait_screen("(0:03)", T).await;
    handset.cmd("hook down");
    handset.wait_screen("Ready", T).await;
    let call = handset
        .env
        .lab
        .control()
        .wait_for_call(T, |c| {
            c.legs
                .iter()
                .any(|l| l.identity.as_deref() == Some("desk") && l.state == "completed")
        })
        .await
        .expect("the hang-up reaches the lab");
    let leg = call
        .legs
        .iter()
        .find(|l| l.identity.as_deref() == Some("desk"))
        .expect("our leg");
    let media = leg.media.as_ref().expect("media stats");
    assert!(
        media
            .dominant_hz
            .is_some_and(|hz| (hz - MOUTH_HZ as f32).abs() < 20.0),
        "the lab heard our microphone: {media:?}"
    );
    drop(mouth);
    handset.finish(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incoming_call_is_answered_by_lifting_the_handset() {
    init_logs();
    let pulse = pulse();
    let _turn = pulse.turn.lock().await;
    let dir = &pulse.dir;
    let handset = start_handset(&dir.join("incoming"), |_| {}).await;
    let mouth = Mouth::start(MOUTH_HZ);
    handset.wait_screen("Ready", T).await;
    let sid = handset
        .env
        .call_in("+12025550170", 440.0, 30)
        .await
        .expect("the lab calls");
    handset.wait_screen("Lab caller", T).await;
    assert!(handset.sim.state().ringer.is_some(), "the ringer rings");
    handset.cmd("hook up");
    handset.wait_screen("In call with Lab caller", T).await;
    assert!(handset.sim.state().ringer.is_none(), "the ringer stops");
    wait_hears(&mouth, 440.0, T).await;
    // The caller hears our microphone.
    let deadline = Instant::now() + T;
    loop {
        let call = handset.env.lab.control().get_call(&sid).await.unwrap();
        let heard = call
            .legs
            .iter()
            .filter_map(|l| l.media.as_ref())
            .find_map(|m| {
                m.dominant_hz
                    .filter(|hz| (hz - MOUTH_HZ as f32).abs() < 20.0 && m.level_dbfs > -40.0)
            });
        if heard.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the caller never heard {MOUTH_HZ} Hz: {call:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The golden "Call ended" screen says "Duration 0:01": hang up once the timer shows it
    // (both ends may hear each other within the first second).
    handset.wait_screen("0:01", T).await;
    handset.env.lab.control().hangup_call(&sid).await.unwrap();
    handset.wait_screen("Call ended", T).await;
    handset.cmd("hook down");
    handset.wait_screen("Ready", T).await;
    drop(mouth);
    handset.finish(true).await;
}

/// Checks that every 100 ms of earpiece audio in the window carries the echoed tone.
fn assert_unbroken(mouth: &Mouth, from: Instant, to: Instant, hz: f64) {
    let periods = mouth.between(from, to);
    assert!(
        periods.len() > 50,
        "too little audio recorded: {}",
        periods.len()
    );
    let samples: Vec<i16> = periods
        .iter()
        .flat_map(|(_, s)| s.iter().copied())
        .collect();
    let chunk = RATE as usize / 10;
    for (i, block) in samples.chunks(chunk).enumerate() {
        if block.len() < chunk {
            break;
        }
        let level = rms(block);
        assert!(
            level > 1000.0 && offhook_dsp::analysis::has_frequency(block, RATE, hz, 0.5),
            "audio broke {} ms into the window (rms {level})",
            i * 100
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_during_a_call_is_renewed_without_a_break_in_audio() {
    init_logs();
    let pulse = pulse();
    let _turn = pulse.turn.lock().await;
    let dir = &pulse.dir;
    // 60 s tokens (the server's minimum), tokenWillExpire 50 s early: renewed every ~10 s.
    let handset = start_handset(&dir.join("token"), |o| {
        o.token_ttl_secs = 60;
        o.token_refresh_ms = 50_000;
    })
    .await;
    let mouth = Mouth::start(MOUTH_HZ);
    handset.wait_screen("Ready", T).await;
    let listens_before = listens(&handset).await;
    handset.cmd("hook up");
    handset.wait_screen("Dial ", T).await;
    handset.cmd("dial 2025550100");
    handset.wait_screen("In call with Echo test", T).await;
    wait_hears(&mouth, MOUTH_HZ, T).await;
    let from = Instant::now();
    // Past the first token's expiry (60 s after it was issued).
    handset.wait_screen("(1:05)", Duration::from_secs(80)).await;
    let to = Instant::now();
    let renewals = listens(&handset).await - listens_before;
    assert!(
        renewals >= 5,
        "the token was renewed during the call ({renewals} listens)"
    );
    assert_unbroken(&mouth, from + Duration::from_millis(500), to, MOUTH_HZ);
    handset.cmd("hook down");
    handset.wait_screen("Ready", T).await;
    drop(mouth);
    handset.finish(false).await;
}

/// `listen` frames the lab received from the handset so far.
async fn listens(handset: &Handset) -> usize {
    let connections = handset.env.lab.control().connections().await.unwrap();
    connections
        .iter()
        .filter(|c| c.identity.as_deref() == Some("desk"))
        .flat_map(|c| c.frames.iter())
        .filter(|f| f.direction == "in" && f.kind == "listen")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_survives_the_lab_dropping_the_socket() {
    init_logs();
    let pulse = pulse();
    let _turn = pulse.turn.lock().await;
    let dir = &pulse.dir;
    // At pin level: the hook and the digits go through the real scanner and debouncers.
    let handset = start_handset_at(&dir.join("socket"), |_| {}, Level::Pins).await;
    let mouth = Mouth::start(MOUTH_HZ);
    handset.wait_screen("Ready", T).await;
    handset.cmd("hook up");
    handset.wait_screen("Dial ", T).await;
    handset.cmd("dial 2025550100");
    handset.wait_screen("In call with Echo test", T).await;
    wait_hears(&mouth, MOUTH_HZ, T).await;
    let n = handset
        .env
        .lab
        .control()
        .fault_close_socket("desk", false)
        .await
        .unwrap();
    assert_eq!(n, 1);
    // Signaling comes back (reconnect invite within reconnectTimeout) and the call goes on.
    let deadline = Instant::now() + T;
    loop {
        let conns = handset.env.lab.control().connections().await.unwrap();
        let back = conns.iter().any(|c| {
            c.identity.as_deref() == Some("desk")
                && c.closed_unix_ms.is_none()
                && c.frames.iter().any(|f| {
                    f.direction == "in" && f.kind == "invite" && f.text.contains("reconnect")
                })
        });
        if back {
            break;
        }
        assert!(Instant::now() < deadline, "no reconnect invite: {conns:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A full second of the echo, all of it played after signaling came back.
    let back_at = Instant::now();
    wait_until(T, "the echo after signaling came back", || async {
        let heard: Vec<i16> = mouth
            .between(back_at, Instant::now())
            .into_iter()
            .flat_map(|(_, samples)| samples)
            .collect();
        let last_second = &heard[heard.len().saturating_sub(RATE as usize)..];
        let f = dominant_frequency(last_second, RATE);
        let level = rms(last_second);
        if last_second.len() == RATE as usize && level > 300.0 && (f - MOUTH_HZ).abs() < 15.0 {
            Ok(())
        } else {
            Err(format!("{} samples, {f} Hz at rms {level}", heard.len()))
        }
    })
    .await;
    assert!(
        handset
            .sim
            .state()
            .summary
            .contains("In call with Echo test"),
        "still in the call: {}",
        handset.sim.state().summary
    );
    let leg = handset.env.lab.control().calls().await.unwrap();
    let leg = leg
        .iter()
        .flat_map(|c| c.legs.iter())
        .find(|l| l.identity.as_deref() == Some("desk"))
        .unwrap()
        .clone();
    assert_eq!(leg.state, "in-progress", "{leg:?}");
    handset.cmd("hook down");
    handset.wait_screen("Ready", T).await;
    drop(mouth);
    handset.finish(false).await;
}
