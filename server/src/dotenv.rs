//! `.env` files: `NAME=value` lines as the usual dotenv tools read them.
//!
//! Supported: blank lines and `#` comments, an optional `export ` prefix, unquoted values
//! (an unquoted ` #` starts a comment), `'single'` quotes taken literally and `"double"`
//! quotes with `\n`, `\"` and `\\` escapes. No variable expansion, no multi-line values.

use std::path::Path;

use crate::Error;

/// Parses `.env` text; `path` only labels errors.
pub fn parse(text: &str, path: &Path) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let fail = |problem: &str| Error::EnvFile {
            path: path.to_path_buf(),
            line: index + 1,
            problem: problem.to_string(),
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((name, value)) = line.split_once('=') else {
            return Err(fail("expected NAME=value"));
        };
        let name = name.trim();
        if !valid_name(name) {
            return Err(fail(
                "a name is letters, digits and '_', not starting with a digit",
            ));
        }
        let value = parse_value(value.trim()).map_err(fail)?;
        out.push((name.to_string(), value));
    }
    Ok(out)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(value: &str) -> Result<String, &'static str> {
    if let Some(rest) = value.strip_prefix('\'') {
        let (inner, after) = rest.split_once('\'').ok_or("unterminated ' quote")?;
        return trailing_ok(after).map(|()| inner.to_string());
    }
    if let Some(rest) = value.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return trailing_ok(&rest[i + 1..]).map(|()| out),
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(e @ ('"' | '\\' | '$')) => out.push(e),
                    Some(e) => {
                        out.push('\\');
                        out.push(e);
                    }
                    None => return Err("unterminated \" quote"),
                },
                c => out.push(c),
            }
        }
        return Err("unterminated \" quote");
    }
    let value = match value.find(" #") {
        Some(i) => &value[..i],
        None => value,
    };
    Ok(value.trim_end().to_string())
}

/// After a closing quote only whitespace or a comment may follow.
fn trailing_ok(after: &str) -> Result<(), &'static str> {
    let after = after.trim_start();
    if after.is_empty() || after.starts_with('#') {
        Ok(())
    } else {
        Err("unexpected text after the closing quote")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Vec<(String, String)>, String> {
        parse(text, Path::new(".env")).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_the_usual_forms() {
        let text = "# comment\n\nA=1\nexport B = two words # note\nC='lit $x \\n'\nD=\"q \\\"x\\\" \\n\" # c\nE=\nF=a#b\n";
        assert_eq!(
            p(text).unwrap(),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "lit $x \\n".into()),
                ("D".into(), "q \"x\" \n".into()),
                ("E".into(), String::new()),
                ("F".into(), "a#b".into()),
            ]
        );
    }

    #[test]
    fn errors_name_the_line_and_not_the_value() {
        let err = p("A=1\nTWILIO_AUTH_TOKEN=\"s3cret\n").unwrap_err();
        assert_eq!(err, ".env:2: unterminated \" quote");
        assert!(!err.contains("s3cret"));
        assert_eq!(p("just text").unwrap_err(), ".env:1: expected NAME=value");
        assert!(p("1A=x").unwrap_err().starts_with(".env:1: a name is"));
        assert!(
            p("A='x' y")
                .unwrap_err()
                .contains("after the closing quote")
        );
    }
}
