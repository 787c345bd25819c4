//! Every screen, produced by driving a real [`Phone`] through short scripted scenarios (so what
//! is rendered is what the phone really shows). Used by `offhook screens` and the golden tests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use offhook_core::handset::input::{InputEvent, Key};

use crate::dialplan::{Contact, Country, DialPlan, DigitMap, Directory, default_digit_map};
use crate::history::{CallHistory, CallResult, Direction, HistoryEntry};
use crate::phone::view::View;
use crate::phone::{
    AudioDevice, CallEvent, CallId, CallSample, DeviceEvent, ForwardMode, Forwarding, IncomingCall,
    MessageState, Phone, PhoneConfig, PhoneInput, PhoneOutput, ServerSettings, SettingSource,
    Sources, TokenProblem, TokenStatus, TwilioError, UserSettings, VoicemailCount, VoicemailList,
    VoicemailMessage,
};
use crate::tones::Region;

/// 2026-11-21 14:05:00 UTC, a Saturday.
const NOW_UNIX: i64 = 1_795_269_900;

/// The demo handset: a US desk phone with a few contacts.
pub fn demo_config() -> PhoneConfig {
    let us = Country::by_iso("US").unwrap_or(&crate::dialplan::e164::COUNTRIES[0]);
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
                extension: Some("102".into()),
            },
            Contact {
                name: "Dentist".into(),
                number: "+14155550188".into(),
                extension: None,
            },
        ],
        us,
    );
    let map = DigitMap::parse(default_digit_map(us)).unwrap_or_else(|_| DigitMap::any_number());
    let mut speed = BTreeMap::new();
    speed.insert(2, "+14155550100".to_string());
    let plan =
        DialPlan::new(map, us, &[], speed, directory).with_voicemail(Some("*97".into()), Some(1));
    let mut cfg = PhoneConfig::for_region(Region::Us, plan);
    cfg.version = "0.1.0".into();
    cfg.device_id = "desk-1".into();
    cfg.server = "https://phone.example.com".into();
    cfg.own_number = Some("Ext 101".into());
    cfg.edges = vec!["roaming".into(), "ashburn".into(), "dublin".into()];
    cfg.call_waiting = true;
    // Contacts and speed dials from offhook-server, the country from the card.
    cfg.sources = Sources {
        contacts: SettingSource::Server,
        speed_dials: SettingSource::Server,
        country: SettingSource::Local,
        ring_cadence: SettingSource::Server,
        edges: SettingSource::Local,
        ..Sources::default()
    };
    cfg
}

/// Drives a phone with virtual time.
struct Driver {
    phone: Phone,
    now: Instant,
}

impl Driver {
    fn new(history: CallHistory) -> Driver {
        let now = Instant::now();
        let mut d = Driver {
            phone: Phone::new(demo_config(), UserSettings::default(), history, now),
            now,
        };
        d.send(PhoneInput::WallClock {
            unix_secs: NOW_UNIX,
            utc_offset_secs: 0,
        });
        d.send(PhoneInput::Network {
            ip: Some("192.168.1.42".into()),
        });
        d.send(PhoneInput::AudioDevices {
            microphones: vec![
                AudioDevice {
                    id: "default".into(),
                    label: "Handset".into(),
                },
                AudioDevice {
                    id: "plughw:CARD=Headset,DEV=0".into(),
                    label: "USB headset".into(),
                },
                AudioDevice {
                    id: "plughw:CARD=Array,DEV=0".into(),
                    label: "Desk mic array".into(),
                },
            ],
            speakers: vec![
                AudioDevice {
                    id: "default".into(),
                    label: "Earpiece".into(),
                },
                AudioDevice {
                    id: "plughw:CARD=Headset,DEV=0".into(),
                    label: "USB headset".into(),
                },
            ],
        });
        d
    }

