//! The pin-level simulated board: the simulator closes contacts on simulated GPIO pins
//! (embedded-hal 1.0 [`InputPin`] / [`OutputPin`]), and the real input shell reads them, so
//! the keypad matrix scanner, the debouncers, long press and the hook-flash timing run as on
//! a Pi. A key held in a script is a closed crossing of the matrix; `hook flash` is the
//! cradle pressed for a while.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use embedded_hal::digital::{ErrorType, InputPin, OutputPin};

use crate::error::{BoardError, Result};
use crate::hook::{HookConfig, HookSwitch};
use crate::input::Key;
use crate::inputs::{ButtonPin, PinInputs};
use crate::keypad::{MatrixLayout, MatrixPins, MatrixScanner};
use crate::keys::{KeyBank, KeyTiming};
use crate::profile::Profile;

/// How the simulated keys and hook are wired when the simulator works at pin level.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPins {
    pub matrix: MatrixLayout,
    /// Keys on pins of their own (to ground, pull-up).
    pub buttons: Vec<Key>,
    pub hook: HookConfig,
    pub keypad_debounce: Duration,
    /// How often the pins are read.
    pub scan_interval: Duration,
    /// How long `hook flash` (and the keyboard's `f`) holds the cradle down.
    pub flash: Duration,
}

impl SimPins {
    /// The reference builds' wiring: a 4×4 matrix (the dial pad, and mute, redial, volume
    /// up and down in column 4), the speaker, reject and menu keys on pins of their own, and a
    /// hook switch with 20 ms debounce and a 100–900 ms flash window.
    pub fn standard() -> SimPins {
        let d = |n| Some(Key::Digit(n));
        let matrix = MatrixLayout::new(vec![
            vec![d(1), d(2), d(3), Some(Key::Mute)],
            vec![d(4), d(5), d(6), Some(Key::Redial)],
            vec![d(7), d(8), d(9), Some(Key::VolumeUp)],
            vec![
                Some(Key::Star),
                d(0),
                Some(Key::Pound),
                Some(Key::VolumeDown),
            ],
        ]);
        SimPins {
            // A fixed layout with each key once: it cannot fail, and if it ever did the
            // smaller pad still dials.
            matrix: matrix.unwrap_or_else(|_| MatrixLayout::phone_4x3()),
            buttons: vec![Key::Speaker, Key::Reject, Key::Menu],
            hook: HookConfig::default(),
            keypad_debounce: Duration::from_millis(20),
            scan_interval: Duration::from_millis(5),
            flash: Duration::from_millis(400),
        }
    }

    /// The wiring of `profile` where it has a keypad, buttons or a hook (a simulated profile
    /// may copy a real board's), the standard parts where it has not. Keys the wiring lacks
    /// are added as buttons, so that every key of the simulator can still be pressed.
    pub fn from_profile(profile: &Profile) -> Result<SimPins> {
        let mut pins = SimPins::standard();
        if let Some(layout) = profile.matrix_layout() {
            pins.matrix = layout.map_err(|e| e.in_profile(&profile.name))?;
            pins.buttons.clear();
        }
        if let Some(k) = &profile.keypad {
            pins.keypad_debounce = Duration::from_millis(k.debounce_ms);
            pins.scan_interval = Duration::from_millis(k.scan_interval_ms);
        }
        for b in &profile.buttons {
            let key = Key::from_name(&b.key).ok_or_else(|| {
                BoardError::unknown("key", b.key.as_str()).in_profile(&profile.name)
            })?;
            if !pins.buttons.contains(&key) {
                pins.buttons.push(key);
            }
        }
        for key in Key::ALL {
            if pins.matrix.position(key).is_none() && !pins.buttons.contains(&key) {
                pins.buttons.push(key);
            }
        }
        pins.hook = profile.hook_config();
        // Halfway through the flash window: a flash however the profile sets it.
        pins.flash = (pins.hook.flash_min + pins.hook.flash_max) / 2;
        Ok(pins)
    }
}

/// What is physically closed, and which matrix row the scanner drives low.
#[derive(Debug, Default)]
struct Contacts {
    held: Vec<Key>,
    lifted: bool,
    rows_low: Vec<bool>,
}

/// The contacts shared by the simulator (which closes them) and the pins (read by the
/// scanner).
#[derive(Debug, Clone, Default)]
pub(crate) struct Wiring {
    contacts: Arc<Mutex<Contacts>>,
}

