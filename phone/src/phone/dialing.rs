//! Off-hook without a call: dial tone, collecting digits against the dial plan, and the
//! reorder → howler → silence sequence when dialing fails.

use std::time::Instant;

use super::{Activity, Phone, TimerKind};
use crate::dialplan::{Destination, DialDecision};
use crate::tones::Tone;

/// Longest number the phone collects.
const MAX_DIGITS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DialStage {
    /// Dial tone (or the no-service tone); nothing dialed yet.
    Ready,
    Collecting,
    Failed(DialFailure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DialFailure {
    Invalid,
    Barred,
    TimedOut,
}

#[derive(Debug, Clone)]
pub(super) struct OffHook {
    pub digits: String,
    pub stage: DialStage,
}

impl Phone {
    /// Off-hook with nothing going on: dial tone if calls can be placed, else the no-service
    /// tone (the screen says why). Either way the initial-digit timer starts.
    pub(super) fn start_off_hook(&mut self, now: Instant) {
        self.menu = None;
        self.timers.remove(&TimerKind::MenuIdle);
        self.timers.remove(&TimerKind::EndedScreen);
        self.clear_tone_plan();
        self.activity = Activity::OffHook(OffHook {
            digits: String::new(),
            stage: DialStage::Ready,
        });
        self.play_ready_tone();
        self.timers
            .insert(TimerKind::Digits, now + self.cfg.timers.dial_tone);
        self.view_dirty = true;
    }

    fn ready_tone(&self) -> Tone {
        if !self.service.can_call() {
            Tone::NoService
        } else if self.remote.voicemail.new > 0 {
            // Stutter dial tone: new voicemail (missed calls do not make it stutter).
            Tone::MessageWaitingDial
        } else {
            Tone::Dial
        }
    }

    fn play_ready_tone(&mut self) {
        let tone = self.ready_tone();
        self.play_tone(tone);
    }

    /// Registration came or went while the dial tone is on: switch between dial tone and the
    /// no-service tone.
    pub(super) fn refresh_ready_tone(&mut self) {
        if let Activity::OffHook(off) = &self.activity
            && off.stage == DialStage::Ready
            && self.current_tone.is_some()
            && self.current_tone != Some(self.ready_tone())
        {
            self.play_ready_tone();
        }
    }

    pub(super) fn on_dial_key(&mut self, c: char, now: Instant) {
        match &mut self.activity {
            Activity::OffHook(off) => {
                let first = off.stage == DialStage::Ready;
                match off.stage {
                    DialStage::Failed(_) => return,
                    _ if off.digits.len() >= MAX_DIGITS => return,
                    DialStage::Ready if !self.service.can_call() => return,
                    _ => {}
                }
                let digits = off.digits.clone();
                if first {
                    // The first key ends the dial tone.
                    self.stop_tone();
                }
                self.key_feedback(c);
                let decision = if !first && c == '#' && !self.cfg.dial_plan.pound_is_digit(&digits)
                {
                    self.cfg.dial_plan.send_now(&digits)
                } else {
                    let key = if first {
                        self.cfg.dial_plan.first_key(c)
                    } else {
                        c
                    };
                    let mut digits = digits;
                    digits.push(key);
                    if let Some(plus) = self.cfg.dial_plan.star_as_plus(&digits) {
                        digits = plus;
                    }
                    let decision = self.cfg.dial_plan.after_key(&digits);
                    if let Activity::OffHook(off) = &mut self.activity {
                        off.digits = digits;
                        off.stage = DialStage::Collecting;
                    }
                    decision
                };
                self.apply_decision(decision, now);
            }
            Activity::Call(call) if call.is_open() => {
                let id = call.id;
                call.digits_sent.push(c);
                self.emit(super::PhoneOutput::SendDigits {
                    call: id,
                    digits: c.to_string(),
                });
                self.key_feedback(c);
            }
            _ => self.view_dirty = false,
        }
    }

    /// A long press while dialing: `0` alone becomes `+`; the voicemail key alone calls
    /// voicemail; a speed-dial key alone dials it.
    pub(super) fn long_press_digit(&mut self, d: u8, now: Instant) {
        let Activity::OffHook(off) = &mut self.activity else {
            return;
        };
        if off.stage != DialStage::Collecting || off.digits != d.to_string() {
            return;
        }
        if self.cfg.dial_plan.voicemail_key() == Some(d) {
            self.call_voicemail(now);
        } else if d == 0 {
            off.digits = "+".into();
            let decision = self.cfg.dial_plan.after_key("+");
            self.apply_decision(decision, now);
        } else if let Some(number) = self.cfg.dial_plan.speed_dial(d).map(str::to_string) {
            self.timers.remove(&TimerKind::Digits);
            self.place_stored_number(&number, now);
        }
    }

    fn apply_decision(&mut self, decision: DialDecision, now: Instant) {
        self.timers.remove(&TimerKind::Digits);
        match decision {
            DialDecision::Dial(output) => {
                let destination = if self.cfg.dial_plan.is_emergency(&output) {
                    Destination {
                        to: output,
                        name: None,
                    }
                } else {
                    self.cfg.dial_plan.destination(&output)
                };
                self.start_outgoing(destination, now);
            }
            DialDecision::Wait(wait) => {
                self.timers.insert(TimerKind::Digits, now + wait);
            }
            DialDecision::Invalid => self.fail_dialing(DialFailure::Invalid, now),
            DialDecision::Barred => self.fail_dialing(DialFailure::Barred, now),
        }
    }

    pub(super) fn on_digit_timeout(&mut self, at: Instant) {
        let Activity::OffHook(off) = &self.activity else {
            return;
        };
        match off.stage {
            DialStage::Ready => self.fail_dialing(DialFailure::TimedOut, at),
            DialStage::Collecting => {
                let decision = self.cfg.dial_plan.send_now(&off.digits);
                self.apply_decision(decision, at);
            }
            DialStage::Failed(_) => {}
        }
    }

    /// Reorder, then the howler, then silence, until the handset goes down.
    fn fail_dialing(&mut self, why: DialFailure, now: Instant) {
        if let Activity::OffHook(off) = &mut self.activity {
            off.stage = DialStage::Failed(why);
        }
        self.timers.remove(&TimerKind::Digits);
        let t = self.cfg.timers;
        self.start_tone_plan(
            vec![
                (Some(Tone::Reorder), Some(t.reorder)),
                (Some(Tone::Howler), Some(t.howler)),
                (None, None),
            ],
            now,
        );
    }

    /// Redial: the last number placed, from dial tone or (hands-free) from on-hook.
    pub(super) fn redial(&mut self, now: Instant) {
        let Some(number) = self.history.last_placed().map(|e| e.number.clone()) else {
            return;
        };
        match &self.activity {
            Activity::OffHook(off) if off.digits.is_empty() && off.stage == DialStage::Ready => {
                self.place_stored_number(&number, now);
            }
            Activity::Idle | Activity::Ended(_) if !self.is_off_hook() => {
                self.go_hands_free(now);
                self.place_stored_number(&number, now);
            }
            _ => {}
        }
    }

    /// Calls a number from redial, speed dial or history (no digit map involved).
    pub(super) fn place_stored_number(&mut self, number: &str, now: Instant) {
        let destination = self.cfg.dial_plan.destination(number);
        self.start_outgoing(destination, now);
    }

    /// The dialing stage, for tests.
    #[cfg(test)]
    pub(super) fn dial_stage(&self) -> Option<DialStage> {
        match &self.activity {
            Activity::OffHook(off) => Some(off.stage),
            _ => None,
        }
    }
}
