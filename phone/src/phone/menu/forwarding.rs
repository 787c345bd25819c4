//! Forwarding from the settings page: its choices, the number's entry page, and the change
//! sent to offhook-server (always the whole forwarding, so the server never sees half of one).

use std::time::Instant;

use offhook_core::handset::input::Key;

use super::super::Phone;
use super::super::remote::{ForwardMode, Forwarding, SettingsUpdate};
use super::settings::SettingItem;

/// How long a no-answer forward lets the handset ring first, to choose from (seconds).
const FORWARD_AFTER: [u32; 7] = [10, 15, 20, 25, 30, 45, 60];

/// Longest forwarding number typed.
const MAX_ENTRY: usize = 20;

/// The entry page's key help.
pub(super) const ENTRY_HINT: &str = "Menu: save, Vol-: delete";

/// The pop-up when forwarding is chosen before the server has said what it is.
pub(super) const NOT_LOADED: &str = "Not loaded from the server yet";

fn seconds(secs: u32) -> String {
    format!("{secs} s")
}

impl Phone {
    /// The server's forwarding, if it has said.
    pub(super) fn forwarding(&self) -> Option<&Forwarding> {
        self.remote.settings.as_ref().map(|s| &s.forwarding)
    }

    /// A forwarding target as the screen shows it.
    pub(super) fn forward_target(&self, to: &str) -> String {
        let plan = &self.cfg.dial_plan;
        if plan.directory().by_extension(to).is_some() {
            format!("Ext {to}")
        } else {
            plan.display_number(to)
        }
    }

    /// The options of the forwarding mode or delay, and which one is current.
    pub(super) fn forward_choices(
        &self,
        item: SettingItem,
    ) -> (Vec<(String, String)>, Option<usize>) {
        if item == SettingItem::ForwardMode {
            let options = ForwardMode::ALL
                .iter()
                .enumerate()
                .map(|(i, m)| (i.to_string(), m.label().to_string()))
                .collect();
            let at = self
                .forwarding()
                .and_then(|f| ForwardMode::ALL.iter().position(|m| *m == f.mode));
            return (options, at);
        }
        let current = self.forwarding().map(|f| f.after_secs);
        let mut values = FORWARD_AFTER.to_vec();
        if let Some(c) = current
            && !values.contains(&c)
        {
            values.push(c);
            values.sort_unstable();
        }
        let at = current.and_then(|c| values.iter().position(|v| *v == c));
        let options = values
            .iter()
            .map(|v| (v.to_string(), seconds(*v)))
            .collect();
        (options, at)
    }

    /// Whether a change to `item` is on its way to the server.
    pub(super) fn saving(&self, item: SettingItem) -> bool {
        let Some(pending) = &self.remote.pending else {
            return false;
        };
        let now = self.forwarding();
        match (&pending.update.forwarding, item) {
            _ if item == SettingItem::DoNotDisturb => pending.update.dnd.is_some(),
            (Some(f), SettingItem::ForwardMode) => now.is_none_or(|n| n.mode != f.mode),
            (Some(f), SettingItem::ForwardTo) => now.is_none_or(|n| n.to != f.to),
            (Some(f), SettingItem::ForwardAfter) => {
                now.is_none_or(|n| n.after_secs != f.after_secs)
            }
            _ => false,
        }
    }

    /// A mode or a delay chosen: the whole forwarding, changed, goes to the server.
    pub(super) fn choose_forwarding(
        &mut self,
        item: SettingItem,
        id: &str,
        done: String,
        now: Instant,
    ) {
        let Some(mut forwarding) = self.forwarding().cloned() else {
            return self.notice(NOT_LOADED, now);
        };
        if item == SettingItem::ForwardMode {
            let mode = id
                .parse::<usize>()
                .ok()
                .and_then(|i| ForwardMode::ALL.get(i).copied())
                .unwrap_or(ForwardMode::Off);
            if mode != ForwardMode::Off && forwarding.to.is_none() {
                return self.notice("Set Forward to first", now);
            }
            forwarding.mode = mode;
        } else {
            forwarding.after_secs = id.parse().unwrap_or(forwarding.after_secs);
        }
        let update = SettingsUpdate {
            dnd: None,
            forwarding: Some(forwarding),
        };
        self.put_settings(update, done, now);
    }

    /// A key on an entry page; `false` = not the page's own (the menu handles it).
    pub(super) fn entry_key(&mut self, item: SettingItem, key: Key, now: Instant) -> bool {
        let Some(menu) = &mut self.menu else {
            return false;
        };
        let entry = &mut menu.entry;
        match key {
            Key::Digit(d) => {
                if d <= 9 && entry.len() < MAX_ENTRY {
                    entry.push(char::from(b'0' + d));
                }
            }
            Key::Star => {
                if entry.is_empty() {
                    entry.push('+');
                }
            }
            Key::VolumeDown => {
                entry.pop();
            }
            Key::Pound | Key::VolumeUp => {}
            Key::Menu => {
                let typed = entry.clone();
                self.save_entry(item, &typed, now);
            }
            Key::Reject => self.back(),
            Key::Mute | Key::Redial | Key::Speaker => return false,
        }
        true
    }

    /// Menu on an entry page: the forwarding number goes to the server.
    fn save_entry(&mut self, item: SettingItem, typed: &str, now: Instant) {
        if item != SettingItem::ForwardTo {
            return self.back();
        }
        let Some(mut forwarding) = self.forwarding().cloned() else {
            return self.notice(NOT_LOADED, now);
        };
        let typed = typed.trim_end_matches('+');
        if typed.is_empty() {
            if forwarding.mode != ForwardMode::Off {
                return self.notice("Turn Forward off first", now);
            }
            forwarding.to = None;
        } else {
            forwarding.to = Some(self.cfg.dial_plan.destination(typed).to);
        }
        let shown = match &forwarding.to {
            Some(to) => self.forward_target(to),
            None => "none".into(),
        };
        let update = SettingsUpdate {
            dnd: None,
            forwarding: Some(forwarding),
        };
        self.put_settings(update, format!("{}: {shown}", item.label()), now);
        self.back();
    }
}
