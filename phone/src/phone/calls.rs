//! Calls: placing, ringing, answering, rejecting, call events, and how calls end.

use std::time::{Duration, Instant};

use super::io::{
    AudioRoute, CallEvent, CallId, IncomingCall, Led, LedState, PhoneOutput, TwilioError,
};
use super::view::quality_bars;
use super::{Activity, Phone, TimerKind};
use crate::dialplan::Destination;
use crate::history::{CallResult, Direction, HistoryEntry};
use crate::tones::Tone;
use crate::twilio_errors::{ErrorKind, advice};

/// The other end of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PartyInfo {
    /// What to dial to reach them again (E.164, an extension, or as dialed).
    pub callback: String,
    /// As shown on screen.
    pub display: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct RingingCall {
    pub id: CallId,
    pub party: PartyInfo,
    pub started_unix: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Connecting,
    Ringing { early_media: bool },
    Open { answered: Instant },
    Reconnecting { answered: Instant },
}

#[derive(Debug, Clone)]
pub(super) struct ActiveCall {
    pub id: CallId,
    pub outgoing: bool,
    pub party: PartyInfo,
    pub stage: Stage,
    pub muted: bool,
    pub digits_sent: String,
    pub quality: Option<u8>,
    pub warnings: Vec<String>,
    pub started_unix: Option<i64>,
    /// A call error waiting for the `disconnect` that normally follows it.
    pub pending_error: Option<TwilioError>,
}

impl ActiveCall {
    pub fn answered_at(&self) -> Option<Instant> {
        match self.stage {
            Stage::Open { answered } | Stage::Reconnecting { answered } => Some(answered),
            _ => None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.answered_at().is_some()
    }
}

/// The SDK's error for media that never came back (`ConnectionError`).
const MEDIA_LOST: u32 = 31003;

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum EndCause {
    /// We hung up (or cancelled before the answer).
    LocalHangup,
    RemoteHangup,
    /// Ended while reconnecting, with no error given yet: the SDK emits the media's fatal
    /// error (31003) just after `disconnect`, and the screen must not say "They hung up"
    /// in between.
    ConnectionLost,
    Busy,
    Declined,
    Unavailable,
    NotFound,
    /// Neither ringing nor answer within the connect timeout.
    NoResponse,
    /// Ended before it was answered, with no error given.
    NotConnected,
    Failed(TwilioError),
}

impl EndCause {
    fn from_error(error: &TwilioError) -> EndCause {
        match error.code {
            31486 => EndCause::Busy,
            31603 | 31002 => EndCause::Declined,
            31480 => EndCause::Unavailable,
            31404 => EndCause::NotFound,
            _ => EndCause::Failed(error.clone()),
        }
    }

    /// The call-ended screen's line.
    pub fn text(&self, answered: bool, outgoing: bool) -> String {
        match self {
            EndCause::LocalHangup if !answered && outgoing => "Cancelled".into(),
            EndCause::LocalHangup => "Call ended".into(),
            EndCause::RemoteHangup => "They hung up".into(),
            EndCause::ConnectionLost => advice(MEDIA_LOST).title.into(),
            EndCause::Busy => "Busy".into(),
            EndCause::Declined => "Declined".into(),
            EndCause::Unavailable => "Not available".into(),
            EndCause::NotFound => "Number not found".into(),
            EndCause::NoResponse => "No response".into(),
            EndCause::NotConnected => "Call failed".into(),
            EndCause::Failed(e) => format!("{} ({})", advice(e.code).title, e.code),
        }
    }

    fn result(&self, answered: bool, outgoing: bool) -> CallResult {
        match self {
            _ if answered => CallResult::Answered,
            EndCause::LocalHangup if outgoing => CallResult::Cancelled,
            EndCause::LocalHangup | EndCause::RemoteHangup => CallResult::NotAnswered,
            EndCause::Busy => CallResult::Busy,
            EndCause::Declined => CallResult::Declined,
            EndCause::Unavailable => CallResult::Unavailable,
            EndCause::NotFound
            | EndCause::NoResponse
            | EndCause::NotConnected
            | EndCause::ConnectionLost => CallResult::Failed { code: None },
            EndCause::Failed(e) => CallResult::Failed { code: Some(e.code) },
        }
    }

