//! The XML under TwiML: a small element tree (documents are tiny) and the attribute readers
//! every verb shares, each refusing a bad value with Twilio's 12200.

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::TwimlError;

/// A parsed XML element.
#[derive(Debug, Default)]
pub(super) struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A URL attribute; an empty one counts as absent.
    pub fn url_attr(&self, name: &str) -> Option<String> {
        self.attr(name)
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_string)
    }

    pub fn schema_error(&self, what: impl std::fmt::Display) -> TwimlError {
        TwimlError::Schema(format!("<{}> {what}", self.name))
    }
}

pub(super) fn parse_tree(xml: &str) -> Result<Element, TwimlError> {
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

pub(super) fn uint_attr(el: &Element, name: &str, default: u32) -> Result<u32, TwimlError> {
    match el.attr(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| {
            el.schema_error(format!("attribute {name}=\"{v}\" is not a whole number"))
        }),
    }
}

/// `true`/`false` (any case), or `default` when absent.
pub(super) fn bool_attr_or(el: &Element, name: &str, default: bool) -> Result<bool, TwimlError> {
    match el.attr(name).map(str::trim) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(el.schema_error(format!("{name}=\"{v}\" is not true/false"))),
    }
}

pub(super) fn bool_attr(el: &Element, name: &str) -> Result<bool, TwimlError> {
    bool_attr_or(el, name, false)
}

/// `GET` or `POST` (any case) from the attribute `name`; `POST` when absent.
pub(super) fn method_attr(el: &Element, name: &str) -> Result<String, TwimlError> {
    match el.attr(name).map(|m| m.trim().to_ascii_uppercase()) {
        None => Ok("POST".into()),
        Some(m) if m == "POST" || m == "GET" => Ok(m),
        Some(m) => Err(el.schema_error(format!("{name}=\"{m}\" is not GET/POST"))),
    }
}

pub(super) fn method(el: &Element) -> Result<String, TwimlError> {
    method_attr(el, "method")
}

pub(super) fn no_children(el: &Element) -> Result<(), TwimlError> {
    no_children_except(el, &[])
}

pub(super) fn no_children_except(el: &Element, allowed: &[&str]) -> Result<(), TwimlError> {
    match el
        .children
        .iter()
        .find(|c| !allowed.contains(&c.name.as_str()))
    {
        None => Ok(()),
        Some(child) => Err(el.schema_error(format!("cannot contain <{}>", child.name))),
    }
}

pub(super) fn collect_text(el: &Element) -> String {
    let mut s = el.text.clone();
    for child in &el.children {
        s.push(' ');
        s.push_str(&collect_text(child));
    }
    s
}
