//! The crate's one error type. Every variant names the thing that failed (a device path, a
//! GPIO line, a profile field) so that the firmware can show it and the log can explain it.

use std::path::PathBuf;

/// Everything that can go wrong talking to the handset hardware.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// A board profile could not be read or is inconsistent.
    #[error("board profile {origin}: {message}")]
    Profile { origin: String, message: String },

    /// No GPIO character devices exist (`/dev/gpiochip*`), so no line can be requested.
    #[error("no GPIO chips found (/dev/gpiochip* missing) while looking for line {line} ({role})")]
    NoGpioChips { line: String, role: String },

    /// A named GPIO line does not exist on any gpiochip.
    #[error("GPIO line {line} ({role}) not found on any gpiochip")]
    GpioLineNotFound { line: String, role: String },

    /// Requesting or using a GPIO line failed.
    #[error("GPIO line {line} ({role}): {message}")]
    Gpio {
        line: String,
        role: String,
        message: String,
    },

    /// A pin driver returned an error while scanning or driving outputs.
    #[error("pin {pin}: {message}")]
    Pin { pin: String, message: String },

    /// A device node (I2C bus, SPI device, framebuffer, evdev, PWM) is missing or unusable.
    #[error("device {path}: {message}")]
    Device { path: PathBuf, message: String },

    /// The display driver failed.
    #[error("display {panel}: {message}")]
    Display { panel: String, message: String },

    /// An ALSA device could not be opened or configured.
    #[error("audio device {device:?} ({direction}): {message}")]
    Audio {
        device: String,
        direction: &'static str,
        message: String,
    },

    /// A simulator script or control command could not be understood.
    #[error("script line {line}: {message}")]
    Script { line: usize, message: String },

    /// A script `expect` was not met.
    #[error("script line {line}: expectation not met: {message}")]
    ExpectationFailed { line: usize, message: String },

    /// Any other I/O failure (files, sockets, terminals).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl BoardError {
    /// Wraps an I/O error with a short description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BoardError::Io {
            context: context.into(),
            source,
        }
    }

    /// A pin error from any embedded-hal driver.
    pub fn pin(pin: impl Into<String>, err: impl core::fmt::Debug) -> Self {
        BoardError::Pin {
            pin: pin.into(),
            message: format!("{err:?}"),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = BoardError> = std::result::Result<T, E>;
