//! Phone tests with virtual time: a rig feeds inputs at chosen instants and collects outputs.

mod in_call;
mod incoming;
mod menu;
mod offhook;
mod outgoing;
mod provisioning;
mod random;
mod server_settings;
mod service;
mod voicemail;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use offhook_core::handset::input::{InputEvent, Key};

use super::view::{Screen, View};
use super::*;
use crate::dialplan::{Contact, Country, DialPlan, DigitMap, Directory, default_digit_map};
use crate::history::CallHistory;
use crate::tones::Region;

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The US test config: default map, a contact, a handset extension, speed dial 2, and
/// voicemail on `*97` with its key on 1.
pub(super) fn us_config() -> PhoneConfig {
    let us = Country::by_iso("US").expect("US");
    let directory = Directory::new(
        vec![
            Contact {
                name: "Mum".into(),
                number: "+14155550100".into(),
                extension: None,
            },
            Contact {
                name: "Kitchen".into(),
                number: "client:kitchen".into(),
                extension: Some("101".into()),
            },
        ],
        us,
    );
    let mut speed = BTreeMap::new();
    speed.insert(2, "+442079460000".to_string());
    let map = DigitMap::parse(default_digit_map(us)).expect("map");
    let plan =
        DialPlan::new(map, us, &[], speed, directory).with_voicemail(Some("*97".into()), Some(1));
    let mut cfg = PhoneConfig::for_region(Region::Us, plan);
    cfg.version = "0.1.0".into();
    cfg.server = "https://offhook.example".into();
    cfg.device_id = "desk-1".into();
    cfg
}

pub(super) struct Rig {
    pub phone: Phone,
    pub t0: Instant,
    pub now: Instant,
}

impl Rig {
    /// A phone with the US config, a token and a registered Device; outputs so far drained.
    pub fn registered() -> Rig {
        let mut rig = Rig::unregistered(us_config());
        rig.token_ok();
        rig.send(PhoneInput::Device(DeviceEvent::Registered));
        rig
    }

    pub fn registered_with(cfg: PhoneConfig) -> Rig {
        let mut rig = Rig::unregistered(cfg);
        rig.token_ok();
        rig.send(PhoneInput::Device(DeviceEvent::Registered));
        rig
    }

    pub fn unregistered(cfg: PhoneConfig) -> Rig {
        Rig::with_history(cfg, CallHistory::default())
    }

    pub fn with_history(cfg: PhoneConfig, history: CallHistory) -> Rig {
        let t0 = Instant::now();
        let mut rig = Rig {
            phone: Phone::new(cfg, UserSettings::default(), history, t0),
            t0,
            now: t0,
        };
        rig.drain();
        rig
    }

    pub fn token_ok(&mut self) -> Vec<PhoneOutput> {
        self.send(PhoneInput::Token(TokenStatus::Valid {
            identity: "desk".into(),
            ttl: secs(3600),
        }))
    }

    pub fn drain(&mut self) -> Vec<PhoneOutput> {
        std::iter::from_fn(|| self.phone.poll_output()).collect()
    }

    pub fn send(&mut self, input: PhoneInput) -> Vec<PhoneOutput> {
        self.phone.handle(input, self.now);
        self.drain()
    }

    pub fn input(&mut self, event: InputEvent) -> Vec<PhoneOutput> {
        self.send(PhoneInput::Input(event))
    }

    pub fn key(&mut self, key: Key) -> Vec<PhoneOutput> {
        self.input(InputEvent::KeyDown(key))
    }

    /// Presses each dial-pad key in `keys`, `gap` apart; returns all outputs.
    pub fn dial(&mut self, keys: &str, gap: Duration) -> Vec<PhoneOutput> {
        let mut out = Vec::new();
        for (i, c) in keys.chars().enumerate() {
            if i > 0 {
                out.extend(self.advance(gap));
            }
            let key = Key::from_dtmf_char(c).expect("dial-pad key");
            out.extend(self.key(key));
        }
        out
    }

    pub fn call(&mut self, call: CallId, event: CallEvent) -> Vec<PhoneOutput> {
        self.send(PhoneInput::Call(call, event))
    }

    /// Moves virtual time forward by `by`, waking the phone at each deadline on the way, as
    /// the glue would.
    pub fn advance(&mut self, by: Duration) -> Vec<PhoneOutput> {
        let target = self.now + by;
        let mut out = Vec::new();
        for _ in 0..100_000 {
            let Some(deadline) = self.phone.poll_timeout() else {
                break;
            };
            if deadline > target {
                break;
            }
            assert!(
                deadline >= self.now,
                "a deadline in the past was not handled"
            );
            self.now = deadline.max(self.now);
            out.extend(self.send(PhoneInput::Timer));
        }
        self.now = target;
        out.extend(self.send(PhoneInput::Timer));
        out
    }

    pub fn view(&self) -> View {
        self.phone.view(self.now)
    }

    pub fn screen(&self) -> Screen {
        self.view().screen
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Places a call to `keys` (off-hook first); returns the call id from `Connect`.
    pub fn place(&mut self, keys: &str) -> CallId {
        self.input(InputEvent::OffHook);
        let out = self.dial(keys, ms(300));
        connect_of(&out).expect("the number dials").0
    }

    /// An incoming call from `from`; returns its id.
    pub fn ring(&mut self, from: &str, custom: &[(&str, &str)]) -> (CallId, Vec<PhoneOutput>) {
        let call = self.phone.new_call_id();
        let out = self.send(PhoneInput::Device(DeviceEvent::Incoming(IncomingCall {
            call,
            from: from.into(),
            to: "client:desk".into(),
            call_sid: Some("CA0123".into()),
            custom: custom
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })));
        (call, out)
    }
}

/// The `Connect` in `out`: (call, to).
pub(super) fn connect_of(out: &[PhoneOutput]) -> Option<(CallId, String)> {
    out.iter().find_map(|o| match o {
        PhoneOutput::Connect { call, to, .. } => Some((*call, to.clone())),
        _ => None,
    })
}

/// The tone commands in `out`, in order: `Some(tone)` for play, `None` for stop.
pub(super) fn tones(out: &[PhoneOutput]) -> Vec<Option<crate::tones::Tone>> {
    out.iter()
        .filter_map(|o| match o {
            PhoneOutput::PlayTone(t) => Some(Some(*t)),
            PhoneOutput::StopTone => Some(None),
            _ => None,
        })
        .collect()
}

pub(super) fn has(out: &[PhoneOutput], wanted: &PhoneOutput) -> bool {
    out.contains(wanted)
}

/// The message lamp's changes in `out`.
pub(super) fn message_lamp(out: &[PhoneOutput]) -> Vec<LedState> {
    out.iter()
        .filter_map(|o| match o {
            PhoneOutput::Led {
                led: Led::Message,
                state,
            } => Some(*state),
            _ => None,
        })
        .collect()
}

/// The text of the pop-up on screen, if any.
pub(super) fn notice(rig: &Rig) -> Option<String> {
    match rig.view().overlay {
        Some(view::Overlay::Notice { text }) => Some(text),
        _ => None,
    }
}
