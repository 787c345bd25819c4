//! TwiML documents for the verbs the server answers with: `<Dial>` (numbers and clients, each
//! with the call log's status callback),
//! `<Say>`, `<Play>`, `<Pause>`, `<Record>`, `<Gather>`, `<Redirect>`, `<Hangup/>` and
//! `<Reject/>`.

use crate::xml::XmlWriter;

/// Twilio's limits on `<Parameter>` inside `<Client>` (names and values are cut, extra
/// parameters dropped, rather than have Twilio refuse the whole document).
pub const MAX_PARAMETER_NAME_BYTES: usize = 32;
pub const MAX_PARAMETER_VALUE_BYTES: usize = 128;
pub const MAX_PARAMETERS_PER_DIAL: usize = 8;

/// A `<Response>`: verbs executed in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    pub verbs: Vec<Verb>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    Dial(Dial),
    Say(String),
    /// An audio URL.
    Play(String),
    /// Silence, in seconds.
    Pause(u32),
    Record(Record),
    Gather(Gather),
    /// Fetch TwiML from this URL (POST) and continue with it.
    Redirect(String),
    Hangup,
    Reject,
}

/// `<Dial>`: rings its targets in parallel; the first to answer is bridged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dial {
    pub caller_id: Option<String>,
    /// Keep the calling leg unanswered until a target answers (the caller hears the far
    /// end's ringing, and is not billed for an unanswered call).
    pub answer_on_bridge: bool,
    /// Seconds to ring before giving up (`None`: Twilio's 30).
    pub timeout_secs: Option<u32>,
    /// Requested (POST) when the dial ends, with `DialCallStatus`; its TwiML runs next.
    /// `None`: the call goes on with the next verb.
    pub action: Option<String>,
    pub targets: Vec<DialTarget>,
    /// Put on every noun as `statusCallback` (POST, event `completed`): Twilio posts each
    /// dialled leg's end there (the call log, [`crate::call_log`]).
    pub status_callback: Option<String>,
}

/// `<Record>`: records the caller after an optional beep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Requested (POST) when the recording ends; its TwiML runs next. Always set: without
    /// one, Twilio requests the current document again (a loop).
    pub action: String,
    pub max_length_secs: u32,
    /// Seconds of silence that end the recording.
    pub timeout_secs: u32,
    /// Keys that end the recording.
    pub finish_on_key: String,
    pub play_beep: bool,
    /// Where Twilio posts the finished recording (`recordingStatusCallback`, POST,
    /// event `completed`).
    pub status_callback: Option<String>,
}

/// `<Gather input="dtmf">`: plays its prompts while collecting digits; the first digit
/// interrupts them. When `num_digits` digits are in, Twilio requests `action` (POST) with
/// `Digits`. With none by the timeout (or only the finishing key `#`), the next verb runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    pub action: String,
    pub num_digits: u32,
    pub timeout_secs: u32,
    pub prompts: Vec<Prompt>,
}

/// What a `<Gather>` plays while it listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Say(String),
    Play(String),
    Pause(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialTarget {
    /// A phone number in E.164 form.
    Number(String),
    /// A Voice SDK client (a handset), with custom parameters it receives in its `invite`.
    Client {
        identity: String,
        parameters: Vec<(String, String)>,
    },
}

impl Response {
    pub fn new() -> Self {
        Response::default()
    }

    pub fn dial(mut self, dial: Dial) -> Self {
        self.verbs.push(Verb::Dial(dial));
        self
    }

    pub fn say(mut self, text: impl Into<String>) -> Self {
        self.verbs.push(Verb::Say(text.into()));
        self
    }

    pub fn play(mut self, url: impl Into<String>) -> Self {
        self.verbs.push(Verb::Play(url.into()));
        self
    }

    pub fn record(mut self, record: Record) -> Self {
        self.verbs.push(Verb::Record(record));
        self
    }

    pub fn gather(mut self, gather: Gather) -> Self {
        self.verbs.push(Verb::Gather(gather));
        self
    }

    pub fn redirect(mut self, url: impl Into<String>) -> Self {
        self.verbs.push(Verb::Redirect(url.into()));
        self
    }

    /// Appends another response's verbs.
    pub fn then(mut self, other: Response) -> Self {
        self.verbs.extend(other.verbs);
        self
    }

    pub fn hangup(mut self) -> Self {
        self.verbs.push(Verb::Hangup);
        self
    }

    pub fn reject(mut self) -> Self {
        self.verbs.push(Verb::Reject);
        self
    }

    /// The document as Twilio expects it (`text/xml`, UTF-8, no pretty-printing).
    pub fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        w.start("Response", &[]);
        for verb in &self.verbs {
            match verb {
                Verb::Dial(dial) => write_dial(&mut w, dial),
                Verb::Say(text) => w.element("Say", &[], text),
                Verb::Play(url) => w.element("Play", &[], url),
                Verb::Pause(secs) => write_pause(&mut w, *secs),
                Verb::Record(record) => write_record(&mut w, record),
                Verb::Gather(gather) => write_gather(&mut w, gather),
                Verb::Redirect(url) => w.element("Redirect", &[("method", Some("POST"))], url),
                Verb::Hangup => w.empty("Hangup", &[]),
                Verb::Reject => w.empty("Reject", &[]),
            }
        }
        w.finish()
    }
}

