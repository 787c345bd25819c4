//! Profile checks that need no hardware: shapes, names, lines used twice, required fields.

use std::collections::BTreeMap;

use super::{DisplayKind, Profile, RingerKind};
use crate::cadence::Cadence;
use crate::input::Key;

pub(super) fn validate(p: &Profile) -> Result<(), String> {
    if p.name.trim().is_empty() {
        return Err("the profile needs a name".into());
    }
    let mut seen: BTreeMap<&str, String> = BTreeMap::new();
    let lines = p.lines();
    for (line, role) in &lines {
        if line.trim().is_empty() {
            return Err(format!("{role} has an empty line name"));
        }
        if let Some(first) = seen.insert(line, role.clone()) {
            return Err(format!("line {line} is used twice: {first} and {role}"));
        }
    }
    let mut keys: Vec<Key> = Vec::new();
    if let Some(k) = &p.keypad {
        if k.keys.len() != k.rows.len() {
            return Err(format!(
                "the keypad has {} row lines but {} rows of keys",
                k.rows.len(),
                k.keys.len()
            ));
        }
        if let Some((i, row)) = k
            .keys
            .iter()
            .enumerate()
            .find(|(_, r)| r.len() != k.columns.len())
        {
            return Err(format!(
                "keypad row {} has {} keys but there are {} column lines",
                i + 1,
                row.len(),
                k.columns.len()
            ));
        }
        if k.scan_interval_ms == 0 || k.scan_interval_ms > 100 {
            return Err("keypad scan_interval_ms must be 1–100".into());
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
        let key =
            Key::from_name(&b.key).ok_or_else(|| format!("unknown button key {:?}", b.key))?;
        if keys.contains(&key) {
            return Err(format!("key {} is both in the keypad and a button", b.key));
        }
        keys.push(key);
    }
    if let Some(h) = &p.hook {
        if h.flash_min_ms >= h.flash_max_ms {
            return Err("hook flash_min_ms must be below flash_max_ms".into());
        }
        if h.debounce_ms > 1_000 || h.flash_max_ms > 10_000 {
            return Err(
                "hook debounce_ms must be at most 1000 and flash_max_ms at most 10000".into(),
            );
        }
    }
    if p.keypad.as_ref().is_some_and(|k| k.debounce_ms > 1_000) {
        return Err("keypad debounce_ms must be at most 1000".into());
    }
    if Cadence::parse(&p.ringer.cadence).is_none() {
        return Err(format!("unknown ring cadence {:?}", p.ringer.cadence));
    }
    match p.ringer.kind {
        RingerKind::None => {}
        RingerKind::Gpio if p.ringer.line.is_none() => {
            return Err("a gpio ringer needs `line`".into());
        }
        RingerKind::Pwm if p.ringer.pwm_chip.is_none() || p.ringer.pwm_channel.is_none() => {
            return Err("a pwm ringer needs `pwm_chip` and `pwm_channel`".into());
        }
        RingerKind::Tone if p.ringer.device.as_deref().is_none_or(str::is_empty) => {
            return Err("a tone ringer needs a playback `device`".into());
        }
        _ => {}
    }
    let d = &p.display;
    match d.kind {
        DisplayKind::Ssd1306 => {
            if d.i2c.is_none() {
                return Err("an ssd1306 display needs `i2c` (e.g. /dev/i2c-1)".into());
            }
            if let Some(a) = d.address
                && !(0x03..=0x77).contains(&a)
            {
                return Err(format!("I2C address {a:#04x} is out of range"));
            }
        }
        DisplayKind::St7789 | DisplayKind::Ili9341 => {
            if d.spi.is_none() || d.dc.is_none() {
                return Err("a TFT display needs `spi` and `dc`".into());
            }
            if ![0, 90, 180, 270].contains(&d.rotation) {
                return Err(format!(
                    "display rotation {} is not 0, 90, 180 or 270",
                    d.rotation
                ));
            }
        }
        DisplayKind::Framebuffer if d.device.is_none() => {
            return Err("a framebuffer display needs `device` (e.g. /dev/fb1)".into());
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