    fn registered(history: CallHistory) -> Driver {
        let mut d = Driver::new(history);
        d.token_ok();
        d.send(PhoneInput::Device(DeviceEvent::Registered));
        d.send(PhoneInput::Device(DeviceEvent::Edge(Some(
            "ashburn".into(),
        ))));
        d
    }

    fn token_ok(&mut self) {
        self.send(PhoneInput::Token(TokenStatus::Valid {
            identity: "desk".into(),
            ttl: Duration::from_secs(3600),
        }));
    }

    fn send(&mut self, input: PhoneInput) -> Vec<PhoneOutput> {
        self.phone.handle(input, self.now);
        std::iter::from_fn(|| self.phone.poll_output()).collect()
    }

    fn input(&mut self, event: InputEvent) -> Vec<PhoneOutput> {
        self.send(PhoneInput::Input(event))
    }

    fn key(&mut self, key: Key) {
        self.input(InputEvent::KeyDown(key));
    }

    fn keys(&mut self, digits: &str) -> Vec<PhoneOutput> {
        let mut out = Vec::new();
        for c in digits.chars() {
            if let Some(key) = Key::from_dtmf_char(c) {
                out.extend(self.input(InputEvent::KeyDown(key)));
            }
        }
        out
    }

    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(deadline) = self.phone.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = deadline.max(self.now);
            self.send(PhoneInput::Timer);
        }
        self.now = target;
        self.send(PhoneInput::Timer);
    }

    fn call(&mut self, call: CallId, event: CallEvent) {
        self.send(PhoneInput::Call(call, event));
    }

    /// Lifts the handset and dials; returns the call placed.
    fn place(&mut self, digits: &str) -> Option<CallId> {
        self.input(InputEvent::OffHook);
        let out = self.keys(digits);
        out.iter().find_map(|o| match o {
            PhoneOutput::Connect { call, .. } => Some(*call),
            _ => None,
        })
    }

    fn ring(&mut self, from: &str, custom: &[(&str, &str)]) -> CallId {
        let call = self.phone.new_call_id();
        self.send(PhoneInput::Device(DeviceEvent::Incoming(IncomingCall {
            call,
            from: from.into(),
            to: "client:desk".into(),
            call_sid: Some("CA00000000000000000000000000000000".into()),
            custom: custom
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })));
        call
    }

    fn view(&self) -> View {
        self.phone.view(self.now)
    }
}

fn sample_history() -> CallHistory {
    let mut history = CallHistory::default();
    let entries = [
        (
            Direction::Placed,
            "+14155550100",
            Some("Mum"),
            3 * 86_400,
            Some(754),
            CallResult::Answered,
        ),
        (
            Direction::Received,
            "102",
            Some("Kitchen"),
            86_400 + 3600,
            Some(42),
            CallResult::Answered,
        ),
        (
            Direction::Placed,
            "+442079460000",
            None,
            7200,
            None,
            CallResult::Busy,
        ),
        (
            Direction::Missed,
            "+14155550188",
            Some("Dentist"),
            1500,
            None,
            CallResult::NotAnswered,
        ),
        (
            Direction::Missed,
            "+12125550199",
            None,
            300,
            None,
            CallResult::NotAnswered,
        ),
    ];
    for (direction, number, name, ago, duration, result) in entries {
        history.add(HistoryEntry {
            direction,
            number: number.into(),
            name: name.map(str::to_string),
            started_unix: Some(NOW_UNIX - ago),
            duration_secs: duration,
            result,
        });
    }
    history
}

/// Two messages: a new one from a contact, a saved one from an unknown caller.
fn sample_mailbox() -> VoicemailList {
    VoicemailList {
        new: 1,
        saved: 1,
        messages: vec![
            VoicemailMessage {
                id: 12,
                caller: "+14155550100".into(),
                received_at: NOW_UNIX - 600,
                duration_secs: 34,
                state: MessageState::New,
            },
            VoicemailMessage {
                id: 9,
                caller: "+13125550142".into(),
                received_at: NOW_UNIX - 2 * 86_400,
                duration_secs: 8,
                state: MessageState::Saved,
            },
        ],
    }
}

