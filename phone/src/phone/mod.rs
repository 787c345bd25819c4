//! The phone: a sans-IO state machine from hook, keys, Device/Call events, token status and
//! time to commands, tones, ringer, lamps and a view model.
//!
//! Driving it (the glue):
//! ```text
//! let mut phone = Phone::new(config.phone_config(), user_settings, history, Instant::now());
//! loop {
//!     while let Some(out) = phone.poll_output() { /* do it, see below */ }
//!     wait for an input or until phone.poll_timeout();
//!     phone.handle(input_or_PhoneInput::Timer, Instant::now());
//! }
//! ```
//! Every `handle` first runs the timers that are due, so `PhoneInput::Timer` is only needed when
//! nothing else happens before the deadline.
//!
//! Inputs, one to one:
//! - board `InputEvent` → `PhoneInput::Input`;
//! - Device `registering`/`registered`/`unregistered`/`destroyed`/`error`/`tokenWillExpire` →
//!   `PhoneInput::Device(DeviceEvent::…)`; `device.edge` changes → `DeviceEvent::Edge`;
//! - Device `incoming(call)` → take an id with [`Phone::new_call_id`], keep `id → call`, then
//!   `DeviceEvent::Incoming(IncomingCall { call: id, from, to, call_sid, custom })`;
//! - Call events → `PhoneInput::Call(id, CallEvent::…)` (`accept`, `cancel`, `disconnect`,
//!   `reject`, `error`, `mute`, `reconnecting`, `reconnected`, `ringing(hasEarlyMedia)`,
//!   `sample`, `warning`, `warning-cleared`, `messageReceived`);
//! - `offhook::token::TokenScheduler::status` → `PhoneInput::Token` after every change;
//! - audio device lists, IP address, NTP time → `AudioDevices`, `Network`, `WallClock`;
//! - offhook-server's push channel and polls (`offhook::push`) → `Voicemail`, `VoicemailList`,
//!   `ServerSettings`; the answer to a `PutSettings` → `SettingsAnswer`; a newly provisioned
//!   configuration (`GET /api/handset/config`, resolved against the config file) → `Config`.
//!
//! Indicators: the message lamp is on (steady) while the mailbox has new voicemail, and the
//! dial tone stutters then; missed calls never light it — they show as `3 missed calls` on the
//! idle screen and a count in the status bar until the history is looked at.
//!
//! Outputs, one to one: `Connect` → `device.connect({params})` (remember `id → call`), `Accept`
//! / `Reject` / `Ignore` / `Hangup` / `SendDigits` / `Mute` → the Call methods; `PlayTone` /
//! `StopTone` → a [`crate::tones::TonePlayer`] mixed into the current route; `Ringer` → the
//! board's ringer (the one `Cadence`); `Led`, `Route`, `Volume`, `UseAudioDevice` →
//! the board; `SetEdge` / `SetCodecPreferences` → Device options; `RefreshToken` →
//! `TokenScheduler::refresh_now`; `SettingsChanged` → save [`Phone::user_settings`];
//! `HistoryChanged` → save [`Phone::history`]; `PutSettings` → `PUT /api/handset/settings`, its
//! answer as `SettingsAnswer`; `ViewChanged` → render [`Phone::view`] with [`crate::screens`].
//! On shutdown call [`Phone::shutdown`] and carry out the hang-ups.

mod calls;
pub mod config;
mod dialing;
mod handset;
pub mod io;
mod menu;
mod present;
mod provisioned;
pub mod remote;
mod service;
pub mod view;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

pub use config::{
    HookFlashAction, MAX_VOLUME, PhoneConfig, PhoneTimers, SettingSource, Sources, UserSettings,
    Volumes,
};
pub use io::*;
pub use remote::{
    ForwardMode, Forwarding, MessageState, ServerSettings, SettingsUpdate, VoicemailCount,
    VoicemailList, VoicemailMessage,
};
pub use view::View;

use crate::clock::WallClock;
use crate::history::CallHistory;
use crate::tones::{NamedCadence, Tone};
use calls::{ActiveCall, Ended, RingingCall};
use dialing::OffHook;
use menu::Menu;
use provisioned::PendingDevice;
use remote::Remote;
use service::Service;

/// Named deadlines; at most one of each kind is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum TimerKind {
    /// Inter-digit / initial-digit timeout.
    Digits,
    /// The current step of a tone sequence ends.
    ToneStep,
    /// The pop-up disappears.
    Overlay,
    /// The call-ended screen gives way to idle.
    EndedScreen,
    /// Menus close.
    MenuIdle,
    /// Redraw for the call timer (every second of a call).
    CallTick,
    /// Redraw for the status-bar clock (every minute).
    ClockTick,
    /// An incoming call has rung long enough.
    RingTimeout,
    /// An outgoing call has neither rung nor connected.
    ConnectGuard,
    /// A call error was not followed by `disconnect`.
    ErrorGrace,
}

