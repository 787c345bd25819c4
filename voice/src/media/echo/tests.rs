//! The speech processor on the simulated speakerphone path (see [`super::sim`]).

use std::sync::OnceLock;

use super::sim::{self, Scene, SceneSpec};
use super::{SpeechOptions, SpeechProcessor};

const RATE: u32 = 48_000;

fn talkers() -> &'static (Vec<f32>, Vec<f32>) {
    static TALKERS: OnceLock<(Vec<f32>, Vec<f32>)> = OnceLock::new();
    TALKERS.get_or_init(|| sim::talkers(RATE).expect("espeak-ng and sox render the talkers"))
}

fn scene(spec: SceneSpec) -> Scene {
    let (far, near) = talkers();
    Scene::new(far, near, spec)
}

fn run(scene: &Scene, options: SpeechOptions) -> Vec<i16> {
    let mut processor = SpeechProcessor::new(RATE, options).unwrap();
    scene.run(&mut processor).unwrap()
}

const AEC_NS: SpeechOptions = SpeechOptions {
    echo_cancellation: true,
    noise_suppression: true,
    gain_control: false,
};

#[test]
fn echo_is_cancelled_by_25_db_within_2_s() {
    let scene = scene(SceneSpec::speakerphone(RATE));
    let out = run(&scene, AEC_NS);
    // Every second after the first two, alone and after double talk.
    for start in [2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 14.0, 15.0] {
        let erle = scene.erle_db(&out, start..start + 1.0);
        assert!(
            erle >= 25.0,
            "ERLE {erle:.1} dB in {start}..{} s",
            start + 1.0
        );
    }
}

#[test]
fn without_echo_cancellation_the_echo_goes_out() {
    let scene = scene(SceneSpec::speakerphone(RATE));
    let out = run(&scene, SpeechOptions::OFF);
    let erle = scene.erle_db(&out, 2.0..8.0);
    assert!(erle.abs() < 1.0, "ERLE {erle:.1} dB with nothing on");
    let out = run(
        &scene,
        SpeechOptions {
            echo_cancellation: false,
            ..AEC_NS
        },
    );
    let erle = scene.erle_db(&out, 2.0..8.0);
    assert!(
        erle.abs() < 3.0,
        "ERLE {erle:.1} dB with noise suppression alone"
    );
}

#[test]
fn near_end_alone_keeps_its_level_within_3_db() {
    let scene = scene(SceneSpec::speakerphone(RATE));
    let out = run(&scene, AEC_NS);
    let level = scene.near_level_db(&out, sim::NEAR_ONLY);
    assert!(level.abs() <= 3.0, "near end alone came out {level:+.1} dB");
}

#[test]
fn double_talk_does_not_mute_the_near_end() {
    let scene = scene(SceneSpec::speakerphone(RATE));
    let out = run(&scene, AEC_NS);
    let level = scene.near_level_db(&out, sim::DOUBLE_TALK);
    let retained = scene.near_retained_db(&out, sim::DOUBLE_TALK);
    // Muted would be below -20 dB; the suppressor may duck the near end a few dB.
    assert!(
        level > -6.0,
        "double talk came out {level:+.1} dB against the near end"
    );
    assert!(
        retained > -10.0,
        "{retained:+.1} dB of the near end's waveform retained"
    );
    // The measure itself tells a muted output: a silent uplink scores far below.
    let muted = vec![0i16; out.len()];
    assert!(scene.near_retained_db(&muted, sim::DOUBLE_TALK) < -100.0);
}

#[test]
fn gain_control_brings_a_quiet_talker_up() {
    let quiet = SceneSpec {
        far_level_db: None,
        near_level_db: -46.0,
        ..SceneSpec::speakerphone(RATE)
    };
    let scene = scene(quiet);
    let plain = run(&scene, AEC_NS);
    let agc = run(&scene, SpeechOptions::ALL);
    // The second utterance: AGC2 adapts at most 6 dB/s from its initial 15 dB.
    let without = scene.near_level_db(&plain, sim::NEAR_ONLY);
    let with = scene.near_level_db(&agc, sim::NEAR_ONLY);
    assert!(without.abs() < 3.0, "without AGC {without:+.1} dB");
    assert!(
        with - without >= 10.0,
        "AGC raised a -46 dBFS talker by {:.1} dB",
        with - without
    );
}

#[test]
fn frames_of_the_wrong_length_are_refused() {
    let mut processor = SpeechProcessor::new(16_000, SpeechOptions::ALL).unwrap();
    assert_eq!(processor.frame_len(), 160);
    let mut cleaned = vec![0i16; 160];
    assert!(processor.process_render(&[0; 320]).is_err());
    assert!(processor.process_capture(&[0; 80], &mut cleaned).is_err());
    assert!(processor.process_capture(&[0; 160], &mut cleaned).is_ok());
    assert!(SpeechProcessor::new(44_100, SpeechOptions::ALL).is_ok());
    assert!(SpeechProcessor::new(96_000, SpeechOptions::ALL).is_err());
    assert!(SpeechProcessor::new(44_150, SpeechOptions::ALL).is_err());
}
