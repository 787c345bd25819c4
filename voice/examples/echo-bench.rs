//! Speech processing on the simulated speakerphone path (`twilio_voice::media::echo::sim`):
//! ERLE, near-end levels and CPU per call-second, for each stage setting.
//!
//! `cargo run -p twilio-voice --release --example echo-bench [RATE]` (default 48000 Hz).
//! Needs espeak-ng and sox. Under qemu-user the CPU figure is the emulator's, not a Pi's.

use std::process::ExitCode;

use twilio_voice::media::echo::sim::{self, Scene, SceneSpec};
use twilio_voice::media::echo::{SpeechOptions, SpeechProcessor};

fn main() -> ExitCode {
    let rate: u32 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 48_000,
        Some(Ok(r)) => r,
        Some(Err(_)) => {
            eprintln!("usage: echo-bench [RATE]");
            return ExitCode::from(2);
        }
    };
    let (far, near) = match sim::talkers(rate) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("echo-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scene = Scene::new(&far, &near, SceneSpec::speakerphone(rate));
    println!(
        "sonora speech processing, {rate} Hz mono, {:.0} s scene, echo delay {} ms (speakerphone: echo -6 dB, near end -26 dBFS)",
        sim::LENGTH_S,
        scene.spec.delay.as_millis()
    );
    let settings = [
        ("AEC+NS+AGC", SpeechOptions::ALL),
        (
            "AEC+NS",
            SpeechOptions {
                gain_control: false,
                ..SpeechOptions::ALL
            },
        ),
        (
            "AEC",
            SpeechOptions {
                echo_cancellation: true,
                ..SpeechOptions::OFF
            },
        ),
        (
            "NS",
            SpeechOptions {
                noise_suppression: true,
                ..SpeechOptions::OFF
            },
        ),
        ("off", SpeechOptions::OFF),
    ];
    for (name, options) in settings {
        let mut processor = match SpeechProcessor::new(rate, options) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("echo-bench: {e}");
                return ExitCode::FAILURE;
            }
        };
        let started = sim::thread_cpu_time();
        let out = match scene.run(&mut processor) {
            Ok(out) => out,
            Err(e) => {
                eprintln!("echo-bench: {e}");
                return ExitCode::FAILURE;
            }
        };
        let cpu = sim::thread_cpu_time() - started;
        let per_second: Vec<String> = (0..8)
            .map(|s| format!("{:.0}", scene.erle_db(&out, s as f64..s as f64 + 1.0)))
            .collect();
        println!(
            "{name:>11}: CPU {:6.2} ms per call-second ({:5.2} % of a core); ERLE 2-8 s {:5.1} dB, after double talk {:5.1} dB, per second [{}]; near end alone {:+.1} dB, in double talk {:+.1} dB (waveform {:+.1} dB)",
            cpu.as_secs_f64() * 1000.0 / sim::LENGTH_S,
            cpu.as_secs_f64() * 100.0 / sim::LENGTH_S,
            scene.erle_db(&out, 2.0..8.0),
            scene.erle_db(&out, sim::FAR_AGAIN),
            per_second.join(" "),
            scene.near_level_db(&out, sim::NEAR_ONLY),
            scene.near_level_db(&out, sim::DOUBLE_TALK),
            scene.near_retained_db(&out, sim::DOUBLE_TALK),
        );
    }
    ExitCode::SUCCESS
}