/// What the phone is doing.
#[derive(Debug, Clone)]
enum Activity {
    /// On-hook, nothing going on.
    Idle,
    /// Off-hook without a call: dial tone, dialing, or a failure tone.
    OffHook(OffHook),
    /// An outgoing call being set up, or a call in progress (either direction).
    Call(ActiveCall),
    /// An incoming call ringing while on-hook.
    Ringing(RingingCall),
    /// A call just ended: its summary is on screen.
    Ended(Ended),
}

/// The handset phone.
#[derive(Debug)]
pub struct Phone {
    cfg: PhoneConfig,
    user: UserSettings,
    history: CallHistory,
    outputs: VecDeque<PhoneOutput>,
    timers: BTreeMap<TimerKind, Instant>,
    next_call_id: u64,
    handset_up: bool,
    /// Hands-free: the speaker key turned the speaker on.
    speaker_on: bool,
    service: Service,
    /// What offhook-server holds for this handset: mailbox and settings.
    remote: Remote,
    activity: Activity,
    /// A second incoming call during a call (call waiting).
    waiting: Option<RingingCall>,
    menu: Option<Menu>,
    overlay: Option<view::Overlay>,
    clock: Option<WallClock>,
    ip: Option<String>,
    microphones: Vec<AudioDevice>,
    speakers: Vec<AudioDevice>,
    /// Steps still to play after the current one: (tone or silence, how long; `None` = forever).
    tone_plan: VecDeque<(Option<Tone>, Option<Duration>)>,
    current_tone: Option<Tone>,
    ringing: bool,
    leds: HashMap<Led, LedState>,
    route: AudioRoute,
    /// Edge or codec changes from a new config, for the next moment without a call.
    pending_device: PendingDevice,
    view_dirty: bool,
}

impl Phone {
    /// A phone at rest, on-hook. Queues the initial route, volumes and lamps for the glue.
    pub fn new(cfg: PhoneConfig, user: UserSettings, history: CallHistory, now: Instant) -> Phone {
        let mut phone = Phone {
            cfg,
            user,
            history,
            outputs: VecDeque::new(),
            timers: BTreeMap::new(),
            next_call_id: 1,
            handset_up: false,
            speaker_on: false,
            service: Service::default(),
            remote: Remote::default(),
            activity: Activity::Idle,
            waiting: None,
            menu: None,
            overlay: None,
            clock: None,
            ip: None,
            microphones: Vec::new(),
            speakers: Vec::new(),
            tone_plan: VecDeque::new(),
            current_tone: None,
            ringing: false,
            leds: HashMap::new(),
            route: AudioRoute::Handset,
            pending_device: PendingDevice::default(),
            view_dirty: true,
        };
        if phone.take_provisioned_volumes().is_some() {
            phone.emit(PhoneOutput::SettingsChanged);
        }
        phone.emit(PhoneOutput::Route(AudioRoute::Handset));
        for path in [VolumePath::Handset, VolumePath::Speaker, VolumePath::Ringer] {
            let level = phone.user.volumes.get(path);
            phone.emit(PhoneOutput::Volume { path, level });
        }
        phone.set_led(Led::Mute, LedState::Off);
        phone.set_led(Led::Speaker, LedState::Off);
        phone.update_message_led();
        let _ = now;
        phone.flush_view();
        phone
    }

    /// An id for an incoming call, to put in [`DeviceEvent::Incoming`].
    pub fn new_call_id(&mut self) -> CallId {
        let id = CallId(self.next_call_id);
        self.next_call_id += 1;
        id
    }

    /// Feeds one input at time `now` (timers due by `now` run first).
    pub fn handle(&mut self, input: PhoneInput, now: Instant) {
        self.run_timers(now);
        match input {
            PhoneInput::Input(event) => self.on_input(event, now),
            PhoneInput::Device(event) => self.on_device(event, now),
            PhoneInput::Call(call, event) => self.on_call(call, event, now),
            PhoneInput::Token(status) => self.on_token(status, now),
            PhoneInput::AudioDevices {
                microphones,
                speakers,
            } => {
                self.microphones = microphones;
                self.speakers = speakers;
                self.view_dirty = true;
            }
            PhoneInput::Network { ip } => {
                self.ip = ip;
                self.view_dirty = true;
            }
            PhoneInput::WallClock {
                unix_secs,
                utc_offset_secs,
            } => {
                let clock = WallClock::new(unix_secs, utc_offset_secs, now);
                self.timers
                    .insert(TimerKind::ClockTick, clock.next_minute(now));
                self.clock = Some(clock);
                self.view_dirty = true;
            }
            PhoneInput::Voicemail(count) => self.on_voicemail(count),
            PhoneInput::VoicemailList(list) => self.on_voicemail_list(list),
            PhoneInput::ServerSettings(settings) => self.on_server_settings(settings),
            PhoneInput::SettingsAnswer(answer) => self.on_settings_answer(answer, now),
            PhoneInput::Config(cfg) => self.on_config(*cfg),
            PhoneInput::Timer => {}
        }
        self.apply_pending_device();
        self.flush_view();
    }

