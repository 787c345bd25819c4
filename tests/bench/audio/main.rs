//! `audio-bench`: the audio figures of issue 14, measured on the real `offhook run` (the
//! simulated board on a private PulseAudio's `mic` and `ear` null sinks) calling the lab's
//! echo number. A benchmark, not a test: it prints figures and fails only when it cannot
//! measure. Every process it starts is ended and reaped when it returns (see [`guard`]).
//!
//! ```text
//! audio-bench latency [--seconds 20] [--no-browser]   mouth-to-ear: ours, Chromium + SDK, ratio
//! audio-bench load    [--seconds 60] [--stress-cpus 2] earpiece gaps > 20 ms, idle and loaded
//! audio-bench cpu     [--seconds 30] [--codecs pcmu,opus] [--no-baresip]
//!                                                     CPU per call-second against baresip
//! audio-bench all     (the three, with their defaults)
//! common: [--offhook PATH] [--dir DIR] [--wrap "qemu-aarch64 -L /"]
//!         [--period-ms N]  the phone's ALSA period (default 10, the reference builds')
//! ```
//!
//! Modules:
//! - [`phone`] — the lab, the server and `offhook run`; calls to the echo number.
//! - [`probe`] — the bench's mouth and ears: a click train or a tone into the microphone
//!   sink, both sinks recorded on one time base; per-click delay by cross-correlation.
//! - [`browser`] — Chromium and the official SDK on the same echo call.
//! - [`gaps`] — silent runs in the earpiece.
//! - [`cpu`] — per-thread CPU of a process tree from `/proc`.
//! - [`baresip`] — two baresip instances calling each other over loopback.
//! - [`guard`] — child processes killed and reaped on drop.

mod baresip;
mod browser;
mod cpu;
mod gaps;
mod guard;
mod phone;
mod probe;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use offhook_e2e::real_handset::{Mouth, VirtualAudioRig};

use crate::phone::Phone;
use crate::probe::{Probe, Signal, percentile};

const USAGE: &str = "usage: audio-bench latency|load|cpu|all [--seconds N] [--no-browser] \
    [--stress-cpus N] [--codecs pcmu,opus] [--no-baresip] [--offhook PATH] [--dir DIR] \
    [--wrap \"PROGRAM ARGS\"] [--period-ms N]";
const MOUTH_HZ: f64 = 700.0;
/// The jitter buffer settles before a window is measured.
const SETTLE: Duration = Duration::from_secs(2);
const GAP_MS: usize = 20;

struct Args {
    command: String,
    seconds: Option<u64>,
    browser: bool,
    baresip: bool,
    stress_cpus: u32,
    codecs: Vec<String>,
    dir: PathBuf,
    wrap: Vec<String>,
    /// The phone's ALSA period.
    period_ms: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or(USAGE)?;
    let mut args = Args {
        command,
        seconds: None,
        browser: true,
        baresip: true,
        stress_cpus: 2,
        codecs: vec!["pcmu".into(), "opus".into()],
        dir: std::env::temp_dir().join(format!("offhook-audio-bench-{}", std::process::id())),
        wrap: Vec::new(),
        period_ms: 10,
    };
    let number = |v: Option<String>, what: &str| -> Result<u64, String> {
        v.and_then(|s| s.parse().ok())
            .filter(|n| *n > 0)
            .ok_or(format!("{what} wants a positive number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--seconds" => args.seconds = Some(number(it.next(), "--seconds")?),
            "--stress-cpus" => args.stress_cpus = number(it.next(), "--stress-cpus")? as u32,
            "--period-ms" => args.period_ms = number(it.next(), "--period-ms")?.min(100) as u32,
            "--no-browser" => args.browser = false,
            "--no-baresip" => args.baresip = false,
            "--codecs" => {
                args.codecs = it
                    .next()
                    .ok_or("--codecs wants a list")?
                    .split(',')
                    .map(str::to_string)
                    .collect();
                for c in &args.codecs {
                    baresip::codec_name(c)?;
                }
            }
            "--offhook" => {
                let path = it.next().ok_or("--offhook wants a path")?;
                // SAFETY: no other thread runs yet.
                unsafe { std::env::set_var("OFFHOOK_BIN", path) };
            }
            "--dir" => args.dir = PathBuf::from(it.next().ok_or("--dir wants a path")?),
            "--wrap" => {
                args.wrap = it
                    .next()
                    .ok_or("--wrap wants a command")?
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            }
            _ => return Err(USAGE.into()),
        }
    }
    if !matches!(args.command.as_str(), "latency" | "load" | "cpu" | "all") {
        return Err(USAGE.into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("audio-bench: {e}");
            return ExitCode::from(2);
        }
    };
    guard::become_subreaper();
    let _ = std::fs::remove_dir_all(&args.dir);
    let result = std::fs::create_dir_all(&args.dir)
        .map_err(|e| format!("{}: {e}", args.dir.display()))
        .and_then(|()| run(&args));
    match result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&args.dir);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("audio-bench: FAILED: {e}");
            eprintln!("audio-bench: logs kept in {}", args.dir.display());
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), String> {
    let rig = VirtualAudioRig::start(&args.dir)?;
    // SAFETY: set before any other thread of this process exists (the runtime starts below).
    unsafe { std::env::set_var("ALSA_CONFIG_PATH", &rig.alsa_config) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("the runtime: {e}"))?;
    println!(
        "audio-bench: offhook {}{}, {} ms ALSA periods",
        offhook_e2e::real_handset::offhook_binary()?.display(),
        if args.wrap.is_empty() {
            String::new()
        } else {
            format!(" through `{}`", args.wrap.join(" "))
        },
        args.period_ms
    );
    let all = args.command == "all";
    if all || args.command == "latency" {
        latency(args, &rig, &runtime)?;
    }
    if all || args.command == "load" {
        load(args, &rig, &runtime)?;
    }
    if all || args.command == "cpu" {
        cpu(args, &rig, &runtime)?;
    }
    Ok(())
}

