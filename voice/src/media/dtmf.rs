//! The `send_digits` schedule: which RFC 4733 event starts when.
//!
//! Each digit is a 160 ms tone followed by a 70 ms gap (the SDK's `insertDTMF(…, 160, 70)`);
//! each `w` adds a 500 ms pause before what follows. Digits queued while others are still
//! playing go after them, in order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const TONE: Duration = Duration::from_millis(160);
pub const GAP: Duration = Duration::from_millis(70);
pub const PAUSE: Duration = Duration::from_millis(500);

/// RFC 4733 event code of a DTMF character (`0-9` → 0–9, `*` → 10, `#` → 11, `A-D` → 12–15).
pub fn event_code(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(12 + (c as u8 - b'A')),
        'a'..='d' => Some(12 + (c as u8 - b'a')),
        _ => None,
    }
}

/// One tone to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfTone {
    pub digit: char,
    pub event: u8,
    pub start: Instant,
    pub duration: Duration,
}

#[derive(Debug, Default)]
pub struct DtmfScheduler {
    queue: VecDeque<DtmfTone>,
    /// When the next queued digit may start.
    free_at: Option<Instant>,
}

impl DtmfScheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues digits (`0-9*#w`; other characters are skipped — the API validates first).
    pub fn enqueue(&mut self, digits: &str, now: Instant) {
        let mut at = self.free_at.filter(|t| *t > now).unwrap_or(now);
        for c in digits.chars() {
            if c == 'w' || c == 'W' {
                at += PAUSE;
                continue;
            }
            let Some(event) = event_code(c) else { continue };
            self.queue.push_back(DtmfTone {
                digit: c,
                event,
                start: at,
                duration: TONE,
            });
            at += TONE + GAP;
        }
        self.free_at = Some(at);
    }

    /// The next tone due at `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<DtmfTone> {
        if self.queue.front().is_some_and(|t| t.start <= now) {
            self.queue.pop_front()
        } else {
            None
        }
    }

    pub fn next_start(&self) -> Option<Instant> {
        self.queue.front().map(|t| t.start)
    }

    /// Whether a tone is sounding at `now` (audio is held back meanwhile).
    pub fn is_busy(&self, now: Instant, last: Option<&DtmfTone>) -> bool {
        last.is_some_and(|t| now < t.start + t.duration)
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_follows_the_sdk() {
        let t0 = Instant::now();
        let mut s = DtmfScheduler::new();
        s.enqueue("123w#", t0);
        let starts: Vec<(char, u128)> = std::iter::from_fn(|| {
            let next = s.next_start()?;
            s.poll(next).map(|t| (t.digit, (t.start - t0).as_millis()))
        })
        .collect();
        assert_eq!(starts, vec![('1', 0), ('2', 230), ('3', 460), ('#', 1190)]);
        assert_eq!(event_code('*'), Some(10));
        assert_eq!(event_code('#'), Some(11));
        assert_eq!(event_code('x'), None);
    }

    #[test]
    fn later_digits_queue_behind_earlier_ones() {
        let t0 = Instant::now();
        let mut s = DtmfScheduler::new();
        s.enqueue("1", t0);
        s.enqueue("2", t0 + Duration::from_millis(50));
        assert_eq!(s.poll(t0).unwrap().digit, '1');
        assert!(s.poll(t0 + Duration::from_millis(100)).is_none());
        assert_eq!(s.poll(t0 + Duration::from_millis(230)).unwrap().digit, '2');
        assert!(s.is_empty());
    }
}
