//! Keypad matrix and hook switch driven through embedded-hal mock pins, with virtual time:
//! bounce patterns, simultaneous keys, ghosting, stuck keys, hook flashes, pin errors.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as Tx};
use offhook_board::BoardError;
use offhook_board::hook::{HookConfig, HookSwitch, Level};
use offhook_board::input::{InputEvent, InputEvent::*, Key};
use offhook_board::keypad::{MatrixLayout, MatrixPins, MatrixSample, MatrixScanner};
use offhook_board::keys::KeyTiming;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Mock pins that will present `scans` (each a set of physically pressed keys, ghosts
/// included as a diode-less matrix would show them) to `MatrixPins::scan`.
fn mock_matrix(layout: &MatrixLayout, scans: &[Vec<Key>]) -> (Vec<PinMock>, Vec<PinMock>) {
    let mut row_tx: Vec<Vec<Tx>> = vec![vec![Tx::set(State::High)]; layout.rows()];
    let mut col_tx: Vec<Vec<Tx>> = vec![Vec::new(); layout.cols()];
    for pressed in scans {
        let sample = MatrixSample::with_keys(layout, pressed);
        for (r, rtx) in row_tx.iter_mut().enumerate() {
            rtx.push(Tx::set(State::Low));
            for (c, ctx) in col_tx.iter_mut().enumerate() {
                let level = if sample.is_closed(r, c) {
                    State::Low
                } else {
                    State::High
                };
                ctx.push(Tx::get(level));
            }
            rtx.push(Tx::set(State::High));
        }
    }
    (
        row_tx.iter().map(|t| PinMock::new(t.iter())).collect(),
        col_tx.iter().map(|t| PinMock::new(t.iter())).collect(),
    )
}

/// Runs the scans at the given times through pins and scanner; returns (time offset, event).
fn run_matrix(scans: &[(Duration, Vec<Key>)], timing: KeyTiming) -> Vec<(Duration, InputEvent)> {
    let layout = MatrixLayout::phone_4x3();
    let pressed: Vec<Vec<Key>> = scans.iter().map(|(_, k)| k.clone()).collect();
    let (rows, cols) = mock_matrix(&layout, &pressed);
    let mut handles: Vec<PinMock> = rows.iter().chain(cols.iter()).cloned().collect();
    let mut pins = MatrixPins::new(
        rows.into_iter()
            .enumerate()
            .map(|(i, p)| (format!("row{i}"), p))
            .collect(),
        cols.into_iter()
            .enumerate()
            .map(|(i, p)| (format!("col{i}"), p))
            .collect(),
    )
    .expect("pins");
    let mut scanner = MatrixScanner::new(layout, ms(20), timing);
    let t0 = Instant::now();
    let mut events = Vec::new();
    for (at, _) in scans {
        let sample = pins.scan().expect("scan");
        let mut out = Vec::new();
        scanner.update(&sample, t0 + *at, &mut out);
        events.extend(out.into_iter().map(|e| (*at, e)));
    }
    for h in handles.iter_mut() {
        h.done();
    }
    events
}

/// Scans every 5 ms from `from` to `to` (exclusive) with the same keys pressed.
fn steady(from: u64, to: u64, keys: &[Key]) -> Vec<(Duration, Vec<Key>)> {
    (from..to)
        .step_by(5)
        .map(|t| (ms(t), keys.to_vec()))
        .collect()
}

fn d(n: u8) -> Key {
    Key::Digit(n)
}

#[test]
fn bouncing_press_and_release_give_one_event_each() {
    // 5 ms scans: the press bounces for 20 ms, the release for 15 ms.
    let bounce = [
        0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    ];
    let scans: Vec<(Duration, Vec<Key>)> = bounce
        .iter()
        .enumerate()
        .map(|(i, b)| (ms(5 * i as u64), if *b == 1 { vec![d(5)] } else { vec![] }))
        .collect();
    let events = run_matrix(&scans, KeyTiming::default());
    // Stable run of presses starts at 25 ms, settles 20 ms later; release run starts at 85 ms.
    assert_eq!(
        events,
        vec![(ms(45), KeyDown(d(5))), (ms(105), KeyUp(d(5)))]
    );
}

#[test]
fn simultaneous_keys_on_different_rows_and_columns() {
    let mut scans = steady(0, 50, &[d(1), d(6)]);
    scans.extend(steady(50, 100, &[]));
    let events = run_matrix(&scans, KeyTiming::default());
    assert_eq!(
        events,
        vec![
            (ms(20), KeyDown(d(1))),
            (ms(20), KeyDown(d(6))),
            (ms(70), KeyUp(d(1))),
            (ms(70), KeyUp(d(6))),
        ]
    );
}

#[test]
fn ghost_rectangle_freezes_its_corners_until_it_breaks() {
    // Hold 1 and 2, then add 4: the matrix also shows 5. Then release 2.
    let mut scans = steady(0, 50, &[d(1), d(2)]);
    scans.extend(steady(50, 200, &[d(1), d(2), d(4)]));
    scans.extend(steady(200, 260, &[d(1), d(4)]));
    let events = run_matrix(&scans, KeyTiming::default());
    assert_eq!(
        events,
        vec![
            (ms(20), KeyDown(d(1))),
            (ms(20), KeyDown(d(2))),
            (ms(220), KeyUp(d(2))),
            (ms(220), KeyDown(d(4))),
        ],
        "5 must never appear, 4 only once the rectangle is gone"
    );
}

#[test]
fn long_press_repeat_and_stuck_key() {
    // The 4×3 matrix has no volume keys: make 3 a repeating key.
    let timing = KeyTiming {
        stuck_after: Some(ms(5000)),
        repeat_keys: vec![d(3)],
        ..KeyTiming::default()
    };
    // 3 held, scanned every 50 ms for 6 s; then 9 is pressed while 3 is still stuck.
    let mut scans: Vec<(Duration, Vec<Key>)> =
        (0..6000).step_by(50).map(|t| (ms(t), vec![d(3)])).collect();
    scans.extend(steady(6000, 6100, &[d(3), d(9)]));
    scans.extend(steady(6100, 6200, &[d(9)]));
    scans.extend(steady(6200, 6300, &[]));
    let events = run_matrix(&scans, timing);
    let repeats = events.iter().filter(|(_, e)| *e == KeyRepeat(d(3))).count();
    assert_eq!(events.first(), Some(&(ms(50), KeyDown(d(3)))));
    assert!(events.contains(&(ms(800), KeyLongPress(d(3)))));
    // Repeats at 800, 950, … until stuck at 5000 (polled at 50 ms steps: one per poll).
    assert!((20..=30).contains(&repeats), "repeats: {repeats}");
    assert!(events.contains(&(ms(5000), KeyUp(d(3)))));
    assert!(
        !events
            .iter()
            .any(|(t, e)| *t > ms(5000) && matches!(e, KeyRepeat(_) | KeyLongPress(_))),
        "nothing more from the stuck key"
    );
    // The other key still works, and releasing the stuck key reports nothing more.
    let tail: Vec<_> = events.iter().filter(|(t, _)| *t > ms(5000)).collect();
    assert_eq!(
        tail,
        vec![&(ms(6020), KeyDown(d(9))), &(ms(6220), KeyUp(d(9)))]
    );
}

#[test]
fn a_failing_column_is_named_and_its_row_released() {
    let row0 = PinMock::new(&[
        Tx::set(State::High),
        Tx::set(State::Low),
        Tx::set(State::High),
    ]);
    let col0 = PinMock::new(&[Tx::get(State::High).with_error(MockError::Io(ErrorKind::Other))]);
    let mut handles = [row0.clone(), col0.clone()];
    let mut pins =
        MatrixPins::new(vec![("GPIO5".into(), row0)], vec![("GPIO12".into(), col0)]).unwrap();
    let err = pins.scan().expect_err("read error");
    assert!(
        matches!(&err, BoardError::Pin { pin, .. } if pin == "GPIO12"),
        "{err}"
    );
    for h in handles.iter_mut() {
        h.done();
    }
}

/// Feeds a hook pin level pattern (one sample per 5 ms) through a mock pin.
fn run_hook(config: HookConfig, levels: &[(u64, u64, Level)]) -> Vec<(Duration, InputEvent)> {
    let mut samples = Vec::new();
    for &(from, to, level) in levels {
        for t in (from..to).step_by(5) {
            samples.push((ms(t), level));
        }
    }
    let tx: Vec<Tx> = samples
        .iter()
        .map(|(_, l)| Tx::get(if l.is_high() { State::High } else { State::Low }))
        .collect();
    let mut pin = PinMock::new(&tx);
    let mut hook = HookSwitch::new(config);
    let t0 = Instant::now();
    let mut events = Vec::new();
    for (at, _) in &samples {
        let mut out = Vec::new();
        hook.sample(&mut pin, "GPIO4", t0 + *at, &mut out).unwrap();
        events.extend(out.into_iter().map(|e| (*at, e)));
    }
    pin.done();
    events
}

use Level::{High, Low};

#[test]
fn hook_reports_initial_state_and_lift_with_bounce() {
    let events = run_hook(
        HookConfig::default(),
        &[
            (0, 100, Low),
            (100, 105, High),
            (105, 110, Low),
            (110, 115, High),
            (115, 300, High),
        ],
    );
    assert_eq!(events, vec![(ms(20), OnHook), (ms(130), OffHook)]);
}

#[test]
fn hook_flash_glitch_and_hang_up() {
    let events = run_hook(
        HookConfig::default(),
        &[
            (0, 100, High),   // lifted at start
            (100, 400, Low),  // 300 ms down: flash
            (400, 600, High), //
            (600, 650, Low),  // 50 ms down: glitch, ignored
            (650, 900, High), //
            (900, 1790, Low), // 890 ms down: still a flash
            (1790, 2000, High),
            (2000, 3500, Low), // hang up, reported 900 ms after going down
        ],
    );
    assert_eq!(
        events,
        vec![
            (ms(20), OffHook),
            (ms(420), HookFlash),
            (ms(1810), HookFlash),
            (ms(2900), OnHook),
        ]
    );
}

#[test]
fn normally_closed_switch_polarity() {
    let config = HookConfig {
        off_hook_level: Level::Low,
        ..HookConfig::default()
    };
    let events = run_hook(config, &[(0, 100, High), (100, 200, Low)]);
    assert_eq!(events, vec![(ms(20), OnHook), (ms(120), OffHook)]);
}

#[test]
fn one_scan_step_reads_hook_matrix_and_buttons_from_pins() {
    use offhook_board::inputs::{ButtonPin, PinInputs};
    use offhook_board::keys::KeyBank;
    // Two steps 25 ms apart: the hook reads lifted, key 5 held, the speaker button pressed.
    let layout = MatrixLayout::phone_4x3();
    let (rows, cols) = mock_matrix(&layout, &[vec![d(5)], vec![d(5)]]);
    let mut handles: Vec<PinMock> = rows.iter().chain(cols.iter()).cloned().collect();
    let hook_pin = PinMock::new(&[Tx::get(State::High), Tx::get(State::High)]);
    let button_pin = PinMock::new(&[Tx::get(State::Low), Tx::get(State::Low)]);
    handles.push(hook_pin.clone());
    handles.push(button_pin.clone());
    let pins = MatrixPins::new(
        rows.into_iter()
            .enumerate()
            .map(|(i, p)| (format!("row{i}"), p))
            .collect(),
        cols.into_iter()
            .enumerate()
            .map(|(i, p)| (format!("col{i}"), p))
            .collect(),
    )
    .unwrap();
    let scanner = MatrixScanner::new(layout, ms(20), KeyTiming::default());
    let mut inputs = PinInputs::new(
        Some((pins, scanner)),
        vec![ButtonPin {
            key: Key::Speaker,
            name: "GPIO22".into(),
            pin: button_pin,
            active_low: true,
        }],
        KeyBank::new(vec![Key::Speaker], ms(20), KeyTiming::default()),
        Some((
            "GPIO4".into(),
            hook_pin,
            HookSwitch::new(HookConfig::default()),
        )),
    );
    let t0 = Instant::now();
    let mut out = Vec::new();
    inputs.step(t0, &mut out).unwrap();
    assert!(out.is_empty(), "nothing settled yet: {out:?}");
    inputs.step(t0 + ms(25), &mut out).unwrap();
    assert_eq!(out, vec![OffHook, KeyDown(d(5)), KeyDown(Key::Speaker)]);
    for h in handles.iter_mut() {
        h.done();
    }
}

#[test]
fn indicator_thread_drives_led_and_buzzer_pins() {
    use offhook_board::cadence::Cadence;
    use offhook_board::indicators::{IndicatorThread, Indicators, PinSwitch, RingerDrive};
    use offhook_board::led::{Led, LedMode};
    // Mute LED active high; buzzer active low. Start: both off. Then LED on, ring, silence;
    // dropping the thread turns everything off again.
    let led = PinMock::new(&[
        Tx::set(State::Low),
        Tx::set(State::High),
        Tx::set(State::Low),
    ]);
    let buzzer = PinMock::new(&[
        Tx::set(State::High),
        Tx::set(State::Low),
        Tx::set(State::High),
    ]);
    let mut handles = [led.clone(), buzzer.clone()];
    let mut thread = IndicatorThread::spawn(
        vec![(Led::Mute, Box::new(PinSwitch::new("GPIO23", led, false)))],
        RingerDrive::Switch(Box::new(PinSwitch::new("GPIO25", buzzer, true))),
    )
    .unwrap();
    thread.set_led(Led::Mute, LedMode::On);
    thread.set_ringer(Some(Cadence::continuous()));
    std::thread::sleep(Duration::from_millis(50));
    thread.set_ringer(None);
    drop(thread);
    for h in handles.iter_mut() {
        h.done();
    }
}
