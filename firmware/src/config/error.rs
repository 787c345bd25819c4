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
            error.excerpt = self.text.lines().nth(line - 1).map(str::to_string);
        }
        error
    }
}
