//! Two echo cancellers on the same simulated speakerphone path (`twilio_voice::media::echo::sim`):
//! `sonora` (pure Rust, what the uplink uses, through `SpeechProcessor`) against the C++ WebRTC
//! audio processing module (`webrtc-audio-processing` 2.x, bundled), with the same stages and
//! settings: AEC3 told the device's delay, moderate noise suppression, AGC2 adaptive digital, the
//! full-band high-pass filter, internal processing at up to 32 kHz (sonora's default).
//!
//! For each: when the echo canceller converged, its ERLE over the 1 s windows the tests check
//! (2-8 s alone and 14-16 s after double talk: minimum and median), the near end's level in
//! double talk and alone against the clean near end, and CPU per call-second (this thread's CPU
//! time over the scene's length, the least of a few runs).
//!
//! `cargo run -p twilio-voice --release --features aec-compare --example aec-compare [RATE]`
//! (default 48000 Hz; 16000 for wideband). Needs espeak-ng and sox, and for the C++ build
//! meson, ninja, libclang and abseil >= 20240722 through pkg-config. Under qemu-user the CPU
//! figures are the emulator's: only their ratio means something.
//!
//! On Debian 12 that means: `apt-get install meson ninja-build libclang-dev cmake`; meson
//! 1.1 or newer from PyPI (`pip install meson`; 1.0 cannot reconfigure an empty build
//! directory); abseil 20240722 (e.g. Debian trixie's source package) built with cmake as
//! static PIC libraries, every `libabsl_*.a` merged into `libabsl_strings.a` (`ar -M`; the
//! crate links only that one by name), and `PKG_CONFIG_PATH` pointing at its `lib/pkgconfig`.
//! Without that abseil, the bundled build tries to download it and fails offline.

use std::process::ExitCode;
use std::time::Duration;

use twilio_voice::media::echo::sim::{self, Scene, SceneSpec};
use twilio_voice::media::echo::{SpeechOptions, SpeechProcessor};
use webrtc_audio_processing::Processor;
use webrtc_audio_processing::config::{
    AdaptiveDigital, Config, EchoCanceller, GainController, GainController2, HighPassFilter,
    NoiseSuppression, NoiseSuppressionLevel, Pipeline, PipelineProcessingRate,
};

/// Runs per setting; the CPU figure is the least (the machine may be busy with other things).
const RUNS: usize = 3;
/// ERLE that counts as converged (the tests' bar from 2 s on).
const CONVERGED_DB: f64 = 25.0;

const SETTINGS: [(&str, SpeechOptions); 3] = [
    ("AEC+NS+AGC", SpeechOptions::ALL),
    (
        "AEC+NS",
        SpeechOptions {
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: false,
        },
    ),
    (
        "AEC",
        SpeechOptions {
            echo_cancellation: true,
            noise_suppression: false,
            gain_control: false,
        },
    ),
];

/// One processed scene: what went out, and the least CPU time any run took.
struct Run {
    out: Vec<i16>,
    cpu: Duration,
}

fn best_of(mut once: impl FnMut() -> Result<Vec<i16>, String>) -> Result<Run, String> {
    let mut best: Option<Run> = None;
    for _ in 0..RUNS {
        let started = sim::thread_cpu_time();
        let out = once()?;
        let cpu = sim::thread_cpu_time() - started;
        if best.as_ref().is_none_or(|b| cpu < b.cpu) {
            best = Some(Run { out, cpu });
        }
    }
    best.ok_or_else(|| "no run".into())
}

