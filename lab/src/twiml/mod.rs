//! TwiML: the verbs the lab executes, parsed from the XML a Voice URL returns.
//!
//! Supported: `<Say>`, `<Play>` (URL or `digits`), `<Pause>`, `<Hangup>`, `<Reject>`,
//! `<Redirect>`, `<Dial>` with `<Client>` (bare identity or `<Identity>` + `<Parameter>`s)
//! and `<Number>` nouns (each with its `statusCallback`: [`StatusCallback`]) or a bare
//! number, `<Record>` and `<Gather>` (keypad input; see
//! [`Record`] and [`Gather`]). Malformed XML is Twilio's error 12100 (document parse
//! failure); a document that is XML but not valid TwiML, or has an attribute value Twilio
//! refuses (`maxLength="abc"`, `numDigits="0"`, …), is 12200 (schema validation).
//!
//! - `tree` — the XML element tree and the shared attribute readers.
//! - `input` — `<Record>` and `<Gather>`.

mod input;
mod tree;

pub use input::{
    DEFAULT_GATHER_TIMEOUT_SECS, DEFAULT_MAX_LENGTH_SECS, DEFAULT_RECORD_FINISH_KEYS,
    DEFAULT_RECORD_TIMEOUT_SECS, Gather, MAX_MAX_LENGTH_SECS, Record,
};
use tree::{
    Element, bool_attr, collect_text, method, method_attr, no_children, no_children_except,
    parse_tree, uint_attr,
};

/// Twilio's default `<Dial timeout>` in seconds.
pub const DEFAULT_DIAL_TIMEOUT_SECS: u32 = 30;

#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    Say {
        text: String,
        loops: u32,
    },
    Play {
        url: Option<String>,
        digits: Option<String>,
        loops: u32,
    },
    Pause {
        secs: u32,
    },
    Hangup,
    Reject {
        busy: bool,
    },
    Redirect {
        url: String,
        method: String,
    },
    Dial(Dial),
    Record(Record),
    Gather(Gather),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dial {
    pub targets: Vec<DialTarget>,
    pub caller_id: Option<String>,
    pub answer_on_bridge: bool,
    pub timeout_secs: u32,
    pub action: Option<String>,
    pub method: String,
    pub time_limit_secs: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DialTarget {
    Client {
        identity: String,
        params: Vec<(String, String)>,
        status_callback: Option<StatusCallback>,
    },
    Number {
        number: String,
        status_callback: Option<StatusCallback>,
    },
}

impl DialTarget {
    pub fn status_callback(&self) -> Option<&StatusCallback> {
        match self {
            DialTarget::Client {
                status_callback, ..
            }
            | DialTarget::Number {
                status_callback, ..
            } => status_callback.as_ref(),
        }
    }
}

/// A moment in a dialled leg's life that its `statusCallback` can be told of
/// (`statusCallbackEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallProgress {
    /// The leg was created (`CallStatus=initiated`).
    Initiated,
    /// The far end rings (`CallStatus=ringing`).
    Ringing,
    /// The far end answered (`CallStatus=in-progress`).
    Answered,
    /// The leg is over, however it ended (`CallStatus` completed, busy, no-answer, canceled
    /// or failed, with `CallDuration`).
    Completed,
}

impl CallProgress {
    pub fn parse(text: &str) -> Option<CallProgress> {
        match text {
            "initiated" => Some(CallProgress::Initiated),
            "ringing" => Some(CallProgress::Ringing),
            "answered" => Some(CallProgress::Answered),
            "completed" => Some(CallProgress::Completed),
            _ => None,
        }
    }
}

/// `statusCallback`, `statusCallbackEvent` (space-separated; default `completed`) and
/// `statusCallbackMethod` (default POST) of a `<Number>` or `<Client>`: where Twilio posts
/// the progress of the leg that noun rings. Without a `statusCallback` nothing is posted.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusCallback {
    pub url: String,
    pub method: String,
    pub events: Vec<CallProgress>,
}

impl StatusCallback {
    pub fn wants(&self, event: CallProgress) -> bool {
        self.events.contains(&event)
    }
}

/// Why a TwiML document was refused, with Twilio's error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwimlError {
    #[error("12100 Document parse failure: {0}")]
    Parse(String),
    #[error("12200 Schema validation warning: {0}")]
    Schema(String),
}

impl TwimlError {
    pub fn code(&self) -> u32 {
        match self {
            TwimlError::Parse(_) => 12100,
            TwimlError::Schema(_) => 12200,
        }
    }
}

/// Parses a TwiML document into its verbs.
pub fn parse(xml: &str) -> Result<Vec<Verb>, TwimlError> {
    let root = parse_tree(xml)?;
    if root.name != "Response" {
        return Err(TwimlError::Schema(format!(
            "root element is <{}>, not <Response>",
            root.name
        )));
    }
    root.children.iter().map(verb).collect()
}

