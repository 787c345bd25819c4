//! What offhook-server keeps for this handset: the mailbox (its counts and messages) and the
//! settings the server applies to calls (do-not-disturb, forwarding). The server is the source
//! of truth: the phone shows what it last heard, asks for a change with
//! [`PhoneOutput::PutSettings`], shows the change once the server's answer says it is saved,
//! and says on screen when it was not.
//!
//! The message lamp and the stuttered dial tone mean "new voicemail" and nothing else; missed
//! calls have their own indicator on the idle screen and in the status bar.
//!
//! The types here are the JSON of `GET /api/handset/voicemail`, `GET|PUT
//! /api/handset/settings` and the `voicemail` / `settings` events of `GET
//! /api/handset/events` (the firmware parses and sends them as they are).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::io::{Led, LedState, PhoneOutput};
use super::view::Overlay;
use super::{Phone, TimerKind};

/// Most messages the phone keeps for the history screen (the newest).
pub const MAX_MESSAGES: usize = 100;

/// The mailbox's counts (`event: voicemail`, `data: {"new":N,"saved":M}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VoicemailCount {
    pub new: u32,
    pub saved: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MessageState {
    New,
    Saved,
}

/// One message in the mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoicemailMessage {
    pub id: i64,
    /// The caller's number as the server has it (`+1555…`, an extension, or `anonymous`).
    pub caller: String,
    /// Seconds since 1970 UTC.
    pub received_at: i64,
    pub duration_secs: u32,
    pub state: MessageState,
}

/// `GET /api/handset/voicemail`: the counts and the messages, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VoicemailList {
    pub new: u32,
    pub saved: u32,
    pub messages: Vec<VoicemailMessage>,
}

impl VoicemailList {
    pub fn count(&self) -> VoicemailCount {
        VoicemailCount {
            new: self.new,
            saved: self.saved,
        }
    }
}

/// When calls to this handset are forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardMode {
    Off,
    Always,
    Busy,
    NoAnswer,
}

impl ForwardMode {
    pub const ALL: [ForwardMode; 4] = [
        ForwardMode::Off,
        ForwardMode::Always,
        ForwardMode::Busy,
        ForwardMode::NoAnswer,
    ];

    /// As the menu shows it.
    pub fn label(self) -> &'static str {
        match self {
            ForwardMode::Off => "Off",
            ForwardMode::Always => "Always",
            ForwardMode::Busy => "When busy",
            ForwardMode::NoAnswer => "No answer",
        }
    }
}

/// Call forwarding as the server applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarding {
    pub mode: ForwardMode,
    /// A phone number (E.164) or another handset's extension; `null` when none is set.
    #[serde(default)]
    pub to: Option<String>,
    /// For `no-answer`: how long the handset rings first.
    pub after_secs: u32,
}

/// `GET /api/handset/settings` and the `settings` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSettings {
    pub dnd: bool,
    pub forwarding: Forwarding,
}

/// `PUT /api/handset/settings`: only the fields to change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SettingsUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnd: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding: Option<Forwarding>,
}

/// A change sent to the server and not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pending {
    pub update: SettingsUpdate,
    /// What the pop-up says once it is saved (`Do not disturb: On`).
    pub done: String,
}

/// The server's view of this handset, as last heard.
#[derive(Debug, Clone, Default)]
pub(super) struct Remote {
    pub voicemail: VoicemailCount,
    /// Newest first, at most [`MAX_MESSAGES`].
    pub messages: Vec<VoicemailMessage>,
    /// `None` until the server has said (the saved do-not-disturb choice applies meanwhile).
    pub settings: Option<ServerSettings>,
    pub pending: Option<Pending>,
}

impl Phone {
    /// The message lamp: on while there are new voicemails.
    pub(super) fn update_message_led(&mut self) {
        let state = if self.remote.voicemail.new > 0 {
            LedState::On
        } else {
            LedState::Off
        };
        self.set_led(Led::Message, state);
    }

    pub(super) fn on_voicemail(&mut self, count: VoicemailCount) {
        if count == self.remote.voicemail {
            return;
        }
        self.remote.voicemail = count;
        self.update_message_led();
        // Dial tone on: it starts or stops stuttering.
        self.refresh_ready_tone();
        self.view_dirty = true;
    }

    pub(super) fn on_voicemail_list(&mut self, mut list: VoicemailList) {
        list.messages
            .sort_by_key(|m| std::cmp::Reverse(m.received_at));
        list.messages.truncate(MAX_MESSAGES);
        let count = list.count();
        if list.messages != self.remote.messages {
            self.remote.messages = list.messages;
            self.view_dirty = true;
        }
        self.on_voicemail(count);
    }

    /// The server's settings (an event, a poll): shown from now on, and the do-not-disturb
    /// choice saved locally for when the server cannot be reached.
    pub(super) fn on_server_settings(&mut self, settings: ServerSettings) {
        if self.user.do_not_disturb != settings.dnd {
            self.user.do_not_disturb = settings.dnd;
            self.emit(PhoneOutput::SettingsChanged);
        }
        if self.remote.settings.as_ref() != Some(&settings) {
            self.remote.settings = Some(settings);
            self.view_dirty = true;
        }
    }

    /// The answer to [`PhoneOutput::PutSettings`]: the settings now in force, or why the
    /// change was not saved.
    pub(super) fn on_settings_answer(
        &mut self,
        answer: Result<ServerSettings, String>,
        now: Instant,
    ) {
        let pending = self.remote.pending.take();
        self.view_dirty = true;
        match answer {
            Ok(settings) => {
                self.on_server_settings(settings);
                if let Some(pending) = pending {
                    self.show_overlay(Overlay::Notice { text: pending.done }, now);
                }
            }
            Err(why) => {
                let text = if why.is_empty() {
                    "Not saved".to_string()
                } else {
                    format!("Not saved: {why}")
                };
                self.show_overlay(Overlay::Notice { text }, now);
                // An error stays up longer than a confirmation.
                self.timers
                    .insert(TimerKind::Overlay, now + self.cfg.timers.error_notice);
            }
        }
    }

    /// Asks the server for a change; one at a time.
    pub(super) fn put_settings(&mut self, update: SettingsUpdate, done: String, now: Instant) {
        if self.remote.pending.is_some() {
            self.show_overlay(
                Overlay::Notice {
                    text: "Still saving, try again".into(),
                },
                now,
            );
            return;
        }
        self.remote.pending = Some(Pending {
            update: update.clone(),
            done,
        });
        self.emit(PhoneOutput::PutSettings(update));
        self.show_overlay(
            Overlay::Notice {
                text: "Saving...".into(),
            },
            now,
        );
    }

    /// Do not disturb as it applies now: the server's value, or the last one saved.
    pub(super) fn do_not_disturb(&self) -> bool {
        self.remote
            .settings
            .as_ref()
            .map_or(self.user.do_not_disturb, |s| s.dnd)
    }

    /// Calls the voicemail code (the voicemail key, or a voicemail row of the history).
    pub(super) fn call_voicemail(&mut self, now: Instant) -> bool {
        let Some(code) = self.cfg.dial_plan.voicemail().map(str::to_string) else {
            return false;
        };
        self.timers.remove(&TimerKind::Digits);
        self.place_stored_number(&code, now);
        true
    }
}
