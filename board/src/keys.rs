//! What happens while a key is held: long press, auto-repeat and stuck-key handling.
//!
//! Sans-IO and shared by every key source (matrix scan, direct buttons, evdev, terminal):
//! sources report debounced presses and releases, this turns them into `KeyDown`, `KeyUp`,
//! `KeyLongPress` and `KeyRepeat` events, with deadlines for the caller's timer.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::input::{InputEvent, Key};

/// Hold timings, from the board profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeyTiming {
    /// Held this long: one `KeyLongPress` (and the first `KeyRepeat` for repeating keys).
    #[serde(with = "crate::serde_ms::millis", rename = "long_press_ms")]
    pub long_press: Duration,
    /// Interval between `KeyRepeat`s after the long-press time.
    #[serde(with = "crate::serde_ms::millis", rename = "repeat_ms")]
    pub repeat_interval: Duration,
    /// Keys that auto-repeat while held (volume keys by default).
    #[serde(with = "crate::input::key_names")]
    pub repeat_keys: Vec<Key>,
    /// A key held longer than this is taken as stuck: released (`KeyUp`) and ignored until it
    /// is physically released, so one jammed key cannot block the keypad. `None` disables it.
    #[serde(with = "crate::serde_ms::opt_millis", rename = "stuck_after_ms")]
    pub stuck_after: Option<Duration>,
}

impl Default for KeyTiming {
    fn default() -> Self {
        KeyTiming {
            long_press: Duration::from_millis(800),
            repeat_interval: Duration::from_millis(150),
            repeat_keys: vec![Key::VolumeUp, Key::VolumeDown],
            stuck_after: Some(Duration::from_secs(30)),
        }
    }
}

#[derive(Debug, Clone)]
struct Held {
    key: Key,
    since: Instant,
    long_sent: bool,
    next_repeat: Option<Instant>,
    stuck: bool,
}

/// Tracks held keys and produces hold events.
#[derive(Debug, Clone)]
pub struct PressTracker {
    timing: KeyTiming,
    held: Vec<Held>,
}

impl PressTracker {
    pub fn new(timing: KeyTiming) -> Self {
        PressTracker {
            timing,
            held: Vec::new(),
        }
    }

    pub fn timing(&self) -> &KeyTiming {
        &self.timing
    }

    /// A debounced press of `key` that physically started at `since`. Emits `KeyDown`.
    pub fn press(&mut self, key: Key, since: Instant, out: &mut Vec<InputEvent>) {
        if self.held.iter().any(|h| h.key == key) {
            return;
        }
        self.held.push(Held {
            key,
            since,
            long_sent: false,
            next_repeat: None,
            stuck: false,
        });
        out.push(InputEvent::KeyDown(key));
    }

    /// A debounced release. Emits `KeyUp` unless the key was already released as stuck.
    pub fn release(&mut self, key: Key, out: &mut Vec<InputEvent>) {
        if let Some(pos) = self.held.iter().position(|h| h.key == key) {
            let held = self.held.remove(pos);
            if held.stuck {
                tracing::info!(?key, "stuck key released");
            } else {
                out.push(InputEvent::KeyUp(key));
            }
        }
    }

    /// Whether `key` is held (and not written off as stuck).
    pub fn is_held(&self, key: Key) -> bool {
        self.held.iter().any(|h| h.key == key && !h.stuck)
    }