fn write_pause(w: &mut XmlWriter, secs: u32) {
    w.empty("Pause", &[("length", Some(&secs.to_string()))]);
}

fn write_record(w: &mut XmlWriter, record: &Record) {
    let (max_length, timeout) = (
        record.max_length_secs.to_string(),
        record.timeout_secs.to_string(),
    );
    let callback = record.status_callback.as_deref();
    w.empty(
        "Record",
        &[
            ("action", Some(&record.action)),
            ("method", Some("POST")),
            ("maxLength", Some(&max_length)),
            ("timeout", Some(&timeout)),
            ("finishOnKey", Some(&record.finish_on_key)),
            (
                "playBeep",
                Some(if record.play_beep { "true" } else { "false" }),
            ),
            ("recordingStatusCallback", callback),
            ("recordingStatusCallbackMethod", callback.map(|_| "POST")),
            (
                "recordingStatusCallbackEvent",
                callback.map(|_| "completed"),
            ),
        ],
    );
}

fn write_gather(w: &mut XmlWriter, gather: &Gather) {
    let (num_digits, timeout) = (
        gather.num_digits.to_string(),
        gather.timeout_secs.to_string(),
    );
    w.start(
        "Gather",
        &[
            ("input", Some("dtmf")),
            ("numDigits", Some(&num_digits)),
            ("timeout", Some(&timeout)),
            ("action", Some(&gather.action)),
            ("method", Some("POST")),
        ],
    );
    for prompt in &gather.prompts {
        match prompt {
            Prompt::Say(text) => w.element("Say", &[], text),
            Prompt::Play(url) => w.element("Play", &[], url),
            Prompt::Pause(secs) => write_pause(w, *secs),
        }
    }
    w.end();
}

fn write_dial(w: &mut XmlWriter, dial: &Dial) {
    let timeout = dial.timeout_secs.map(|t| t.to_string());
    w.start(
        "Dial",
        &[
            ("callerId", dial.caller_id.as_deref()),
            ("answerOnBridge", dial.answer_on_bridge.then_some("true")),
            ("timeout", timeout.as_deref()),
            ("action", dial.action.as_deref()),
            ("method", dial.action.as_ref().map(|_| "POST")),
        ],
    );
    let callback = dial.status_callback.as_deref();
    let noun_attrs = [
        ("statusCallback", callback),
        ("statusCallbackEvent", callback.map(|_| "completed")),
        ("statusCallbackMethod", callback.map(|_| "POST")),
    ];
    let mut parameter_budget = MAX_PARAMETERS_PER_DIAL;
    for target in &dial.targets {
        match target {
            DialTarget::Number(number) => w.element("Number", &noun_attrs, number),
            DialTarget::Client {
                identity,
                parameters,
            } if parameters.is_empty() => w.element("Client", &noun_attrs, identity),
            DialTarget::Client {
                identity,
                parameters,
            } => {
                w.start("Client", &noun_attrs);
                w.element("Identity", &[], identity);
                for (name, value) in parameters.iter().take(parameter_budget) {
                    w.empty(
                        "Parameter",
                        &[
                            ("name", Some(cut(name, MAX_PARAMETER_NAME_BYTES))),
                            ("value", Some(cut(value, MAX_PARAMETER_VALUE_BYTES))),
                        ],
                    );
                }
                parameter_budget = parameter_budget.saturating_sub(parameters.len());
                w.end();
            }
        }
    }
    w.end();
}

