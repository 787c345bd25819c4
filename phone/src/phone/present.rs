//! Builds the view model from the phone's state.

use std::time::Instant;

use super::calls::{PartyInfo, Stage};
use super::dialing::{DialFailure, DialStage};
use super::view::{
    CallingStage, DialHint, Party, Registration, Screen, StatusBar, View, warning_text,
};
use super::{Activity, AudioRoute, Phone};

fn party(info: &PartyInfo) -> Party {
    Party {
        name: info.name.clone(),
        number: info.display.clone(),
    }
}

pub(super) fn view(phone: &Phone, now: Instant) -> View {
    View {
        status: status_bar(phone, now),
        screen: screen(phone, now),
        overlay: phone.overlay.clone(),
    }
}

fn status_bar(phone: &Phone, now: Instant) -> StatusBar {
    let (quality, muted) = match &phone.activity {
        Activity::Call(call) => (call.quality.filter(|_| call.is_open()), call.muted),
        _ => (None, false),
    };
    StatusBar {
        registration: phone.service.registration(now),
        edge: phone.service.edge.clone(),
        quality,
        clock: phone.clock.map(|c| c.local_at(now).hh_mm()),
        missed: phone.history.unseen_missed(),
        voicemail: phone.remote.voicemail.new,
        muted,
        speaker: phone.route == AudioRoute::Speaker,
        dnd: phone.do_not_disturb(),
    }
}

fn screen(phone: &Phone, now: Instant) -> Screen {
    if let Some(menu) = &phone.menu {
        return phone.menu_screen(menu, now);
    }
    let waiting = phone.waiting.as_ref().map(|w| party(&w.party));
    match &phone.activity {
        Activity::Ringing(ringing) => Screen::Incoming {
            party: party(&ringing.party),
        },
        Activity::Call(call) => match call.stage {
            Stage::Connecting if call.outgoing => Screen::Calling {
                party: party(&call.party),
                stage: CallingStage::Connecting,
            },
            Stage::Ringing { .. } => Screen::Calling {
                party: party(&call.party),
                stage: CallingStage::Ringing,
            },
            _ => Screen::InCall {
                party: party(&call.party),
                elapsed_secs: call
                    .answered_at()
                    .map(|at| now.saturating_duration_since(at).as_secs())
                    .unwrap_or(0),
                muted: call.muted,
                digits_sent: call.digits_sent.clone(),
                quality: call.quality,
                warning: call.warnings.last().map(|w| warning_text(w)),
                reconnecting: matches!(call.stage, Stage::Reconnecting { .. }),
                speaker: phone.route == AudioRoute::Speaker,
                waiting,
            },
        },
        Activity::Ended(ended) => Screen::CallEnded {
            party: party(&ended.party),
            duration_secs: ended.duration.map(|d| d.as_secs()),
            cause: ended.cause_text.clone(),
            waiting,
        },
        Activity::OffHook(off) => {
            if off.stage == DialStage::Ready
                && let Some(problem) = phone.service.problem(now)
            {
                return Screen::NoService {
                    title: problem.title,
                    reason: problem.cause,
                    action: problem.action,
                };
            }
            Screen::Dialing {
                digits: off.digits.clone(),
                hint: match off.stage {
                    DialStage::Ready => DialHint::Ready,
                    DialStage::Collecting => DialHint::Typing,
                    DialStage::Failed(DialFailure::Invalid) => DialHint::Invalid,
                    DialStage::Failed(DialFailure::Barred) => DialHint::Barred,
                    DialStage::Failed(DialFailure::TimedOut) => DialHint::TimedOut,
                },
            }
        }
        Activity::Idle => idle_screen(phone, now),
    }
}

fn idle_screen(phone: &Phone, now: Instant) -> Screen {
    let service = &phone.service;
    match service.registration(now) {
        Registration::Registered => Screen::Idle {
            identity: service.identity.clone(),
            number: phone.cfg.own_number.clone(),
            missed: phone.history.unseen_missed(),
            voicemail: phone.remote.voicemail.new,
            date: phone.clock.map(|c| {
                let t = c.local_at(now);
                format!("{} {}", t.weekday_name(), t.day_month())
            }),
            notice: service.notice(now),
        },
        Registration::Starting => Screen::Boot {
            version: phone.cfg.version.clone(),
        },
        Registration::Registering => Screen::Registering {
            identity: service.identity.clone(),
            server: phone.cfg.server.clone(),
            detail: service
                .problem(now)
                .map(|p| p.cause)
                .unwrap_or_else(|| "Registering with Twilio.".into()),
        },
        _ => match service.problem(now) {
            Some(problem) => Screen::Error {
                code: problem.code,
                title: problem.title,
                cause: problem.cause,
                action: problem.action,
            },
            None => Screen::Registering {
                identity: service.identity.clone(),
                server: phone.cfg.server.clone(),
                detail: "Registering with Twilio.".into(),
            },
        },
    }
}