    /// What the earpiece plays after the call if the handset is still up.
    fn after_tones(&self, t: &super::PhoneTimers) -> Vec<(Option<Tone>, Option<Duration>)> {
        match self {
            EndCause::Busy | EndCause::Declined => {
                vec![(Some(Tone::Busy), Some(t.busy)), (None, None)]
            }
            EndCause::RemoteHangup => vec![
                (None, Some(t.reorder_delay)),
                (Some(Tone::Reorder), Some(t.reorder)),
                (None, None),
            ],
            EndCause::LocalHangup => vec![(None, None)],
            _ => vec![(Some(Tone::Reorder), Some(t.reorder)), (None, None)],
        }
    }
}

/// A finished call, on screen.
#[derive(Debug, Clone)]
pub(super) struct Ended {
    /// The call that ended: an error the SDK emits just after `disconnect` (media lost,
    /// 31003) still says why on this screen.
    pub call: CallId,
    pub answered: bool,
    pub outgoing: bool,
    pub party: PartyInfo,
    pub duration: Option<Duration>,
    pub cause_text: String,
}

impl Phone {
    fn party_for_number(&self, number: &str, name: Option<String>) -> PartyInfo {
        let plan = &self.cfg.dial_plan;
        let display = if let Some(identity) = number.strip_prefix("client:") {
            identity.to_string()
        } else if plan.directory().by_extension(number).is_some() {
            format!("Ext {number}")
        } else if number.is_empty() || number.eq_ignore_ascii_case("anonymous") {
            "Unknown".to_string()
        } else {
            plan.display_number(number)
        };
        let name = name.or_else(|| {
            plan.directory()
                .lookup(number, plan.country())
                .or_else(|| plan.directory().by_extension(number))
                .map(|c| c.name.clone())
        });
        PartyInfo {
            callback: number.to_string(),
            display,
            name,
        }
    }

