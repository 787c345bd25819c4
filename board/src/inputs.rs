//! The pin-scanning input shell: keypad matrix, direct buttons and hook switch read from
//! embedded-hal pins, one [`PinInputs::step`] per scan interval.

use std::time::{Duration, Instant};

use embedded_hal::digital::{InputPin, OutputPin};

use crate::board::InputSender;
use crate::error::{BoardError, Result};
use crate::hook::HookSwitch;
use crate::input::{InputEvent, Key};
use crate::keypad::{MatrixPins, MatrixScanner};
use crate::keys::KeyBank;

/// A key wired to its own pin.
pub struct ButtonPin<I> {
    pub key: Key,
    pub name: String,
    pub pin: I,
    pub active_low: bool,
}

/// Everything read from pins.
pub struct PinInputs<O, I> {
    matrix: Option<(MatrixPins<O, I>, MatrixScanner)>,
    buttons: Vec<ButtonPin<I>>,
    bank: KeyBank,
    hook: Option<(String, I, HookSwitch)>,
    /// The buttons' last reading, reused each scan (no allocation per scan).
    pressed: Vec<bool>,
}

impl<O: OutputPin, I: InputPin> PinInputs<O, I> {
    pub fn new(
        matrix: Option<(MatrixPins<O, I>, MatrixScanner)>,
        buttons: Vec<ButtonPin<I>>,
        button_bank: KeyBank,
        hook: Option<(String, I, HookSwitch)>,
    ) -> Self {
        PinInputs {
            pressed: Vec::with_capacity(buttons.len()),
            matrix,
            buttons,
            bank: button_bank,
            hook,
        }
    }

    /// Reads every input once at `now`, appending events.
    pub fn step(&mut self, now: Instant, out: &mut Vec<InputEvent>) -> Result<()> {
        if let Some((name, pin, hook)) = self.hook.as_mut() {
            hook.sample(pin, name, now, out)?;
        }
        if let Some((pins, scanner)) = self.matrix.as_mut() {
            let sample = pins.scan()?;
            scanner.update(&sample, now, out);
        }
        if !self.buttons.is_empty() {
            let pressed = &mut self.pressed;
            pressed.clear();
            for b in self.buttons.iter_mut() {
                let high = b
                    .pin
                    .is_high()
                    .map_err(|e| BoardError::pin(b.name.as_str(), e))?;
                pressed.push(high != b.active_low);
            }
            self.bank.update(
                |i| pressed.get(i).copied().unwrap_or(false),
                |_| false,
                now,
                out,
            );
        }
        Ok(())
    }
}

/// Scans on a thread every `interval` until the firmware drops its event receiver. Read
/// errors are logged (once per distinct error) and scanning goes on.
pub(crate) fn spawn<O, I>(
    mut inputs: PinInputs<O, I>,
    interval: Duration,
    events: InputSender,
) -> Result<()>
where
    O: OutputPin + Send + 'static,
    I: InputPin + Send + 'static,
{
    std::thread::Builder::new()
        .name("board-input".into())
        .spawn(move || {
            let mut out = Vec::new();
            let mut last_error: Option<String> = None;
            let mut next = Instant::now();
            loop {
                let now = Instant::now();
                match inputs.step(now, &mut out) {
                    Ok(()) => last_error = None,
                    Err(e) => {
                        let text = e.to_string();
                        if last_error.as_deref() != Some(text.as_str()) {
                            tracing::error!("reading inputs: {text}");
                        }
                        last_error = Some(text);
                    }
                }
                for e in out.drain(..) {
                    if events.send(e).is_err() {
                        return;
                    }
                }
                if events.is_closed() {
                    return;
                }
                next += interval;
                let now = Instant::now();
                if next < now {
                    next = now;
                }
                std::thread::sleep(next - now);
            }
        })
        .map_err(|e| BoardError::io("spawning the input thread", e))?;
    Ok(())
}
