//! Taking a message: what `/hooks/voicemail/dial-ended` answers when the handsets' `<Dial>`
//! ends (forward on busy or no answer, else the greeting and `<Record>`), and the recording
//! callback's parameters checked into a [`NewMessage`].

use crate::calls::{self, Outcome, PARAM_CALLER_NUMBER, Plan, param};
use crate::config::Config;
use crate::forwarding::Forward;
use crate::handsets::Handsets;
use crate::store::UnixSeconds;
use crate::store::voicemail::{Greeting, MailboxId, NewMessage};
use crate::twiml::{Dial, Record, Response};

use super::{
    DIAL_ENDED_PATH, GOODBYE_PATH, RECORDED_PATH, hook_url, is_known_mailbox, is_sid, value,
};

/// The longest message, in seconds.
pub const MAX_MESSAGE_SECS: u32 = 120;
/// Seconds of silence that end a message.
pub const SILENCE_SECS: u32 = 5;
/// The key that ends a message.
pub const FINISH_KEY: &str = "#";
/// Said when a mailbox has no greeting of its own; it names nobody, since a mailbox may be a
/// whole household's.
pub const DEFAULT_GREETING: &str = "Nobody can take your call right now. Please leave a message \
                                    after the tone, and press the pound key when you are done.";
pub const SAY_GOODBYE: &str = "Goodbye.";
pub const SAY_THANKS: &str = "Thank you for your message. Goodbye.";
pub const SAY_NO_MAILBOX: &str = "Sorry, nobody can take your call. Goodbye.";
/// Longest caller text kept with a message (a number, or `anonymous` and the like).
pub const MAX_CALLER_CHARS: usize = 64;

/// What the handsets' `<Dial>` leaves for its end, in the dial-ended URL: whose mailbox, and
/// where busy and no-answer forward (a number in E.164 or an extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterDial {
    pub mailbox: MailboxId,
    pub on_busy: Option<String>,
    pub on_no_answer: Option<String>,
}

impl AfterDial {
    /// `/hooks/voicemail/dial-ended?mailbox=…[&busy=…][&noanswer=…]`.
    pub fn url(&self, config: &Config) -> String {
        let mut query = vec![("mailbox", self.mailbox.as_str())];
        if let Some(to) = &self.on_busy {
            query.push(("busy", to));
        }
        if let Some(to) = &self.on_no_answer {
            query.push(("noanswer", to));
        }
        hook_url(config, DIAL_ENDED_PATH, &query)
    }

    pub fn from_query(query: &[(String, String)]) -> Option<AfterDial> {
        Some(AfterDial {
            mailbox: value(query, "mailbox")?.to_string(),
            on_busy: value(query, "busy").map(str::to_string),
            on_no_answer: value(query, "noanswer").map(str::to_string),
        })
    }
}

/// The greeting, then `<Record>` (its status callback names the mailbox and the caller, which
/// Twilio's callback does not carry), then a goodbye for when nothing was recorded.
pub fn leave_message(
    config: &Config,
    mailbox: &str,
    caller: &str,
    greeting: &Greeting,
) -> Response {
    let caller: String = caller.chars().take(MAX_CALLER_CHARS).collect();
    let greeting = match (&greeting.recording_url, &greeting.text) {
        (Some(url), _) => Response::new().play(url.as_str()),
        (None, Some(text)) if !text.trim().is_empty() => Response::new().say(text.as_str()),
        _ => Response::new().say(DEFAULT_GREETING),
    };
    greeting
        .record(Record {
            action: hook_url(config, GOODBYE_PATH, &[]),
            max_length_secs: MAX_MESSAGE_SECS,
            timeout_secs: SILENCE_SECS,
            finish_on_key: FINISH_KEY.into(),
            play_beep: true,
            status_callback: Some(hook_url(
                config,
                RECORDED_PATH,
                &[("mailbox", mailbox), ("caller", &caller)],
            )),
        })
        .say(SAY_GOODBYE)
        .hangup()
}

/// After a message was recorded (the `<Record action>`).
pub fn goodbye() -> Response {
    Response::new().say(SAY_THANKS).hangup()
}

/// Whether the dial ended with nothing more to do: someone answered, or the caller hung up
/// (Twilio still requests the action then, with `CallStatus=completed`, and ignores its
/// TwiML).
pub fn answered(params: &[(String, String)]) -> bool {
    matches!(
        param(params, "DialCallStatus"),
        Some("completed" | "answered")
    ) || param(params, "CallStatus") == Some("completed")
}

