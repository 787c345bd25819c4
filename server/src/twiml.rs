//! TwiML documents for the few verbs the server answers with: `<Dial>` (numbers and
//! clients), `<Say>`, `<Hangup/>` and `<Reject/>`.

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
    pub targets: Vec<DialTarget>,
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
                Verb::Hangup => w.empty("Hangup", &[]),
                Verb::Reject => w.empty("Reject", &[]),
            }
        }
        w.finish()
    }
}

fn write_dial(w: &mut XmlWriter, dial: &Dial) {
    w.start(
        "Dial",
        &[
            ("callerId", dial.caller_id.as_deref()),
            ("answerOnBridge", dial.answer_on_bridge.then_some("true")),
        ],
    );
    let mut parameter_budget = MAX_PARAMETERS_PER_DIAL;
    for target in &dial.targets {
        match target {
            DialTarget::Number(number) => w.element("Number", &[], number),
            DialTarget::Client {
                identity,
                parameters,
            } if parameters.is_empty() => w.element("Client", &[], identity),
            DialTarget::Client {
                identity,
                parameters,
            } => {
                w.start("Client", &[]);
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
    fn empty_response_is_valid() {
        assert_eq!(
            Response::new().to_xml(),
            format!("{DECL}<Response></Response>")
        );
    }
}
