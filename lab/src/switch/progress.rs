//! `statusCallback` on `<Dial>`'s `<Number>` and `<Client>` nouns: the progress of each leg
//! a noun rings, posted (signed) as Twilio's call-progress events — `initiated` when the leg
//! is made, `ringing`, `answered` (`in-progress`) and `completed` with however it ended
//! (completed once bridged, else busy, no-answer, canceled or failed) and `CallDuration`.

use super::calls::LegState;
use super::recordings::rfc2822;
use super::webhooks::resolve;
use super::{Now, Switch};
use crate::twiml::{CallProgress, StatusCallback};

/// A dialled leg's `statusCallback` (its URL resolved against the document that dialled it)
/// and how many of its events went out.
#[derive(Debug, Clone)]
pub struct ProgressCallback {
    pub callback: StatusCallback,
    pub sent: u32,
}

impl Switch {
    /// Gives a new dialled leg its noun's `statusCallback`, if any, and tells it `initiated`.
    pub(super) fn watch_leg(&mut self, leg: &str, callback: Option<&StatusCallback>, now: Now) {
        let Some(callback) = callback else {
            return;
        };
        let base = self
            .legs
            .get(leg)
            .and_then(|l| self.calls.get(&l.call_sid))
            .and_then(|c| c.doc_url.clone());
        let mut callback = callback.clone();
        callback.url = resolve(base.as_deref(), &callback.url);
        if let Some(l) = self.legs.get_mut(leg) {
            l.progress = Some(ProgressCallback { callback, sent: 0 });
        }
        self.leg_progress(leg, CallProgress::Initiated, now);
    }

    /// Posts `event` of a dialled leg to its `statusCallback` if it asked for it.
    pub(super) fn leg_progress(&mut self, leg: &str, event: CallProgress, now: Now) {
        let account_sid = self.cfg.credentials.account_sid.clone();
        let Some(l) = self.legs.get_mut(leg) else {
            return;
        };
        let status = match event {
            CallProgress::Initiated => "initiated",
            CallProgress::Ringing => "ringing",
            CallProgress::Answered => LegState::InProgress.as_str(),
            CallProgress::Completed => l.state.as_str(),
        };
        let Some(progress) = l.progress.as_mut().filter(|p| p.callback.wants(event)) else {
            return;
        };
        let sequence = progress.sent;
        progress.sent += 1;
        let (url, method) = (
            progress.callback.url.clone(),
            progress.callback.method.clone(),
        );
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
        let mut params = vec![
            p("AccountSid", &account_sid),
            p("ApiVersion", "2010-04-01"),
            p("CallSid", &l.sid),
            p("ParentCallSid", &l.call_sid),
            p("From", &l.from),
            p("Caller", &l.from),
            p("To", &l.to),
            p("Called", &l.to),
            p("CallStatus", status),
            p("Direction", "outbound-dial"),
        ];
        if event == CallProgress::Completed {
            let talked_ms = match (l.answered_unix_ms, l.ended_unix_ms) {
                (Some(answered), Some(ended)) => ended.saturating_sub(answered),
                _ => 0,
            };
            params.push(p("CallDuration", &(talked_ms / 1000).to_string()));
        }
        params.push(p("Timestamp", &rfc2822(now.unix_ms)));
        params.push(p("CallbackSource", "call-progress-events"));
        params.push(p("SequenceNumber", &sequence.to_string()));
        let call_sid = l.call_sid.clone();
        let request = self.signed_request(&url, &method, params);
        self.send_callback(&call_sid, request);
    }
}
