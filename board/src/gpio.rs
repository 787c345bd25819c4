//! GPIO lines through the Linux character device (`gpiocdev`), as embedded-hal 1.0 pins.
//!
//! Lines are named as the kernel names them (`GPIO17` on a Raspberry Pi, whatever the chip
//! index) or given as `CHIP:OFFSET` (`gpiochip0:17`). Every lookup and request names the line
//! and its role in errors, e.g. "GPIO line GPIO5 (keypad row 1) not found on any gpiochip".
//! Levels are physical (active-high requests); polarity is applied by the caller.

use std::path::PathBuf;
use std::time::Duration;

use embedded_hal::digital::{ErrorKind, ErrorType, InputPin, OutputPin};
use gpiocdev::line::{Bias, Drive, Value};

use crate::error::{BoardError, Result};

/// Where a named line lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineAddress {
    pub chip: PathBuf,
    pub offset: u32,
}

/// Finds a line by name (or `CHIP:OFFSET`); `role` goes into the error.
pub fn find_line(name: &str, role: &str) -> Result<LineAddress> {
    let missing = || BoardError::GpioLineNotFound {
        line: name.into(),
        role: role.into(),
    };
    let chips = gpiocdev::chip::chips().unwrap_or_default();
    if chips.is_empty() {
        return Err(BoardError::NoGpioChips {
            line: name.into(),
            role: role.into(),
        });
    }
    if let Some((chip, offset)) = name.rsplit_once(':')
        && let Ok(offset) = offset.parse::<u32>()
    {
        let chip = if chip.starts_with('/') {
            PathBuf::from(chip)
        } else {
            PathBuf::from("/dev").join(chip)
        };
        if !chips.contains(&chip) {
            return Err(missing());
        }
        return Ok(LineAddress { chip, offset });
    }
    let found = gpiocdev::find_named_line(name).ok_or_else(missing)?;
    Ok(LineAddress {
        chip: found.chip,
        offset: found.info.offset,
    })
}

/// How to request an input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputOptions {
    pub pull_up: bool,
    /// Kernel debounce (uAPI v2, Linux ≥ 5.10); dropped with a log line if unsupported.
    pub debounce: Option<Duration>,
}

/// The error of a GPIO pin operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpioError(pub String);

impl std::fmt::Display for GpioError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl embedded_hal::digital::Error for GpioError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Other
    }
}

/// One requested line, usable as an embedded-hal input or output pin.
pub struct GpioLine {
    request: gpiocdev::Request,
    offset: u32,
    name: String,
}

fn gpio_err(name: &str, role: &str, e: impl std::fmt::Display) -> BoardError {
    BoardError::Gpio {
        line: name.into(),
        role: role.into(),
        message: e.to_string(),
    }
}

impl GpioLine {
    /// Requests `name` as an input.
    pub fn input(name: &str, role: &str, options: InputOptions) -> Result<GpioLine> {
        let addr = find_line(name, role)?;
        let request = |debounce: Option<Duration>| {
            let mut b = gpiocdev::Request::builder();
            b.on_chip(&addr.chip)
                .with_consumer(format!("offhook {role}"))
                .with_line(addr.offset)
                .as_input()
                .with_bias(if options.pull_up {
                    Bias::PullUp
                } else {
                    Bias::Disabled
                });
            if let Some(d) = debounce {
                b.with_debounce_period(d);
            }
            b.request()
        };
        let req = match request(options.debounce) {
            Ok(r) => r,
            Err(e) if options.debounce.is_some() => {
                tracing::info!(
                    "GPIO line {name} ({role}): no kernel debounce ({e}); debouncing in software only"
                );
                request(None).map_err(|e| gpio_err(name, role, e))?
            }
            Err(e) => return Err(gpio_err(name, role, e)),
        };
        Ok(GpioLine {
            request: req,
            offset: addr.offset,
            name: name.into(),
        })
    }

    /// Requests `name` as an output at the given physical level; open-drain lines only pull
    /// low (for diode-less keypad rows).
    pub fn output(name: &str, role: &str, high: bool, open_drain: bool) -> Result<GpioLine> {
        let addr = find_line(name, role)?;
        let req = gpiocdev::Request::builder()
            .on_chip(&addr.chip)
            .with_consumer(format!("offhook {role}"))
            .with_line(addr.offset)
            .as_output(if high { Value::Active } else { Value::Inactive })
            .with_drive(if open_drain {
                Drive::OpenDrain
            } else {
                Drive::PushPull
            })
            .request()
            .map_err(|e| gpio_err(name, role, e))?;
        Ok(GpioLine {
            request: req,
            offset: addr.offset,
            name: name.into(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl ErrorType for GpioLine {
    type Error = GpioError;
}

impl InputPin for GpioLine {
    fn is_high(&mut self) -> Result<bool, GpioError> {
        self.request
            .value(self.offset)
            .map(|v| v == Value::Active)
            .map_err(|e| GpioError(format!("{}: {e}", self.name)))
    }

    fn is_low(&mut self) -> Result<bool, GpioError> {
        self.is_high().map(|h| !h)
    }
}

impl OutputPin for GpioLine {
    fn set_low(&mut self) -> Result<(), GpioError> {
        self.request
            .set_value(self.offset, Value::Inactive)
            .map(|_| ())
            .map_err(|e| GpioError(format!("{}: {e}", self.name)))
    }

    fn set_high(&mut self) -> Result<(), GpioError> {
        self.request
            .set_value(self.offset, Value::Active)
            .map(|_| ())
            .map_err(|e| GpioError(format!("{}: {e}", self.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_gpio_is_a_clear_error_not_a_panic() {
        // The build machines have no /dev/gpiochip*: the error must name line and role.
        if !gpiocdev::chip::chips().unwrap_or_default().is_empty() {
            return; // a real board: nothing to prove here
        }
        let err = GpioLine::input(
            "GPIO17",
            "hook switch",
            InputOptions {
                pull_up: true,
                debounce: None,
            },
        )
        .err()
        .expect("no chips");
        assert_eq!(
            err.to_string(),
            "no GPIO chips found (/dev/gpiochip* missing) while looking for line GPIO17 (hook switch)"
        );
        assert!(matches!(
            GpioLine::output("gpiochip0:4", "mute LED", false, false),
            Err(BoardError::NoGpioChips { .. })
        ));
    }
}
