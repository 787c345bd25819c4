//! The handset's input vocabulary: keys and hook events, shared by every input driver
//! (GPIO matrix, evdev, terminal, script) and consumed by the firmware.

use serde::{Deserialize, Serialize};

/// A key on the handset. Digits and `*`/`#` are the 4×3 matrix; the rest are function keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Key {
    /// 0–9.
    Digit(u8),
    Star,
    Pound,
    Mute,
    Redial,
    VolumeUp,
    VolumeDown,
    Speaker,
    /// Declines a ringing call; backs out of menus.
    Reject,
    /// Opens the menu (settings, history, about) while idle; selects inside menus.
    Menu,
}

impl Key {
    /// The DTMF character this key sends, if it is a dial-pad key.
    pub fn dtmf_char(self) -> Option<char> {
        match self {
            Key::Digit(d) if d <= 9 => char::from_digit(d as u32, 10),
            Key::Star => Some('*'),
            Key::Pound => Some('#'),
            _ => None,
        }
    }

    /// The key for a dial-pad character (`0-9`, `*`, `#`).
    pub fn from_dtmf_char(c: char) -> Option<Key> {
        match c {
            '0'..='9' => Some(Key::Digit(c as u8 - b'0')),
            '*' => Some(Key::Star),
            '#' => Some(Key::Pound),
            _ => None,
        }
    }
}

/// What the input layer reports after debouncing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputEvent {
    KeyDown(Key),
    KeyUp(Key),
    /// Held past the long-press time (reported once per press).
    KeyLongPress(Key),
    /// Held past the long-press time, repeated at the repeat interval (volume keys).
    KeyRepeat(Key),
    /// Handset lifted.
    OffHook,
    /// Handset put down (longer than the hook-flash window).
    OnHook,
    /// Handset cradle pressed briefly (on-hook between 100 and 900 ms).
    HookFlash,
}
