//! Board profiles: one TOML file per build, naming every pin and device. The reference
//! builds are compiled in ([`Profile::builtin`]); others load from a file. Validation
//! catches shape errors and pins used twice before any hardware is touched; missing
//! gpiochip lines are reported at start-up by [`crate::hardware`], naming line and role.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audio::AudioConfig;
use crate::cadence::Cadence;
use crate::display::mipi::MipiModel;
use crate::error::{BoardError, Result};
use crate::hook::{HookConfig, Level};
use crate::input::Key;
use crate::keypad::MatrixLayout;
use crate::keys::KeyTiming;
use crate::led::Led;

mod validate;

/// The key matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeypadProfile {
    /// Row lines, driven low one at a time.
    pub rows: Vec<String>,
    /// Column lines, inputs with pull-ups.
    pub columns: Vec<String>,
    /// Key names per row (`"1"`, `"*"`, `"mute"`, …; `""` where no key is fitted).
    pub keys: Vec<Vec<String>>,
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
    #[serde(default = "default_scan_ms")]
    pub scan_interval_ms: u64,
    /// Drive rows open-drain (safe without diodes); false for push-pull with diodes.
    #[serde(default = "yes")]
    pub open_drain_rows: bool,
}

/// A key wired straight to a GPIO line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonProfile {
    pub key: String,
    pub line: String,
    /// Pressed pulls the line low (button to ground, internal pull-up).
    #[serde(default = "yes")]
    pub active_low: bool,
}

/// The hook switch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookProfile {
    pub line: String,
    /// Line level while the handset is lifted (see [`HookConfig::off_hook_level`]).
    pub off_hook_level: Level,
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
    #[serde(default = "default_flash_min")]
    pub flash_min_ms: u64,
    #[serde(default = "default_flash_max")]
    pub flash_max_ms: u64,
    /// Ask the kernel to debounce the line too (Linux ≥ 5.10).
    #[serde(default = "yes")]
    pub kernel_debounce: bool,
}

/// An LED.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedProfile {
    pub line: String,
    #[serde(default)]
    pub active_low: bool,
}

/// Ringer kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RingerKind {
    #[default]
    None,
    /// An active buzzer (or a bell driver) switched by a GPIO line.
    Gpio,
    /// A passive buzzer on a PWM channel.
    Pwm,
    /// A ring tone on an ALSA playback device.
    Tone,
}

/// The ringer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingerProfile {
    #[serde(default)]
    pub kind: RingerKind,
    /// `gpio`: the line.
    pub line: Option<String>,
    #[serde(default)]
    pub active_low: bool,
    /// `pwm`: `pwmchip{chip}`, channel `pwm{channel}`.
    pub pwm_chip: Option<u32>,
    pub pwm_channel: Option<u32>,
    /// `pwm`: buzzer tone; `tone`: ignored (see `tone_hz`).
    #[serde(default = "default_buzzer_hz")]
    pub frequency_hz: u32,
    /// `tone`: the playback device and the tone's frequencies.
    pub device: Option<String>,
    #[serde(default = "default_tone_hz")]
    pub tone_hz: Vec<f32>,
    #[serde(default = "default_tone_level")]
    pub level: f32,
    /// The board's default cadence (the firmware may ask for another).
    #[serde(default = "default_cadence")]
    pub cadence: String,
}

impl Default for RingerProfile {
    fn default() -> Self {
        RingerProfile {
            kind: RingerKind::None,
            line: None,
            active_low: false,
            pwm_chip: None,
            pwm_channel: None,
            frequency_hz: default_buzzer_hz(),
            device: None,
            tone_hz: default_tone_hz(),
            level: default_tone_level(),
            cadence: default_cadence(),
        }
    }
}

/// Display kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisplayKind {
    #[default]
    None,
    Ssd1306,
    St7789,
    Ili9341,
    Framebuffer,
    /// Rendered by the simulator (terminal/PNG).
    Simulated,
}

/// The display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayProfile {
    #[serde(default)]
    pub kind: DisplayKind,
    /// `ssd1306`: bus and address.
    pub i2c: Option<PathBuf>,
    pub address: Option<u8>,
    /// `st7789`/`ili9341`: SPI device, clock, and lines.
    pub spi: Option<PathBuf>,
    #[serde(default = "default_spi_hz")]
    pub spi_hz: u32,
    pub dc: Option<String>,
    pub reset: Option<String>,
    /// Backlight enable line, switched on at start.
    pub backlight: Option<String>,
    /// Native size (TFT) or simulated size.
    pub width: Option<u32>,
    pub height: Option<u32>,
    #[serde(default)]
    pub offset_x: u16,
    #[serde(default)]
    pub offset_y: u16,
    #[serde(default)]
    pub rotation: u16,
    pub invert: Option<bool>,
    /// `framebuffer`: the device.
    pub device: Option<PathBuf>,
    /// `simulated`: colour (RGB565) instead of monochrome.
    #[serde(default)]
    pub color: bool,
}