/// `sonora`, exactly as the uplink runs it.
fn sonora(scene: &Scene, options: SpeechOptions) -> Result<Run, String> {
    let rate = scene.spec.rate;
    let mut processors = (0..RUNS)
        .map(|_| SpeechProcessor::new(rate, options).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    best_of(|| {
        let mut processor = processors.pop().ok_or("no processor")?;
        scene.run(&mut processor).map_err(|e| e.to_string())
    })
}

/// The C++ module's configuration matching what `SpeechProcessor` gives `sonora`.
fn webrtc_config(options: SpeechOptions, delay: Duration) -> Config {
    Config {
        pipeline: Pipeline {
            maximum_internal_processing_rate: PipelineProcessingRate::Max32000Hz,
            multi_channel_render: true,
            multi_channel_capture: true,
            ..Pipeline::default()
        },
        high_pass_filter: (!options.is_off()).then(HighPassFilter::default),
        echo_canceller: options.echo_cancellation.then_some(EchoCanceller::Full {
            stream_delay_ms: Some(delay.as_millis().min(500) as u16),
        }),
        noise_suppression: options.noise_suppression.then_some(NoiseSuppression {
            level: NoiseSuppressionLevel::Moderate,
            analyze_linear_aec_output: false,
        }),
        gain_controller: options.gain_control.then(|| {
            GainController::GainController2(GainController2 {
                input_volume_controller_enabled: false,
                adaptive_digital: Some(AdaptiveDigital::default()),
                ..GainController2::default()
            })
        }),
        ..Config::default()
    }
}

/// `webrtc-audio-processing`, fed the same 10 ms frames (as float, which its API takes).
fn webrtc(scene: &Scene, options: SpeechOptions) -> Result<Run, String> {
    let rate = scene.spec.rate;
    let mut processors = (0..RUNS)
        .map(|_| {
            let p = Processor::new(rate).map_err(|e| format!("webrtc-audio-processing: {e}"))?;
            p.set_config(webrtc_config(options, scene.spec.delay));
            Ok(p)
        })
        .collect::<Result<Vec<_>, String>>()?;
    let n = rate as usize / 100;
    let (mut render, mut capture) = (vec![0f32; n], vec![0f32; n]);
    best_of(|| {
        let processor = processors.pop().ok_or("no processor")?;
        scene.run_frames(n, |played, mic, cleaned| {
            let as_float = |to: &mut [f32], from: &[i16]| {
                to.iter_mut()
                    .zip(from)
                    .for_each(|(t, &f)| *t = f as f32 / 32768.0)
            };
            as_float(&mut render, played);
            as_float(&mut capture, mic);
            processor
                .process_render_frame([&mut render[..]])
                .and_then(|()| processor.process_capture_frame([&mut capture[..]]))
                .map_err(|e| format!("webrtc-audio-processing: {e}"))?;
            cleaned
                .iter_mut()
                .zip(&capture)
                .for_each(|(c, &v)| *c = sim::to_i16(v));
            Ok(())
        })
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn print_table(
    title: &str,
    scene: &Scene,
    run: impl Fn(SpeechOptions) -> Result<Run, String>,
) -> Result<(), String> {
    println!("{title}");
    println!(
        "  {:<10} | conv. | ERLE min | ERLE med | after DT | near alone | near in DT | DT waveform | CPU ms/s | core %",
        "setting"
    );
    for (name, options) in SETTINGS {
        let Run { out, cpu } = run(options)?;
        let erle: Vec<f64> = Scene::converged_windows()
            .map(|w| scene.erle_db(&out, w))
            .collect();
        let after = Scene::converged_windows()
            .filter(|w| w.start >= sim::FAR_AGAIN.start)
            .map(|w| scene.erle_db(&out, w))
            .fold(f64::MAX, f64::min);
        let convergence = match scene.convergence_s(&out, CONVERGED_DB) {
            // The first window already: within its 200 ms.
            Some(0.0) => "<0.2s".into(),
            Some(s) => format!("{s:4.2}s"),
            None => "never".into(),
        };
        println!(
            "  {name:<10} | {convergence:>5} | {:5.1} dB | {:5.1} dB | {:5.1} dB | {:+7.1} dB | {:+7.1} dB | {:+8.1} dB | {:8.2} | {:6.2}",
            erle.iter().copied().fold(f64::MAX, f64::min),
            median(erle),
            after,
            scene.near_level_db(&out, sim::NEAR_ONLY),
            scene.near_level_db(&out, sim::DOUBLE_TALK),
            scene.near_retained_db(&out, sim::DOUBLE_TALK),
            cpu.as_secs_f64() * 1000.0 / sim::LENGTH_S,
            cpu.as_secs_f64() * 100.0 / sim::LENGTH_S,
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let rate: u32 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 48_000,
        Some(Ok(r)) => r,
        Some(Err(_)) => {
            eprintln!("usage: aec-compare [RATE]");
            return ExitCode::from(2);
        }
    };
    let (far, near) = match sim::talkers(rate) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("aec-compare: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scene = Scene::new(&far, &near, SceneSpec::speakerphone(rate));
    println!(
        "{rate} Hz mono, {:.0} s speakerphone scene (echo -6 dB, near end -26 dBFS, delay {} ms told to both); \
         ERLE over 1 s windows 2-8 s and 14-16 s; converged: ERLE >= {CONVERGED_DB} dB in every 200 ms window after; \
         near end in dB against the clean near end; CPU: least of {RUNS} runs, {}",
        sim::LENGTH_S,
        scene.spec.delay.as_millis(),
        std::env::consts::ARCH,
    );
    let tables = print_table("sonora 0.2 (pure Rust) via SpeechProcessor", &scene, |o| {
        sonora(&scene, o)
    })
    .and_then(|()| {
        print_table(
            "webrtc-audio-processing 2.1 (C++ WebRTC APM, bundled)",
            &scene,
            |o| webrtc(&scene, o),
        )
    });
    match tables {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aec-compare: {e}");
            ExitCode::FAILURE
        }
    }
}
