//! A real board from a profile: GPIO inputs and outputs, display, evdev, audio. Every GPIO
//! line is looked up before anything is requested, so a wrong pin fails start-up with an
//! error naming the line and its role.

use std::time::Duration;

use crate::audio::Audio;
use crate::board::Board;
use crate::display::background::BackgroundPanel;
use crate::display::fbdev::FbPanel;
use crate::display::mipi::MipiPanel;
use crate::display::ssd1306::Ssd1306Panel;
use crate::display::{Display, Layout, NullPanel, Panel};
use crate::error::{BoardError, Result};
use crate::evdev_input::{EvdevInput, EvdevMap};
use crate::gpio::{GpioLine, InputOptions, find_line};
use crate::hook::HookSwitch;
use crate::indicators::{IndicatorThread, PinSwitch, RingerDrive, Switch};
use crate::input::Key;
use crate::inputs::{ButtonPin, PinInputs};
use crate::keypad::{MatrixPins, MatrixScanner};
use crate::keys::KeyBank;
use crate::profile::{DisplayKind, Profile, RingerKind};
use crate::pwm::SysfsPwm;
use crate::ringtone::ToneRinger;

fn profile_err(profile: &Profile, message: String) -> BoardError {
    BoardError::Profile {
        origin: profile.name.clone(),
        message,
    }
}

