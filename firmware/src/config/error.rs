//! Config errors that point at a file, line and column.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A config problem, pointing into the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    /// 1-based line and column, when the problem is at a place in the file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    /// The offending line of the file, for context.
    pub excerpt: Option<String>,
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let (Some(excerpt), Some(column)) = (&self.excerpt, self.column) {
            write!(
                f,
                "\n    {excerpt}\n    {}^",
                " ".repeat(column.saturating_sub(1))
            )?;
        }
        Ok(())
    }
}

/// Turns byte offsets into line/column errors for one file.
pub(super) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    pub fn error(&self, span: Option<Range<usize>>, message: impl Into<String>) -> ConfigError {
        let mut error = ConfigError {
            path: self.path.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
            excerpt: None,
        };
        if let Some(span) = span {
            let start = span.start.min(self.text.len());
            let before = self.text.get(..start).unwrap_or("");
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
            let column = before
                .get(line_start..)
                .map(|s| s.chars().count())
                .unwrap_or(0)
                + 1;
            error.line = Some(line);
            error.column = Some(column);
            if let Some(text) = self.text.lines().nth(line - 1) {
                let (excerpt, hidden) = redact_line(text);
                error.excerpt = Some(excerpt);
                if let Some(words) = hidden {
                    error.message = scrub(&error.message, &words);
                }
            }
        }
        error
    }
}

/// What a secret value is shown as.
const HIDDEN: &str = "<hidden>";

/// Keys whose values an error never shows (the log and the screen are not secret).
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["secret", "password", "token", "credential", "private"]
        .iter()
        .any(|w| key.contains(w))
}

/// `line` with everything after the first secret key's `=` replaced, and the words of what was
/// hidden, so that they can be scrubbed from the parser's message too. A secret key may stand
/// anywhere on the line (an inline table: `server = { device_secret = 1234 }`), and what
/// follows it may hold more than the value (a comment, other keys): all of it is hidden.
fn redact_line(line: &str) -> (String, Option<Vec<String>>) {
    let mut from = 0;
    while let Some(offset) = line[from..].find('=') {
        let at = from + offset;
        // The key is the last bare or quoted word before this `=`.
        let before = line[..at].trim_end();
        let key_start = before
            .rfind(|c: char| c.is_whitespace() || matches!(c, '{' | ',' | '.'))
            .map_or(0, |i| i + 1);
        let key = before[key_start..].trim_matches(['"', '\'']);
        if is_secret_key(key) {
            let hidden = &line[at + 1..];
            let words = hidden
                .split(|c: char| {
                    c.is_whitespace()
                        || matches!(c, '"' | '\'' | '#' | ',' | '{' | '}' | '[' | ']' | '`')
                })
                .filter(|w| w.len() >= 3)
                .map(str::to_string)
                .collect();
            return (format!("{}= {HIDDEN}", &line[..at]), Some(words));
        }
        from = at + 1;
    }
    (line.to_string(), None)
}

/// The parser's message with every word of a hidden value, and anything it quotes in
/// backticks (where TOML's messages show the value they choked on), replaced.
fn scrub(message: &str, words: &[String]) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find('`') {
        let Some(close) = rest[open + 1..].find('`') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(HIDDEN);
        rest = &rest[open + 1 + close + 1..];
    }
    out.push_str(rest);
    words.iter().fold(out, |m, w| m.replace(w.as_str(), HIDDEN))
}
