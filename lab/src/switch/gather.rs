//! `<Gather input="dtmf">` and where keypad digits go.
//!
//! A digit reaches the switch three ways: a client's signaling `dtmf` frame, an RFC 4733
//! event in a client's media, or a virtual leg's key (`POST /v1/legs/{sid}/digits`). It is
//! input to the call only when pressed on the leg running the TwiML (the parent) while a
//! `<Gather>` or `<Record>` listens; otherwise it is only recorded and forwarded.
//!
//! `<Gather>` plays its prompts one by one; the first digit stops the prompt. Once the
//! prompts are over (or after each digit) it waits `timeout` seconds for the next digit.
//! It ends on `finishOnKey` (not part of `Digits`), on `numDigits` digits, or on the timeout;
//! then `action` (default: the current document) is requested with `Digits` — unless no
//! digit came and `actionOnEmptyResult` is off, when the next verb runs.

use std::time::Duration;

use super::calls::{GatherState, Phase};
use super::{MediaCommand, Now, Switch};
use crate::twiml::Gather;

impl Switch {
    /// A key pressed on `leg`.
    pub(super) fn digit_pressed(&mut self, leg: &str, digit: char, now: Now) {
        let Some(l) = self.legs.get(leg) else {
            return;
        };
        if !l.is_parent || l.state.is_ended() {
            return;
        }
        let call_sid = l.call_sid.clone();
        match self.calls.get(&call_sid).map(|c| &c.phase) {
            Some(Phase::Gathering(_)) => self.gather_digit(&call_sid, digit, now),
            Some(Phase::Recording(_)) => self.record_digit(&call_sid, digit),
            _ => {}
        }
    }

    pub(super) fn start_gather(&mut self, call_sid: &str, gather: Gather, now: Now) {
        self.answer_parent(call_sid, now);
        if let Some(call) = self.calls.get_mut(call_sid) {
            call.phase = Phase::Gathering(GatherState {
                gather,
                digits: String::new(),
                prompt: None,
                deadline: None,
            });
        }
        self.next_prompt(call_sid, 0, now);
    }

    fn gathering(&mut self, call_sid: &str) -> Option<&mut GatherState> {
        match self.calls.get_mut(call_sid).map(|c| &mut c.phase) {
            Some(Phase::Gathering(g)) => Some(g),
            _ => None,
        }
    }

    /// Plays prompt `index`, or, past the last one, starts waiting for digits.
    fn next_prompt(&mut self, call_sid: &str, index: usize, now: Now) {
        let Some(prompt) = self
            .gathering(call_sid)
            .and_then(|g| g.gather.prompts.get(index).cloned())
        else {
            if let Some(g) = self.gathering(call_sid) {
                g.prompt = None;
                g.deadline = Some(now.at + Duration::from_secs(u64::from(g.gather.timeout_secs)));
            }
            return;
        };
        let (items, loops) = self.playable(call_sid, &prompt);
        let token = self.start_play(call_sid, items, loops, now);
        if let Some(g) = self.gathering(call_sid) {
            g.prompt = Some((index, token));
        }
    }

    /// A playback ended; true if it was the gather's prompt (the next one plays).
    pub(super) fn gather_play_done(&mut self, call_sid: &str, token: u64, now: Now) -> bool {
        let Some(g) = self.gathering(call_sid) else {
            return false;
        };
        let Some((index, _)) = g.prompt.filter(|(_, t)| *t == token) else {
            return false;
        };
        self.next_prompt(call_sid, index + 1, now);
        true
    }

    fn gather_digit(&mut self, call_sid: &str, digit: char, now: Now) {
        let Some(g) = self.gathering(call_sid) else {
            return;
        };
        if !g.gather.dtmf {
            return;
        }
        let interrupted = g.prompt.take().is_some();
        let done = if g.gather.finish_on_key == Some(digit) {
            true
        } else {
            g.digits.push(digit);
            g.gather
                .num_digits
                .is_some_and(|n| g.digits.chars().count() >= n as usize)
        };
        g.deadline = Some(now.at + Duration::from_secs(u64::from(g.gather.timeout_secs)));
        if interrupted {
            self.media(MediaCommand::StopPlayback {
                leg: call_sid.to_string(),
            });
        }
        if done {
            self.finish_gather(call_sid, now);
        }
    }

    /// The wait for a digit is over.
    pub(super) fn gather_timer(&mut self, call_sid: &str, now: Now) {
        let due = self
            .gathering(call_sid)
            .is_some_and(|g| g.deadline.is_some_and(|d| d <= now.at));
        if due {
            self.finish_gather(call_sid, now);
        }
    }

    fn finish_gather(&mut self, call_sid: &str, now: Now) {
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        let Phase::Gathering(g) = std::mem::replace(&mut call.phase, Phase::Running) else {
            return;
        };
        if g.digits.is_empty() && !g.gather.action_on_empty_result {
            self.advance(call_sid);
            self.run(call_sid, now);
            return;
        }
        // Without `action`, Twilio requests the current document again.
        let url = g.gather.action.clone().or_else(|| call.doc_url.clone());
        match url {
            Some(url) => {
                let extra = vec![("Digits".to_string(), g.digits)];
                self.fetch(call_sid, &url, &g.gather.method, extra, now);
            }
            None => {
                self.advance(call_sid);
                self.run(call_sid, now);
            }
        }
    }
}