/// Starts the hardware described by `profile`.
pub fn start(profile: &Profile) -> Result<Board> {
    profile
        .validate()
        .map_err(|e| e.in_profile(&profile.name))?;
    if profile.display.kind == DisplayKind::Simulated {
        return Err(profile_err(
            profile,
            "this profile is for the simulator (offhook_board::sim)".into(),
        ));
    }
    // Fail fast, naming the first line that is missing.
    for (line, role) in profile.lines() {
        find_line(&line, &role)?;
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut keep: Vec<Box<dyn Send>> = Vec::new();

    // Inputs from pins.
    let matrix = match (&profile.keypad, profile.matrix_layout()) {
        (Some(k), Some(layout)) => {
            let layout = layout.map_err(|e| e.in_profile(&profile.name))?;
            let rows = k
                .rows
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    GpioLine::output(l, &format!("keypad row {}", i + 1), true, k.open_drain_rows)
                        .map(|p| (l.clone(), p))
                })
                .collect::<Result<Vec<_>>>()?;
            let cols = k
                .columns
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let opts = InputOptions {
                        pull_up: true,
                        debounce: None,
                    };
                    GpioLine::input(l, &format!("keypad column {}", i + 1), opts)
                        .map(|p| (l.clone(), p))
                })
                .collect::<Result<Vec<_>>>()?;
            let scanner = MatrixScanner::new(
                layout,
                Duration::from_millis(k.debounce_ms),
                profile.keys.clone(),
            );
            Some((MatrixPins::new(rows, cols)?, scanner))
        }
        _ => None,
    };
    let mut buttons = Vec::new();
    for b in &profile.buttons {
        let key = Key::from_name(&b.key)
            .ok_or_else(|| BoardError::unknown("key", b.key.as_str()).in_profile(&profile.name))?;
        let role = format!("{} button", b.key);
        let pin = GpioLine::input(
            &b.line,
            &role,
            InputOptions {
                pull_up: b.active_low,
                debounce: None,
            },
        )?;
        buttons.push(ButtonPin {
            key,
            name: b.line.clone(),
            pin,
            active_low: b.active_low,
        });
    }
    let bank = KeyBank::new(
        buttons.iter().map(|b| b.key).collect(),
        Duration::from_millis(profile.keypad.as_ref().map_or(20, |k| k.debounce_ms)),
        profile.keys.clone(),
    );
    let hook = match &profile.hook {
        Some(h) => {
            let pin = GpioLine::input(
                &h.line,
                "hook switch",
                InputOptions {
                    pull_up: true,
                    debounce: h
                        .kernel_debounce
                        .then(|| Duration::from_millis(h.debounce_ms)),
                },
            )?;
            Some((h.line.clone(), pin, HookSwitch::new(profile.hook_config())))
        }
        None => None,
    };
    if matrix.is_some() || !buttons.is_empty() || hook.is_some() {
        let interval =
            Duration::from_millis(profile.keypad.as_ref().map_or(5, |k| k.scan_interval_ms));
        crate::inputs::spawn(
            PinInputs::new(matrix, buttons, bank, hook),
            interval,
            tx.clone(),
        )?;
    }

    // Inputs from a kernel input device.
    if let Some(e) = &profile.evdev {
        let map = EvdevMap::from_names(&e.keys, e.hook.as_deref(), e.hook_active_is_off_hook)
            .map_err(|e| e.in_profile(&profile.name))?;
        let input = EvdevInput::new(map, profile.keys.clone(), profile.hook_config());
        crate::evdev_input::spawn(&e.device, input, tx.clone())?;
    }
    drop(tx);

    // LEDs and ringer.
    let mut leds: Vec<(crate::led::Led, Box<dyn Switch>)> = Vec::new();
    for (led, p) in &profile.leds {
        let role = format!("{led} LED");
        let pin = GpioLine::output(&p.line, &role, p.active_low, false)?;
        leds.push((
            *led,
            Box::new(PinSwitch::new(p.line.clone(), pin, p.active_low)),
        ));
    }
    let r = &profile.ringer;
    let ringer = match r.kind {
        RingerKind::None => RingerDrive::None,
        RingerKind::Gpio => {
            let line = r.line.clone().unwrap_or_default();
            let pin = GpioLine::output(&line, "ringer", r.active_low, false)?;
            RingerDrive::Switch(Box::new(PinSwitch::new(line, pin, r.active_low)))
        }
        RingerKind::Pwm => RingerDrive::Switch(Box::new(SysfsPwm::open(
            r.pwm_chip.unwrap_or(0),
            r.pwm_channel.unwrap_or(0),
            r.frequency_hz,
            50,
        )?)),
        RingerKind::Tone => RingerDrive::Tone(Box::new(ToneRinger::new(
            r.device.clone().unwrap_or_default(),
            r.tone_hz.clone(),
            r.level,
        ))),
    };
    let indicators = IndicatorThread::spawn(leds, ringer)?;

    // Display.
    let d = &profile.display;
    let panel: Box<dyn Panel> = match d.kind {
        DisplayKind::None => Box::new(NullPanel::new(Layout::OLED_128X64)),
        DisplayKind::Ssd1306 => Box::new(Ssd1306Panel::open(
            d.i2c
                .as_deref()
                .unwrap_or(std::path::Path::new("/dev/i2c-1")),
            d.address.unwrap_or(0x3c),
        )?),
        DisplayKind::St7789 | DisplayKind::Ili9341 => {
            if let Some(bl) = &d.backlight {
                keep.push(Box::new(GpioLine::output(
                    bl,
                    "display backlight",
                    true,
                    false,
                )?));
            }
            let options = profile
                .mipi_options()
                .ok_or_else(|| profile_err(profile, "TFT options".into()))?;
            Box::new(MipiPanel::open(
                d.spi
                    .as_deref()
                    .unwrap_or(std::path::Path::new("/dev/spidev0.0")),
                d.spi_hz,
                d.dc.as_deref().unwrap_or_default(),
                d.reset.as_deref(),
                options,
            )?)
        }
        DisplayKind::Framebuffer => Box::new(FbPanel::open(
            d.device
                .as_deref()
                .unwrap_or(std::path::Path::new("/dev/fb0")),
        )?),
        DisplayKind::Simulated => {
            return Err(profile_err(
                profile,
                "a simulated display needs the simulator".into(),
            ));
        }
    };

    let audio = match &profile.audio {
        Some(config) => Some(Audio::start(config.clone())?),
        None => None,
    };

    Ok(Board {
        name: profile.name.clone(),
        events: rx,
        indicators: Box::new(indicators),
        // The bus (23 ms a full frame over I2C at 400 kHz) is driven from a thread of its
        // own: the phone's loop never waits for it.
        display: Display::new(Box::new(BackgroundPanel::spawn(panel)?)),
        audio,
        _keep: keep,
        // Nothing on real hardware asks to quit: inputs that end are a fault.
        quit: Default::default(),
    })
}