/// The longest prefix of `s` that fits in `max` bytes without splitting a character.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

    #[test]
    fn dial_number_matches_the_seed_capture() {
        let xml = Response::new()
            .dial(Dial {
                caller_id: Some("+447381234567".into()),
                answer_on_bridge: false,
                targets: vec![DialTarget::Number("+12031234567".into())],
                ..Dial::default()
            })
            .to_xml();
        assert_eq!(
            xml,
            format!(
                "{DECL}<Response><Dial callerId=\"+447381234567\"><Number>+12031234567</Number></Dial></Response>"
            )
        );
    }

    #[test]
    fn clients_with_and_without_parameters() {
        let xml = Response::new()
            .dial(Dial {
                caller_id: None,
                answer_on_bridge: true,
                timeout_secs: None,
                action: None,
                status_callback: None,
                targets: vec![
                    DialTarget::Client {
                        identity: "twilio-react".into(),
                        parameters: vec![],
                    },
                    DialTarget::Client {
                        identity: "desk".into(),
                        parameters: vec![("callerName".into(), "Tom & \"Jerry\"".into())],
                    },
                ],
            })
            .to_xml();
        assert_eq!(
            xml,
            format!(
                "{DECL}<Response><Dial answerOnBridge=\"true\"><Client>twilio-react</Client>\
                 <Client><Identity>desk</Identity><Parameter name=\"callerName\" value=\"Tom &amp; &quot;Jerry&quot;\"/></Client>\
                 </Dial></Response>"
            )
        );
    }

    #[test]
    fn say_hangup_reject_and_escaping() {
        let xml = Response::new()
            .say("<b>1 & 2</b>")
            .hangup()
            .reject()
            .to_xml();
        assert_eq!(
            xml,
            format!(
                "{DECL}<Response><Say>&lt;b&gt;1 &amp; 2&lt;/b&gt;</Say><Hangup/><Reject/></Response>"
            )
        );
    }

    #[test]
    fn parameters_respect_twilio_limits() {
        let long_value = "é".repeat(100); // 200 bytes
        let many: Vec<(String, String)> = (0..10)
            .map(|i| (format!("p{i}"), long_value.clone()))
            .collect();
        let xml = Response::new()
            .dial(Dial {
                targets: vec![DialTarget::Client {
                    identity: "desk".into(),
                    parameters: many,
                }],
                ..Dial::default()
            })
            .to_xml();
        assert_eq!(xml.matches("<Parameter ").count(), MAX_PARAMETERS_PER_DIAL);
        let expected_value = "é".repeat(64); // 128 bytes
        assert!(xml.contains(&format!("value=\"{expected_value}\"")));
        assert!(!xml.contains(&format!("value=\"{expected_value}é")));
    }

    #[test]
    fn dial_with_timeout_and_action() {
        let xml = Response::new()
            .dial(Dial {
                timeout_secs: Some(15),
                action: Some("/hooks/voicemail/dial-ended?mailbox=a&b=c".into()),
                targets: vec![DialTarget::Number("+12031234567".into())],
                ..Dial::default()
            })
            .to_xml();
        assert_eq!(
            xml,
            format!(
                "{DECL}<Response><Dial timeout=\"15\" action=\"/hooks/voicemail/dial-ended?mailbox=a&amp;b=c\" \
                 method=\"POST\"><Number>+12031234567</Number></Dial></Response>"
            )
        );
    }

    #[test]
    fn record_gather_play_pause_redirect() {
        let xml = Response::new()
            .record(Record {
                action: "/done".into(),
                max_length_secs: 120,
                timeout_secs: 5,
                finish_on_key: "#".into(),
                play_beep: true,
                status_callback: Some("/cb?x=1&y=2".into()),
            })
            .gather(Gather {
                action: "/menu".into(),
                num_digits: 1,
                timeout_secs: 5,
                prompts: vec![
                    Prompt::Say("Hi".into()),
                    Prompt::Play("https://x/RE1".into()),
                    Prompt::Pause(1),
                ],
            })
            .play("https://x/g.wav")
            .redirect("/menu?a=1")
            .then(Response::new().hangup())
            .to_xml();
        assert_eq!(
            xml,
            format!(
                "{DECL}<Response><Record action=\"/done\" method=\"POST\" maxLength=\"120\" timeout=\"5\" \
                 finishOnKey=\"#\" playBeep=\"true\" recordingStatusCallback=\"/cb?x=1&amp;y=2\" \
                 recordingStatusCallbackMethod=\"POST\" recordingStatusCallbackEvent=\"completed\"/>\
                 <Gather input=\"dtmf\" numDigits=\"1\" timeout=\"5\" action=\"/menu\" method=\"POST\">\
                 <Say>Hi</Say><Play>https://x/RE1</Play><Pause length=\"1\"/></Gather>\
                 <Play>https://x/g.wav</Play><Redirect method=\"POST\">/menu?a=1</Redirect><Hangup/></Response>"
            )
        );
    }

    #[test]
    fn every_noun_carries_the_status_callback() {
        let xml = Response::new()
            .dial(Dial {
                status_callback: Some("/hooks/status?a=1&b=2".into()),
                targets: vec![
                    DialTarget::Number("+12031234567".into()),
                    DialTarget::Client {
                        identity: "desk".into(),
                        parameters: vec![],
                    },
                    DialTarget::Client {
                        identity: "hall".into(),
                        parameters: vec![("k".into(), "v".into())],
                    },
                ],
                ..Dial::default()
            })
            .to_xml();
        let attrs = "statusCallback=\"/hooks/status?a=1&amp;b=2\" statusCallbackEvent=\"completed\" \
                     statusCallbackMethod=\"POST\"";
        assert_eq!(
            xml,
            format!(
                "{DECL}<Response><Dial><Number {attrs}>+12031234567</Number><Client {attrs}>desk</Client>\
                 <Client {attrs}><Identity>hall</Identity><Parameter name=\"k\" value=\"v\"/></Client></Dial></Response>"
            )
        );
    }

    #[test]
    fn empty_response_is_valid() {
        assert_eq!(
            Response::new().to_xml(),
            format!("{DECL}<Response></Response>")
        );
    }
}
