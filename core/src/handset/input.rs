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

    /// The key's name in profiles, scripts and logs: `0`–`9`, `*`, `#`, `mute`, `redial`,
    /// `volume-up`, `volume-down`, `speaker`, `reject`, `menu`.
    pub fn name(self) -> &'static str {
        const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
        match self {
            Key::Digit(d) => DIGITS.get(d as usize).copied().unwrap_or("?"),
            Key::Star => "*",
            Key::Pound => "#",
            Key::Mute => "mute",
            Key::Redial => "redial",
            Key::VolumeUp => "volume-up",
            Key::VolumeDown => "volume-down",
            Key::Speaker => "speaker",
            Key::Reject => "reject",
            Key::Menu => "menu",
        }
    }

    /// Parses a key name (see [`Key::name`]; `star` and `pound`/`hash` are accepted too).
    pub fn from_name(name: &str) -> Option<Key> {
        let mut chars = name.chars();
        if let (Some(c), None) = (chars.next(), chars.next())
            && let Some(k) = Key::from_dtmf_char(c)
        {
            return Some(k);
        }
        Some(match name.to_ascii_lowercase().as_str() {
            "star" => Key::Star,
            "pound" | "hash" => Key::Pound,
            "mute" => Key::Mute,
            "redial" => Key::Redial,
            "volume-up" | "vol+" => Key::VolumeUp,
            "volume-down" | "vol-" => Key::VolumeDown,
            "speaker" => Key::Speaker,
            "reject" => Key::Reject,
            "menu" => Key::Menu,
            _ => return None,
        })
    }

    /// Every key, dial pad first.
    pub const ALL: [Key; 19] = [
        Key::Digit(1),
        Key::Digit(2),
        Key::Digit(3),
        Key::Digit(4),
        Key::Digit(5),
        Key::Digit(6),
        Key::Digit(7),
        Key::Digit(8),
        Key::Digit(9),
        Key::Star,
        Key::Digit(0),
        Key::Pound,
        Key::Mute,
        Key::Redial,
        Key::VolumeUp,
        Key::VolumeDown,
        Key::Speaker,
        Key::Reject,
        Key::Menu,
    ];

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

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A key name that is none of [`Key::name`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key {0:?}")]
pub struct UnknownKey(pub String);

impl std::str::FromStr for Key {
    type Err = UnknownKey;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Key::from_name(s).ok_or_else(|| UnknownKey(s.to_string()))
    }
}

/// Serde helpers: keys as their names (`"5"`, `"*"`, `"volume-up"`), as in profiles.
pub mod key_names {
    use super::Key;
    use serde::{Deserialize, Deserializer, Serializer, de::Error, ser::SerializeSeq};

    pub fn serialize<S: Serializer>(keys: &[Key], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(keys.len()))?;
        for k in keys {
            seq.serialize_element(k.name())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Key>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        names
            .iter()
            .map(|n| {
                Key::from_name(n).ok_or_else(|| D::Error::custom(format!("unknown key {n:?}")))
            })
            .collect()
    }
}

impl std::fmt::Display for InputEvent {
    /// `key-down 5`, `long-press volume-up`, `off-hook`, … as in simulator logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputEvent::KeyDown(k) => write!(f, "key-down {k}"),
            InputEvent::KeyUp(k) => write!(f, "key-up {k}"),
            InputEvent::KeyLongPress(k) => write!(f, "long-press {k}"),
            InputEvent::KeyRepeat(k) => write!(f, "repeat {k}"),
            InputEvent::OffHook => f.write_str("off-hook"),
            InputEvent::OnHook => f.write_str("on-hook"),
            InputEvent::HookFlash => f.write_str("hook-flash"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses_from_its_name() {
        for key in Key::ALL {
            assert_eq!(key.name().parse::<Key>(), Ok(key));
        }
        assert_eq!("hash".parse::<Key>(), Ok(Key::Pound));
        assert_eq!("nope".parse::<Key>(), Err(UnknownKey("nope".to_string())));
    }
}
