//! `offhook-board`: everything physical about the handset, behind small traits so the
//! firmware runs the same on a Raspberry Pi, on a desktop and in CI.
//!
//! Module map:
//! - [`input`] — keys and hook events shared by every input driver (`offhook_core::handset`).
//! - [`error`] — [`BoardError`], the crate's one error type.
//! - [`debounce`] — time-based debouncer for one contact (sans-IO).
//! - [`keys`] — long press, auto-repeat and stuck keys for any key source (sans-IO).
//! - [`keypad`] — key matrix layout, ghost-aware scanner (sans-IO) and its pin shell.
//! - [`hook`] — hook switch polarity, debounce and hook flash (sans-IO).
//! - [`led`] — LED names and modes (off/on/blink).
//! - [`cadence`] — ring cadences (`offhook_core::handset`).
//! - [`indicators`] — the LED/ringer trait, its sans-IO timing and the thread that drives pins.
//! - [`evdev_input`] — keys and hook from a kernel input device (USB keypad, gpio-keys).
//! - [`profile`] — board profiles (TOML): pins and devices per build, validated.
//! - [`pwm`] — a sysfs PWM channel as a passive-buzzer ringer.
//! - [`ringtone`] — the ring tone on a playback device (generator and player).
//! - [`gpio`] — GPIO lines by name through the character device, as embedded-hal pins.
//! - [`hardware`] — a real board from a profile (pins, display, evdev, audio).
//! - [`inputs`] — the pin-scanning input shell and thread (matrix, buttons, hook).
//! - [`display`] — frames the firmware draws on, change tracking, panels, PNG/terminal rendering.
//! - [`audio`] — ALSA capture/playback threads, rings, routes, recovery, device listing.
//! - [`board`] — [`Board`], the bundle of inputs and outputs the firmware gets.
//! - [`sim`] — the simulated board: terminal, scripts, control socket, PNG frames, and
//!   simulated GPIO pins read by the real scanner.
pub mod audio;
pub mod board;
pub mod debounce;
pub mod display;
pub mod error;
pub mod evdev_input;
pub mod gpio;
pub mod hardware;
pub mod hook;
pub mod indicators;
pub mod inputs;
pub mod keypad;
pub mod keys;
pub mod led;
pub mod profile;
pub mod pwm;
pub mod ringtone;
mod serde_ms;
pub mod sim;

pub use board::{Board, InputEvents};
// The handset's vocabulary lives below both the board and the phone.
pub use error::{BoardError, Result};
pub use offhook_core::handset::{cadence, input};