impl Default for DisplayProfile {
    fn default() -> Self {
        DisplayProfile {
            kind: DisplayKind::None,
            i2c: None,
            address: None,
            spi: None,
            spi_hz: default_spi_hz(),
            dc: None,
            reset: None,
            backlight: None,
            width: None,
            height: None,
            offset_x: 0,
            offset_y: 0,
            rotation: 0,
            invert: None,
            device: None,
            color: false,
        }
    }
}

/// Keys and hook from a kernel input device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvdevProfile {
    pub device: PathBuf,
    /// Extra or overriding codes: `KEY_F1 = "mute"`.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// `SW_LID`, `KEY_F12`, … if the hook switch comes through this device.
    pub hook: Option<String>,
    /// Whether the hook code's pressed/closed state means lifted.
    #[serde(default = "yes")]
    pub hook_active_is_off_hook: bool,
}

/// A whole board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub keypad: Option<KeypadProfile>,
    #[serde(default)]
    pub buttons: Vec<ButtonProfile>,
    /// Long press, repeat and stuck-key timing for every key source.
    #[serde(default)]
    pub keys: KeyTiming,
    pub hook: Option<HookProfile>,
    #[serde(default)]
    pub leds: BTreeMap<Led, LedProfile>,
    #[serde(default)]
    pub ringer: RingerProfile,
    #[serde(default)]
    pub display: DisplayProfile,
    pub evdev: Option<EvdevProfile>,
    pub audio: Option<AudioConfig>,
}

fn yes() -> bool {
    true
}
fn default_debounce_ms() -> u64 {
    20
}
fn default_scan_ms() -> u64 {
    5
}
fn default_flash_min() -> u64 {
    100
}
fn default_flash_max() -> u64 {
    900
}
fn default_buzzer_hz() -> u32 {
    2000
}
fn default_tone_hz() -> Vec<f32> {
    vec![440.0, 480.0]
}
fn default_tone_level() -> f32 {
    0.3
}
fn default_cadence() -> String {
    "north-america".into()
}
fn default_spi_hz() -> u32 {
    32_000_000
}

/// The compiled-in reference profiles: (name, TOML).
const BUILTIN: [(&str, &str); 3] = [
    (
        "pi-zero2w-ssd1306",
        include_str!("../../profiles/pi-zero2w-ssd1306.toml"),
    ),
    ("pi4-st7789", include_str!("../../profiles/pi4-st7789.toml")),
    ("simulated", include_str!("../../profiles/simulated.toml")),
];

