//! The on-hook menu: call history (calls and voicemails), settings (microphone, speaker,
//! volumes, ring cadence, edge, codec, do-not-disturb, forwarding), speed dials and about
//! (with where each provisioned setting came from). Volume up/down move (and scroll the About
//! page), Menu selects, Reject goes back, 1–9 pick a row.
//!
//! - [`settings`] — the settings rows, their choices, and what choosing does.
//! - [`forwarding`] — forwarding's choices and number entry page, sent to offhook-server.
//! - [`history`] — the history rows: the call history and the mailbox, newest first.
//! - [`speed_dials`] — the speed-dial keys 1–9 and whom each calls.

mod forwarding;
mod history;
mod settings;
mod speed_dials;

use std::time::Instant;

use offhook_core::handset::input::Key;

use super::config::SettingSource;
use super::io::VolumePath;
use super::view::{MenuItem, Screen, SourceRow};
use super::{MAX_VOLUME, Phone, TimerKind};
use history::HistoryItem;
use settings::SETTINGS;
pub(super) use settings::SettingItem;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Page {
    Main,
    History,
    Settings,
    Choice(SettingItem),
    Volume(VolumePath),
    /// Typing a value (the forwarding number).
    Entry(SettingItem),
    SpeedDials,
    About,
}

#[derive(Debug, Clone)]
pub(super) struct Menu {
    pub page: Page,
    pub selected: usize,
    /// Selections of the pages above, to restore on the way back.
    parents: Vec<usize>,
    /// What has been typed on an entry page.
    entry: String,
}

const MAIN: [&str; 4] = ["Call history", "Settings", "Speed dials", "About"];

impl Phone {
    pub(super) fn open_menu(&mut self, now: Instant) {
        self.menu = Some(Menu {
            page: Page::Main,
            selected: 0,
            parents: Vec::new(),
            entry: String::new(),
        });
        self.activity = super::Activity::Idle;
        self.timers.remove(&TimerKind::EndedScreen);
        self.touch_menu(now);
    }

    fn touch_menu(&mut self, now: Instant) {
        self.timers
            .insert(TimerKind::MenuIdle, now + self.cfg.timers.menu_idle);
        self.view_dirty = true;
    }

    fn page_len(&self, page: Page) -> usize {
        match page {
            Page::Main => MAIN.len(),
            Page::History => self.history_items().len(),
            Page::Settings => SETTINGS.len(),
            Page::Choice(item) => self.choices(item).0.len(),
            Page::SpeedDials => self.speed_dial_items().len(),
            // Each position is how far the page is scrolled.
            Page::About => self.source_rows().len() + 1,
            Page::Volume(_) | Page::Entry(_) => 0,
        }
    }

    pub(super) fn menu_key(&mut self, key: Key, now: Instant) {
        let Some(menu) = self.menu.clone() else {
            return;
        };
        self.touch_menu(now);
        if let Page::Entry(item) = menu.page
            && self.entry_key(item, key, now)
        {
            return;
        }
        let len = self.page_len(menu.page);
        match (menu.page, key) {
            (Page::Volume(path), Key::VolumeUp) => self.step_volume(path, 1, now, false),
            (Page::Volume(path), Key::VolumeDown) => self.step_volume(path, -1, now, false),
            (_, Key::VolumeUp) => self.move_selection(menu.selected.saturating_sub(1)),
            (_, Key::VolumeDown) if len > 0 => {
                self.move_selection((menu.selected + 1).min(len - 1))
            }
            (_, Key::Menu) => self.select(now),
            (_, Key::Reject) => self.back(),
            // The About page's positions are scroll offsets, not rows to pick.
            (page, Key::Digit(d)) if page != Page::About && d >= 1 && usize::from(d) <= len => {
                self.move_selection(usize::from(d) - 1);
                self.select(now);
            }
            (_, Key::Speaker) => {
                self.menu = None;
                self.go_hands_free(now);
            }
            (_, Key::Redial) => {
                self.menu = None;
                self.redial(now);
            }
            _ => self.view_dirty = false,
        }
        if self.menu.is_none() {
            self.timers.remove(&TimerKind::MenuIdle);
        }
    }

    fn move_selection(&mut self, to: usize) {
        if let Some(menu) = &mut self.menu {
            menu.selected = to;
        }
    }

    fn push_page(&mut self, page: Page, selected: usize) {
        if let Some(menu) = &mut self.menu {
            menu.parents.push(menu.selected);
            menu.page = page;
            menu.selected = selected;
        }
    }

    fn back(&mut self) {
        let Some(menu) = &mut self.menu else {
            return;
        };
        let parent = match menu.page {
            Page::Main => None,
            Page::History | Page::Settings | Page::SpeedDials | Page::About => Some(Page::Main),
            Page::Choice(_) | Page::Volume(_) | Page::Entry(_) => Some(Page::Settings),
        };
        match parent {
            None => self.menu = None,
            Some(page) => {
                menu.page = page;
                menu.selected = menu.parents.pop().unwrap_or(0);
                menu.entry.clear();
            }
        }
    }

