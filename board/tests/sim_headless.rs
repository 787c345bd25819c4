//! The headless simulator driven by scripts and the control socket, with a tiny stand-in
//! firmware reacting to its inputs.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::thread::JoinHandle;
use std::time::Duration;

use embedded_graphics::mono_font::{MonoTextStyle, ascii::FONT_6X10};
use embedded_graphics::pixelcolor::BinaryColor;
use embedded_graphics::prelude::*;
use embedded_graphics::text::Text;
use offhook_board::cadence::Cadence;
use offhook_board::display::Canvas;
use offhook_board::input::InputEvent;
use offhook_board::led::{Led, LedMode};
use offhook_board::sim::{self, Script, SimOptions};
use offhook_board::{Board, BoardError};

/// Lights mute while off-hook, shows dialled digits, rings on hook flash. Returns the events
/// it saw once the input stream ends.
fn stand_in_firmware(mut board: Board) -> JoinHandle<Vec<InputEvent>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut digits = String::new();
        while let Some(event) = board.events.blocking_recv() {
            seen.push(event);
            let text = match event {
                InputEvent::OffHook => {
                    board.indicators.set_led(Led::Mute, LedMode::On);
                    "Dial tone".to_owned()
                }
                InputEvent::OnHook => {
                    board.indicators.set_led(Led::Mute, LedMode::Off);
                    board.indicators.set_ringer(None);
                    digits.clear();
                    "Idle".to_owned()
                }
                InputEvent::HookFlash => {
                    board.indicators.set_ringer(Some(Cadence::uk()));
                    "Flash".to_owned()
                }
                InputEvent::KeyDown(k) => {
                    if let Some(c) = k.dtmf_char() {
                        digits.push(c);
                    }
                    format!("Dialling {digits}")
                }
                _ => continue,
            };
            if let Canvas::Mono(frame) = board.display.canvas() {
                frame.clear(BinaryColor::Off).unwrap();
                Text::new(
                    &text,
                    Point::new(0, 10),
                    MonoTextStyle::new(&FONT_6X10, BinaryColor::On),
                )
                .draw(frame)
                .unwrap();
            }
            board.display.flush().unwrap();
            board.display.set_summary(&text);
        }
        seen
    })
}

#[test]
fn script_drives_the_firmware_and_checks_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let frames = dir.path().join("frames");
    let snap = dir.path().join("snap.png");
    let script = Script::parse(&format!(
        "hook up\n\
         expect led mute on within 1s\n\
         expect screen Dial tone\n\
         dial 12\n\
         expect screen \"Dialling 12\"\n\
         key 3\n\
         expect frame\n\
         hold 4 1s\n\
         hook flash\n\
         expect ringer uk\n\
         snapshot {}\n\
         hook down\n\
         expect led mute off\n\
         expect ringer off\n",
        snap.display()
    ))
    .unwrap();
    let (board, mut handle) = sim::start(SimOptions {
        script: Some(script),
        frames_dir: Some(frames.clone()),
        ..SimOptions::default()
    })
    .unwrap();
    let firmware = stand_in_firmware(board);
    handle.wait_script().expect("script passes");
    let seen = firmware.join().unwrap();
    assert!(
        seen.contains(&InputEvent::KeyLongPress(offhook_board::input::Key::Digit(
            4
        )))
    );
    assert_eq!(seen.first(), Some(&InputEvent::OffHook));
    assert_eq!(seen.last(), Some(&InputEvent::OnHook));

    let log = handle.log_lines();
    for expected in [
        "input off-hook",
        "led mute on",
        "screen \"Dialling 12\"",
        "input key-down 3",
        "input long-press 4",
        "input hook-flash",
        "ringer on 400/200/400/2000",
        "led mute off",
        "ringer off",
        "script done",
        "input end",
    ] {
        assert!(
            log.iter().any(|l| l == expected),
            "missing {expected:?} in {log:#?}"
        );
    }
    let frame_files = std::fs::read_dir(&frames).unwrap().count() as u64;
    assert_eq!(frame_files, handle.state().frames);
    assert!(frame_files >= 6);
    let img = image::open(&snap).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (256, 128));
    assert!(
        img.pixels().any(|p| p.0 == [255, 255, 255]),
        "text was drawn"
    );
}

