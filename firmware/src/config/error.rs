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
                let (excerpt, secret) = redact_line(text);
                error.excerpt = Some(excerpt);
                if let Some(secret) = secret {
                    error.message = error.message.replace(&secret, HIDDEN);
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

/// `line` with the value of a secret key replaced, and that value (without quotes) so that it
/// can be scrubbed from the parser's message too.
fn redact_line(line: &str) -> (String, Option<String>) {
    let Some((key, value)) = line.split_once('=') else {
        return (line.to_string(), None);
    };
    if !is_secret_key(key.trim().trim_matches(['"', '\''])) {
        return (line.to_string(), None);
    }
    let value = value.trim().trim_matches(['"', '\'']).to_string();
    let shown = format!("{key}= {HIDDEN}");
    (shown, (!value.is_empty()).then_some(value))
}