impl Wiring {
    fn lock(&self) -> MutexGuard<'_, Contacts> {
        // Plain data: a panicking holder leaves nothing half-done that matters.
        self.contacts.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn press(&self, key: Key) {
        let mut c = self.lock();
        if !c.held.contains(&key) {
            c.held.push(key);
        }
    }

    pub fn release(&self, key: Key) {
        self.lock().held.retain(|k| *k != key);
    }

    pub fn set_lifted(&self, lifted: bool) {
        self.lock().lifted = lifted;
    }

    pub fn is_lifted(&self) -> bool {
        self.lock().lifted
    }
}

/// A matrix row: an output the scanner drives low to read that row.
pub(crate) struct RowPin {
    wiring: Wiring,
    row: usize,
}

/// What an input pin is wired to.
#[derive(Debug, Clone)]
enum Contact {
    /// A matrix column, pulled up: low while a held key joins it to a row driven low.
    Column { col: usize, layout: MatrixLayout },
    /// A key to ground with a pull-up: low while held.
    Button(Key),
    /// The hook switch: `lifted_level` while the handset is up.
    Hook { lifted_high: bool },
}

/// An input pin of the simulated board.
pub(crate) struct SimInputPin {
    wiring: Wiring,
    contact: Contact,
}

impl ErrorType for RowPin {
    type Error = Infallible;
}

impl OutputPin for RowPin {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.drive(true);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.drive(false);
        Ok(())
    }
}

impl RowPin {
    fn drive(&self, low: bool) {
        let mut c = self.wiring.lock();
        if c.rows_low.len() <= self.row {
            c.rows_low.resize(self.row + 1, false);
        }
        c.rows_low[self.row] = low;
    }
}

impl ErrorType for SimInputPin {
    type Error = Infallible;
}

impl InputPin for SimInputPin {
    fn is_high(&mut self) -> Result<bool, Self::Error> {
        let c = self.wiring.lock();
        Ok(match &self.contact {
            Contact::Column { col, layout } => !c.held.iter().any(|key| {
                layout.position(*key).is_some_and(|(row, at)| {
                    at == *col && c.rows_low.get(row).copied().unwrap_or(false)
                })
            }),
            Contact::Button(key) => !c.held.contains(key),
            Contact::Hook { lifted_high } => c.lifted == *lifted_high,
        })
    }

    fn is_low(&mut self) -> Result<bool, Self::Error> {
        self.is_high().map(|high| !high)
    }
}

