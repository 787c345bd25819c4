//! Real ALSA code paths without a sound card, through the ALSA `file` plugin (not paced:
//! a device without a clock). One self-contained `ALSA_CONFIG_PATH` for the whole binary,
//! set before any ALSA call.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use offhook_board::audio::{Audio, AudioConfig, DevicePair, list_devices};

struct Paths {
    dir: PathBuf,
}

impl Paths {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// Writes the ALSA configuration and points ALSA at it (once, before any ALSA use; every
/// test calls this first, so no other thread reads the environment meanwhile).
fn setup() -> &'static Paths {
    static PATHS: OnceLock<Paths> = OnceLock::new();
    PATHS.get_or_init(|| {
        // Cargo's scratch directory for integration tests, so nothing is left in /tmp.
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("alsa-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut conf = String::new();
        // File-backed devices per test so tests can run in parallel. The file plugin also
        // records captured audio to `file`, so capture and playback get separate PCMs:
        // NAME_in captures NAME-in.raw, NAME_out plays into NAME-out.raw.
        for name in ["ramp", "rate"] {
            let out = dir.join(format!("{name}-out.raw"));
            let inp = dir.join(format!("{name}-in.raw"));
            let copy = dir.join(format!("{name}-captured.raw"));
            std::fs::write(&inp, []).unwrap();
            conf.push_str(&format!(
                "pcm.{name}_in {{ type file slave.pcm {{ type null }} file \"{}\" infile \"{}\" format \"raw\" \
                 hint {{ show on description \"File input {name}\" }} }}\n\
                 pcm.{name}_out {{ type file slave.pcm {{ type null }} file \"{}\" format \"raw\" \
                 hint {{ show on description \"File output {name}\" }} }}\n",
                copy.display(),
                inp.display(),
                out.display(),
            ));
        }
        conf.push_str("pcm.silent { type null hint { show on description \"Null device\" } }\n");
        let path = dir.join("asound.conf");
        std::fs::write(&path, conf).unwrap();
        // SAFETY: called under OnceLock before any test touches ALSA or spawns threads that
        // read the environment.
        unsafe { std::env::set_var("ALSA_CONFIG_PATH", &path) };
        Paths { dir }
    })
}

fn config(rate: u32, capture: &str, playback: &str) -> AudioConfig {
    let pair = DevicePair {
        capture: capture.into(),
        playback: playback.into(),
    };
    AudioConfig {
        rate,
        handset: pair.clone(),
        speaker: pair,
        retry: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        ..AudioConfig::default()
    }
}

fn read_raw(path: &PathBuf) -> Vec<i16> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Compares without dumping thousands of samples on failure.
fn assert_same(actual: &[i16], expected: &[i16], what: &str) {
    assert!(
        actual.len() >= expected.len(),
        "{what}: {} samples, want {}",
        actual.len(),
        expected.len()
    );
    if let Some(i) = expected.iter().zip(actual).position(|(e, a)| e != a) {
        panic!(
            "{what}: first difference at sample {i}: got {:?}, want {:?}",
            &actual[i..(i + 8).min(actual.len())],
            &expected[i..(i + 8).min(expected.len())]
        );
    }
}

fn write_raw(path: &PathBuf, samples: &[i16]) {
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn capture_and_playback_are_bit_exact_through_the_file_plugin() {
    let paths = setup();
    // 0.1 s of a ramp that is never zero, to be found exactly in the captured stream.
    let input: Vec<i16> = (0..1600).map(|i| (i % 2000 + 1) as i16).collect();
    write_raw(&paths.file("ramp-in.raw"), &input);
    // The file plugin has no clock: the playback thread takes whatever the ring holds at
    // once and fills a period with silence whenever it is empty. A ring that holds all the
    // playback ramp lets it go in with one write, so no gap can come between two writes.
    let mut audio = Audio::start(AudioConfig {
        ring: Duration::from_millis(500),
        ..config(16_000, "ramp_in", "ramp_out")
    })
    .unwrap();
    audio.io.wait_ready(Duration::from_secs(2)).unwrap();

    // Playback: 0.3 s of another ramp.
    let output: Vec<i16> = (0..4800).map(|i| -((i % 3000) as i16) - 1).collect();
    let mut fed = 0;
    let mut captured = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while (fed < output.len() || captured.len() < input.len() + 1_600) && Instant::now() < deadline
    {
        fed += audio.playback.write(&output[fed..]);
        let mut buf = [0i16; 512];
        let n = audio.capture.read(&mut buf);
        captured.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(2));
    }
    // Let the playback thread take the rest of the ring (it is paced in real time once it
    // is a second ahead), plus one period for the device write.
    while audio.playback.queued() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let stats = audio.io.stats();
    audio.io.stop();

    // The stream carries silence until the device is open, then the file's content.
    let first = captured
        .iter()
        .position(|s| *s != 0)
        .expect("captured something");
    assert_same(&captured[first..], &input, "capture is the file's content");
    let played = read_raw(&paths.file("ramp-out.raw"));
    let start = played
        .iter()
        .position(|s| *s != 0)
        .expect("something was played");
    assert!(played.len() >= start + output.len(), "all of it was played");
    assert_same(&played[start..], &output, "the file holds what was played");
    assert_eq!(stats.capture.device.as_deref(), Some("ramp_in"));
    assert_eq!(stats.capture.device_rate, 16_000);
    assert_eq!(stats.capture.xruns + stats.playback.xruns, 0);
    assert_eq!(
        stats.capture.device_errors + stats.playback.device_errors,
        0
    );
}

#[test]
fn a_forced_device_rate_is_resampled_both_ways() {
    let paths = setup();
    // The device runs at 48 kHz, the streams at 16 kHz.
    write_raw(
        &paths.file("rate-in.raw"),
        &common::tone(48_000, 1000.0, 8000.0, 0, 9_600),
    );
    let mut cfg = config(16_000, "rate_in", "rate_out");
    cfg.device_rate = Some(48_000);
    let mut audio = Audio::start(cfg).unwrap();
    audio.io.wait_ready(Duration::from_secs(2)).unwrap();
    let tone = common::tone(16_000, 1000.0, 8000.0, 0, 3_200);
    let mut fed = 0;
    let mut captured = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while (fed < tone.len() || captured.len() < 6_400) && Instant::now() < deadline {
        fed += audio.playback.write(&tone[fed..]);
        let mut buf = [0i16; 512];
        let n = audio.capture.read(&mut buf);
        captured.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(2));
    }
    while audio.playback.queued() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    let stats = audio.io.stats();
    audio.io.stop();
    assert_eq!(stats.capture.device_rate, 48_000);
    assert_eq!(stats.playback.device_rate, 48_000);
    // Capture: 0.2 s at 48 kHz became 0.2 s at 16 kHz of the same 1 kHz tone (after the
    // silence that fills the stream until the device is open; at the end of its file the
    // plugin repeats the last period, so stop short of that).
    let first = captured
        .iter()
        .position(|s| *s != 0)
        .expect("captured something");
    let cap = &captured[first + 100..first + 2_800];
    assert!(common::purity(cap, 16_000, 1000.0) > 0.98);
    let f = common::zero_crossing_frequency(cap, 16_000);
    assert!((f - 1000.0).abs() < 2.0, "captured {f} Hz");
    // Playback: the file holds a 48 kHz rendering of the 16 kHz tone.
    let played = read_raw(&paths.file("rate-out.raw"));
    let start = played.iter().position(|s| *s != 0).unwrap();
    let body = &played[start + 100..start + 9_000];
    let f = common::zero_crossing_frequency(body, 48_000);
    assert!((f - 1000.0).abs() < 2.0, "played {f} Hz");
    assert!(common::purity(body, 48_000, 1000.0) > 0.98);
}