fn start_phone(
    args: &Args,
    rig: &VirtualAudioRig,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    codecs: &[&str],
) -> Result<Phone, String> {
    let wrap: Vec<&str> = args.wrap.iter().map(String::as_str).collect();
    Phone::start(
        runtime,
        rig,
        &args.dir.join(name),
        codecs,
        &wrap,
        args.period_ms,
    )
}

fn summary(label: &str, delays: &probe::Delays) -> Option<f64> {
    if delays.ms.is_empty() {
        if delays.missed == 0 {
            println!("  {label:<28} no click in the microphone's recording of the window");
        } else {
            println!("  {label:<28} no click came back ({} sent)", delays.missed);
        }
        return None;
    }
    let median = percentile(&delays.ms, 50.0);
    println!(
        "  {label:<28} median {median:6.1} ms  p95 {:6.1} ms  min {:6.1}  max {:6.1}  clicks {} (missed {})",
        percentile(&delays.ms, 95.0),
        percentile(&delays.ms, 0.0),
        percentile(&delays.ms, 100.0),
        delays.ms.len(),
        delays.missed
    );
    Some(median)
}

/// Mouth-to-ear through the echo number: ours, then Chromium + the SDK, on one rig.
fn latency(
    args: &Args,
    rig: &VirtualAudioRig,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), String> {
    let seconds = Duration::from_secs(args.seconds.unwrap_or(20));
    let clicks = Probe::start(Signal::Clicks)?;
    let phone = start_phone(args, rig, runtime, "latency", &["pcmu", "opus"])?;
    phone.call_echo()?;
    std::thread::sleep(SETTLE);
    let from = clicks.now();
    std::thread::sleep(seconds);
    let to = clicks.now();
    phone.hang_up()?;
    let codec = phone.last_codec(runtime);
    println!(
        "audio-bench latency: mouth-to-ear through the echo number, {} s windows",
        seconds.as_secs()
    );
    let ours = summary(&format!("offhook run ({codec})"), &clicks.delays(from, to));
    if args.browser {
        // Chromium lists no monitor sources as microphones: a remapped source over `mic`'s
        // monitor (a filter on the same clock, no buffer of its own) is its default source.
        rig.pactl(&[
            "load-module",
            "module-remap-source",
            "master=mic.monitor",
            "source_name=mic_in",
        ])?;
        rig.pactl(&["set-default-source", "mic_in"])?;
        rig.pactl(&["set-default-sink", "ear"])?;
        let token = phone
            .env
            .credentials
            .token(offhook::demo::DEMO_IDENTITY, 600);
        let call = browser::BrowserCall::start(
            &phone.env.lab.signaling_addr.to_string(),
            &token,
            &rig.pulse_server(),
            seconds + SETTLE + Duration::from_secs(1),
        )?;
        std::thread::sleep(SETTLE);
        let from = clicks.now();
        std::thread::sleep(seconds);
        let to = clicks.now();
        let found = call.finish(Duration::from_secs(20))?;
        if std::env::var_os("AUDIO_BENCH_VERBOSE").is_some() {
            eprintln!(
                "audio-bench: window {from:.1}-{to:.1} s; {}",
                clicks.describe()
            );
            for source in ["mic.monitor", "mic_in"] {
                let volume = rig
                    .pactl(&["get-source-volume", source])
                    .unwrap_or_default();
                eprintln!("audio-bench: {source} volume {}", volume.trim());
            }
        }
        let theirs = summary(
            &format!(
                "Chromium + SDK ({})",
                found["codec"].as_str().unwrap_or("?")
            ),
            &clicks.delays(from, to),
        );
        match (ours, theirs) {
            (Some(o), Some(t)) => println!("  ratio ours/Chromium (median)  {:.2}", o / t),
            _ => println!("  ratio ours/Chromium (median)  n/a"),
        }
    }
    drop(clicks);
    phone.shutdown(runtime);
    Ok(())
}

