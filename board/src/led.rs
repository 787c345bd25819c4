//! LEDs and their modes (off, on, blinking), with the sans-IO blink timing.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The handset's indicator LEDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Led {
    /// Microphone muted.
    Mute,
    /// Missed call / message waiting.
    Message,
    /// Speakerphone active.
    Speaker,
}

impl Led {
    pub const ALL: [Led; 3] = [Led::Mute, Led::Message, Led::Speaker];

    /// Name in profiles, scripts and logs.
    pub fn name(self) -> &'static str {
        match self {
            Led::Mute => "mute",
            Led::Message => "message",
            Led::Speaker => "speaker",
        }
    }

    pub fn from_name(name: &str) -> Option<Led> {
        Led::ALL.into_iter().find(|l| l.name() == name)
    }
}

impl fmt::Display for Led {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an LED should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LedMode {
    #[default]
    Off,
    On,
    /// On for `on`, off for `off`, repeating, starting with on.
    Blink {
        on: Duration,
        off: Duration,
    },
}

impl LedMode {
    /// A symmetric blink.
    pub fn blink(period_ms: u64) -> LedMode {
        let half = Duration::from_millis(period_ms / 2);
        LedMode::Blink {
            on: half,
            off: half,
        }
    }

    /// Whether the LED is lit at `now`, for a mode set at `since`.
    pub fn is_lit(&self, since: Instant, now: Instant) -> bool {
        match *self {
            LedMode::Off => false,
            LedMode::On => true,
            LedMode::Blink { on, off } => {
                let period = on + off;
                if period.is_zero() {
                    return true;
                }
                let phase = now.saturating_duration_since(since).as_nanos() % period.as_nanos();
                phase < on.as_nanos()
            }
        }
    }

    /// The next instant after `now` at which the level changes.
    pub fn next_change(&self, since: Instant, now: Instant) -> Option<Instant> {
        let LedMode::Blink { on, off } = *self else {
            return None;
        };
        let period = (on + off).as_nanos();
        if on.is_zero() || off.is_zero() {
            return None;
        }
        let elapsed = now.saturating_duration_since(since).as_nanos();
        let cycle_start = elapsed - elapsed % period;
        let phase = elapsed - cycle_start;
        let next = if phase < on.as_nanos() {
            cycle_start + on.as_nanos()
        } else {
            cycle_start + period
        };
        let nanos = u64::try_from(next).ok()?;
        Some(since + Duration::from_nanos(nanos))
    }

    /// Parses `off`, `on`, `blink` (500 ms period) or `blink ON/OFF` (milliseconds).
    pub fn parse(text: &str) -> Option<LedMode> {
        let mut words = text.split_whitespace();
        let mode = match words.next()? {
            "off" => LedMode::Off,
            "on" => LedMode::On,
            "blink" => match words.next() {
                None => LedMode::blink(1000),
                Some(spec) => {
                    let (on, off) = spec.split_once('/')?;
                    let ms = |v: &str| v.parse::<u64>().ok().filter(|ms| *ms <= 60_000);
                    LedMode::Blink {
                        on: Duration::from_millis(ms(on)?),
                        off: Duration::from_millis(ms(off)?),
                    }
                }
            },
            _ => return None,
        };
        words.next().is_none().then_some(mode)
    }
}

impl fmt::Display for LedMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedMode::Off => f.write_str("off"),
            LedMode::On => f.write_str("on"),
            LedMode::Blink { on, off } => {
                write!(f, "blink {}/{}", on.as_millis(), off.as_millis())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blink_timing() {
        let t0 = Instant::now();
        let m = LedMode::Blink {
            on: Duration::from_millis(100),
            off: Duration::from_millis(300),
        };
        assert!(m.is_lit(t0, t0));
        assert!(!m.is_lit(t0, t0 + Duration::from_millis(100)));
        assert!(m.is_lit(t0, t0 + Duration::from_millis(400)));
        assert_eq!(
            m.next_change(t0, t0 + Duration::from_millis(50)),
            Some(t0 + Duration::from_millis(100))
        );
        assert_eq!(
            m.next_change(t0, t0 + Duration::from_millis(100)),
            Some(t0 + Duration::from_millis(400))
        );
        assert_eq!(LedMode::On.next_change(t0, t0), None);
    }

    #[test]
    fn parse_round_trips() {
        for m in [LedMode::Off, LedMode::On, LedMode::blink(600)] {
            assert_eq!(LedMode::parse(&m.to_string()), Some(m));
        }
        assert_eq!(LedMode::parse("blink"), Some(LedMode::blink(1000)));
        assert_eq!(LedMode::parse("dim"), None);
        assert_eq!(LedMode::parse("on please"), None);
    }
}