/// The same kind of session at pin level: the script closes contacts on simulated pins and
/// the real matrix scanner, debouncers, long-press timing and hook-flash window make the
/// events.
#[test]
fn at_pin_level_the_real_scanner_and_hook_timing_make_the_events() {
    use offhook_board::input::Key;
    use offhook_board::sim::SimPins;

    let script = Script::parse(
        "hook up\n\
         expect led mute on within 1s\n\
         dial 12\n\
         expect screen \"Dialling 12\"\n\
         hold volume-up 1200ms\n\
         key menu\n\
         hook flash\n\
         expect ringer uk\n\
         hook down\n\
         expect led mute off within 3s\n",
    )
    .unwrap();
    let (board, mut handle) = sim::start(SimOptions {
        script: Some(script),
        pins: Some(SimPins::standard()),
        ..SimOptions::default()
    })
    .unwrap();
    let firmware = stand_in_firmware(board);
    handle.wait_script().expect("script passes");
    let seen = firmware.join().unwrap();
    let repeats = seen
        .iter()
        .filter(|e| **e == InputEvent::KeyRepeat(Key::VolumeUp))
        .count();
    assert!(repeats >= 2, "the volume key repeats while held: {seen:?}");
    let mut without_repeats: Vec<InputEvent> = seen
        .iter()
        .copied()
        .filter(|e| !matches!(e, InputEvent::KeyRepeat(_)))
        .collect();
    // A real hook switch reports its first settled level: on-hook, unless the script lifted
    // the handset before the first reading settled.
    if without_repeats.first() == Some(&InputEvent::OnHook) {
        without_repeats.remove(0);
    }
    assert_eq!(
        without_repeats,
        vec![
            InputEvent::OffHook,
            InputEvent::KeyDown(Key::Digit(1)),
            InputEvent::KeyUp(Key::Digit(1)),
            InputEvent::KeyDown(Key::Digit(2)),
            InputEvent::KeyUp(Key::Digit(2)),
            InputEvent::KeyDown(Key::VolumeUp),
            InputEvent::KeyLongPress(Key::VolumeUp),
            InputEvent::KeyUp(Key::VolumeUp),
            InputEvent::KeyDown(Key::Menu),
            InputEvent::KeyUp(Key::Menu),
            InputEvent::HookFlash,
            InputEvent::OnHook,
        ]
    );
}

#[test]
fn a_failed_expectation_names_its_line_and_ends_the_session() {
    let script =
        Script::parse("hook up\n# nobody lights this\nexpect led message on within 200ms\n")
            .unwrap();
    let (board, mut handle) = sim::start(SimOptions {
        script: Some(script),
        ..SimOptions::default()
    })
    .unwrap();
    let firmware = stand_in_firmware(board);
    let err = handle.wait_script().unwrap_err();
    match &err {
        BoardError::ExpectationFailed { line, source } => {
            assert_eq!(*line, 3);
            assert!(
                matches!(**source, BoardError::NotMet { ref actual, .. } if actual == "led message is off"),
                "{source}"
            );
        }
        other => panic!("unexpected error {other}"),
    }
    // The stream ends so the firmware stops too.
    firmware.join().unwrap();
    assert!(
        handle
            .log_lines()
            .iter()
            .any(|l| l.starts_with("error: script line 3"))
    );
}

#[test]
fn control_socket_runs_commands_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sim.sock");
    let (board, handle) = sim::start(SimOptions {
        control_socket: Some(path.clone()),
        ..SimOptions::default()
    })
    .unwrap();
    let firmware = stand_in_firmware(board);
    let stream = UnixStream::connect(&path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut ask = |line: &str| {
        writeln!(writer, "{line}").unwrap();
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        reply.trim_end().to_owned()
    };
    assert_eq!(ask("hook up"), "ok");
    assert_eq!(ask("expect led mute on within 1s"), "ok");
    assert!(ask("frobnicate").starts_with("error: unknown command"));
    assert!(ask("expect ringer on within 100ms").starts_with("error: ringer on after"));
    assert_eq!(ask("quit"), "ok");
    let seen = firmware.join().unwrap();
    assert_eq!(seen, vec![InputEvent::OffHook]);
    assert!(handle.state().ended);
    drop(handle);
    assert!(!path.exists(), "socket file removed");
}
