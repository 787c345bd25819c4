//! TwiML: the verbs the lab executes, parsed from the XML a Voice URL returns.
//!
//! Supported: `<Say>`, `<Play>` (URL or `digits`), `<Pause>`, `<Hangup>`, `<Reject>`,
//! `<Redirect>` and `<Dial>` with `<Client>` (bare identity or `<Identity>` + `<Parameter>`s)
//! and `<Number>` nouns or a bare number. Malformed XML is Twilio's error 12100 (document
//! parse failure); a document that is XML but not valid TwiML is 12200 (schema validation).

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

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
    },
    Number {
        number: String,
    },
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

/// A parsed XML element (TwiML documents are tiny, so a small tree is simplest).
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
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

fn parse_tree(xml: &str) -> Result<Element, TwimlError> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| TwimlError::Parse(e.to_string()))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(TwimlError::Parse("content after the root element".into()));
                }
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                let el = element(&start)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(TwimlError::Parse("content after the root element".into())),
                }
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    return Err(TwimlError::Parse("unbalanced end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(text) => {
                let text = text
                    .unescape()
                    .map_err(|e| TwimlError::Parse(e.to_string()))?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(TwimlError::Parse("text outside the root element".into())),
                }
            }
            Event::CData(data) => {
                if let Some(el) = stack.last_mut() {
                    el.text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(TwimlError::Parse("unclosed element".into()));
    }
    root.ok_or_else(|| TwimlError::Parse("empty document".into()))
}

fn element(start: &BytesStart<'_>) -> Result<Element, TwimlError> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| TwimlError::Parse(e.to_string()))?;
        let key = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|e| TwimlError::Parse(e.to_string()))?;
        attrs.push((key, value.into_owned()));
    }
    Ok(Element {
        name,
        attrs,
        ..Element::default()
    })
}

fn uint_attr(el: &Element, name: &str, default: u32) -> Result<u32, TwimlError> {
    match el.attr(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            TwimlError::Schema(format!(
                "<{}> attribute {name}=\"{v}\" is not a whole number",
                el.name
            ))
        }),
    }
}

fn bool_attr(el: &Element, name: &str) -> Result<bool, TwimlError> {
    match el.attr(name).map(str::trim) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(TwimlError::Schema(format!(
            "<{}> {name}=\"{v}\" is not true/false",
            el.name
        ))),
    }
}

fn no_children(el: &Element) -> Result<(), TwimlError> {
    match el.children.first() {
        None => Ok(()),
        Some(child) => Err(TwimlError::Schema(format!(
            "<{}> cannot contain <{}>",
            el.name, child.name
        ))),
    }
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
        other => Err(TwimlError::Schema(format!(
            "<{other}> is not a verb the lab knows"
        ))),
    }
}

fn no_children_except(el: &Element, allowed: &[&str]) -> Result<(), TwimlError> {
    match el
        .children
        .iter()
        .find(|c| !allowed.contains(&c.name.as_str()))
    {
        None => Ok(()),
        Some(child) => Err(TwimlError::Schema(format!(
            "<{}> cannot contain <{}>",
            el.name, child.name
        ))),
    }
}

fn collect_text(el: &Element) -> String {
    let mut s = el.text.clone();
    for child in &el.children {
        s.push(' ');
        s.push_str(&collect_text(child));
    }
    s
}

fn method(el: &Element) -> Result<String, TwimlError> {
    match el.attr("method").map(str::to_ascii_uppercase) {
        None => Ok("POST".into()),
        Some(m) if m == "POST" || m == "GET" => Ok(m),
        Some(m) => Err(TwimlError::Schema(format!(
            "<{}> method=\"{m}\" is not GET/POST",
            el.name
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
                targets.push(DialTarget::Number { number });
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
    Ok(DialTarget::Client { identity, params })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_captured_documents() {
        let out = parse(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Dial callerId="+447381234567">
    <Number>+12031234567</Number>
  </Dial>
</Response>"#,
        )
        .unwrap();
        let [Verb::Dial(dial)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(dial.caller_id.as_deref(), Some("+447381234567"));
        assert_eq!(
            dial.targets,
            vec![DialTarget::Number {
                number: "+12031234567".into()
            }]
        );
        assert_eq!(dial.timeout_secs, 30);
        assert!(!dial.answer_on_bridge);

        let out = parse("<Response><Dial><Client>twilio-react</Client></Dial></Response>").unwrap();
        assert_eq!(
            out,
            vec![Verb::Dial(Dial {
                targets: vec![DialTarget::Client {
                    identity: "twilio-react".into(),
                    params: vec![]
                }],
                caller_id: None,
                answer_on_bridge: false,
                timeout_secs: 30,
                action: None,
                method: "POST".into(),
                time_limit_secs: None,
            })]
        );
    }

    #[test]
    fn client_identity_form_with_parameters_and_attributes() {
        let out = parse(
            r#"<Response><Dial answerOnBridge="true" timeout="10" action="/after">
                 <Client><Identity>alice</Identity><Parameter name="k" value="v &amp; w"/></Client>
               </Dial><Say loop="2">Goodbye &amp; thanks</Say><Pause length="3"/><Hangup/></Response>"#,
        )
        .unwrap();
        let Verb::Dial(dial) = &out[0] else { panic!() };
        assert!(dial.answer_on_bridge);
        assert_eq!(dial.timeout_secs, 10);
        assert_eq!(dial.action.as_deref(), Some("/after"));
        assert_eq!(
            dial.targets,
            vec![DialTarget::Client {
                identity: "alice".into(),
                params: vec![("k".into(), "v & w".into())]
            }]
        );
        assert_eq!(
            out[1],
            Verb::Say {
                text: "Goodbye & thanks".into(),
                loops: 2
            }
        );
        assert_eq!(out[2], Verb::Pause { secs: 3 });
        assert_eq!(out[3], Verb::Hangup);
    }

    #[test]
    fn bad_documents_carry_twilio_codes() {
        assert_eq!(
            parse("<Response><Say>x</Response>").unwrap_err().code(),
            12100
        );
        assert_eq!(parse("not xml at all <").unwrap_err().code(), 12100);
        assert_eq!(parse("").unwrap_err().code(), 12100);
        assert_eq!(parse("<Reply/>").unwrap_err().code(), 12200);
        assert_eq!(
            parse("<Response><Dance/></Response>").unwrap_err().code(),
            12200
        );
        assert_eq!(
            parse("<Response><Dial/></Response>").unwrap_err().code(),
            12200
        );
        assert_eq!(
            parse(r#"<Response><Pause length="x"/></Response>"#)
                .unwrap_err()
                .code(),
            12200
        );
        assert_eq!(
            parse(r#"<Response><Reject reason="later"/></Response>"#)
                .unwrap_err()
                .code(),
            12200
        );
        assert_eq!(parse("<Response/>").unwrap(), vec![]);
        assert_eq!(
            parse(r#"<Response><Reject reason="busy"/></Response>"#).unwrap(),
            vec![Verb::Reject { busy: true }]
        );
        assert_eq!(
            parse(r#"<Response><Play digits="12w#"/></Response>"#).unwrap(),
            vec![Verb::Play {
                url: None,
                digits: Some("12w#".into()),
                loops: 1
            }]
        );
    }
}