impl Profile {
    /// Names of the compiled-in profiles.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(n, _)| *n)
    }

    /// A compiled-in profile by name.
    pub fn builtin(name: &str) -> Result<Profile> {
        let (_, text) =
            BUILTIN
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| BoardError::Profile {
                    origin: name.into(),
                    message: format!(
                        "no such built-in profile (there are: {})",
                        Self::builtin_names().collect::<Vec<_>>().join(", ")
                    ),
                })?;
        Profile::parse(text, name)
    }

    /// Loads a profile file.
    pub fn load(path: &Path) -> Result<Profile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| BoardError::io(format!("reading profile {}", path.display()), e))?;
        Profile::parse(&text, &path.display().to_string())
    }

    /// A built-in name or a file path.
    pub fn find(name_or_path: &str) -> Result<Profile> {
        if Self::builtin_names().any(|n| n == name_or_path) {
            Profile::builtin(name_or_path)
        } else {
            Profile::load(Path::new(name_or_path))
        }
    }

    /// Parses and validates TOML; `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Profile> {
        let profile: Profile = toml::from_str(text).map_err(|e| BoardError::ProfileSyntax {
            origin: origin.into(),
            source: Box::new(e),
        })?;
        profile.validate().map_err(|e| e.in_profile(origin))?;
        Ok(profile)
    }

    /// Every GPIO line the profile uses, with its role, in start-up order.
    pub fn lines(&self) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        if let Some(h) = &self.hook {
            lines.push((h.line.clone(), "hook switch".into()));
        }
        if let Some(k) = &self.keypad {
            for (i, l) in k.rows.iter().enumerate() {
                lines.push((l.clone(), format!("keypad row {}", i + 1)));
            }
            for (i, l) in k.columns.iter().enumerate() {
                lines.push((l.clone(), format!("keypad column {}", i + 1)));
            }
        }
        for b in &self.buttons {
            lines.push((b.line.clone(), format!("{} button", b.key)));
        }
        for (led, p) in &self.leds {
            lines.push((p.line.clone(), format!("{led} LED")));
        }
        if self.ringer.kind == RingerKind::Gpio
            && let Some(l) = &self.ringer.line
        {
            lines.push((l.clone(), "ringer".into()));
        }
        for (line, role) in [
            (&self.display.dc, "display data/command"),
            (&self.display.reset, "display reset"),
            (&self.display.backlight, "display backlight"),
        ] {
            if let Some(l) = line {
                lines.push((l.clone(), role.into()));
            }
        }
        lines
    }

    /// The matrix layout, from key names.
    pub fn matrix_layout(&self) -> Option<Result<MatrixLayout>> {
        let k = self.keypad.as_ref()?;
        let rows: Result<Vec<Vec<Option<Key>>>> = k
            .keys
            .iter()
            .map(|row| {
                row.iter()
                    .map(|name| match name.as_str() {
                        "" | "-" => Ok(None),
                        n => Key::from_name(n)
                            .map(Some)
                            .ok_or_else(|| BoardError::unknown("keypad key", n)),
                    })
                    .collect()
            })
            .collect();
        Some(rows.and_then(MatrixLayout::new))
    }

    /// The hook switch settings.
    pub fn hook_config(&self) -> HookConfig {
        match &self.hook {
            Some(h) => HookConfig {
                off_hook_level: h.off_hook_level,
                debounce: std::time::Duration::from_millis(h.debounce_ms),
                flash_min: std::time::Duration::from_millis(h.flash_min_ms),
                flash_max: std::time::Duration::from_millis(h.flash_max_ms),
            },
            None => HookConfig::default(),
        }
    }

    /// The board's default ring cadence.
    pub fn cadence(&self) -> Cadence {
        Cadence::parse(&self.ringer.cadence).unwrap_or_else(Cadence::north_america)
    }

    /// Checks everything that can be checked without hardware (see `validate.rs`).
    pub fn validate(&self) -> Result<()> {
        validate::validate(self)
    }

    /// The TFT options for `st7789`/`ili9341` displays.
    pub fn mipi_options(&self) -> Option<crate::display::mipi::MipiOptions> {
        let d = &self.display;
        let model = match d.kind {
            DisplayKind::St7789 => MipiModel::St7789,
            DisplayKind::Ili9341 => MipiModel::Ili9341,
            _ => return None,
        };
        Some(crate::display::mipi::MipiOptions {
            model,
            width: d.width.unwrap_or(240).min(u16::MAX as u32) as u16,
            height: d.height.unwrap_or(320).min(u16::MAX as u32) as u16,
            offset_x: d.offset_x,
            offset_y: d.offset_y,
            rotation: d.rotation,
            invert: d.invert.unwrap_or(model == MipiModel::St7789),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profiles_parse_and_validate() {
        for name in Profile::builtin_names() {
            let p = Profile::builtin(name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(p.name, name);
        }
        let zero = Profile::builtin("pi-zero2w-ssd1306").unwrap();
        assert_eq!(zero.display.kind, DisplayKind::Ssd1306);
        let layout = zero.matrix_layout().unwrap().unwrap();
        assert_eq!(layout.key_at(3, 1), Some(Key::Digit(0)));
        assert_eq!(
            zero.lines()[0],
            ("GPIO4".to_owned(), "hook switch".to_owned())
        );
        assert!(Profile::builtin("pi9").is_err());
    }

    fn with(edit: impl Fn(&mut String)) -> Result<Profile> {
        let mut text = include_str!("../../profiles/pi-zero2w-ssd1306.toml").to_owned();
        edit(&mut text);
        Profile::parse(&text, "test")
    }

    #[test]
    fn validation_names_the_problem() {
        let err = with(|t| *t = t.replace("line = \"GPIO22\"", "line = \"GPIO4\"")).unwrap_err();
        assert!(
            err.to_string()
                .contains("line GPIO4 is used twice: hook switch and speaker button"),
            "{err}"
        );
        let err = with(|t| *t = t.replace("\"#\"", "\"%\"")).unwrap_err();
        assert!(
            err.to_string().contains("unknown keypad key \"%\""),
            "{err}"
        );
        let err = with(|t| t.push_str("\n[bogus]\nx = 1\n")).unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        let err =
            with(|t| *t = t.replace("flash_max_ms = 900", "flash_max_ms = 18446744073709551615"))
                .unwrap_err();
        assert!(err.to_string().contains("flash_max_ms"), "{err}");
        // Durations in [keys] are capped, so no deadline can overflow.
        let p = with(|t| {
            *t = t.replace(
                "long_press_ms = 800",
                "long_press_ms = 18446744073709551615",
            )
        })
        .unwrap();
        assert_eq!(p.keys.long_press, std::time::Duration::from_secs(86_400));
        let err = with(|t| *t = t.replace("cadence = \"north-america\"", "cadence = \"martian\""))
            .unwrap_err();
        assert!(err.to_string().contains("martian"), "{err}");
    }
}
