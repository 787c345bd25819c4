//! Profile checks that need no hardware: shapes, names, lines used twice, required fields.

use std::collections::BTreeMap;

use super::{DisplayKind, Profile, RingerKind};
use crate::cadence::Cadence;
use crate::error::{BoardError, Result};
use crate::input::Key;

pub(super) fn validate(p: &Profile) -> Result<()> {
    if p.name.trim().is_empty() {
        return Err(BoardError::inconsistent("the profile needs a name"));
    }
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    let lines = p.lines();
    for (line, role) in &lines {
        if line.trim().is_empty() {
            return Err(BoardError::inconsistent(format!(
                "{role} has an empty line name"
            )));
        }
        if let Some(first) = seen.insert(line, role.clone()) {
            return Err(BoardError::inconsistent(format!(
                "line {line} is used twice: {first} and {role}"
            )));
        }
    }
    let mut keys: Vec<Key> = Vec::new();
    if let Some(k) = &p.keypad {
        if k.keys.len() != k.rows.len() {
            return Err(BoardError::inconsistent(format!(
                "the keypad has {} row lines but {} rows of keys",
                k.rows.len(),
                k.keys.len()
            )));
        }
        if let Some((i, row)) = k
            .keys
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != k.columns.len())
        {
            return Err(BoardError::inconsistent(format!(
                "keypad row {} has {} keys but there are {} column lines",
                i + 1,
                row.len(),
                k.columns.len()
            )));
        }
        if k.scan_interval_ms == 0 || k.scan_interval_ms > 100 {
            return Err(BoardError::inconsistent(
                "keypad scan_interval_ms must be 1–100",
            ));
        }
        if let Some(layout) = p.matrix_layout() {
            let layout = layout?;
            for r in 0..layout.rows() {
                for c in 0..layout.cols() {
                    keys.extend(layout.key_at(r, c));
                }
            }
        }
    }
    for b in &p.buttons {
        let key = Key::from_name(&b.key)
            .ok_or_else(|| BoardError::unknown("button key", b.key.as_str()))?;
        if keys.contains(&key) {
            return Err(BoardError::inconsistent(format!(
                "key {} is both in the keypad and a button",
                b.key
            )));
        }
        keys.push(key);
    }
    if let Some(h) = &p.hook {
        if h.flash_min_ms >= h.flash_max_ms {
            return Err(BoardError::inconsistent(
                "hook flash_min_ms must be below flash_max_ms",
            ));
        }
        if h.debounce_ms > 1_000 || h.flash_max_ms > 10_000 {
            return Err(BoardError::inconsistent(
                "hook debounce_ms must be at most 1000 and flash_max_ms at most 10000",
            ));
        }
    }
    if p.keypad.as_ref().is_some_and(|k| k.debounce_ms > 1_000) {
        return Err(BoardError::inconsistent(
            "keypad debounce_ms must be at most 1000",
        ));
    }
    if Cadence::parse(&p.ringer.cadence).is_none() {
        return Err(BoardError::unknown(
            "ring cadence",
            p.ringer.cadence.as_str(),
        ));
    }
    match p.ringer.kind {
        RingerKind::None => {}
        RingerKind::Gpio if p.ringer.line.is_none() => {
            return Err(BoardError::inconsistent("a gpio ringer needs `line`"));
        }
        RingerKind::Pwm if p.ringer.pwm_chip.is_none() || p.ringer.pwm_channel.is_none() => {
            return Err(BoardError::inconsistent(
                "a pwm ringer needs `pwm_chip` and `pwm_channel`",
            ));
        }
        RingerKind::Tone if p.ringer.device.as_deref().is_none_or(str::is_empty) => {
            return Err(BoardError::inconsistent(
                "a tone ringer needs a playback `device`",
            ));
        }
        _ => {}
    }
    let d = &p.display;
    match d.kind {
        DisplayKind::Ssd1306 => {
            if d.i2c.is_none() {
                return Err(BoardError::inconsistent(
                    "an ssd1306 display needs `i2c` (e.g. /dev/i2c-1)",
                ));
            }
            if let Some(a) = d.address
                && !(0x03..=0x77).contains(&a)
            {
                return Err(BoardError::inconsistent(format!(
                    "I2C address {a:#04x} is out of range"
                )));
            }
        }
        DisplayKind::St7789 | DisplayKind::Ili9341 => {
            if d.spi.is_none() || d.dc.is_none() {
                return Err(BoardError::inconsistent(
                    "a TFT display needs `spi` and `dc`",
                ));
            }
            if ![0, 90, 180, 270].contains(&d.rotation) {
                return Err(BoardError::inconsistent(format!(
                    "display rotation {} is not 0, 90, 180 or 270",
                    d.rotation
                )));
            }
        }
        DisplayKind::Framebuffer if d.device.is_none() => {
            return Err(BoardError::inconsistent(
                "a framebuffer display needs `device` (e.g. /dev/fb1)",
            ));
        }
        _ => {}
    }
    if let Some(e) = &p.evdev {
        crate::evdev_input::EvdevMap::from_names(
            &e.keys,
            e.hook.as_deref(),
            e.hook_active_is_off_hook,
        )?;
    }
    Ok(())
}
