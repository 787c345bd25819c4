//! The verbs that listen to the caller: `<Record>` and `<Gather>`.

use super::tree::{Element, bool_attr, bool_attr_or, method, method_attr, no_children, uint_attr};
use super::{TwimlError, Verb, verb};

/// Twilio's `<Record timeout>` default: seconds of silence that end a recording.
pub const DEFAULT_RECORD_TIMEOUT_SECS: u32 = 5;
/// Twilio's `<Record maxLength>` default (also what `maxLength="0"` means).
pub const DEFAULT_MAX_LENGTH_SECS: u32 = 3600;
/// The longest `<Record>` the lab keeps (four hours, about 230 MB of audio in memory).
pub const MAX_MAX_LENGTH_SECS: u32 = 14_400;
/// Twilio's `<Record finishOnKey>` default: any key ends the recording.
pub const DEFAULT_RECORD_FINISH_KEYS: &str = "1234567890*#";
/// Twilio's `<Gather timeout>` default.
pub const DEFAULT_GATHER_TIMEOUT_SECS: u32 = 5;

/// The keys of a keypad.
const KEYS: &str = "0123456789*#";

/// `<Record>`: records the caller until silence, a key, the maximum length or a hang-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Requested when the recording ends; `None` = the current document's URL (Twilio).
    pub action: Option<String>,
    pub method: String,
    /// Seconds of silence that end the recording; 0 = silence never ends it.
    pub timeout_secs: u32,
    /// Keys that end the recording (any of `0-9*#`); empty = none.
    pub finish_on_key: String,
    /// 1..=[`MAX_MAX_LENGTH_SECS`]; `0` in the TwiML means the default, 3600.
    pub max_length_secs: u32,
    /// A beep before recording starts (default true).
    pub play_beep: bool,
    /// `trim="trim-silence"` (the default): leading and trailing silence is cut.
    pub trim_silence: bool,
    pub recording_status_callback: Option<String>,
    pub recording_status_callback_method: String,
    /// `recordingStatusCallbackEvent`: any of `in-progress`, `completed`, `absent`
    /// (default `completed`). The lab posts `completed` only.
    pub recording_status_callback_events: Vec<String>,
}

impl Record {
    /// Whether the `completed` recording status callback is wanted.
    pub fn posts_completed(&self) -> bool {
        self.recording_status_callback.is_some()
            && self
                .recording_status_callback_events
                .iter()
                .any(|e| e == "completed")
    }
}

/// `<Gather>`: collects keypad digits while its nested `<Say>`/`<Play>`/`<Pause>` play.
#[derive(Debug, Clone, PartialEq)]
pub struct Gather {
    /// Requested with `Digits`; `None` = the current document's URL (Twilio).
    pub action: Option<String>,
    pub method: String,
    /// Seconds to wait for the next digit once the prompts have played.
    pub timeout_secs: u32,
    /// The key that submits the digits (not part of `Digits`); `None` with `finishOnKey=""`.
    pub finish_on_key: Option<char>,
    /// Submit as soon as this many digits are in (≥ 1).
    pub num_digits: Option<u32>,
    /// Request `action` even with no digits (`actionOnEmptyResult`).
    pub action_on_empty_result: bool,
    /// `input` includes `dtmf` (the lab recognises no speech: `input="speech"` hears nothing).
    pub dtmf: bool,
    /// What plays while collecting: `<Say>`, `<Play>` and `<Pause>` only.
    pub prompts: Vec<Verb>,
}

fn keys_attr(el: &Element, name: &str, default: &str) -> Result<String, TwimlError> {
    let keys = el.attr(name).map(str::trim).unwrap_or(default);
    match keys.chars().find(|c| !KEYS.contains(*c)) {
        None => Ok(keys.to_string()),
        Some(bad) => Err(el.schema_error(format!("{name}=\"{keys}\" has '{bad}', not a key"))),
    }
}

pub(super) fn record(el: &Element) -> Result<Record, TwimlError> {
    no_children(el)?;
    let max_length = match uint_attr(el, "maxLength", DEFAULT_MAX_LENGTH_SECS)? {
        0 => DEFAULT_MAX_LENGTH_SECS,
        n => n.min(MAX_MAX_LENGTH_SECS),
    };
    let trim_silence = match el.attr("trim").map(str::trim) {
        None | Some("trim-silence") => true,
        Some("do-not-trim") => false,
        Some(other) => {
            return Err(
                el.schema_error(format!("trim=\"{other}\" is not trim-silence/do-not-trim"))
            );
        }
    };
    let events = match el.attr("recordingStatusCallbackEvent") {
        None => vec!["completed".to_string()],
        Some(list) => {
            let events: Vec<String> = list
                .split([' ', ','])
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect();
            if let Some(bad) = events
                .iter()
                .find(|e| !["in-progress", "completed", "absent"].contains(&e.as_str()))
            {
                return Err(el.schema_error(format!(
                    "recordingStatusCallbackEvent has \"{bad}\", not in-progress/completed/absent"
                )));
            }
            events
        }
    };
    Ok(Record {
        action: el.url_attr("action"),
        method: method(el)?,
        timeout_secs: uint_attr(el, "timeout", DEFAULT_RECORD_TIMEOUT_SECS)?,
        finish_on_key: keys_attr(el, "finishOnKey", DEFAULT_RECORD_FINISH_KEYS)?,
        max_length_secs: max_length,
        play_beep: bool_attr_or(el, "playBeep", true)?,
        trim_silence,
        recording_status_callback: el.url_attr("recordingStatusCallback"),
        recording_status_callback_method: method_attr(el, "recordingStatusCallbackMethod")?,
        recording_status_callback_events: events,
    })
}

pub(super) fn gather(el: &Element) -> Result<Gather, TwimlError> {
    let mut prompts = Vec::new();
    for child in &el.children {
        match child.name.as_str() {
            "Say" | "Play" | "Pause" => prompts.push(verb(child)?),
            other => return Err(el.schema_error(format!("cannot contain <{other}>"))),
        }
    }
    let finish = keys_attr(el, "finishOnKey", "#")?;
    let mut keys = finish.chars();
    let finish_on_key = keys.next();
    if keys.next().is_some() {
        return Err(el.schema_error(format!("finishOnKey=\"{finish}\" is more than one key")));
    }
    let num_digits = match el.attr("numDigits") {
        None => None,
        Some(_) => match uint_attr(el, "numDigits", 0)? {
            0 => return Err(el.schema_error("numDigits=\"0\": at least one digit")),
            n => Some(n),
        },
    };
    let input = el.attr("input").unwrap_or("dtmf");
    let modes: Vec<&str> = input.split_whitespace().collect();
    if modes.is_empty() || modes.iter().any(|m| *m != "dtmf" && *m != "speech") {
        return Err(el.schema_error(format!("input=\"{input}\" is not dtmf/speech")));
    }
    Ok(Gather {
        action: el.url_attr("action"),
        method: method(el)?,
        timeout_secs: uint_attr(el, "timeout", DEFAULT_GATHER_TIMEOUT_SECS)?,
        finish_on_key,
        num_digits,
        action_on_empty_result: bool_attr(el, "actionOnEmptyResult")?,
        dtmf: modes.contains(&"dtmf"),
        prompts,
    })
}