/// The real input shell over simulated pins, and the contacts that drive them.
pub(crate) fn build(
    pins: &SimPins,
    timing: KeyTiming,
) -> Result<(PinInputs<RowPin, SimInputPin>, Wiring)> {
    let wiring = Wiring::default();
    let layout = pins.matrix.clone();
    let rows = (0..layout.rows())
        .map(|row| {
            let pin = RowPin {
                wiring: wiring.clone(),
                row,
            };
            (format!("sim row {}", row + 1), pin)
        })
        .collect();
    let cols = (0..layout.cols())
        .map(|col| {
            let pin = SimInputPin {
                wiring: wiring.clone(),
                contact: Contact::Column {
                    col,
                    layout: layout.clone(),
                },
            };
            (format!("sim column {}", col + 1), pin)
        })
        .collect();
    let scanner = MatrixScanner::new(layout, pins.keypad_debounce, timing.clone());
    let buttons: Vec<ButtonPin<SimInputPin>> = pins
        .buttons
        .iter()
        .map(|key| ButtonPin {
            key: *key,
            name: format!("sim {key} button"),
            pin: SimInputPin {
                wiring: wiring.clone(),
                contact: Contact::Button(*key),
            },
            active_low: true,
        })
        .collect();
    let bank = KeyBank::new(pins.buttons.clone(), pins.keypad_debounce, timing);
    let hook_pin = SimInputPin {
        wiring: wiring.clone(),
        contact: Contact::Hook {
            lifted_high: pins.hook.off_hook_level.is_high(),
        },
    };
    let hook = HookSwitch::new(pins.hook.clone());
    let inputs = PinInputs::new(
        Some((MatrixPins::new(rows, cols)?, scanner)),
        buttons,
        bank,
        Some(("sim hook".to_string(), hook_pin, hook)),
    );
    Ok((inputs, wiring))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::input::InputEvent;

    /// Steps the shell every scan interval from `from` for `span`, collecting events.
    fn run_for(
        inputs: &mut PinInputs<RowPin, SimInputPin>,
        pins: &SimPins,
        from: &mut Instant,
        span: Duration,
        out: &mut Vec<InputEvent>,
    ) {
        let end = *from + span;
        while *from < end {
            *from += pins.scan_interval;
            inputs.step(*from, out).expect("simulated pins never fail");
        }
    }

    #[test]
    fn matrix_keys_buttons_and_hook_go_through_the_real_scanner() {
        let pins = SimPins::standard();
        let (mut inputs, wiring) = build(&pins, KeyTiming::default()).expect("wiring");
        let mut now = Instant::now();
        let mut out = Vec::new();
        run_for(
            &mut inputs,
            &pins,
            &mut now,
            Duration::from_millis(50),
            &mut out,
        );
        assert_eq!(out, vec![InputEvent::OnHook], "the settled level at start");
        out.clear();

        wiring.set_lifted(true);
        run_for(
            &mut inputs,
            &pins,
            &mut now,
            Duration::from_millis(50),
            &mut out,
        );
        wiring.press(Key::Digit(5));
        // Shorter than the debounce: nothing yet.
        run_for(
            &mut inputs,
            &pins,
            &mut now,
            Duration::from_millis(10),
            &mut out,
        );
        assert_eq!(out, vec![InputEvent::OffHook]);
        run_for(
            &mut inputs,
            &pins,
            &mut now,
            Duration::from_millis(70),
            &mut out,
        );
        wiring.release(Key::Digit(5));
        wiring.press(Key::Menu);
        run_for(
            &mut inputs,
            &pins,
            &mut now,
            Duration::from_millis(80),
            &mut out,
        );
        wiring.release(Key::Menu);
        run_for(
            &mut inputs,
            &pins,
            &mut now,
            Duration::from_millis(50),
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                InputEvent::OffHook,
                InputEvent::KeyDown(Key::Digit(5)),
                InputEvent::KeyUp(Key::Digit(5)),
                InputEvent::KeyDown(Key::Menu),
                InputEvent::KeyUp(Key::Menu),
            ]
        );
        out.clear();

        // The cradle pressed for the flash time is a flash; for longer, a hang-up.
        wiring.set_lifted(false);
        run_for(&mut inputs, &pins, &mut now, pins.flash, &mut out);
        wiring.set_lifted(true);
        run_for(
            &mut inputs,
            &pins,
            &mut now,
            Duration::from_millis(100),
            &mut out,
        );
        assert_eq!(out, vec![InputEvent::HookFlash]);
        out.clear();
        wiring.set_lifted(false);
        run_for(
            &mut inputs,
            &pins,
            &mut now,
            Duration::from_millis(1000),
            &mut out,
        );
        assert_eq!(out, vec![InputEvent::OnHook]);
    }

    #[test]
    fn a_held_volume_key_long_presses_and_repeats() {
        let pins = SimPins::standard();
        let (mut inputs, wiring) = build(&pins, KeyTiming::default()).expect("wiring");
        let mut now = Instant::now();
        let mut out = Vec::new();
        wiring.set_lifted(true);
        wiring.press(Key::VolumeUp);
        run_for(
            &mut inputs,
            &pins,
            &mut now,
            Duration::from_millis(1200),
            &mut out,
        );
        assert!(out.contains(&InputEvent::KeyDown(Key::VolumeUp)), "{out:?}");
        assert!(
            out.contains(&InputEvent::KeyLongPress(Key::VolumeUp)),
            "{out:?}"
        );
        let repeats = out
            .iter()
            .filter(|e| **e == InputEvent::KeyRepeat(Key::VolumeUp))
            .count();
        assert!(repeats >= 2, "{out:?}");
    }

    #[test]
    fn a_profile_wiring_keeps_every_key_pressable() {
        let zero = Profile::builtin("pi-zero2w-ssd1306").expect("built-in profile");
        let pins = SimPins::from_profile(&zero).expect("wiring");
        assert_eq!(pins.matrix.rows(), 4);
        assert_eq!(pins.scan_interval, Duration::from_millis(5));
        for key in Key::ALL {
            assert!(
                pins.matrix.position(key).is_some() || pins.buttons.contains(&key),
                "{key} cannot be pressed"
            );
        }
        assert!(pins.flash > pins.hook.flash_min && pins.flash < pins.hook.flash_max);
    }
}
