//! The handset itself: hook switch, hook flash, keys and the speaker, and going on-hook.

use std::time::Instant;

use offhook_core::handset::input::{InputEvent, Key};

use super::calls::EndCause;
use super::io::{AudioRoute, PhoneOutput};
use super::{Activity, HookFlashAction, Phone, TimerKind};

impl Phone {
    pub(super) fn on_input(&mut self, event: InputEvent, now: Instant) {
        self.view_dirty = true;
        match event {
            InputEvent::OffHook => self.on_off_hook(now),
            InputEvent::OnHook => {
                self.handset_up = false;
                if !self.speaker_on {
                    self.go_on_hook(now);
                }
            }
            InputEvent::HookFlash => self.on_hook_flash(now),
            InputEvent::KeyDown(key) => self.on_key(key, now),
            InputEvent::KeyRepeat(key @ (Key::VolumeUp | Key::VolumeDown)) => self.on_key(key, now),
            InputEvent::KeyLongPress(key) => self.on_long_press(key, now),
            InputEvent::KeyRepeat(_) | InputEvent::KeyUp(_) => self.view_dirty = false,
        }
    }

    pub(super) fn is_off_hook(&self) -> bool {
        self.handset_up || self.speaker_on
    }

    fn on_off_hook(&mut self, now: Instant) {
        let was_off_hook = self.is_off_hook();
        self.handset_up = true;
        if let Activity::Ringing(_) = self.activity {
            self.answer(AudioRoute::Handset, now);
            return;
        }
        if self.speaker_on {
            // Lifting the handset during hands-free moves the audio to the handset.
            self.speaker_on = false;
            self.set_route(AudioRoute::Handset);
            return;
        }
        if !was_off_hook {
            self.set_route(AudioRoute::Handset);
            self.start_off_hook(now);
        }
    }

    fn on_key(&mut self, key: Key, now: Instant) {
        if self.menu.is_some()
            && !self.is_off_hook()
            && !matches!(self.activity, Activity::Ringing(_))
        {
            self.menu_key(key, now);
            return;
        }
        match key {
            Key::Digit(_) | Key::Star | Key::Pound => {
                if let Some(c) = key.dtmf_char() {
                    self.on_dial_key(c, now);
                }
            }
            Key::Mute => self.toggle_mute(),
            Key::Redial => self.redial(now),
            Key::VolumeUp => self.change_volume(1, now),
            Key::VolumeDown => self.change_volume(-1, now),
            Key::Speaker => self.on_speaker_key(now),
            Key::Reject => self.on_reject_key(now),
            Key::Menu => {
                if matches!(self.activity, Activity::Idle | Activity::Ended(_))
                    && !self.is_off_hook()
                {
                    self.open_menu(now);
                }
            }
        }
    }

    fn on_long_press(&mut self, key: Key, now: Instant) {
        if self.menu.is_some() {
            return;
        }
        if let Key::Digit(d) = key {
            if self.is_off_hook() {
                self.long_press_digit(d, now);
            } else if matches!(self.activity, Activity::Idle | Activity::Ended(_))
                && (1..=9).contains(&d)
            {
                // On-hook long press of the voicemail key or a speed-dial key: call it
                // hands-free.
                if self.cfg.dial_plan.voicemail_key() == Some(d) {
                    self.go_hands_free(now);
                    self.call_voicemail(now);
                } else if let Some(number) = self.cfg.dial_plan.speed_dial(d).map(str::to_string) {
                    self.go_hands_free(now);
                    self.place_stored_number(&number, now);
                }
            }
        }
    }

    fn on_speaker_key(&mut self, now: Instant) {
        if let Activity::Ringing(_) = self.activity {
            self.speaker_on = true;
            self.answer(AudioRoute::Speaker, now);
            return;
        }
        match (self.speaker_on, self.handset_up) {
            (false, false) => {
                self.go_hands_free(now);
            }
            (false, true) => {
                self.speaker_on = true;
                self.set_route(AudioRoute::Speaker);
            }
            (true, true) => {
                self.speaker_on = false;
                self.set_route(AudioRoute::Handset);
            }
            (true, false) => {
                self.speaker_on = false;
                self.go_on_hook(now);
            }
        }
    }

    /// Speaker on from on-hook: like lifting the handset, on the speaker.
    pub(super) fn go_hands_free(&mut self, now: Instant) {
        self.menu = None;
        self.timers.remove(&TimerKind::MenuIdle);
        self.speaker_on = true;
        self.set_route(AudioRoute::Speaker);
        self.start_off_hook(now);
    }

    fn on_hook_flash(&mut self, now: Instant) {
        if !self.is_off_hook() {
            return;
        }
        match self.cfg.hook_flash {
            HookFlashAction::Ignore => {}
            HookFlashAction::NewCall => {
                if let Activity::Call(_) = self.activity {
                    self.hang_up_active(now);
                }
                self.start_off_hook(now);
            }
            HookFlashAction::AnswerWaiting => {
                if self.waiting.is_some() {
                    self.hang_up_active(now);
                    self.answer_waiting(now);
                }
            }
        }
    }

    fn on_reject_key(&mut self, now: Instant) {
        match &self.activity {
            Activity::Ringing(_) => self.reject_ringing(now),
            Activity::Call(_) if self.waiting.is_some() => self.reject_waiting(now),
            Activity::Call(_) => {
                // "End call": hang up; with the handset still up, fresh dial tone.
                self.hang_up_active(now);
                if self.handset_up && !self.speaker_on {
                    self.start_off_hook(now);
                } else {
                    self.speaker_on = false;
                    self.go_on_hook(now);
                }
            }
            _ => {}
        }
    }

    /// Everything that happens when the phone goes on-hook (handset down with the speaker off,
    /// or speaker off with the handset down).
    pub(super) fn go_on_hook(&mut self, now: Instant) {
        self.timers.remove(&TimerKind::Digits);
        self.clear_tone_plan();
        self.stop_tone();
        if self.route == AudioRoute::Speaker {
            self.set_route(AudioRoute::Handset);
        }
        match std::mem::replace(&mut self.activity, Activity::Idle) {
            Activity::Call(call) => {
                self.emit(PhoneOutput::Hangup { call: call.id });
                self.finish_call(call, EndCause::LocalHangup, now);
            }
            Activity::Ended(ended) => {
                self.activity = Activity::Ended(ended);
                self.timers
                    .insert(TimerKind::EndedScreen, now + self.cfg.timers.ended_screen);
            }
            other @ Activity::Ringing(_) => self.activity = other,
            Activity::OffHook(_) | Activity::Idle => {}
        }
        if let Some(waiting) = self.waiting.take() {
            // Hanging up with a call waiting: it rings now.
            self.activity = Activity::Ringing(waiting);
            self.timers
                .insert(TimerKind::RingTimeout, now + self.cfg.timers.ring_timeout);
            self.set_ringer(true);
        }
    }
}