    /// The next command for the glue, in order.
    pub fn poll_output(&mut self) -> Option<PhoneOutput> {
        self.outputs.pop_front()
    }

    /// When to call [`Phone::handle`] with [`PhoneInput::Timer`] if nothing else happens.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.values().min().copied()
    }

    /// What the screen should show now.
    pub fn view(&self, now: Instant) -> View {
        present::view(self, now)
    }

    /// The user's settings, to save after [`PhoneOutput::SettingsChanged`].
    pub fn user_settings(&self) -> &UserSettings {
        &self.user
    }

    /// The call history, to save after [`PhoneOutput::HistoryChanged`].
    pub fn history(&self) -> &CallHistory {
        &self.history
    }

    /// The configuration in force (the config file's, with what offhook-server provisioned).
    pub fn config(&self) -> &PhoneConfig {
        &self.cfg
    }

    /// The edges for the Device's `edge` option, in order: the user's choice first, then the
    /// configured list.
    pub fn device_edges(&self) -> Vec<String> {
        let mut edges = self.cfg.edges.clone();
        if let Some(edge) = &self.user.edge {
            edges.retain(|e| e != edge);
            edges.insert(0, edge.clone());
        }
        edges
    }

    /// The edge and codecs the Device should use (user choice, else the config's).
    pub fn device_edge(&self) -> Option<&str> {
        self.user
            .edge
            .as_deref()
            .or(self.cfg.edges.first().map(String::as_str))
    }

    pub fn device_codecs(&self) -> Vec<Codec> {
        self.user
            .codecs
            .clone()
            .unwrap_or_else(|| self.cfg.codecs.clone())
    }

    /// The ring cadence in use.
    pub fn ring_cadence(&self) -> NamedCadence {
        let chosen = self.user.ring_cadence.as_deref();
        self.cfg
            .ring_cadences
            .iter()
            .find(|c| Some(c.name.as_str()) == chosen)
            .or(self.cfg.ring_cadences.first())
            .cloned()
            .unwrap_or_else(|| NamedCadence::presets(self.cfg.region).remove(0))
    }

    /// Whether a call is up or being set up (for a clean shutdown: hang it up first).
    pub fn active_call(&self) -> Option<CallId> {
        match &self.activity {
            Activity::Call(call) => Some(call.id),
            Activity::Ringing(ringing) => Some(ringing.id),
            _ => None,
        }
    }

    /// Ends every call (for shutdown): queues the hang-ups and goes idle.
    pub fn shutdown(&mut self, now: Instant) {
        self.handset_up = false;
        self.speaker_on = false;
        self.go_on_hook(now);
        if let Activity::Ringing(ringing) = std::mem::replace(&mut self.activity, Activity::Idle) {
            self.emit(PhoneOutput::Reject { call: ringing.id });
        }
        self.set_ringer(false);
        self.flush_view();
    }

    // ----- outputs and shared helpers -----

    fn emit(&mut self, output: PhoneOutput) {
        self.outputs.push_back(output);
    }

    fn flush_view(&mut self) {
        if self.view_dirty {
            self.view_dirty = false;
            self.emit(PhoneOutput::ViewChanged);
        }
    }

    fn set_led(&mut self, led: Led, state: LedState) {
        if self.leds.get(&led) != Some(&state) {
            self.leds.insert(led, state);
            self.emit(PhoneOutput::Led { led, state });
        }
    }

    fn set_route(&mut self, route: AudioRoute) {
        self.route = route;
        self.emit(PhoneOutput::Route(route));
        self.set_led(
            Led::Speaker,
            if route == AudioRoute::Speaker {
                LedState::On
            } else {
                LedState::Off
            },
        );
    }

    fn set_ringer(&mut self, on: bool) {
        if on != self.ringing {
            self.ringing = on;
            let cadence = on.then(|| self.ring_cadence().cadence);
            self.emit(PhoneOutput::Ringer(cadence));
        }
    }

    fn play_tone(&mut self, tone: Tone) {
        self.current_tone = Some(tone);
        self.emit(PhoneOutput::PlayTone(tone));
    }

    fn stop_tone(&mut self) {
        if self.current_tone.take().is_some() {
            self.emit(PhoneOutput::StopTone);
        }
    }

    /// Key feedback: a one-shot DTMF beep (it ends by itself).
    fn key_feedback(&mut self, c: char) {
        self.current_tone = None;
        self.emit(PhoneOutput::PlayTone(Tone::Dtmf(c)));
    }

    /// Plays a sequence of (tone or silence, duration) steps; `None` duration = until changed.
    fn start_tone_plan(&mut self, steps: Vec<(Option<Tone>, Option<Duration>)>, now: Instant) {
        self.tone_plan = steps.into();
        self.next_tone_step(now);
    }

    fn clear_tone_plan(&mut self) {
        self.tone_plan.clear();
        self.timers.remove(&TimerKind::ToneStep);
    }

    fn next_tone_step(&mut self, now: Instant) {
        match self.tone_plan.pop_front() {
            Some((tone, duration)) => {
                match tone {
                    Some(tone) => self.play_tone(tone),
                    None => self.stop_tone(),
                }
                match duration {
                    Some(d) => {
                        self.timers.insert(TimerKind::ToneStep, now + d);
                    }
                    None => {
                        self.timers.remove(&TimerKind::ToneStep);
                    }
                }
                self.view_dirty = true;
            }
            None => {
                self.timers.remove(&TimerKind::ToneStep);
                self.stop_tone();
            }
        }
    }

    fn show_overlay(&mut self, overlay: view::Overlay, now: Instant) {
        self.overlay = Some(overlay);
        self.timers
            .insert(TimerKind::Overlay, now + self.cfg.timers.overlay);
        self.view_dirty = true;
    }

    fn change_volume(&mut self, delta: i8, now: Instant) {
        let path = match (&self.activity, self.is_off_hook()) {
            (Activity::Ringing(_), _) | (_, false) => VolumePath::Ringer,
            (_, true) if self.route == AudioRoute::Speaker => VolumePath::Speaker,
            (_, true) => VolumePath::Handset,
        };
        self.step_volume(path, delta, now, true);
    }

    fn step_volume(&mut self, path: VolumePath, delta: i8, now: Instant, overlay: bool) {
        let old = self.user.volumes.get(path);
        let new = old.saturating_add_signed(delta).min(MAX_VOLUME);
        if new != old {
            self.user.volumes.set(path, new);
            self.emit(PhoneOutput::Volume { path, level: new });
            self.emit(PhoneOutput::SettingsChanged);
        }
        if overlay {
            self.show_overlay(
                view::Overlay::Volume {
                    path,
                    level: new,
                    max: MAX_VOLUME,
                },
                now,
            );
        }
        self.view_dirty = true;
    }

    fn wall_now(&self, now: Instant) -> Option<i64> {
        self.clock.map(|c| c.unix_at(now))
    }

    // ----- timers -----

    fn run_timers(&mut self, now: Instant) {
        // Each pass handles the earliest due timer; handlers may set new ones.
        for _ in 0..64 {
            let due = self
                .timers
                .iter()
                .filter(|(_, at)| **at <= now)
                .min_by_key(|(_, at)| **at)
                .map(|(kind, at)| (*kind, *at));
            let Some((kind, at)) = due else {
                return;
            };
            self.timers.remove(&kind);
            self.on_timer(kind, at, now);
        }
    }

    fn on_timer(&mut self, kind: TimerKind, at: Instant, now: Instant) {
        self.view_dirty = true;
        match kind {
            TimerKind::Digits => self.on_digit_timeout(at),
            TimerKind::ToneStep => self.next_tone_step(at),
            TimerKind::Overlay => self.overlay = None,
            TimerKind::EndedScreen => {
                if let Activity::Ended(_) = self.activity
                    && !self.is_off_hook()
                {
                    self.activity = Activity::Idle;
                }
            }
            TimerKind::MenuIdle => self.menu = None,
            TimerKind::CallTick => {
                if let Activity::Call(call) = &self.activity
                    && let Some(answered) = call.answered_at()
                {
                    let elapsed = now.saturating_duration_since(answered);
                    let next = answered + Duration::from_secs(elapsed.as_secs() + 1);
                    self.timers.insert(TimerKind::CallTick, next);
                }
            }
            TimerKind::ClockTick => {
                if let Some(clock) = self.clock {
                    self.timers
                        .insert(TimerKind::ClockTick, clock.next_minute(at.max(now)));
                }
            }
            TimerKind::RingTimeout => self.on_ring_timeout(),
            TimerKind::ConnectGuard => self.on_connect_timeout(at),
            TimerKind::ErrorGrace => self.on_error_grace(at),
        }
    }
}
