//! Playback into a leg: `<Say>`, `<Play>` (WAV or digits), `<Pause>` and ringback, frame by frame.

use std::time::Duration;

use super::audio::{FRAME, Frame, Ringback};

/// A `PlayItem` made ready to play.
#[derive(Debug, Clone)]
pub enum Resolved {
    Samples(Vec<i16>),
    Digits(String),
    Ringback,
    /// A file still being fetched: silence until [`Player::resolve`] supplies it.
    Pending,
}

/// What the player produces for one 20 ms tick.
#[derive(Debug, Clone, PartialEq)]
pub enum PlayOut {
    Audio(Frame),
    /// Start of a DTMF digit; the frame is the audio to send alongside (silence).
    Dtmf {
        digit: char,
        duration: Duration,
        frame: Frame,
    },
    Done,
}

/// How long a `<Play digits>` tone lasts and the gap after it.
pub const DIGIT_TONE: Duration = Duration::from_millis(200);
const DIGIT_FRAMES: usize = 15; // 200 ms tone + 100 ms gap
const PAUSE_FRAMES: usize = 25; // `w`: half a second

#[derive(Debug)]
pub struct Player {
    pub token: u64,
    items: Vec<Resolved>,
    loops_left: u32,
    index: usize,
    /// Position inside the current item (samples, or frames for digits).
    position: usize,
    ringback: Ringback,
}

impl Player {
    pub fn new(token: u64, items: Vec<Resolved>, loops: u32) -> Self {
        Player {
            token,
            items,
            loops_left: loops.max(1),
            index: 0,
            position: 0,
            ringback: Ringback::default(),
        }
    }

    /// Replaces the items once fetched files arrive (only if nothing has played past them).
    pub fn resolve(&mut self, items: Vec<Resolved>) {
        let waiting = self
            .items
            .get(self.index)
            .is_some_and(|i| matches!(i, Resolved::Pending));
        if waiting || self.items.iter().any(|i| matches!(i, Resolved::Pending)) {
            self.items = items;
            self.index = 0;
            self.position = 0;
        }
    }

    pub fn next_frame(&mut self) -> PlayOut {
        loop {
            let Some(item) = self.items.get(self.index) else {
                self.loops_left = self.loops_left.saturating_sub(1);
                if self.loops_left == 0 || self.items.is_empty() {
                    return PlayOut::Done;
                }
                self.index = 0;
                self.position = 0;
                continue;
            };
            match item {
                Resolved::Pending => return PlayOut::Audio(vec![0; FRAME]),
                Resolved::Ringback => return PlayOut::Audio(self.ringback.frame()),
                Resolved::Samples(samples) => {
                    if self.position >= samples.len() {
                        self.index += 1;
                        self.position = 0;
                        continue;
                    }
                    let end = (self.position + FRAME).min(samples.len());
                    let mut frame = samples[self.position..end].to_vec();
                    frame.resize(FRAME, 0);
                    self.position = end;
                    return PlayOut::Audio(frame);
                }
                Resolved::Digits(digits) => {
                    // Each digit (or `w`) spans a fixed number of frames.
                    let mut offset = self.position;
                    let mut current = None;
                    for c in digits.chars() {
                        let span = if c == 'w' || c == 'W' {
                            PAUSE_FRAMES
                        } else {
                            DIGIT_FRAMES
                        };
                        if offset < span {
                            current = Some((c, offset == 0));
                            break;
                        }
                        offset -= span;
                    }
                    let Some((digit, starts)) = current else {
                        self.index += 1;
                        self.position = 0;
                        continue;
                    };
                    self.position += 1;
                    let frame = vec![0; FRAME];
                    if starts && digit != 'w' && digit != 'W' {
                        return PlayOut::Dtmf {
                            digit,
                            duration: DIGIT_TONE,
                            frame,
                        };
                    }
                    return PlayOut::Audio(frame);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_items_in_order_and_loops() {
        let mut p = Player::new(1, vec![Resolved::Samples(vec![1; 200])], 2);
        let mut frames = 0;
        while let PlayOut::Audio(f) = p.next_frame() {
            assert_eq!(f.len(), FRAME);
            frames += 1;
        }
        assert_eq!(frames, 4);
        assert_eq!(p.next_frame(), PlayOut::Done);
    }

    #[test]
    fn digits_start_events_at_their_frames() {
        let mut p = Player::new(1, vec![Resolved::Digits("1w2".into())], 1);
        let mut starts = Vec::new();
        let mut n = 0;
        loop {
            match p.next_frame() {
                PlayOut::Dtmf { digit, .. } => starts.push((digit, n)),
                PlayOut::Audio(_) => {}
                PlayOut::Done => break,
            }
            n += 1;
        }
        assert_eq!(starts, vec![('1', 0), ('2', DIGIT_FRAMES + PAUSE_FRAMES)]);
        assert_eq!(n, 2 * DIGIT_FRAMES + PAUSE_FRAMES);
    }

    #[test]
    fn empty_items_finish_at_once() {
        assert_eq!(Player::new(1, vec![], 3).next_frame(), PlayOut::Done);
        assert_eq!(
            Player::new(1, vec![Resolved::Samples(vec![])], 1000).next_frame(),
            PlayOut::Done
        );
    }
}