/// What happens when the handsets' `<Dial>` ends: an answered call hangs up; `busy` and
/// `no-answer` forward when the dial said where; anything else (`failed`, `canceled`, a
/// status Twilio may add) goes to voicemail. `after` is `None` when the URL lost its
/// query, which only a bug could do: the caller is told, never left in silence.
pub fn dial_ended(
    config: &Config,
    handsets: &Handsets,
    params: &[(String, String)],
    after: Option<&AfterDial>,
    greeting: &Greeting,
) -> Plan {
    if answered(params) {
        return Plan {
            twiml: Response::new().hangup(),
            outcome: Outcome::Hangup("the call was answered"),
        };
    }
    let Some(after) = after else {
        return Plan {
            twiml: Response::new().say(SAY_NO_MAILBOX).hangup(),
            outcome: Outcome::Refused("the dial-ended URL names no mailbox"),
        };
    };
    let forward_to = match param(params, "DialCallStatus") {
        Some("busy") => after.on_busy.as_deref(),
        Some("no-answer") => after.on_no_answer.as_deref(),
        _ => None,
    };
    let from = param(params, "From").unwrap_or_default();
    if let Some(to) = forward_to
        && let Some(forward) = Forward::parse(to, handsets)
    {
        let parameters = if from.is_empty() {
            Vec::new()
        } else {
            vec![(PARAM_CALLER_NUMBER.to_string(), from.to_string())]
        };
        let targets = vec![calls::forward_target(&forward, &parameters)];
        let then = AfterDial {
            mailbox: after.mailbox.clone(),
            on_busy: None,
            on_no_answer: None,
        };
        return Plan {
            twiml: Response::new().dial(Dial {
                caller_id: calls::caller_id(config, from, &targets),
                answer_on_bridge: true,
                timeout_secs: Some(config.dial_timeout_secs),
                action: Some(then.url(config)),
                targets,
                ..Dial::default()
            }),
            outcome: Outcome::Forwarded(to.to_string()),
        };
    }
    Plan {
        twiml: leave_message(config, &after.mailbox, from, greeting),
        outcome: Outcome::Voicemail(after.mailbox.clone()),
    }
}

/// A recording status callback, checked: `Ok(None)` for one that reports no finished
/// recording (nothing to keep), `Err` for one that is malformed or for a mailbox this server
/// does not have.
pub fn recording(
    config: &Config,
    handsets: &Handsets,
    query: &[(String, String)],
    params: &[(String, String)],
    now: UnixSeconds,
) -> Result<Option<NewMessage>, &'static str> {
    let mailbox = value(query, "mailbox").ok_or("the callback URL names no mailbox")?;
    if !is_known_mailbox(config, handsets, mailbox) {
        return Err("the callback is for a mailbox this server does not have");
    }
    if value(params, "AccountSid") != Some(config.account_sid.as_str()) {
        return Err("the callback is for another account");
    }
    match value(params, "RecordingStatus") {
        None | Some("completed") => {}
        Some(_) => return Ok(None),
    }
    let recording_sid = value(params, "RecordingSid")
        .filter(|s| is_sid(s, "RE"))
        .ok_or("RecordingSid is missing or malformed")?;
    let call_sid = value(params, "CallSid")
        .filter(|s| is_sid(s, "CA"))
        .ok_or("CallSid is missing or malformed")?;
    let recording_url = value(params, "RecordingUrl")
        .filter(|u| {
            url::Url::parse(u)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        })
        .ok_or("RecordingUrl is missing or not an http(s) URL")?;
    let duration_seconds = value(params, "RecordingDuration")
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| (0..=i64::from(u32::MAX)).contains(d))
        .ok_or("RecordingDuration is missing or not whole seconds")?;
    let caller: String = value(query, "caller")
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_CALLER_CHARS)
        .collect();
    Ok(Some(NewMessage {
        mailbox: mailbox.to_string(),
        recording_sid: recording_sid.to_string(),
        recording_url: recording_url.to_string(),
        duration_seconds,
        call_sid: call_sid.to_string(),
        caller,
        received_at: now,
    }))
}

#[cfg(test)]
mod tests;