fn verb(el: &Element) -> Result<Verb, TwimlError> {
    let loops = uint_attr(el, "loop", 1)?;
    match el.name.as_str() {
        "Say" => {
            no_children_except(
                el,
                &[
                    "break", "emphasis", "lang", "p", "phoneme", "prosody", "s", "say-as", "sub",
                    "w",
                ],
            )?;
            Ok(Verb::Say {
                text: collect_text(el).trim().to_string(),
                loops,
            })
        }
        "Play" => {
            no_children(el)?;
            let url = Some(el.text.trim().to_string()).filter(|u| !u.is_empty());
            let digits = el.attr("digits").map(str::to_string);
            if let Some(d) = &digits
                && let Some(bad) = d.chars().find(|c| !"0123456789*#wW".contains(*c))
            {
                return Err(TwimlError::Schema(format!(
                    "<Play digits> contains '{bad}'"
                )));
            }
            if url.is_none() && digits.is_none() {
                return Err(TwimlError::Schema("<Play> needs a URL or digits".into()));
            }
            Ok(Verb::Play { url, digits, loops })
        }
        "Pause" => {
            no_children(el)?;
            Ok(Verb::Pause {
                secs: uint_attr(el, "length", 1)?,
            })
        }
        "Hangup" => {
            no_children(el)?;
            Ok(Verb::Hangup)
        }
        "Reject" => {
            no_children(el)?;
            let busy = match el.attr("reason") {
                None | Some("rejected") => false,
                Some("busy") => true,
                Some(other) => {
                    return Err(TwimlError::Schema(format!(
                        "<Reject reason=\"{other}\"> is not rejected/busy"
                    )));
                }
            };
            Ok(Verb::Reject { busy })
        }
        "Redirect" => {
            no_children(el)?;
            let url = el.text.trim().to_string();
            if url.is_empty() {
                return Err(TwimlError::Schema("<Redirect> needs a URL".into()));
            }
            Ok(Verb::Redirect {
                url,
                method: method(el)?,
            })
        }
        "Dial" => dial(el).map(Verb::Dial),
        "Record" => input::record(el).map(Verb::Record),
        "Gather" => input::gather(el).map(Verb::Gather),
        other => Err(TwimlError::Schema(format!(
            "<{other}> is not a verb the lab knows"
        ))),
    }
}

fn dial(el: &Element) -> Result<Dial, TwimlError> {
    let mut targets = Vec::new();
    for child in &el.children {
        match child.name.as_str() {
            "Client" => targets.push(client(child)?),
            "Number" => {
                no_children(child)?;
                let number = child.text.trim().to_string();
                if number.is_empty() {
                    return Err(TwimlError::Schema("<Number> is empty".into()));
                }
                targets.push(DialTarget::Number {
                    number,
                    status_callback: status_callback(child)?,
                });
            }
            other => {
                return Err(TwimlError::Schema(format!(
                    "<Dial> cannot contain <{other}>"
                )));
            }
        }
    }
    let bare = el.text.trim();
    if !bare.is_empty() {
        if !targets.is_empty() {
            return Err(TwimlError::Schema(
                "<Dial> mixes a bare number with nouns".into(),
            ));
        }
        targets.push(DialTarget::Number {
            number: bare.to_string(),
            status_callback: None,
        });
    }
    if targets.is_empty() {
        return Err(TwimlError::Schema("<Dial> has nothing to dial".into()));
    }
    let time_limit = match el.attr("timeLimit") {
        None => None,
        Some(_) => Some(uint_attr(el, "timeLimit", 0)?),
    };
    let timeout = uint_attr(el, "timeout", DEFAULT_DIAL_TIMEOUT_SECS)?;
    Ok(Dial {
        targets,
        caller_id: el.attr("callerId").map(str::to_string),
        answer_on_bridge: bool_attr(el, "answerOnBridge")?,
        // Twilio clamps the timeout to 5..=600 seconds.
        timeout_secs: timeout.clamp(5, 600),
        action: el
            .attr("action")
            .map(str::to_string)
            .filter(|a| !a.is_empty()),
        method: method(el)?,
        time_limit_secs: time_limit,
    })
}

fn client(el: &Element) -> Result<DialTarget, TwimlError> {
    let mut identity = el.text.trim().to_string();
    let mut params = Vec::new();
    for child in &el.children {
        match child.name.as_str() {
            "Identity" => {
                no_children(child)?;
                identity = child.text.trim().to_string();
            }
            "Parameter" => {
                no_children(child)?;
                let (Some(name), Some(value)) = (child.attr("name"), child.attr("value")) else {
                    return Err(TwimlError::Schema(
                        "<Parameter> needs name and value".into(),
                    ));
                };
                params.push((name.to_string(), value.to_string()));
            }
            other => {
                return Err(TwimlError::Schema(format!(
                    "<Client> cannot contain <{other}>"
                )));
            }
        }
    }
    if identity.is_empty() {
        return Err(TwimlError::Schema("<Client> has no identity".into()));
    }
    Ok(DialTarget::Client {
        identity,
        params,
        status_callback: status_callback(el)?,
    })
}

/// A noun's `statusCallback*` attributes; `None` without a URL. The events and the method
/// are checked even then, as Twilio validates the document.
fn status_callback(el: &Element) -> Result<Option<StatusCallback>, TwimlError> {
    let events = match el.attr("statusCallbackEvent") {
        None => vec![CallProgress::Completed],
        Some(list) => list
            .split([' ', ','])
            .filter(|e| !e.is_empty())
            .map(|e| {
                CallProgress::parse(e).ok_or_else(|| {
                    el.schema_error(format!(
                        "statusCallbackEvent has \"{e}\", not initiated/ringing/answered/completed"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let method = method_attr(el, "statusCallbackMethod")?;
    Ok(el.url_attr("statusCallback").map(|url| StatusCallback {
        url,
        method,
        events,
    }))
}

#[cfg(test)]
mod tests;
