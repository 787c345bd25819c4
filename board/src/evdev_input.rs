//! Keys and hook switch from a Linux input device (a USB keypad, or the kernel's
//! `gpio-keys` / `matrix-keypad` drivers via a device-tree overlay): the kernel scans and
//! debounces, we add long press, repeat and hook-flash timing.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use evdev::{EventSummary, KeyCode, SwitchCode};

use crate::board::InputSender;
use crate::error::{BoardError, Result};
use crate::hook::{HookConfig, HookSwitch};
use crate::input::{InputEvent, Key};
use crate::keys::{KeyTiming, PressTracker};

/// Where the hook switch shows up on the input device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookCode {
    Switch(SwitchCode),
    Key(KeyCode),
}

/// How input codes map to handset keys and the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvdevMap {
    pub keys: Vec<(KeyCode, Key)>,
    pub hook: Option<HookCode>,
    /// Whether the hook code's active state (value 1) means the handset is lifted.
    pub active_is_off_hook: bool,
}

impl EvdevMap {
    /// Digits, `*`/`#` (numeric and keypad codes), and mute, volume, menu, back keys.
    pub fn standard() -> Self {
        let mut keys = Vec::new();
        let digits = [
            KeyCode::KEY_0,
            KeyCode::KEY_1,
            KeyCode::KEY_2,
            KeyCode::KEY_3,
            KeyCode::KEY_4,
            KeyCode::KEY_5,
            KeyCode::KEY_6,
            KeyCode::KEY_7,
            KeyCode::KEY_8,
            KeyCode::KEY_9,
        ];
        let numeric = [
            KeyCode::KEY_NUMERIC_0,
            KeyCode::KEY_NUMERIC_1,
            KeyCode::KEY_NUMERIC_2,
            KeyCode::KEY_NUMERIC_3,
            KeyCode::KEY_NUMERIC_4,
            KeyCode::KEY_NUMERIC_5,
            KeyCode::KEY_NUMERIC_6,
            KeyCode::KEY_NUMERIC_7,
            KeyCode::KEY_NUMERIC_8,
            KeyCode::KEY_NUMERIC_9,
        ];
        let keypad = [
            KeyCode::KEY_KP0,
            KeyCode::KEY_KP1,
            KeyCode::KEY_KP2,
            KeyCode::KEY_KP3,
            KeyCode::KEY_KP4,
            KeyCode::KEY_KP5,
            KeyCode::KEY_KP6,
            KeyCode::KEY_KP7,
            KeyCode::KEY_KP8,
            KeyCode::KEY_KP9,
        ];
        for (d, codes) in (0u8..10).zip(digits.iter().zip(numeric.iter()).zip(keypad.iter())) {
            let ((a, b), c) = codes;
            keys.extend([
                (*a, Key::Digit(d)),
                (*b, Key::Digit(d)),
                (*c, Key::Digit(d)),
            ]);
        }
        keys.extend([
            (KeyCode::KEY_NUMERIC_STAR, Key::Star),
            (KeyCode::KEY_KPASTERISK, Key::Star),
            (KeyCode::KEY_NUMERIC_POUND, Key::Pound),
            (KeyCode::KEY_MUTE, Key::Mute),
            (KeyCode::KEY_MICMUTE, Key::Mute),
            (KeyCode::KEY_VOLUMEUP, Key::VolumeUp),
            (KeyCode::KEY_VOLUMEDOWN, Key::VolumeDown),
            (KeyCode::KEY_MENU, Key::Menu),
            (KeyCode::KEY_KPENTER, Key::Menu),
            (KeyCode::KEY_BACKSPACE, Key::Reject),
            (KeyCode::KEY_ESC, Key::Reject),
            (KeyCode::KEY_REDO, Key::Redial),
        ]);
        EvdevMap {
            keys,
            hook: None,
            active_is_off_hook: true,
        }
    }

