//! `soak`: many calls through the real `offhook run` process, watching it for leaks.
//!
//! It starts a private PulseAudio (`mic` and `ear` null sinks), an offhook-server (60 s
//! tokens, so a renewal every ~50 s) and an offhook-lab in this process, and `offhook run` on
//! the headless simulated board as a child, driven over its control socket. Each call: lift,
//! long-press 2 (the speed dial of the lab's echo number), wait for "In call", hear the tone
//! played into the microphone come back in the earpiece, hang up, wait for the idle screen. Every
//! 50th call the lab drops the phone's signaling socket mid-call; the call must carry on
//! (reconnect invite, audio still heard).
//!
//! After every call, with the phone idle, it reads the phone's RSS (`/proc/PID/status`
//! VmRSS), open fds (`/proc/PID/fd`) and threads (`/proc/PID/task`); it prints them at the
//! start, at the end of warm-up, every 100 calls and at the end. The checks:
//! - warm-up: the first `W = clamp(N / 10, 10, 100)` calls;
//! - RSS: at the end at most 1024 kB above the RSS at the end of warm-up;
//! - fds and threads flat: no idle sample after warm-up above the highest idle sample seen
//!   during warm-up (the runtime's blocking threads come and go within that range).
//!
//! It exits non-zero when a call or a check fails. Every process it starts is ended and
//! reaped on exit, on failure and on Ctrl-C / SIGTERM.
//!
//! Usage: soak --calls N [--offhook PATH] [--dir DIR]   (scripts/soak builds and runs it)

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use offhook::demo::DemoOptions;
use offhook_e2e::real_handset::{
    HandsetProcess, Mouth, ProcStats, RATE, VirtualAudioRig, write_profile,
};

const MOUTH_HZ: f64 = 700.0;
/// The idle screen, shown only while registered ("Ready" is also in the status bar of
/// other screens).
const IDLE: &str = "Idle desk";
const T: Duration = Duration::from_secs(15);
const SOCKET_DROP_EVERY: usize = 50;
const PRINT_EVERY: usize = 100;
const RSS_GROWTH_LIMIT_KB: u64 = 1024;

