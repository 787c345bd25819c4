//! A server-sent-events parser (the WHATWG `text/event-stream` rules), sans-IO: bytes in, in
//! chunks cut anywhere, events out.
//!
//! Lines end in CRLF, LF or CR (a CRLF split between two chunks is one line end); a line
//! starting with `:` is a comment (the server's keep-alive); `event:`, `data:` (several lines
//! join with `\n`), `id:` and `retry:` are fields, one optional space after the colon; an empty
//! line dispatches the event. A leading byte-order mark is dropped; invalid UTF-8 becomes
//! U+FFFD.
//!
//! Bounded: a line longer than [`SseLimits::max_line`] or an event's data larger than
//! [`SseLimits::max_event`] is not kept — the event it belongs to is reported as
//! [`SseItem::Skipped`] when it ends, and memory stays bounded whatever the server sends.

use std::time::Duration;

/// How much the parser keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseLimits {
    /// Longest line kept, in bytes.
    pub max_line: usize,
    /// Largest data of one event, in bytes.
    pub max_event: usize,
}

impl Default for SseLimits {
    fn default() -> Self {
        SseLimits {
            max_line: 16 * 1024,
            max_event: 64 * 1024,
        }
    }
}

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `message` when the stream gave no `event:` field.
    pub event: String,
    pub data: String,
    /// The last event id seen on the stream, if any.
    pub id: Option<String>,
}

/// What the parser found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseItem {
    Event(SseEvent),
    /// `retry:`: how long the server wants the client to wait before reconnecting.
    Retry(Duration),
    /// An event that was dropped, and why (too large).
    Skipped(String),
}

/// The parser's state between chunks.
#[derive(Debug, Clone)]
pub struct SseParser {
    limits: SseLimits,
    line: Vec<u8>,
    /// The line being read is past `max_line`: the rest of it is dropped.
    line_too_long: bool,
    /// The last byte was a CR: an LF right after it ends nothing more.
    after_cr: bool,
    /// The first line has been read (the BOM check is done).
    started: bool,
    event: String,
    data: String,
    last_id: Option<String>,
    /// Why the event being read will be skipped.
    spoiled: Option<String>,
}

impl SseParser {
    pub fn new(limits: SseLimits) -> SseParser {
        SseParser {
            limits,
            line: Vec::new(),
            line_too_long: false,
            after_cr: false,
            started: false,
            event: String::new(),
            data: String::new(),
            last_id: None,
            spoiled: None,
        }
    }

