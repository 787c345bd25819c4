//! The history page: the calls the handset saw and the messages in its mailbox, in one list,
//! newest first. A call row calls back; a voicemail row calls the mailbox.

use std::time::{Duration, Instant};

use super::super::Phone;
use super::super::remote::{MessageState, VoicemailMessage};
use super::super::view::{HistoryRow, RowKind};
use crate::clock::format_duration;
use crate::history::{CallResult, Direction, HistoryEntry};

/// One row's source.
#[derive(Debug, Clone, Copy)]
pub(super) enum HistoryItem<'a> {
    Call(&'a HistoryEntry),
    Voicemail(&'a VoicemailMessage),
}

impl HistoryItem<'_> {
    fn when(&self) -> Option<i64> {
        match self {
            HistoryItem::Call(e) => e.started_unix,
            HistoryItem::Voicemail(m) => Some(m.received_at),
        }
    }
}

impl Phone {
    /// Calls and messages merged newest first (each list is already newest first; a call
    /// without a time sorts after the messages around it).
    pub(super) fn history_items(&self) -> Vec<HistoryItem<'_>> {
        let calls = self.history.entries();
        let messages = &self.remote.messages;
        let mut out = Vec::with_capacity(calls.len() + messages.len());
        let (mut c, mut m) = (0, 0);
        while c < calls.len() || m < messages.len() {
            let call = calls.get(c).map(HistoryItem::Call);
            let message = messages.get(m).map(HistoryItem::Voicemail);
            let take_message = match (&call, &message) {
                (Some(call), Some(message)) => message.when() >= call.when(),
                (None, Some(_)) => true,
                _ => false,
            };
            if take_message {
                out.extend(message);
                m += 1;
            } else {
                out.extend(call);
                c += 1;
            }
        }
        out
    }

    /// Who a number is, for a row: a contact's name, `Ext 101`, or the number.
    pub(super) fn row_label(&self, number: &str, name: Option<&String>) -> String {
        if let Some(name) = name {
            return name.clone();
        }
        let plan = &self.cfg.dial_plan;
        if number.is_empty() || number.eq_ignore_ascii_case("anonymous") {
            return "Unknown".into();
        }
        if plan.directory().by_extension(number).is_some() {
            return format!("Ext {number}");
        }
        match plan.directory().lookup(number, plan.country()) {
            Some(contact) => contact.name.clone(),
            None => plan.display_number(number),
        }
    }

    pub(super) fn history_rows(&self, now: Instant) -> Vec<HistoryRow> {
        let today = self.clock.map(|c| c.local_at(now));
        let offset = self.clock.map(|c| c.utc_offset_secs()).unwrap_or(0);
        let when = |unix: i64| {
            let t = crate::clock::local_time(unix, offset);
            match today {
                Some(d) if (d.year, d.month, d.day) == (t.year, t.month, t.day) => t.hh_mm(),
                _ => t.day_month(),
            }
        };
        self.history_items()
            .into_iter()
            .map(|item| match item {
                HistoryItem::Call(e) => HistoryRow {
                    kind: RowKind::Call {
                        direction: e.direction,
                    },
                    label: self.row_label(&e.number, e.name.as_ref()),
                    when: e.started_unix.map(when),
                    detail: call_detail(e),
                },
                HistoryItem::Voicemail(m) => {
                    let new = m.state == MessageState::New;
                    let length = format_duration(Duration::from_secs(u64::from(m.duration_secs)));
                    HistoryRow {
                        kind: RowKind::Voicemail { new },
                        label: self.row_label(&m.caller, None),
                        when: Some(when(m.received_at)),
                        detail: if new {
                            format!("New {length}")
                        } else {
                            format!("Saved {length}")
                        },
                    }
                }
            })
            .collect()
    }
}

/// A call row's second line: talk time or how it ended.
fn call_detail(e: &HistoryEntry) -> String {
    match (&e.result, e.duration_secs) {
        (CallResult::Answered, Some(secs)) => format_duration(Duration::from_secs(secs)),
        (CallResult::Answered, None) => "Answered".into(),
        (CallResult::Cancelled, _) => "Cancelled".into(),
        (CallResult::Busy, _) => "Busy".into(),
        (CallResult::Declined, _) => "Declined".into(),
        (CallResult::Unavailable, _) => "No answer".into(),
        (CallResult::Rejected, _) => "Rejected".into(),
        (CallResult::Failed { code: Some(code) }, _) => format!("Failed {code}"),
        (CallResult::Failed { code: None }, _) => "Failed".into(),
        (CallResult::NotAnswered, _) if e.direction == Direction::Missed => "Missed".into(),
        (CallResult::NotAnswered, _) => "No answer".into(),
    }
}
