//! The settings page: what each row shows, the choices behind it, and what choosing does.
//! Local settings (devices, volumes, ring, edge, codec) are saved on the handset at once;
//! do-not-disturb and forwarding are offhook-server's and go there with `PutSettings`
//! ([`super::super::remote`], forwarding in [`super::forwarding`]), shown once the server has
//! saved them.

use std::time::Instant;

use super::super::io::{Codec, DeviceRole, PhoneOutput, VolumePath};
use super::super::remote::SettingsUpdate;
use super::super::view::Overlay;
use super::super::{AudioDevice, Phone};
use super::Page;
use super::forwarding::NOT_LOADED;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::phone) enum SettingItem {
    Microphone,
    Speaker,
    HandsetVolume,
    SpeakerVolume,
    RingerVolume,
    RingCadence,
    Edge,
    Codec,
    DoNotDisturb,
    ForwardMode,
    ForwardTo,
    ForwardAfter,
}

pub(super) const SETTINGS: [SettingItem; 12] = [
    SettingItem::Microphone,
    SettingItem::Speaker,
    SettingItem::HandsetVolume,
    SettingItem::SpeakerVolume,
    SettingItem::RingerVolume,
    SettingItem::RingCadence,
    SettingItem::Edge,
    SettingItem::Codec,
    SettingItem::DoNotDisturb,
    SettingItem::ForwardMode,
    SettingItem::ForwardTo,
    SettingItem::ForwardAfter,
];

const CODEC_CHOICES: [(&str, &str); 2] = [("opus", "Opus first"), ("pcmu", "PCMU first")];

impl SettingItem {
    pub(in crate::phone) fn label(self) -> &'static str {
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
            SettingItem::ForwardMode => "Forward",
            SettingItem::ForwardTo => "Forward to",
            SettingItem::ForwardAfter => "Forward after",
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

    /// Held by offhook-server, changed with `PutSettings`.
    fn forwarding(self) -> bool {
        matches!(
            self,
            SettingItem::ForwardMode | SettingItem::ForwardTo | SettingItem::ForwardAfter
        )
    }
}

impl Phone {
    /// (id, label) options of a choice, and which one is current.
    pub(super) fn choices(&self, item: SettingItem) -> (Vec<(String, String)>, Option<usize>) {
        let devices = |list: &[AudioDevice], current: &Option<String>| {
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
                Some(usize::from(self.do_not_disturb())),
            ),
            SettingItem::ForwardMode | SettingItem::ForwardAfter => self.forward_choices(item),
            SettingItem::HandsetVolume
            | SettingItem::SpeakerVolume
            | SettingItem::RingerVolume
            | SettingItem::ForwardTo => (Vec::new(), None),
        }
    }

    /// The value a settings row shows.
    pub(super) fn setting_value(&self, item: SettingItem) -> String {
        if self.saving(item) {
            return "Saving...".into();
        }
        if let Some(path) = item.volume_path() {
            return self.user.volumes.get(path).to_string();
        }
        if item.forwarding() && self.forwarding().is_none() {
            return "-".into();
        }
        if item == SettingItem::ForwardTo {
            return match self.forwarding().and_then(|f| f.to.as_deref()) {
                Some(to) => self.forward_target(to),
                None => "none".into(),
            };
        }
        let (options, at) = self.choices(item);
        match at.and_then(|i| options.get(i)) {
            Some((_, label)) => label.clone(),
            None if options.is_empty() => "none".into(),
            None => "default".into(),
        }
    }

    /// Menu on a settings row: its page (volume, entry or choice).
    pub(super) fn open_setting(&mut self, item: SettingItem, now: Instant) {
        if let Some(path) = item.volume_path() {
            self.push_page(Page::Volume(path), 0);
            return;
        }
        if item.forwarding() && self.forwarding().is_none() {
            self.notice(NOT_LOADED, now);
            return;
        }
        if item == SettingItem::ForwardTo {
            let current = self
                .forwarding()
                .and_then(|f| f.to.clone())
                .unwrap_or_default();
            self.push_page(Page::Entry(item), 0);
            if let Some(menu) = &mut self.menu {
                menu.entry = current;
            }
            return;
        }
        let (_, at) = self.choices(item);
        self.push_page(Page::Choice(item), at.unwrap_or(0));
    }

    pub(super) fn notice(&mut self, text: &str, now: Instant) {
        self.show_overlay(Overlay::Notice { text: text.into() }, now);
    }

    /// An option chosen from a choice page.
    pub(super) fn apply_choice(
        &mut self,
        item: SettingItem,
        id: String,
        label: &str,
        now: Instant,
    ) {
        let done = format!("{}: {label}", item.label());
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
            SettingItem::DoNotDisturb => {
                let update = SettingsUpdate {
                    dnd: Some(id == "on"),
                    forwarding: None,
                };
                return self.put_settings(update, done, now);
            }
            SettingItem::ForwardMode | SettingItem::ForwardAfter => {
                return self.choose_forwarding(item, &id, done, now);
            }
            SettingItem::HandsetVolume
            | SettingItem::SpeakerVolume
            | SettingItem::RingerVolume
            | SettingItem::ForwardTo => return,
        }
        self.emit(PhoneOutput::SettingsChanged);
        self.notice(&done, now);
    }
}