    /// Reads `chunk`, appending what it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseItem>) {
        for &b in chunk {
            if self.after_cr {
                self.after_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(out);
                }
                b'\n' => self.end_line(out),
                _ if self.line.len() < self.limits.max_line => self.line.push(b),
                _ => self.line_too_long = true,
            }
        }
    }

    /// Everything found in `chunk` (for tests and simple callers).
    pub fn feed_all(&mut self, chunk: &[u8]) -> Vec<SseItem> {
        let mut out = Vec::new();
        self.feed(chunk, &mut out);
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseItem>) {
        let mut line = std::mem::take(&mut self.line);
        if std::mem::take(&mut self.line_too_long) {
            self.spoil(format!("a line longer than {} bytes", self.limits.max_line));
            return;
        }
        if !self.started {
            self.started = true;
            if line.starts_with(b"\xEF\xBB\xBF") {
                line.drain(..3);
            }
        }
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let text = String::from_utf8_lossy(&line);
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text.as_ref(), ""),
        };
        match field {
            "event" => {
                self.event.clear();
                self.event.push_str(value);
            }
            "data" => {
                if self.data.len() + value.len() + 1 > self.limits.max_event {
                    self.spoil(format!(
                        "an event larger than {} bytes",
                        self.limits.max_event
                    ));
                    self.data.clear();
                } else if self.spoiled.is_none() {
                    self.data.push_str(value);
                    self.data.push('\n');
                }
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse::<u64>() {
                    out.push(SseItem::Retry(Duration::from_millis(ms)));
                }
            }
            _ => {}
        }
    }

    fn spoil(&mut self, why: String) {
        if self.spoiled.is_none() {
            self.spoiled = Some(why);
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseItem>) {
        let event = std::mem::take(&mut self.event);
        let mut data = std::mem::take(&mut self.data);
        if let Some(why) = self.spoiled.take() {
            out.push(SseItem::Skipped(why));
            return;
        }
        if data.is_empty() {
            return;
        }
        data.pop();
        out.push(SseItem::Event(SseEvent {
            event: if event.is_empty() {
                "message".into()
            } else {
                event
            },
            data,
            id: self.last_id.clone(),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(name: &str, data: &str) -> SseItem {
        SseItem::Event(SseEvent {
            event: name.into(),
            data: data.into(),
            id: None,
        })
    }

    fn parse(chunks: &[&[u8]]) -> Vec<SseItem> {
        let mut parser = SseParser::new(SseLimits::default());
        let mut out = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, &mut out);
        }
        out
    }

    const STREAM: &[u8] = b": keep-alive\n\nevent: voicemail\ndata: {\"new\":1,\"saved\":0}\n\n\
        event: settings\ndata: {\"dnd\":true,\n data:\"x\"}\n\n";

    #[test]
    fn events_comments_and_multi_line_data() {
        assert_eq!(
            parse(&[STREAM]),
            vec![
                event("voicemail", r#"{"new":1,"saved":0}"#),
                // `data:` without the space keeps everything after the colon; ` data` with a
                // leading space is another field (ignored).
                event("settings", r#"{"dnd":true,"#),
            ]
        );
        assert_eq!(
            parse(&[b"data: a\ndata:b\ndata\n\n"]),
            vec![event("message", "a\nb\n")]
        );
    }

    #[test]
    fn crlf_and_lone_cr_end_lines_even_split_across_chunks() {
        let want = vec![event("voicemail", "1"), event("settings", "2")];
        assert_eq!(
            parse(&[b"event: voicemail\r\ndata: 1\r\n\r\nevent: settings\rdata: 2\r\r"]),
            want
        );
        // A CRLF cut between two chunks is one line end, not two (no empty line: no early
        // dispatch of half an event).
        assert_eq!(
            parse(&[
                b"event: voicemail\r",
                b"\ndata: 1\r",
                b"\n\r",
                b"\nevent: settings\r\ndata: 2\r\n\r\n"
            ]),
            want
        );
    }

    #[test]
    fn retry_ids_bom_and_unknown_fields() {
        let mut parser = SseParser::new(SseLimits::default());
        let out =
            parser.feed_all(b"\xEF\xBB\xBFretry: 2500\nretry: soon\nid: 7\nfoo: bar\ndata: x\n\n");
        assert_eq!(
            out,
            vec![
                SseItem::Retry(Duration::from_millis(2500)),
                SseItem::Event(SseEvent {
                    event: "message".into(),
                    data: "x".into(),
                    id: Some("7".into())
                })
            ]
        );
        // An event with no data is not dispatched; its name does not leak into the next.
        assert_eq!(
            parser.feed_all(b"event: voicemail\n\ndata: y\n\n"),
            vec![SseItem::Event(SseEvent {
                event: "message".into(),
                data: "y".into(),
                id: Some("7".into())
            })]
        );
        // A retry too large for the clock is ignored, not a panic.
        assert!(
            parser
                .feed_all(b"retry: 99999999999999999999999\n")
                .is_empty()
        );
    }

    #[test]
    fn oversize_lines_and_events_are_skipped_and_the_stream_goes_on() {
        let limits = SseLimits {
            max_line: 64,
            max_event: 100,
        };
        let mut parser = SseParser::new(limits);
        let mut long_line = b"event: voicemail\ndata: ".to_vec();
        long_line.extend(std::iter::repeat_n(b'x', 10_000));
        long_line.extend_from_slice(b"\n\n");
        let out = parser.feed_all(&long_line);
        assert_eq!(out.len(), 1);
        assert!(
            matches!(&out[0], SseItem::Skipped(why) if why.contains("64")),
            "{out:?}"
        );
        assert!(parser.line.capacity() <= 64 * 2, "memory stays bounded");

        let mut many_lines = b"event: voicemail\n".to_vec();
        for _ in 0..10 {
            many_lines.extend_from_slice(b"data: 0123456789012345678901234567890\n");
        }
        many_lines.extend_from_slice(b"\n");
        let out = parser.feed_all(&many_lines);
        assert!(
            matches!(&out[..], [SseItem::Skipped(why)] if why.contains("100")),
            "{out:?}"
        );
        assert!(parser.data.capacity() <= 200);

        // The next event is read as usual.
        assert_eq!(
            parser.feed_all(b"event: settings\ndata: ok\n\n"),
            vec![event("settings", "ok")]
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(
            parse(&[b"data: \xff\xfe\n\n"]),
            vec![event("message", "\u{fffd}\u{fffd}")]
        );
    }

    proptest! {
        /// However the stream is cut into chunks, the same events come out.
        #[test]
        fn chunk_boundaries_do_not_matter(cuts in proptest::collection::vec(0usize..STREAM.len() + 40, 0..12)) {
            let stream = [STREAM, b"event: x\r\ndata: 1\r\ndata: 2\r\n\r\n"].concat();
            let whole = parse(&[&stream]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for cut in cuts {
                chunks.push(&stream[at..cut]);
                at = cut;
            }
            chunks.push(&stream[at..]);
            prop_assert_eq!(parse(&chunks), whole);
        }

        /// Any bytes at all: no panic, and never more kept than the limits allow.
        #[test]
        fn any_bytes_are_safe(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let limits = SseLimits { max_line: 100, max_event: 300 };
            let mut parser = SseParser::new(limits);
            for item in parser.feed_all(&bytes) {
                if let SseItem::Event(e) = item {
                    prop_assert!(e.data.len() <= 300);
                }
            }
            prop_assert!(parser.line.len() <= 100);
            prop_assert!(parser.data.len() <= 300);
        }
    }
}