    fn select(&mut self, now: Instant) {
        let Some(menu) = self.menu.clone() else {
            return;
        };
        match menu.page {
            Page::Main => match menu.selected {
                0 => {
                    self.push_page(Page::History, 0);
                    if self.history.mark_seen() {
                        self.emit(super::PhoneOutput::HistoryChanged);
                    }
                }
                1 => self.push_page(Page::Settings, 0),
                2 => self.push_page(Page::SpeedDials, 0),
                _ => self.push_page(Page::About, 0),
            },
            Page::History => {
                let chosen = self
                    .history_items()
                    .get(menu.selected)
                    .map(|item| match item {
                        HistoryItem::Call(entry) => Some(entry.number.clone()),
                        HistoryItem::Voicemail(_) => None,
                    });
                match chosen {
                    Some(Some(number)) => {
                        self.menu = None;
                        self.go_hands_free(now);
                        self.place_stored_number(&number, now);
                    }
                    Some(None) => {
                        // A message: call the mailbox to hear it.
                        self.menu = None;
                        self.go_hands_free(now);
                        self.call_voicemail(now);
                    }
                    None => {}
                }
            }
            Page::SpeedDials => self.call_speed_dial_item(menu.selected, now),
            Page::Settings => {
                if let Some(item) = SETTINGS.get(menu.selected).copied() {
                    self.open_setting(item, now);
                }
            }
            Page::Choice(item) => {
                let (options, _) = self.choices(item);
                if let Some((id, label)) = options.get(menu.selected).cloned() {
                    self.apply_choice(item, id, &label, now);
                }
                self.back();
            }
            Page::Volume(_) | Page::Entry(_) | Page::About => self.back(),
        }
    }

    /// The screen for the open menu page.
    pub(super) fn menu_screen(&self, menu: &Menu, now: Instant) -> Screen {
        let item = |label: &str, value: Option<String>, checked: bool| MenuItem {
            label: label.to_string(),
            value,
            checked,
        };
        match menu.page {
            Page::Main => Screen::Menu {
                title: "Menu".into(),
                items: MAIN
                    .iter()
                    .enumerate()
                    .map(|(i, label)| {
                        let value = (i == 0 && self.history.unseen_missed() > 0)
                            .then(|| format!("{} new", self.history.unseen_missed()));
                        item(label, value, false)
                    })
                    .collect(),
                selected: menu.selected,
            },
            Page::Settings => Screen::Menu {
                title: "Settings".into(),
                items: SETTINGS
                    .iter()
                    .map(|s| item(s.label(), Some(self.setting_value(*s)), false))
                    .collect(),
                selected: menu.selected,
            },
            Page::Choice(setting) => {
                let (options, at) = self.choices(setting);
                let items = if options.is_empty() {
                    vec![item("(none found)", None, false)]
                } else {
                    options
                        .iter()
                        .enumerate()
                        .map(|(i, (_, label))| item(label, None, Some(i) == at))
                        .collect()
                };
                Screen::Menu {
                    title: setting.label().into(),
                    items,
                    selected: menu.selected,
                }
            }
            Page::Volume(path) => Screen::Level {
                title: format!("{} volume", path.label()),
                level: self.user.volumes.get(path),
                max: MAX_VOLUME,
            },
            Page::Entry(setting) => Screen::Entry {
                title: setting.label().into(),
                value: menu.entry.clone(),
                hint: forwarding::ENTRY_HINT.into(),
            },
            Page::History => Screen::History {
                rows: self.history_rows(now),
                selected: menu.selected,
            },
            Page::SpeedDials => Screen::Menu {
                title: MAIN[2].into(),
                items: self
                    .speed_dial_rows()
                    .iter()
                    .map(|label| item(label, None, false))
                    .collect(),
                selected: menu.selected,
            },
            Page::About => self.about_screen(menu.selected),
        }
    }

    pub(super) fn about_screen(&self, scroll: usize) -> Screen {
        let sources = self.source_rows();
        Screen::About {
            version: self.cfg.version.clone(),
            identity: self.service.identity.clone(),
            device_id: self.cfg.device_id.clone(),
            ip: self.ip.clone(),
            edge: self.service.edge.clone(),
            server: self.cfg.server.clone(),
            region: self.cfg.region.name().to_string(),
            scroll: scroll.min(sources.len()),
            sources,
        }
    }

    /// Where each provisioned setting came from; do-not-disturb and forwarding are the
    /// server's once it has said, the defaults until then.
    fn source_rows(&self) -> Vec<SourceRow> {
        let forwarding = if self.remote.settings.is_some() {
            SettingSource::Server
        } else {
            SettingSource::Default
        };
        self.cfg
            .sources
            .named()
            .into_iter()
            .chain([("Forwarding", forwarding)])
            .map(|(setting, source)| SourceRow {
                setting: setting.to_string(),
                source,
            })
            .collect()
    }
}
