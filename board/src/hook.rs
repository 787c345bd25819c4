//! The hook switch: polarity, debounce and hook-flash detection.
//!
//! Sans-IO: pin levels and times in, `OffHook` / `OnHook` / `HookFlash` out. Putting the
//! handset down is only reported as `OnHook` once it has stayed down longer than the flash
//! window; a press of the cradle between `flash_min` and `flash_max` is a `HookFlash`, and a
//! shorter one is a glitch that is ignored. The first settled level after start is reported
//! so the firmware learns the initial state.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use embedded_hal::digital::InputPin;

use crate::debounce::Debouncer;
use crate::error::{BoardError, Result};
use crate::input::InputEvent;

/// A logic level on a pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Low,
    High,
}

impl Level {
    pub fn is_high(self) -> bool {
        self == Level::High
    }
}

/// Hook switch settings, from the board profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HookConfig {
    /// The pin level while the handset is lifted. With the usual pull-up and a switch to ground:
    /// a normally-open switch that closes under the handset reads `high` when lifted; a
    /// normally-closed one that opens under the handset reads `low` when lifted.
    pub off_hook_level: Level,
    #[serde(with = "crate::serde_ms::millis", rename = "debounce_ms")]
    pub debounce: Duration,
    /// Shorter on-hook periods are glitches.
    #[serde(with = "crate::serde_ms::millis", rename = "flash_min_ms")]
    pub flash_min: Duration,
    /// Longer on-hook periods hang up.
    #[serde(with = "crate::serde_ms::millis", rename = "flash_max_ms")]
    pub flash_max: Duration,
}

impl Default for HookConfig {
    fn default() -> Self {
        HookConfig {
            off_hook_level: Level::High,
            debounce: Duration::from_millis(20),
            flash_min: Duration::from_millis(100),
            flash_max: Duration::from_millis(900),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Unknown,
    OnHook,
    OffHook,
    /// Down since this instant: a flash if it comes back up in time, else on-hook.
    Down(Instant),
}

/// Sans-IO hook switch.
#[derive(Debug, Clone)]
pub struct HookSwitch {
    config: HookConfig,
    debouncer: Debouncer,
    state: State,
}

impl HookSwitch {
    pub fn new(config: HookConfig) -> Self {
        HookSwitch {
            debouncer: Debouncer::new(config.debounce),
            config,
            state: State::Unknown,
        }
    }

    /// `Some(true)` when lifted (a pending flash counts as lifted), `None` before the first level settles.
    pub fn is_off_hook(&self) -> Option<bool> {
        match self.state {
            State::Unknown => None,
            State::OnHook => Some(false),
            State::OffHook | State::Down(_) => Some(true),
        }
    }

    /// Feeds one pin sample (`pin_high` = the raw level) taken at `now`.
    pub fn update(&mut self, pin_high: bool, now: Instant, out: &mut Vec<InputEvent>) {
        let lifted = pin_high == self.config.off_hook_level.is_high();
        self.update_lifted(lifted, now, out);
    }

    /// Reads the hook pin (any embedded-hal input) and feeds the sample.
    pub fn sample<P: InputPin>(
        &mut self,
        pin: &mut P,
        pin_name: &str,
        now: Instant,
        out: &mut Vec<InputEvent>,
    ) -> Result<()> {
        let high = pin.is_high().map_err(|e| BoardError::pin(pin_name, e))?;
        self.update(high, now, out);
        Ok(())
    }

    /// Feeds one sample already mapped to "lifted" (for evdev switches and simulators).
    pub fn update_lifted(&mut self, lifted: bool, now: Instant, out: &mut Vec<InputEvent>) {
        match self.debouncer.update(lifted, now) {
            Some(settled) if settled.level => match self.state {
                State::Unknown | State::OnHook => {
                    self.state = State::OffHook;
                    out.push(InputEvent::OffHook);
                }
                State::Down(down) => {
                    let down_for = settled.since.saturating_duration_since(down);
                    self.state = State::OffHook;
                    if down_for >= self.config.flash_max {
                        out.push(InputEvent::OnHook);
                        out.push(InputEvent::OffHook);
                    } else if down_for >= self.config.flash_min {
                        out.push(InputEvent::HookFlash);
                    } else {
                        tracing::debug!(?down_for, "hook glitch ignored");
                    }
                }
                State::OffHook => {}
            },
            Some(settled) => match self.state {
                State::Unknown => {
                    self.state = State::OnHook;
                    out.push(InputEvent::OnHook);
                }
                State::OffHook => self.state = State::Down(settled.since),
                State::OnHook | State::Down(_) => {}
            },
            None => {}
        }
        self.poll(now, out);
    }

    /// Reports `OnHook` once the handset has been down past the flash window.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<InputEvent>) {
        if let State::Down(down) = self.state {
            let hang_up_at = down + self.config.flash_max;
            // A lift seen before the deadline but still settling decides the outcome.
            let lift_pending = self
                .debouncer
                .pending_since()
                .is_some_and(|since| since < hang_up_at);
            if now >= hang_up_at && !lift_pending {
                self.state = State::OnHook;
                out.push(InputEvent::OnHook);
            }
        }
    }

    /// When `poll` or a pending settle may produce an event.
    pub fn next_deadline(&self) -> Option<Instant> {
        let hang_up = match self.state {
            State::Down(down) => Some(down + self.config.flash_max),
            _ => None,
        };
        [hang_up, self.debouncer.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
}
