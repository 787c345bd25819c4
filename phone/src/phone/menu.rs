//! The on-hook menu: call history, settings (microphone, speaker, volumes, ring cadence, edge,
//! codec) and about. Volume up/down move, Menu selects, Reject goes back, 1–9 pick a row.

use std::time::Instant;

use offhook_core::handset::input::Key;

use super::io::{Codec, DeviceRole, PhoneOutput, VolumePath};
use super::view::{HistoryRow, MenuItem, Overlay, Screen};
use super::{MAX_VOLUME, Phone, TimerKind};
use crate::clock::format_duration;
use crate::history::{CallResult, Direction};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SettingItem {
    Microphone,
    Speaker,
    HandsetVolume,
    SpeakerVolume,
    RingerVolume,
    RingCadence,
    Edge,
    Codec,
    DoNotDisturb,
}

const SETTINGS: [SettingItem; 9] = [
    SettingItem::Microphone,
    SettingItem::Speaker,
    SettingItem::HandsetVolume,
    SettingItem::SpeakerVolume,
    SettingItem::RingerVolume,
    SettingItem::RingCadence,
    SettingItem::Edge,
    SettingItem::Codec,
    SettingItem::DoNotDisturb,
];

const MAIN: [&str; 3] = ["Call history", "Settings", "About"];