    /// Builds a map from profile names: `{"KEY_F1" = "mute", …}` (added to the standard
    /// map, overriding it) and a hook code such as `SW_LID` or `KEY_F12`.
    pub fn from_names(
        keys: &BTreeMap<String, String>,
        hook: Option<&str>,
        active_is_off_hook: bool,
    ) -> Result<Self> {
        let mut map = EvdevMap::standard();
        for (code, key) in keys {
            let code = KeyCode::from_str(code)
                .map_err(|_| BoardError::unknown("input key code", code.as_str()))?;
            let key =
                Key::from_name(key).ok_or_else(|| BoardError::unknown("key", key.as_str()))?;
            map.keys.retain(|(c, _)| *c != code);
            map.keys.push((code, key));
        }
        map.hook = match hook {
            None => None,
            Some(h) => Some(if let Ok(sw) = SwitchCode::from_str(h) {
                HookCode::Switch(sw)
            } else if let Ok(k) = KeyCode::from_str(h) {
                map.keys.retain(|(c, _)| *c != k);
                HookCode::Key(k)
            } else {
                return Err(BoardError::unknown(
                    "hook switch code (e.g. SW_LID or KEY_F12)",
                    h,
                ));
            }),
        };
        map.active_is_off_hook = active_is_off_hook;
        Ok(map)
    }
}

/// Sans-IO: input events and times in, handset events out.
pub struct EvdevInput {
    map: EvdevMap,
    tracker: PressTracker,
    hook: HookSwitch,
}

impl EvdevInput {
    pub fn new(map: EvdevMap, timing: KeyTiming, hook: HookConfig) -> Self {
        EvdevInput {
            map,
            tracker: PressTracker::new(timing),
            // The kernel debounced already.
            hook: HookSwitch::new(HookConfig {
                debounce: Duration::ZERO,
                ..hook
            }),
        }
    }

    /// One input event. Kernel auto-repeat (value 2) is ignored: repeat timing is ours.
    pub fn event(&mut self, event: EventSummary, now: Instant, out: &mut Vec<InputEvent>) {
        match event {
            EventSummary::Key(_, code, value) => {
                if self.map.hook == Some(HookCode::Key(code)) {
                    self.hook_level(value == 1, now, out);
                } else if let Some((_, key)) = self.map.keys.iter().find(|(c, _)| *c == code) {
                    match value {
                        1 => self.tracker.press(*key, now, out),
                        0 => self.tracker.release(*key, out),
                        _ => {}
                    }
                }
            }
            EventSummary::Switch(_, code, value)
                if self.map.hook == Some(HookCode::Switch(code)) =>
            {
                self.hook_level(value == 1, now, out);
            }
            _ => {}
        }
        self.poll(now, out);
    }

    fn hook_level(&mut self, active: bool, now: Instant, out: &mut Vec<InputEvent>) {
        self.hook
            .update_lifted(active == self.map.active_is_off_hook, now, out);
    }