    fn party_for_incoming(&self, call: &IncomingCall) -> PartyInfo {
        let custom = |key: &str| {
            call.custom
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let name = custom("callerName");
        if let Some(extension) = custom("callerExtension") {
            let mut party = self.party_for_number(&extension, name);
            party.display = format!("Ext {extension}");
            return party;
        }
        let number = custom("callerNumber").unwrap_or_else(|| call.from.clone());
        self.party_for_number(&number, name)
    }

    /// Places a call (`device.connect`) if the phone has service.
    pub(super) fn start_outgoing(&mut self, destination: Destination, now: Instant) {
        if !self.service.can_call() {
            return;
        }
        self.timers.remove(&TimerKind::Digits);
        self.clear_tone_plan();
        self.stop_tone();
        let id = self.new_call_id();
        let party = self.party_for_number(&destination.to, destination.name.clone());
        self.emit(PhoneOutput::Connect {
            call: id,
            to: destination.to.clone(),
            params: vec![("To".into(), destination.to)],
        });
        self.activity = Activity::Call(ActiveCall {
            id,
            outgoing: true,
            party,
            stage: Stage::Connecting,
            muted: false,
            digits_sent: String::new(),
            quality: None,
            warnings: Vec::new(),
            started_unix: self.wall_now(now),
            pending_error: None,
        });
        self.timers.insert(
            TimerKind::ConnectGuard,
            now + self.cfg.timers.connect_timeout,
        );
        self.view_dirty = true;
    }

    pub(super) fn on_incoming(&mut self, call: IncomingCall, now: Instant) {
        self.view_dirty = true;
        let ringing = RingingCall {
            id: call.call,
            party: self.party_for_incoming(&call),
            started_unix: self.wall_now(now),
        };
        let free =
            matches!(self.activity, Activity::Idle | Activity::Ended(_)) && !self.is_off_hook();
        if self.do_not_disturb() {
            self.emit(PhoneOutput::Reject { call: ringing.id });
            self.record_missed(ringing);
            return;
        }
        if free {
            self.timers
                .insert(TimerKind::RingTimeout, now + self.cfg.timers.ring_timeout);
            self.menu = None;
            self.timers.remove(&TimerKind::MenuIdle);
            self.timers.remove(&TimerKind::EndedScreen);
            self.activity = Activity::Ringing(ringing);
            self.set_ringer(true);
            return;
        }
        if matches!(self.activity, Activity::Call(_))
            && self.cfg.call_waiting
            && self.waiting.is_none()
        {
            self.waiting = Some(ringing);
            self.play_tone(Tone::CallWaiting);
            return;
        }
        // Busy (dialing, another call, already ringing): turn it away, but remember it.
        self.emit(PhoneOutput::Reject { call: ringing.id });
        self.record_missed(ringing);
    }

    fn record_missed(&mut self, ringing: RingingCall) {
        self.add_history(HistoryEntry {
            direction: Direction::Missed,
            number: ringing.party.callback,
            name: ringing.party.name,
            started_unix: ringing.started_unix,
            duration_secs: None,
            result: CallResult::NotAnswered,
        });
    }

    fn add_history(&mut self, entry: HistoryEntry) {
        self.history.add(entry);
        self.emit(PhoneOutput::HistoryChanged);
        self.view_dirty = true;
    }

    /// Nobody answered: leave the call to other handsets (`ignore`) and list it as missed.
    pub(super) fn on_ring_timeout(&mut self) {
        if let Activity::Ringing(ringing) = std::mem::replace(&mut self.activity, Activity::Idle) {
            self.set_ringer(false);
            self.emit(PhoneOutput::Ignore { call: ringing.id });
            self.record_missed(ringing);
        }
    }

    /// Lifting the handset (or the speaker key) answers the ringing call.
    pub(super) fn answer(&mut self, route: AudioRoute, now: Instant) {
        let Activity::Ringing(ringing) = std::mem::replace(&mut self.activity, Activity::Idle)
        else {
            return;
        };
        self.timers.remove(&TimerKind::RingTimeout);
        self.set_ringer(false);
        self.set_route(route);
        self.emit(PhoneOutput::Accept { call: ringing.id });
        self.activity = Activity::Call(ActiveCall {
            id: ringing.id,
            outgoing: false,
            party: ringing.party,
            stage: Stage::Connecting,
            muted: false,
            digits_sent: String::new(),
            quality: None,
            warnings: Vec::new(),
            started_unix: ringing.started_unix.or(self.wall_now(now)),
            pending_error: None,
        });
        self.view_dirty = true;
    }

    pub(super) fn answer_waiting(&mut self, now: Instant) {
        let Some(waiting) = self.waiting.take() else {
            return;
        };
        self.stop_tone();
        self.clear_tone_plan();
        self.activity = Activity::Ringing(waiting);
        let route = self.route;
        self.answer(route, now);
    }

    pub(super) fn reject_ringing(&mut self, _now: Instant) {
        let Activity::Ringing(ringing) = std::mem::replace(&mut self.activity, Activity::Idle)
        else {
            return;
        };
        self.timers.remove(&TimerKind::RingTimeout);
        self.set_ringer(false);
        self.emit(PhoneOutput::Reject { call: ringing.id });
        self.record_rejected(ringing);
    }

    pub(super) fn reject_waiting(&mut self, _now: Instant) {
        let Some(waiting) = self.waiting.take() else {
            return;
        };
        if self.current_tone == Some(Tone::CallWaiting) {
            self.stop_tone();
        }
        self.emit(PhoneOutput::Reject { call: waiting.id });
        self.record_rejected(waiting);
    }

    fn record_rejected(&mut self, ringing: RingingCall) {
        self.add_history(HistoryEntry {
            direction: Direction::Received,
            number: ringing.party.callback,
            name: ringing.party.name,
            started_unix: ringing.started_unix,
            duration_secs: None,
            result: CallResult::Rejected,
        });
    }

    /// We end the active call (hang-up key, hook flash); the phone stays off-hook.
    pub(super) fn hang_up_active(&mut self, now: Instant) {
        if let Activity::Call(call) = std::mem::replace(&mut self.activity, Activity::Idle) {
            self.emit(PhoneOutput::Hangup { call: call.id });
            self.finish_call(call, EndCause::LocalHangup, now);
        }
    }

    pub(super) fn toggle_mute(&mut self) {
        if let Activity::Call(call) = &mut self.activity {
            call.muted = !call.muted;
            let (id, muted) = (call.id, call.muted);
            self.emit(PhoneOutput::Mute { call: id, muted });
            self.set_led(Led::Mute, if muted { LedState::On } else { LedState::Off });
        } else {
            self.view_dirty = false;
        }
    }

    pub(super) fn on_call(&mut self, id: CallId, event: CallEvent, now: Instant) {
        match &self.activity {
            Activity::Call(call) if call.id == id => return self.on_active_call(event, now),
            Activity::Ringing(ringing) if ringing.id == id => {
                if ends_unanswered(&event) {
                    let Activity::Ringing(ringing) =
                        std::mem::replace(&mut self.activity, Activity::Idle)
                    else {
                        return;
                    };
                    self.timers.remove(&TimerKind::RingTimeout);
                    self.set_ringer(false);
                    self.record_missed(ringing);
                }
                return;
            }
            Activity::Ended(ended) if ended.call == id => {
                // The SDK emits a call's fatal error after its `disconnect` (media that never
                // came back): the screen then says what went wrong, not "They hung up".
                if let CallEvent::Error(error) = &event
                    && advice(error.code).kind != ErrorKind::Minor
                {
                    let text = EndCause::from_error(error).text(ended.answered, ended.outgoing);
                    if let Activity::Ended(ended) = &mut self.activity {
                        ended.cause_text = text;
                    }
                    self.view_dirty = true;
                }
                return;
            }
            _ => {}
        }
        if self.waiting.as_ref().is_some_and(|w| w.id == id)
            && ends_unanswered(&event)
            && let Some(waiting) = self.waiting.take()
        {
            if self.current_tone == Some(Tone::CallWaiting) {
                self.stop_tone();
            }
            self.record_missed(waiting);
        }
        // Anything else is about a call that is already over (late events): nothing to do.
    }

    fn on_active_call(&mut self, event: CallEvent, now: Instant) {
        let Activity::Call(call) = &mut self.activity else {
            return;
        };
        self.view_dirty = true;
        match event {
            CallEvent::Ringing { has_early_media } => {
                if call.is_open() {
                    return;
                }
                call.stage = Stage::Ringing {
                    early_media: has_early_media,
                };
                self.timers.remove(&TimerKind::ConnectGuard);
                if has_early_media {
                    self.stop_tone();
                } else {
                    // answerOnBridge gives no ringback: make our own until `accept`.
                    self.play_tone(Tone::Ringback);
                }
            }
            CallEvent::Accept => {
                if call.is_open() {
                    return;
                }
                call.stage = Stage::Open { answered: now };
                self.timers.remove(&TimerKind::ConnectGuard);
                if self.current_tone == Some(Tone::Ringback) {
                    self.stop_tone();
                }
                self.timers
                    .insert(TimerKind::CallTick, now + Duration::from_secs(1));
            }
            CallEvent::Cancel | CallEvent::Disconnect => {
                let cause = match (&call.pending_error, call.is_open()) {
                    (Some(error), _) => EndCause::from_error(error),
                    (None, true) if matches!(call.stage, Stage::Reconnecting { .. }) => {
                        EndCause::ConnectionLost
                    }
                    (None, true) => EndCause::RemoteHangup,
                    (None, false) if call.outgoing => EndCause::NotConnected,
                    (None, false) => EndCause::RemoteHangup,
                };
                self.end_active(cause, now);
            }
            CallEvent::Reject => self.view_dirty = false,
            CallEvent::Error(error) => {
                let kind = advice(error.code).kind;
                if kind == ErrorKind::Minor {
                    self.view_dirty = false;
                    return;
                }
                call.pending_error = Some(error);
                if kind == ErrorKind::Token {
                    self.emit(PhoneOutput::RefreshToken);
                }
                self.timers
                    .insert(TimerKind::ErrorGrace, now + self.cfg.timers.error_grace);
            }
            CallEvent::Mute(muted) => {
                call.muted = muted;
                self.set_led(Led::Mute, if muted { LedState::On } else { LedState::Off });
            }
            CallEvent::Reconnecting(_) => {
                if let Stage::Open { answered } = call.stage {
                    call.stage = Stage::Reconnecting { answered };
                }
            }
            CallEvent::Reconnected => {
                if let Stage::Reconnecting { answered } = call.stage {
                    call.stage = Stage::Open { answered };
                }
            }
            CallEvent::Sample(sample) => {
                let bars = sample.mos.map(quality_bars);
                if bars == call.quality {
                    self.view_dirty = false;
                }
                call.quality = bars;
            }
            CallEvent::Warning(name) => {
                if !call.warnings.contains(&name) {
                    call.warnings.push(name);
                }
            }
            CallEvent::WarningCleared(name) => call.warnings.retain(|w| *w != name),
            CallEvent::MessageReceived { .. } => self.view_dirty = false,
        }
    }

    pub(super) fn on_connect_timeout(&mut self, at: Instant) {
        if let Activity::Call(call) = &self.activity
            && call.stage == Stage::Connecting
        {
            let id = call.id;
            self.emit(PhoneOutput::Hangup { call: id });
            self.end_active(EndCause::NoResponse, at);
        }
    }

    pub(super) fn on_error_grace(&mut self, at: Instant) {
        if let Activity::Call(call) = &self.activity
            && let Some(error) = call.pending_error.clone()
        {
            // The SDK reported an error but never said the call was over: end it ourselves.
            let id = call.id;
            self.emit(PhoneOutput::Hangup { call: id });
            self.end_active(EndCause::from_error(&error), at);
        }
    }

    fn end_active(&mut self, cause: EndCause, now: Instant) {
        if let Activity::Call(call) = std::mem::replace(&mut self.activity, Activity::Idle) {
            self.finish_call(call, cause, now);
        }
    }

    /// Records the call, shows how it ended, and plays what follows if the handset is up.
    pub(super) fn finish_call(&mut self, call: ActiveCall, cause: EndCause, now: Instant) {
        for kind in [
            TimerKind::ConnectGuard,
            TimerKind::ErrorGrace,
            TimerKind::CallTick,
        ] {
            self.timers.remove(&kind);
        }
        self.set_led(Led::Mute, LedState::Off);
        let answered = call.answered_at();
        let duration = answered.map(|at| now.saturating_duration_since(at));
        self.add_history(HistoryEntry {
            direction: if call.outgoing {
                Direction::Placed
            } else {
                Direction::Received
            },
            number: call.party.callback.clone(),
            name: call.party.name.clone(),
            started_unix: call.started_unix,
            duration_secs: duration.map(|d| d.as_secs()),
            result: cause.result(answered.is_some(), call.outgoing),
        });
        self.activity = Activity::Ended(Ended {
            call: call.id,
            answered: answered.is_some(),
            outgoing: call.outgoing,
            party: call.party,
            duration,
            cause_text: cause.text(answered.is_some(), call.outgoing),
        });
        if self.current_tone != Some(Tone::CallWaiting) || self.waiting.is_none() {
            self.stop_tone();
        }
        self.clear_tone_plan();
        let hands_free_only = self.speaker_on && !self.handset_up;
        if self.handset_up && !self.speaker_on {
            if self.waiting.is_none() {
                let steps = cause.after_tones(&self.cfg.timers);
                self.start_tone_plan(steps, now);
            }
        } else if hands_free_only && cause != EndCause::LocalHangup {
            // The far end ended a hands-free call: the speaker goes off.
            self.speaker_on = false;
            self.go_on_hook(now);
        } else if !self.is_off_hook() {
            self.timers
                .insert(TimerKind::EndedScreen, now + self.cfg.timers.ended_screen);
        }
        self.view_dirty = true;
    }
}

/// Events that mean an unanswered incoming call is gone.
fn ends_unanswered(event: &CallEvent) -> bool {
    match event {
        CallEvent::Cancel | CallEvent::Disconnect => true,
        CallEvent::Error(e) => advice(e.code).kind != ErrorKind::Minor,
        _ => false,
    }
}