struct Args {
    calls: usize,
    dir: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut calls = None;
    let mut dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--calls" => {
                let n = args.next().ok_or("--calls wants a number")?;
                calls = Some(
                    n.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(format!("--calls wants a positive number, not {n:?}"))?,
                );
            }
            "--offhook" => {
                let path = args.next().ok_or("--offhook wants a path")?;
                // SAFETY: no other thread runs yet.
                unsafe { std::env::set_var("OFFHOOK_BIN", path) };
            }
            "--dir" => dir = Some(PathBuf::from(args.next().ok_or("--dir wants a path")?)),
            "-h" | "--help" => {
                return Err("usage: soak --calls N [--offhook PATH] [--dir DIR]".into());
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Args {
        calls: calls.ok_or("--calls N is required")?,
        dir: dir.unwrap_or_else(|| {
            std::env::temp_dir().join(format!("offhook-soak-{}", std::process::id()))
        }),
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    let _ = std::fs::remove_dir_all(&args.dir);
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        eprintln!("soak: {}: {e}", args.dir.display());
        return ExitCode::FAILURE;
    }
    let rig = match VirtualAudioRig::start(&args.dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: set before any other thread of this process exists (the runtime starts below).
    unsafe { std::env::set_var("ALSA_CONFIG_PATH", &rig.alsa_config) };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("soak: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(soak(&args, &rig));
    drop(runtime);
    drop(rig);
    match result {
        Ok(()) => {
            println!("soak: passed");
            let _ = std::fs::remove_dir_all(&args.dir);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("soak: FAILED: {e}");
            eprintln!("soak: logs kept in {}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}

async fn soak(args: &Args, rig: &VirtualAudioRig) -> Result<(), String> {
    let options = DemoOptions {
        capture: "mic_monitor".into(),
        playback: "ear".into(),
        sample_rate: RATE,
        board_profile: write_profile(&args.dir).display().to_string(),
        token_ttl_secs: 60,
        ..Default::default()
    };
    let env = offhook::demo::start(&args.dir.join("env"), &options)
        .await
        .map_err(|e| e.to_string())?;
    let phone_dir = args.dir.join("phone");
    std::fs::create_dir_all(&phone_dir).map_err(|e| e.to_string())?;
    let config = env.config_path.clone();
    let alsa = rig.alsa_config.clone();
    let handset =
        tokio::task::spawn_blocking(move || HandsetProcess::spawn(&[], &config, &phone_dir, &alsa))
            .await
            .map_err(|e| e.to_string())??;
    let handset = Arc::new(handset);
    println!(
        "soak: offhook pid {} ({}), {} calls",
        handset.pid(),
        offhook_e2e::real_handset::offhook_binary()?.display(),
        args.calls
    );

    // Ctrl-C / SIGTERM: stop the phone, which ends whatever command is waiting on it.
    let interrupted = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (handset, interrupted) = (handset.clone(), interrupted.clone());
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            interrupted.store(true, Ordering::SeqCst);
            let h = handset.clone();
            let _ = tokio::task::spawn_blocking(move || h.stop(Duration::from_secs(5))).await;
        })
    };

    let result = {
        let mouth = Mouth::start(MOUTH_HZ);
        let r = run_calls(args.calls, &handset, &mouth, &env).await;
        drop(mouth);
        r
    };
    watcher.abort();
    let stopped = {
        let h = handset.clone();
        tokio::task::spawn_blocking(move || h.stop(Duration::from_secs(10)))
            .await
            .ok()
            .flatten()
    };
    let tail = handset.log_tail();
    drop(handset);
    env.shutdown().await;
    if interrupted.load(Ordering::SeqCst) {
        return Err("interrupted".into());
    }
    let samples = result.map_err(|e| format!("{e}\n{tail}"))?;
    if !stopped.is_some_and(|s| s.success()) {
        return Err(format!(
            "offhook did not stop cleanly on SIGTERM: {stopped:?}\n{tail}"
        ));
    }
    check(&samples, args.calls)
}

/// Idle figures after call `n` (0 = before the first call).
type Sample = (usize, ProcStats);

fn warm_up(calls: usize) -> usize {
    (calls / 10).clamp(10, 100).min(calls)
}

fn print(n: usize, s: &ProcStats, note: &str) {
    println!(
        "soak: after {n:>5} calls: rss {:>7} kB  fds {:>3}  threads {:>3}{note}",
        s.rss_kb, s.fds, s.threads
    );
}

async fn run_calls(
    calls: usize,
    handset: &Arc<HandsetProcess>,
    mouth: &Mouth,
    env: &offhook::demo::DemoEnv,
) -> Result<Vec<Sample>, String> {
    type Step = Box<dyn FnOnce(&HandsetProcess) -> Result<(), String> + Send>;
    let blocking = |f: Step| {
        let h = handset.clone();
        async move {
            tokio::task::spawn_blocking(move || f(&h))
                .await
                .map_err(|e| e.to_string())?
        }
    };
    blocking(Box::new(|h| h.wait_screen(IDLE, Duration::from_secs(30)))).await?;
    let warm = warm_up(calls);
    let mut samples = vec![(0, handset.stats()?)];
    print(0, &samples[0].1, " (registered)");
    let started = Instant::now();
    for n in 1..=calls {
        let drop_socket = n % SOCKET_DROP_EVERY == 0;
        blocking(Box::new(|h| {
            h.cmd("hook up")?;
            h.wait_screen("Dial ", T)?;
            h.cmd("hold 2 900ms")?;
            h.wait_screen("In call with Echo test", T)
        }))
        .await
        .map_err(|e| format!("call {n}: {e}"))?;
        mouth
            .wait_to_hear(MOUTH_HZ, T)
            .map_err(|e| format!("call {n}: {e}"))?;
        if drop_socket {
            drop_signaling_socket(env, mouth, handset)
                .await
                .map_err(|e| format!("call {n} (socket dropped): {e}"))?;
        }
        blocking(Box::new(|h| {
            h.cmd("hook down")?;
            h.wait_screen(IDLE, T)
        }))
        .await
        .map_err(|e| format!("call {n}: {e}"))?;
        let stats = handset.stats()?;
        samples.push((n, stats));
        if n == warm {
            print(n, &stats, " (end of warm-up)");
        } else if n % PRINT_EVERY == 0 || n == calls {
            print(n, &stats, "");
        }
    }
    println!(
        "soak: {calls} calls in {:.0} s ({:.1} s a call)",
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() / calls as f64
    );
    Ok(samples)
}

/// The lab drops the phone's signaling socket mid-call: the phone must reconnect (a
/// reconnect invite on a new socket) and the call's audio must go on.
async fn drop_signaling_socket(
    env: &offhook::demo::DemoEnv,
    mouth: &Mouth,
    handset: &HandsetProcess,
) -> Result<(), String> {
    let control = env.lab.control();
    let closed = control
        .fault_close_socket(offhook::demo::DEMO_IDENTITY, false)
        .await
        .map_err(|e| e.to_string())?;
    if closed != 1 {
        return Err(format!("the lab closed {closed} sockets, not 1"));
    }
    let deadline = Instant::now() + T;
    loop {
        let connections = control.connections().await.map_err(|e| e.to_string())?;
        let back = connections.iter().any(|c| {
            c.identity.as_deref() == Some(offhook::demo::DEMO_IDENTITY)
                && c.closed_unix_ms.is_none()
                && c.frames.iter().any(|f| {
                    f.direction == "in" && f.kind == "invite" && f.text.contains("reconnect")
                })
        });
        if back {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("no reconnect invite within {T:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Audio heard after the reconnection, not before it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    mouth.wait_to_hear(MOUTH_HZ, T)?;
    let screen = handset.screen();
    if !screen.contains("In call with Echo test") {
        return Err(format!(
            "the call did not survive: the screen shows {screen:?}"
        ));
    }
    Ok(())
}

fn check(samples: &[Sample], calls: usize) -> Result<(), String> {
    let warm = warm_up(calls);
    let during: Vec<&ProcStats> = samples
        .iter()
        .filter(|(n, _)| *n <= warm)
        .map(|(_, s)| s)
        .collect();
    let after: Vec<&Sample> = samples.iter().filter(|(n, _)| *n > warm).collect();
    let at_warm = samples
        .iter()
        .find(|(n, _)| *n == warm)
        .map(|(_, s)| *s)
        .ok_or("no sample at the end of warm-up")?;
    let last = samples.last().map(|(_, s)| *s).ok_or("no samples")?;
    let fd_limit = during.iter().map(|s| s.fds).max().unwrap_or(0);
    let thread_limit = during.iter().map(|s| s.threads).max().unwrap_or(0);
    let growth = last.rss_kb as i64 - at_warm.rss_kb as i64;
    println!(
        "soak: rss {} kB after warm-up ({warm} calls), {} kB at the end: {growth:+} kB (limit +{RSS_GROWTH_LIMIT_KB} kB)",
        at_warm.rss_kb, last.rss_kb
    );
    println!(
        "soak: fds at most {} after warm-up (warm-up max {fd_limit}); threads at most {} (warm-up max {thread_limit})",
        after
            .iter()
            .map(|(_, s)| s.fds)
            .max()
            .unwrap_or(at_warm.fds),
        after
            .iter()
            .map(|(_, s)| s.threads)
            .max()
            .unwrap_or(at_warm.threads)
    );
    let mut problems = Vec::new();
    if growth > RSS_GROWTH_LIMIT_KB as i64 {
        problems.push(format!(
            "RSS grew by {growth} kB after warm-up (limit {RSS_GROWTH_LIMIT_KB} kB)"
        ));
    }
    if let Some((n, s)) = after.iter().find(|(_, s)| s.fds > fd_limit) {
        problems.push(format!(
            "{} open fds after call {n}, above warm-up's {fd_limit}",
            s.fds
        ));
    }
    if let Some((n, s)) = after.iter().find(|(_, s)| s.threads > thread_limit) {
        problems.push(format!(
            "{} threads after call {n}, above warm-up's {thread_limit}",
            s.threads
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}