    pub fn poll(&mut self, now: Instant, out: &mut Vec<InputEvent>) {
        self.tracker.poll(now, out);
        self.hook.poll(now, out);
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        [self.tracker.next_deadline(), self.hook.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Opens the input device (a clear error if it is missing) and reads it on a thread.
pub(crate) fn spawn(path: &Path, mut input: EvdevInput, events: InputSender) -> Result<()> {
    let mut device = evdev::Device::open(path).map_err(|e| BoardError::Device {
        path: path.into(),
        message: format!("cannot open the input device: {e}"),
    })?;
    // The initial switch state, so the firmware learns whether the handset is lifted.
    if let Some(HookCode::Switch(code)) = input.map.hook
        && let Ok(switches) = device.get_switch_state()
    {
        let mut out = Vec::new();
        input.hook_level(switches.contains(code), Instant::now(), &mut out);
        for e in out {
            let _ = events.send(e);
        }
    }
    let path: PathBuf = path.into();
    std::thread::Builder::new()
        .name("evdev".into())
        .spawn(move || {
            let fd = device.as_raw_fd();
            let mut out = Vec::new();
            loop {
                let timeout = input.next_deadline().map_or(-1, |d| {
                    d.saturating_duration_since(Instant::now())
                        .as_millis()
                        .min(60_000) as i32
                });
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd for the device's open descriptor.
                let ready = unsafe { libc::poll(&mut pfd, 1, timeout) };
                if ready > 0 {
                    match device.fetch_events() {
                        Ok(batch) => {
                            let now = Instant::now();
                            for ev in batch {
                                input.event(ev.destructure(), now, &mut out);
                            }
                        }
                        Err(e) => {
                            tracing::error!(
                                "input device {}: {e}; no more keys from it",
                                path.display()
                            );
                            return;
                        }
                    }
                }
                input.poll(Instant::now(), &mut out);
                for e in out.drain(..) {
                    if events.send(e).is_err() {
                        return;
                    }
                }
            }
        })
        .map_err(|e| BoardError::io("spawning the input device thread", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use evdev::{EventType, InputEvent as RawEvent};

    fn key(code: KeyCode, value: i32) -> EventSummary {
        RawEvent::new(EventType::KEY.0, code.code(), value).destructure()
    }

    fn switch(code: SwitchCode, value: i32) -> EventSummary {
        RawEvent::new(EventType::SWITCH.0, code.0, value).destructure()
    }

    #[test]
    fn maps_keys_ignores_kernel_repeat_and_times_long_press() {
        let mut names = BTreeMap::new();
        names.insert("KEY_F1".to_owned(), "mute".to_owned());
        let map = EvdevMap::from_names(&names, Some("SW_LID"), false).unwrap();
        let mut input = EvdevInput::new(map, KeyTiming::default(), HookConfig::default());
        let t0 = Instant::now();
        let mut out = Vec::new();
        input.event(key(KeyCode::KEY_KP5, 1), t0, &mut out);
        input.event(
            key(KeyCode::KEY_KP5, 2),
            t0 + Duration::from_millis(300),
            &mut out,
        );
        input.poll(t0 + Duration::from_millis(800), &mut out);
        input.event(
            key(KeyCode::KEY_KP5, 0),
            t0 + Duration::from_millis(900),
            &mut out,
        );
        input.event(
            key(KeyCode::KEY_F1, 1),
            t0 + Duration::from_millis(950),
            &mut out,
        );
        assert_eq!(
            out,
            vec![
                InputEvent::KeyDown(Key::Digit(5)),
                InputEvent::KeyLongPress(Key::Digit(5)),
                InputEvent::KeyUp(Key::Digit(5)),
                InputEvent::KeyDown(Key::Mute),
            ]
        );
    }

    #[test]
    fn hook_switch_with_inverted_sense_and_flash() {
        // SW_LID closed (1) while the handset rests: active means on-hook.
        let map = EvdevMap::from_names(&BTreeMap::new(), Some("SW_LID"), false).unwrap();
        let mut input = EvdevInput::new(map, KeyTiming::default(), HookConfig::default());
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut out = Vec::new();
        input.event(switch(SwitchCode::SW_LID, 1), t0, &mut out);
        input.event(switch(SwitchCode::SW_LID, 0), t0 + ms(1000), &mut out);
        input.event(switch(SwitchCode::SW_LID, 1), t0 + ms(2000), &mut out);
        input.event(switch(SwitchCode::SW_LID, 0), t0 + ms(2300), &mut out);
        input.event(switch(SwitchCode::SW_LID, 1), t0 + ms(3000), &mut out);
        assert_eq!(input.next_deadline(), Some(t0 + ms(3900)));
        input.poll(t0 + ms(3900), &mut out);
        assert_eq!(
            out,
            vec![
                InputEvent::OnHook,
                InputEvent::OffHook,
                InputEvent::HookFlash,
                InputEvent::OnHook
            ]
        );
    }

    #[test]
    fn bad_names_and_missing_devices_are_clear_errors() {
        let mut names = BTreeMap::new();
        names.insert("KEY_NOPE".to_owned(), "1".to_owned());
        assert!(
            EvdevMap::from_names(&names, None, true)
                .unwrap_err()
                .to_string()
                .contains("KEY_NOPE")
        );
        assert!(EvdevMap::from_names(&BTreeMap::new(), Some("SW_NOPE"), true).is_err());
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let input = EvdevInput::new(
            EvdevMap::standard(),
            KeyTiming::default(),
            HookConfig::default(),
        );
        let err = spawn(Path::new("/dev/input/event77"), input, tx).unwrap_err();
        assert!(err.to_string().contains("/dev/input/event77"), "{err}");
    }
}
