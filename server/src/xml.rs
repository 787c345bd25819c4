//! A tiny XML writer: elements, attributes and text, always escaped.
//!
//! TwiML needs nothing more, and a writer this small is easy to trust. Element and
//! attribute names are `&'static str` on purpose: only our code picks them, so only text
//! and attribute values (which may come from callers and config) need escaping.

/// Builds one XML document, closing whatever is still open on [`XmlWriter::finish`].
#[derive(Debug)]
pub struct XmlWriter {
    out: String,
    open: Vec<&'static str>,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    /// A document that starts with the UTF-8 XML declaration Twilio's helpers write.
    pub fn new() -> Self {
        XmlWriter {
            out: String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
            open: Vec::new(),
        }
    }

    /// Opens `<name attr="value" …>`; attributes whose value is `None` are left out.
    pub fn start(&mut self, name: &'static str, attrs: &[(&'static str, Option<&str>)]) {
        self.tag(name, attrs);
        self.out.push('>');
        self.open.push(name);
    }

    /// Writes `<name attr="value" …/>`.
    pub fn empty(&mut self, name: &'static str, attrs: &[(&'static str, Option<&str>)]) {
        self.tag(name, attrs);
        self.out.push_str("/>");
    }

    /// Writes `<name …>text</name>`.
    pub fn element(
        &mut self,
        name: &'static str,
        attrs: &[(&'static str, Option<&str>)],
        text: &str,
    ) {
        self.start(name, attrs);
        self.text(text);
        self.end();
    }

    /// Writes escaped character data inside the element that is open.
    pub fn text(&mut self, text: &str) {
        escape_into(&mut self.out, text, false);
    }

    /// Closes the innermost open element (does nothing when none is open).
    pub fn end(&mut self) {
        if let Some(name) = self.open.pop() {
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push('>');
        }
    }

    /// Closes every open element and returns the document.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out
    }

    fn tag(&mut self, name: &'static str, attrs: &[(&'static str, Option<&str>)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (attr, value) in attrs {
            if let Some(value) = value {
                self.out.push(' ');
                self.out.push_str(attr);
                self.out.push_str("=\"");
                escape_into(&mut self.out, value, true);
                self.out.push('"');
            }
        }
    }
}

/// Escapes markup characters and drops characters XML 1.0 cannot carry at all (most C0
/// controls, U+FFFE, U+FFFF). In attribute values tab and newlines become character
/// references, because a parser would otherwise normalise them to spaces.
fn escape_into(out: &mut String, text: &str, attribute: bool) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_attributes() {
        let mut w = XmlWriter::new();
        w.start("A", &[("x", Some(r#"a"b'c<d>&e"#)), ("skip", None)]);
        w.text("1 < 2 & \"q\" 'p' > 0");
        w.empty("B", &[("t", Some("line\nnext\ttab"))]);
        let xml = w.finish();
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="UTF-8"?><A x="a&quot;b&apos;c&lt;d&gt;&amp;e">1 &lt; 2 &amp; "q" 'p' &gt; 0<B t="line&#10;next&#9;tab"/></A>"#
        );
    }

    #[test]
    fn drops_characters_xml_cannot_carry() {
        let mut w = XmlWriter::new();
        w.element("S", &[], "a\u{0}b\u{1b}c\u{FFFF}d\r");
        assert!(w.finish().ends_with("<S>abcd&#13;</S>"));
    }

    #[test]
    fn finish_closes_everything_in_order() {
        let mut w = XmlWriter::new();
        w.start("Response", &[]);
        w.start("Dial", &[]);
        w.text("x");
        assert!(w.finish().ends_with("<Response><Dial>x</Dial></Response>"));
    }
}