/// The earpiece during an echo call carrying a continuous tone: silent runs over 20 ms.
fn load(
    args: &Args,
    rig: &VirtualAudioRig,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), String> {
    let seconds = Duration::from_secs(args.seconds.unwrap_or(60));
    let phone = start_phone(args, rig, runtime, "load", &["pcmu", "opus"])?;
    let probe = Probe::start(Signal::Tone(MOUTH_HZ))?;
    println!(
        "audio-bench load: {} s echo calls, gaps over {GAP_MS} ms in the earpiece",
        seconds.as_secs()
    );
    for stressed in [false, true] {
        let _stress = if stressed {
            let mut command = Command::new("stress-ng");
            command
                .arg("--cpu")
                .arg(args.stress_cpus.to_string())
                .arg("--timeout")
                .arg(format!("{}s", seconds.as_secs() + 60))
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            Some(
                guard::ChildGuard::spawn("stress-ng", &mut command)
                    .map_err(|e| format!("{e} (apt-get install stress-ng)"))?,
            )
        } else {
            None
        };
        phone.call_echo()?;
        probe.wait_to_hear(MOUTH_HZ, Duration::from_secs(15))?;
        std::thread::sleep(SETTLE);
        let from = probe.now();
        std::thread::sleep(seconds);
        let to = probe.now();
        phone.hang_up()?;
        let (spoken, heard) = probe.recorded(from, to);
        let (found, length_ms) = gaps::gaps(&heard, GAP_MS);
        // Gaps already in the microphone are the bench's own, not the phone's.
        let (own, _) = gaps::gaps(&spoken, GAP_MS);
        println!(
            "  {:<34} gaps {:>3}  longest {:>4} ms  (heard {:.1} s; the microphone's own gaps: {})",
            if stressed {
                format!("with stress-ng --cpu {}", args.stress_cpus)
            } else {
                "without load".to_string()
            },
            found.len(),
            found.iter().max().copied().unwrap_or(0),
            length_ms as f64 / 1000.0,
            own.len()
        );
        if let Some(audio) = phone.call_audio(usize::from(stressed)) {
            println!("    the phone's account: {audio}");
        }
    }
    drop(probe);
    phone.shutdown(runtime);
    Ok(())
}

fn print_usage(label: &str, usage: &cpu::Usage, seconds: f64) {
    println!(
        "  {label:<30} {:5.1} % of a core  ({:.2} CPU-s per call-s over {seconds:.0} s)",
        usage.total,
        usage.total / 100.0
    );
    for (name, count, pct) in usage.by_name.iter().filter(|(_, _, p)| *p >= 0.05) {
        println!("      {name:<20} x{count:<2} {pct:5.2} %");
    }
}

/// CPU of the whole `offhook run` tree during an echo call, per codec, against baresip's.
fn cpu(
    args: &Args,
    rig: &VirtualAudioRig,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), String> {
    let seconds = Duration::from_secs(args.seconds.unwrap_or(30));
    let mouth = Mouth::start(MOUTH_HZ);
    println!(
        "audio-bench cpu: {} s echo calls, CPU from /proc (utime+stime of every thread)",
        seconds.as_secs()
    );
    for codec in &args.codecs {
        let phone = start_phone(
            args,
            rig,
            runtime,
            &format!("cpu-{codec}"),
            &[codec.as_str()],
        )?;
        phone.call_echo()?;
        mouth.wait_to_hear(MOUTH_HZ, Duration::from_secs(15))?;
        std::thread::sleep(SETTLE);
        let pid = phone.handset.pid();
        let before = cpu::Snapshot::of_tree(pid);
        std::thread::sleep(seconds);
        let after = cpu::Snapshot::of_tree(pid);
        let heard = mouth.hears(MOUTH_HZ, Duration::from_millis(400));
        phone.hang_up()?;
        let got = phone.last_codec(runtime);
        phone.shutdown(runtime);
        print_usage(
            &format!("offhook run, {got}"),
            &cpu::usage(&before, &after),
            seconds.as_secs_f64(),
        );
        if !heard {
            println!("      (the tone was not heard at the end of the window)");
        }
        if args.baresip {
            baresip_cpu(args, rig, &mouth, codec, seconds)?;
        }
    }
    drop(mouth);
    Ok(())
}

fn baresip_cpu(
    args: &Args,
    rig: &VirtualAudioRig,
    mouth: &Mouth,
    codec: &str,
    seconds: Duration,
) -> Result<(), String> {
    let dir = args.dir.join(format!("baresip-{codec}"));
    let pair = baresip::BaresipPair::call(&dir, &rig.alsa_config, codec)?;
    mouth
        .wait_to_hear(MOUTH_HZ, Duration::from_secs(15))
        .map_err(|e| format!("baresip: {e}\n{}", pair.log()))?;
    std::thread::sleep(SETTLE);
    let pid = pair.caller.pid();
    let before = cpu::Snapshot::of_tree(pid);
    std::thread::sleep(seconds);
    let after = cpu::Snapshot::of_tree(pid);
    let heard = mouth.hears(MOUTH_HZ, Duration::from_millis(400));
    drop(pair);
    print_usage(
        &format!("baresip caller, {codec}"),
        &cpu::usage(&before, &after),
        seconds.as_secs_f64(),
    );
    if !heard {
        println!("      (the tone was not heard at the end of the window)");
    }
    Ok(())
}