fn server_settings() -> ServerSettings {
    ServerSettings {
        dnd: false,
        forwarding: Forwarding {
            mode: ForwardMode::NoAnswer,
            to: Some("+14155550188".into()),
            after_secs: 20,
        },
    }
}

fn error_screen(code: u32, message: &str) -> View {
    let mut d = Driver::new(CallHistory::default());
    d.token_ok();
    d.send(PhoneInput::Device(DeviceEvent::Error(TwilioError::new(
        code, message,
    ))));
    d.view()
}

/// Every screen worth looking at, named.
pub fn catalog() -> Vec<(&'static str, View)> {
    let mut screens: Vec<(&'static str, View)> = Vec::new();
    let secs = Duration::from_secs;

    screens.push(("boot", Driver::new(CallHistory::default()).view()));

    let mut d = Driver::new(CallHistory::default());
    d.send(PhoneInput::Token(TokenStatus::Fetching));
    screens.push(("registering", d.view()));

    let d = Driver::registered(CallHistory::default());
    screens.push(("idle", d.view()));

    let mut d = Driver::registered(sample_history());
    screens.push(("idle-missed", d.view()));

    d.send(PhoneInput::Token(TokenStatus::Failing {
        problem: TokenProblem::ServerUnreachable("connection refused".into()),
        retry_in: secs(30),
        current_valid_for: Some(secs(25 * 60)),
    }));
    screens.push(("idle-token-notice", d.view()));

    let mut d = Driver::registered(CallHistory::default());
    d.send(PhoneInput::Voicemail(VoicemailCount { new: 1, saved: 0 }));
    screens.push(("idle-voicemail", d.view()));

    let mut d = Driver::registered(sample_history());
    d.send(PhoneInput::Voicemail(VoicemailCount { new: 2, saved: 1 }));
    screens.push(("idle-voicemail-missed", d.view()));

    let mut d = Driver::new(CallHistory::default());
    d.token_ok();
    d.send(PhoneInput::Device(DeviceEvent::Error(TwilioError::new(
        53000,
        "WebSocket closed",
    ))));
    d.input(InputEvent::OffHook);
    screens.push(("no-service", d.view()));

    screens.push((
        "error-31202",
        error_screen(31202, "JWT signature validation failed"),
    ));
    screens.push(("error-20104", error_screen(20104, "Access token expired")));
    screens.push(("error-31005", error_screen(31005, "Connection error")));

    let mut d = Driver::new(CallHistory::default());
    d.send(PhoneInput::Token(TokenStatus::Failing {
        problem: TokenProblem::CredentialsRejected,
        retry_in: secs(60),
        current_valid_for: None,
    }));
    screens.push(("error-device-rejected", d.view()));

    let mut d = Driver::registered(CallHistory::default());
    d.input(InputEvent::OffHook);
    screens.push(("dial-tone", d.view()));
    d.keys("415555");
    screens.push(("dialing", d.view()));
    d.advance(secs(10));
    screens.push(("dialing-invalid", d.view()));

    let mut d = Driver::registered(CallHistory::default());
    let call = d.place("4155550100");
    screens.push(("calling", d.view()));
    if let Some(call) = call {
        d.call(
            call,
            CallEvent::Ringing {
                has_early_media: false,
            },
        );
        screens.push(("ringing", d.view()));
        d.advance(secs(8));
        d.call(call, CallEvent::Accept);
        d.call(
            call,
            CallEvent::Sample(CallSample {
                mos: Some(4.38),
                rtt_ms: Some(32.0),
                jitter_ms: Some(2.0),
                packets_lost_fraction: Some(0.0),
            }),
        );
        d.advance(secs(65));
        d.keys("12#");
        d.advance(secs(1));
        screens.push(("in-call", d.view()));
        d.key(Key::Mute);
        d.key(Key::Speaker);
        d.call(
            call,
            CallEvent::Sample(CallSample {
                mos: Some(3.4),
                ..Default::default()
            }),
        );
        d.call(call, CallEvent::Warning("high-jitter".into()));
        d.advance(secs(3));
        screens.push(("in-call-muted-speaker", d.view()));
        d.key(Key::VolumeUp);
        screens.push(("overlay-volume", d.view()));
        d.advance(secs(3));
        d.call(
            call,
            CallEvent::Reconnecting(TwilioError::new(53405, "ICE failed")),
        );
        screens.push(("in-call-reconnecting", d.view()));
        d.call(call, CallEvent::Reconnected);
        d.ring("+14155550188", &[]);
        screens.push(("in-call-waiting", d.view()));
        d.key(Key::Reject);
        d.key(Key::Speaker);
        d.advance(secs(120));
        d.call(call, CallEvent::Disconnect);
        screens.push(("call-ended", d.view()));
    }

    let mut d = Driver::registered(CallHistory::default());
    if let Some(call) = d.place("2125550143") {
        d.call(call, CallEvent::Error(TwilioError::new(31486, "Busy Here")));
        d.call(call, CallEvent::Disconnect);
        screens.push(("call-ended-busy", d.view()));
    }

    let mut d = Driver::registered(CallHistory::default());
    d.ring("+14155550100", &[]);
    screens.push(("incoming", d.view()));
    let mut d = Driver::registered(CallHistory::default());
    d.ring(
        "client:kitchen",
        &[("callerName", "Kitchen"), ("callerExtension", "102")],
    );
    screens.push(("incoming-handset", d.view()));
    let mut d = Driver::registered(CallHistory::default());
    d.ring("+12125550143", &[("callerNumber", "+12125550143")]);
    screens.push(("incoming-unknown", d.view()));

    let mut d = Driver::registered(sample_history());
    d.key(Key::Menu);
    screens.push(("menu", d.view()));
    d.key(Key::Digit(1));
    d.key(Key::VolumeDown);
    screens.push(("history", d.view()));
    d.key(Key::Reject);
    d.key(Key::Digit(2));
    d.key(Key::VolumeDown);
    d.key(Key::VolumeDown);
    screens.push(("settings", d.view()));
    d.key(Key::Menu);
    screens.push(("settings-volume", d.view()));
    d.key(Key::Reject);
    d.key(Key::Digit(1));
    d.key(Key::VolumeDown);
    screens.push(("settings-microphone", d.view()));
    d.key(Key::Menu);
    screens.push(("overlay-notice", d.view()));
    d.advance(secs(3));
    d.key(Key::Reject);
    d.key(Key::Digit(3));
    screens.push(("speed-dials", d.view()));
    d.key(Key::Reject);
    d.key(Key::Digit(4));
    screens.push(("about", d.view()));
    d.send(PhoneInput::ServerSettings(server_settings()));
    for _ in 0..9 {
        d.key(Key::VolumeDown);
    }
    screens.push(("about-sources", d.view()));

    let mut d = Driver::registered(sample_history());
    d.send(PhoneInput::VoicemailList(sample_mailbox()));
    d.key(Key::Menu);
    d.key(Key::Digit(1));
    screens.push(("history-voicemail", d.view()));

    let mut d = Driver::registered(CallHistory::default());
    d.send(PhoneInput::ServerSettings(server_settings()));
    d.key(Key::Menu);
    d.key(Key::Digit(2));
    for _ in 0..10 {
        d.key(Key::VolumeDown);
    }
    screens.push(("settings-forwarding", d.view()));
    d.key(Key::Menu);
    for _ in 0..12 {
        d.key(Key::VolumeDown);
    }
    d.keys("2125550143");
    screens.push(("entry-forward-to", d.view()));

    screens
}