impl SettingItem {
    fn label(self) -> &'static str {
        match self {
            SettingItem::Microphone => "Microphone",
            SettingItem::Speaker => "Speaker",
            SettingItem::HandsetVolume => "Handset vol",
            SettingItem::SpeakerVolume => "Speaker vol",
            SettingItem::RingerVolume => "Ringer vol",
            SettingItem::RingCadence => "Ring",
            SettingItem::Edge => "Edge",
            SettingItem::Codec => "Codec",
            SettingItem::DoNotDisturb => "Do not disturb",
        }
    }

    fn volume_path(self) -> Option<VolumePath> {
        match self {
            SettingItem::HandsetVolume => Some(VolumePath::Handset),
            SettingItem::SpeakerVolume => Some(VolumePath::Speaker),
            SettingItem::RingerVolume => Some(VolumePath::Ringer),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Page {
    Main,
    History,
    Settings,
    Choice(SettingItem),
    Volume(VolumePath),
    About,
}

#[derive(Debug, Clone)]
pub(super) struct Menu {
    pub page: Page,
    pub selected: usize,
    /// Selections of the pages above, to restore on the way back.
    parents: Vec<usize>,
}

const CODEC_CHOICES: [(&str, &str); 2] = [("opus", "Opus first"), ("pcmu", "PCMU first")];

impl Phone {
    pub(super) fn open_menu(&mut self, now: Instant) {
        self.menu = Some(Menu {
            page: Page::Main,
            selected: 0,
            parents: Vec::new(),
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

    /// (id, label) options of a choice, and which one is current.
    fn choices(&self, item: SettingItem) -> (Vec<(String, String)>, Option<usize>) {
        let devices = |list: &[super::AudioDevice], current: &Option<String>| {
            let options: Vec<(String, String)> = list
                .iter()
                .map(|d| (d.id.clone(), d.label.clone()))
                .collect();
            let at = current
                .as_ref()
                .and_then(|c| options.iter().position(|(id, _)| id == c));
            (options, at)
        };
        match item {
            SettingItem::Microphone => devices(&self.microphones, &self.user.microphone),
            SettingItem::Speaker => devices(&self.speakers, &self.user.speaker),
            SettingItem::RingCadence => {
                let current = self.ring_cadence().name;
                let options: Vec<(String, String)> = self
                    .cfg
                    .ring_cadences
                    .iter()
                    .map(|c| (c.name.clone(), c.name.clone()))
                    .collect();
                let at = options.iter().position(|(id, _)| *id == current);
                (options, at)
            }
            SettingItem::Edge => {
                let current = self.device_edge().map(str::to_string);
                let options: Vec<(String, String)> = self
                    .cfg
                    .edges
                    .iter()
                    .map(|e| (e.clone(), e.clone()))
                    .collect();
                let at = current.and_then(|c| options.iter().position(|(id, _)| *id == c));
                (options, at)
            }
            SettingItem::Codec => {
                let first = self.device_codecs().first().copied().unwrap_or(Codec::Opus);
                let options = CODEC_CHOICES
                    .iter()
                    .map(|(id, label)| (id.to_string(), label.to_string()))
                    .collect();
                (options, Some(usize::from(first == Codec::Pcmu)))
            }
            SettingItem::DoNotDisturb => (
                vec![("off".into(), "Off".into()), ("on".into(), "On".into())],
                Some(usize::from(self.user.do_not_disturb)),
            ),
            SettingItem::HandsetVolume | SettingItem::SpeakerVolume | SettingItem::RingerVolume => {
                (Vec::new(), None)
            }
        }
    }

    fn setting_value(&self, item: SettingItem) -> String {
        if let Some(path) = item.volume_path() {
            return self.user.volumes.get(path).to_string();
        }
        let (options, at) = self.choices(item);
        match at.and_then(|i| options.get(i)) {
            Some((_, label)) => label.clone(),
            None if options.is_empty() => "none".into(),
            None => "default".into(),
        }
    }

    fn page_len(&self, page: Page) -> usize {
        match page {
            Page::Main => MAIN.len(),
            Page::History => self.history.entries().len(),
            Page::Settings => SETTINGS.len(),
            Page::Choice(item) => self.choices(item).0.len(),
            Page::Volume(_) | Page::About => 0,
        }
    }

    pub(super) fn menu_key(&mut self, key: Key, now: Instant) {
        let Some(menu) = self.menu.clone() else {
            return;
        };
        self.touch_menu(now);
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
            (_, Key::Digit(d)) if d >= 1 && usize::from(d) <= len => {
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
            Page::History | Page::Settings | Page::About => Some(Page::Main),
            Page::Choice(_) | Page::Volume(_) => Some(Page::Settings),
        };
        match parent {
            None => self.menu = None,
            Some(page) => {
                menu.page = page;
                menu.selected = menu.parents.pop().unwrap_or(0);
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
                        self.emit(PhoneOutput::HistoryChanged);
                        self.update_message_led();
                    }
                }
                1 => self.push_page(Page::Settings, 0),
                _ => self.push_page(Page::About, 0),
            },
            Page::History => {
                if let Some(entry) = self.history.entries().get(menu.selected) {
                    let number = entry.number.clone();
                    self.menu = None;
                    self.go_hands_free(now);
                    self.place_stored_number(&number, now);
                }
            }
            Page::Settings => {
                let Some(item) = SETTINGS.get(menu.selected).copied() else {
                    return;
                };
                match item.volume_path() {
                    Some(path) => self.push_page(Page::Volume(path), 0),
                    None => {
                        let (_, at) = self.choices(item);
                        self.push_page(Page::Choice(item), at.unwrap_or(0));
                    }
                }
            }
            Page::Choice(item) => {
                let (options, _) = self.choices(item);
                if let Some((id, label)) = options.get(menu.selected).cloned() {
                    self.apply_choice(item, id);
                    self.show_overlay(
                        Overlay::Notice {
                            text: format!("{}: {label}", item.label()),
                        },
                        now,
                    );
                }
                self.back();
            }
            Page::Volume(_) | Page::About => self.back(),
        }
    }

    fn apply_choice(&mut self, item: SettingItem, id: String) {
        match item {
            SettingItem::Microphone => {
                self.user.microphone = Some(id.clone());
                self.emit(PhoneOutput::UseAudioDevice {
                    role: DeviceRole::Microphone,
                    id,
                });
            }
            SettingItem::Speaker => {
                self.user.speaker = Some(id.clone());
                self.emit(PhoneOutput::UseAudioDevice {
                    role: DeviceRole::Speaker,
                    id,
                });
            }
            SettingItem::RingCadence => self.user.ring_cadence = Some(id),
            SettingItem::Edge => {
                self.user.edge = Some(id.clone());
                self.emit(PhoneOutput::SetEdge(id));
            }
            SettingItem::Codec => {
                let codecs = if id == "pcmu" {
                    vec![Codec::Pcmu, Codec::Opus]
                } else {
                    vec![Codec::Opus, Codec::Pcmu]
                };
                self.user.codecs = Some(codecs.clone());
                self.emit(PhoneOutput::SetCodecPreferences(codecs));
            }
            SettingItem::DoNotDisturb => self.user.do_not_disturb = id == "on",
            SettingItem::HandsetVolume | SettingItem::SpeakerVolume | SettingItem::RingerVolume => {
                return;
            }
        }
        self.emit(PhoneOutput::SettingsChanged);
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
            Page::History => Screen::History {
                rows: self.history_rows(now),
                selected: menu.selected,
            },
            Page::About => self.about_screen(),
        }
    }

    fn history_rows(&self, now: Instant) -> Vec<HistoryRow> {
        let today = self.clock.map(|c| c.local_at(now));
        let offset = self.clock.map(|c| c.utc_offset_secs()).unwrap_or(0);
        self.history
            .entries()
            .iter()
            .map(|e| {
                let party_label = e.name.clone().unwrap_or_else(|| {
                    if self
                        .cfg
                        .dial_plan
                        .directory()
                        .by_extension(&e.number)
                        .is_some()
                    {
                        format!("Ext {}", e.number)
                    } else {
                        self.cfg.dial_plan.display_number(&e.number)
                    }
                });
                let when = e.started_unix.map(|unix| {
                    let t = crate::clock::local_time(unix, offset);
                    match today {
                        Some(d) if (d.year, d.month, d.day) == (t.year, t.month, t.day) => {
                            t.hh_mm()
                        }
                        _ => t.day_month(),
                    }
                });
                let detail = match (&e.result, e.duration_secs) {
                    (CallResult::Answered, Some(secs)) => {
                        format_duration(std::time::Duration::from_secs(secs))
                    }
                    (CallResult::Answered, None) => "Answered".into(),
                    (CallResult::Cancelled, _) => "Cancelled".into(),
                    (CallResult::Busy, _) => "Busy".into(),
                    (CallResult::Declined, _) => "Declined".into(),
                    (CallResult::Unavailable, _) => "No answer".into(),
                    (CallResult::Rejected, _) => "Rejected".into(),
                    (CallResult::Failed { code: Some(code) }, _) => format!("Failed {code}"),
                    (CallResult::Failed { code: None }, _) => "Failed".into(),
                    (CallResult::NotAnswered, _) if e.direction == Direction::Missed => {
                        "Missed".into()
                    }
                    (CallResult::NotAnswered, _) => "No answer".into(),
                };
                HistoryRow {
                    direction: e.direction,
                    label: party_label,
                    when,
                    detail,
                }
            })
            .collect()
    }

    pub(super) fn about_screen(&self) -> Screen {
        Screen::About {
            version: self.cfg.version.clone(),
            identity: self.service.identity.clone(),
            device_id: self.cfg.device_id.clone(),
            ip: self.ip.clone(),
            edge: self.service.edge.clone(),
            server: self.cfg.server.clone(),
            region: self.cfg.region.name().to_string(),
        }
    }
}
