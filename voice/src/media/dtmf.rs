//! The `send_digits` schedule (which RFC 4733 event starts when) and the packets of one event.
//!
//! Each digit is a 160 ms tone followed by a 70 ms gap (the SDK's `insertDTMF(…, 160, 70)`);
//! each `w` adds a 500 ms pause before what follows. Digits queued while others are still
//! playing go after them, in order.
//!
//! An event goes out as RFC 4733 packets in place of audio, one per 20 ms frame, all with the
//! event's start as their RTP time at the telephone-event's clock: the first marked, each
//! saying how long the tone has lasted so far, then the end three times (§2.5.1.4).

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

/// Volume of the events we send, in −dBm0 (what browsers send).
const VOLUME: u8 = 10;
/// Times the final packet is sent (RFC 4733 §2.5.1.4 recommends three).
const END_REPEATS: usize = 3;

/// One RFC 4733 packet's payload and marker bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    pub payload: [u8; 4],
    pub marker: bool,
}

impl EventPacket {
    fn new(event: u8, end: bool, units: u16, marker: bool) -> Self {
        let [d0, d1] = units.to_be_bytes();
        EventPacket {
            payload: [event, if end { 0x80 } else { 0 } | VOLUME, d0, d1],
            marker,
        }
    }
}

/// The packets of one event, asked for once per audio frame.
#[derive(Debug, Clone)]
pub struct EventSender {
    tone: DtmfTone,
    clock_rate: u32,
    started: bool,
    done: bool,
}

impl EventSender {
    pub fn new(tone: DtmfTone, clock_rate: u32) -> Self {
        EventSender {
            tone,
            clock_rate,
            started: false,
            done: false,
        }
    }

    pub fn tone(&self) -> &DtmfTone {
        &self.tone
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Durations count at the event's clock; 16 bits hold 8 s at 8 kHz, 1.3 s at 48 kHz.
    fn units(&self, d: Duration) -> u16 {
        let units = d.as_micros() * u128::from(self.clock_rate) / 1_000_000;
        u16::try_from(units).unwrap_or(u16::MAX)
    }

    /// The packets for the frame that ends at `frame_end`: an update while the tone lasts,
    /// the end (three times) once it is over, nothing after that.
    pub fn packets(&mut self, frame_end: Instant) -> Vec<EventPacket> {
        if self.done {
            return Vec::new();
        }
        let elapsed = frame_end.saturating_duration_since(self.tone.start);
        let marker = !self.started;
        self.started = true;
        if elapsed < self.tone.duration {
            return vec![EventPacket::new(
                self.tone.event,
                false,
                self.units(elapsed),
                marker,
            )];
        }
        self.done = true;
        let end = EventPacket::new(self.tone.event, true, self.units(self.tone.duration), false);
        let mut out = vec![end; END_REPEATS];
        out[0].marker = marker;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_updates_then_three_ends_at_its_own_clock() {
        let t0 = Instant::now();
        let tone = DtmfTone {
            digit: '#',
            event: 11,
            start: t0,
            duration: TONE,
        };
        for clock in [8000u32, 48_000] {
            let mut s = EventSender::new(tone, clock);
            let mut all = Vec::new();
            let mut frame_end = t0 + Duration::from_millis(20);
            while !s.is_done() {
                all.extend(s.packets(frame_end));
                frame_end += Duration::from_millis(20);
            }
            // 160 ms: updates at 20..140 ms (7), then the end three times.
            assert_eq!(all.len(), 7 + 3, "clock {clock}");
            assert!(all[0].marker && all[1..].iter().all(|p| !p.marker));
            let units = |p: &EventPacket| u16::from_be_bytes([p.payload[2], p.payload[3]]);
            assert_eq!(units(&all[0]), (clock / 50) as u16);
            assert_eq!(units(&all[6]), (clock * 140 / 1000) as u16);
            for end in &all[7..] {
                assert_eq!(end.payload[0], 11);
                assert_eq!(end.payload[1], 0x80 | VOLUME);
                assert_eq!(units(end), (clock * 160 / 1000) as u16);
            }
            assert!(all[..7].iter().all(|p| p.payload[1] & 0x80 == 0));
            assert!(s.packets(frame_end).is_empty());
        }
    }

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
