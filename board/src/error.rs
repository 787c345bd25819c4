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

    /// ALSA refused a step of opening or running a PCM (the step is named).
    #[error("{what}: {source}")]
    Alsa {
        what: String,
        #[source]
        source: alsa::Error,
    },

    /// An ALSA device that cannot be used the way the phone needs it (and why).
    #[error("{0}")]
    AudioUnsupported(&'static str),

    /// A board profile that is not valid TOML or has fields of the wrong kind.
    #[error("board profile {origin}: {source}")]
    ProfileSyntax {
        origin: String,
        #[source]
        source: Box<toml::de::Error>,
    },

    /// A board profile's settings do not fit together (found before any hardware is touched).
    #[error("board profile {origin}: {source}")]
    ProfileInvalid {
        origin: String,
        #[source]
        source: Box<BoardError>,
    },

    /// A profile setting that cannot work, and why.
    #[error("{reason}")]
    Inconsistent { reason: String },

    /// A name the board does not know: a key, an LED, an input code, a ring cadence.
    #[error("unknown {what} {name:?}")]
    UnknownName { what: &'static str, name: String },

    /// A keypad matrix with no rows or columns, or more than the scanner handles.
    #[error("the keypad matrix is {rows}×{cols}; it needs 1×1 to {max}×{max}")]
    MatrixSize {
        rows: usize,
        cols: usize,
        max: usize,
    },

    /// A keypad matrix whose rows differ in length.
    #[error("keypad row {row} has {keys} keys, row 1 has {expected}")]
    MatrixRow {
        row: usize,
        keys: usize,
        expected: usize,
    },

    /// A key placed twice in the keypad matrix.
    #[error("key {key} appears twice in the keypad matrix")]
    MatrixKeyTwice { key: crate::input::Key },

    /// A simulator command that is not written the way the script language wants.
    #[error("{reason}")]
    Command { reason: String },

    /// A simulator command came after the simulator's input had ended.
    #[error("the simulator's input has ended")]
    SimulatorEnded,

    /// A simulator `snapshot` before anything was drawn.
    #[error("no frame has been flushed yet")]
    NoFrameYet,

    /// A simulator `expect` that did not hold in time.
    #[error("{expected} after {within:?}: {actual}")]
    NotMet {
        expected: String,
        within: std::time::Duration,
        actual: String,
    },

    /// A simulator script or control command could not be understood.
    #[error("script line {line}: {source}")]
    Script {
        line: usize,
        #[source]
        source: Box<BoardError>,
    },

    /// A script command failed (an `expect` not met, the input gone).
    #[error("script line {line}: expectation not met: {source}")]
    ExpectationFailed {
        line: usize,
        #[source]
        source: Box<BoardError>,
    },

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

    /// This error, found checking the profile `origin`.
    pub fn in_profile(self, origin: impl Into<String>) -> Self {
        BoardError::ProfileInvalid {
            origin: origin.into(),
            source: Box::new(self),
        }
    }

    /// A name the board does not know.
    pub fn unknown(what: &'static str, name: impl Into<String>) -> Self {
        BoardError::UnknownName {
            what,
            name: name.into(),
        }
    }

    /// A profile setting that cannot work.
    pub fn inconsistent(reason: impl Into<String>) -> Self {
        BoardError::Inconsistent {
            reason: reason.into(),
        }
    }

    /// A simulator command written wrongly.
    pub fn command(reason: impl Into<String>) -> Self {
        BoardError::Command {
            reason: reason.into(),
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