#[test]
fn a_missing_device_is_a_clear_error_retried_without_spinning() {
    setup();
    let mut audio = Audio::start(config(16_000, "no_such_device", "silent")).unwrap();
    let err = audio.io.wait_ready(Duration::from_millis(300)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("no_such_device") && text.contains("capture"),
        "{text}"
    );
    // Meanwhile the capture stream carries silence at real-time pace (16 000 samples/s).
    let t0 = Instant::now();
    let mut buf = vec![0i16; 4096];
    let mut n = 0;
    let mut all_silent = true;
    audio.capture.read(&mut buf);
    while t0.elapsed() < Duration::from_millis(1000) {
        let got = audio.capture.read(&mut buf);
        all_silent &= buf[..got].iter().all(|s| *s == 0);
        n += got;
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = t0.elapsed();
    let stats = audio.io.stats();
    // Backoff 50 → 100 → 200 ms: a handful of attempts, not a busy loop.
    assert!(
        (2..=15).contains(&stats.capture.device_errors),
        "{} attempts",
        stats.capture.device_errors
    );
    assert!(stats.capture.last_error.unwrap().contains("no_such_device"));
    let expected = 16_000.0 * elapsed.as_secs_f64();
    assert!(
        (n as f64) < expected * 1.1 && (n as f64) > expected * 0.8,
        "{n} samples in {elapsed:?}"
    );
    assert!(all_silent);
    // The playback device is unaffected.
    assert_eq!(stats.playback.device.as_deref(), Some("silent"));
    audio.io.stop();
}

#[test]
fn an_unpaced_device_does_not_run_far_ahead_of_real_time() {
    setup();
    let mut audio = Audio::start(config(16_000, "silent", "silent")).unwrap();
    audio.io.wait_ready(Duration::from_secs(2)).unwrap();
    let t0 = Instant::now();
    let mut total = 0usize;
    let mut buf = vec![0i16; 4096];
    while t0.elapsed() < Duration::from_millis(1500) {
        total += audio.capture.read(&mut buf);
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = audio.io.stats();
    audio.io.stop();
    // At most one second ahead of the 1.5 s that passed, and the threads were not spinning
    // through millions of periods.
    let seconds = total as f64 / 16_000.0;
    assert!(
        seconds < 2.7 && seconds > 1.2,
        "{seconds} s of audio in 1.5 s"
    );
    assert!(
        stats.playback.periods < 300,
        "{} playback periods",
        stats.playback.periods
    );
}

#[test]
fn listing_shows_configured_devices_with_descriptions_and_directions() {
    setup();
    let devices = list_devices();
    let input = devices
        .iter()
        .find(|d| d.name == "ramp_in")
        .expect("ramp_in listed");
    assert_eq!(input.description, "File input ramp");
    // Configuration devices carry no direction hint, so ALSA offers them both ways.
    assert!(input.capture && input.playback);
    let output = devices
        .iter()
        .find(|d| d.name == "ramp_out")
        .expect("ramp_out listed");
    assert_eq!(output.description, "File output ramp");
    let silent = devices
        .iter()
        .find(|d| d.name == "silent")
        .expect("silent listed");
    assert_eq!(silent.description, "Null device");
    assert!(silent.capture && silent.playback);
}