    /// Advances timers to `now`: long presses, repeats, stuck keys.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<InputEvent>) {
        let timing = &self.timing;
        for held in self.held.iter_mut().filter(|h| !h.stuck) {
            let long_at = held.since + timing.long_press;
            if !held.long_sent && now >= long_at {
                held.long_sent = true;
                out.push(InputEvent::KeyLongPress(held.key));
                if timing.repeat_keys.contains(&held.key) {
                    out.push(InputEvent::KeyRepeat(held.key));
                    held.next_repeat = Some(long_at + timing.repeat_interval);
                }
            }
            if let Some(next) = held.next_repeat
                && now >= next
            {
                // One repeat per poll: a late poll must not produce a burst.
                out.push(InputEvent::KeyRepeat(held.key));
                let mut following = next + timing.repeat_interval;
                while following <= now {
                    following += timing.repeat_interval;
                }
                held.next_repeat = Some(following);
            }
            if let Some(stuck_after) = timing.stuck_after
                && now.saturating_duration_since(held.since) >= stuck_after
            {
                tracing::warn!(key = ?held.key, "key held for {stuck_after:?}: treating it as stuck");
                held.stuck = true;
                held.next_repeat = None;
                out.push(InputEvent::KeyUp(held.key));
            }
        }
    }

    /// The next time `poll` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.held
            .iter()
            .filter(|h| !h.stuck)
            .flat_map(|h| {
                let long = (!h.long_sent).then(|| h.since + self.timing.long_press);
                let stuck = self.timing.stuck_after.map(|d| h.since + d);
                [long, h.next_repeat, stuck]
            })
            .flatten()
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InputEvent::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn long_press_once_and_repeat_only_for_volume() {
        let t0 = Instant::now();
        let mut t = PressTracker::new(KeyTiming::default());
        let mut out = Vec::new();
        t.press(Key::Digit(0), t0, &mut out);
        t.press(Key::VolumeUp, t0, &mut out);
        assert_eq!(out, vec![KeyDown(Key::Digit(0)), KeyDown(Key::VolumeUp)]);
        out.clear();
        assert_eq!(t.next_deadline(), Some(t0 + ms(800)));
        t.poll(t0 + ms(800), &mut out);
        assert_eq!(
            out,
            vec![
                KeyLongPress(Key::Digit(0)),
                KeyLongPress(Key::VolumeUp),
                KeyRepeat(Key::VolumeUp)
            ]
        );
        out.clear();
        t.poll(t0 + ms(950), &mut out);
        assert_eq!(out, vec![KeyRepeat(Key::VolumeUp)]);
        out.clear();
        // A late poll yields one repeat, not a burst.
        t.poll(t0 + ms(1600), &mut out);
        assert_eq!(out, vec![KeyRepeat(Key::VolumeUp)]);
        assert_eq!(t.next_deadline(), Some(t0 + ms(1700)));
        out.clear();
        t.release(Key::VolumeUp, &mut out);
        t.release(Key::Digit(0), &mut out);
        assert_eq!(out, vec![KeyUp(Key::VolumeUp), KeyUp(Key::Digit(0))]);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn stuck_key_is_released_once() {
        let t0 = Instant::now();
        let mut t = PressTracker::new(KeyTiming::default());
        let mut out = Vec::new();
        t.press(Key::VolumeDown, t0, &mut out);
        out.clear();
        t.poll(t0 + ms(30_000), &mut out);
        assert_eq!(out.last(), Some(&KeyUp(Key::VolumeDown)));
        assert!(!t.is_held(Key::VolumeDown));
        out.clear();
        t.poll(t0 + ms(60_000), &mut out);
        assert!(out.is_empty(), "no repeats after stuck: {out:?}");
        assert_eq!(t.next_deadline(), None);
        t.release(Key::VolumeDown, &mut out);
        assert!(out.is_empty());
        t.press(Key::VolumeDown, t0 + ms(61_000), &mut out);
        assert_eq!(out, vec![KeyDown(Key::VolumeDown)]);
    }
}

/// A fixed set of keys, each with its own debouncer, feeding one [`PressTracker`].
///
/// Sources (matrix scan, direct buttons) map their raw samples to one `bool` per key index.
#[derive(Debug, Clone)]
pub struct KeyBank {
    keys: Vec<Key>,
    debouncers: Vec<crate::debounce::Debouncer>,
    tracker: PressTracker,
}

impl KeyBank {
    pub fn new(keys: Vec<Key>, debounce: Duration, timing: KeyTiming) -> Self {
        let debouncers = keys
            .iter()
            .map(|_| crate::debounce::Debouncer::with_level(debounce, false))
            .collect();
        KeyBank {
            keys,
            debouncers,
            tracker: PressTracker::new(timing),
        }
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Feeds one raw sample: `raw(i)` says whether key `i` reads pressed; keys for which
    /// `frozen(i)` is true keep their state (their reading is ambiguous, e.g. a matrix ghost).
    pub fn update(
        &mut self,
        raw: impl Fn(usize) -> bool,
        frozen: impl Fn(usize) -> bool,
        now: Instant,
        out: &mut Vec<InputEvent>,
    ) {
        for (i, debouncer) in self.debouncers.iter_mut().enumerate() {
            let level = if frozen(i) {
                // Feeding the stable level cancels any pending change.
                debouncer.stable().unwrap_or(false)
            } else {
                raw(i)
            };
            if let Some(settled) = debouncer.update(level, now) {
                let key = self.keys[i];
                if settled.level {
                    self.tracker.press(key, settled.since, out);
                } else {
                    self.tracker.release(key, out);
                }
            }
        }
        self.tracker.poll(now, out);
    }

    /// Advances hold timers without a new sample.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<InputEvent>) {
        self.tracker.poll(now, out);
    }

    /// Whether `key` is currently held (debounced, not stuck).
    pub fn is_held(&self, key: Key) -> bool {
        self.tracker.is_held(key)
    }

    /// The earliest time something may change without a new raw edge.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.debouncers
            .iter()
            .filter_map(|d| d.next_deadline())
            .chain(self.tracker.next_deadline())
            .min()
    }
}
