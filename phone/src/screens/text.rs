//! Fitting text into fixed-width fonts: Latin-1 folding, ellipsis and word wrap.

/// Replaces characters the fonts lack (they cover Latin-1) with close ASCII.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '—' | '–' | '−' => out.push('-'),
            '…' => out.push_str("..."),
            '‘' | '’' | '′' => out.push('\''),
            '“' | '”' | '″' => out.push('"'),
            '≤' => out.push_str("<="),
            '≥' => out.push_str(">="),
            '→' => out.push_str("->"),
            '·' | '•' => out.push('-'),
            c if (c as u32) < 0x20 => out.push(' '),
            c if (c as u32) <= 0xff => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// Cuts `text` to `max` characters, ending in `...` when it had to cut.
pub fn ellipsize(text: &str, max: usize) -> String {
    let text = fold(text);
    let count = text.chars().count();
    if count <= max {
        return text;
    }
    if max <= 3 {
        return text.chars().take(max).collect();
    }
    let mut cut: String = text.chars().take(max - 3).collect();
    cut = cut.trim_end().to_string();
    cut.push_str("...");
    cut
}

/// Keeps the last `max` characters (for long dialed numbers), marking the cut with `<`.
pub fn tail(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max || max == 0 {
        return text.to_string();
    }
    let mut out = String::from("<");
    out.extend(text.chars().skip(count - max + 1));
    out
}

/// Word-wraps `text` into at most `max_lines` lines of `width` characters; the last line gets
/// an ellipsis if the text does not fit. Words longer than a line are broken.
pub fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    if width == 0 || max_lines == 0 {
        return Vec::new();
    }
    let text = fold(text);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut words: std::collections::VecDeque<String> =
        text.split_whitespace().map(str::to_string).collect();
    while let Some(word) = words.pop_front() {
        let word_len = word.chars().count();
        if word_len > width {
            // Break a long word at the line end.
            let room = if current.is_empty() {
                width
            } else {
                width.saturating_sub(current.chars().count() + 1)
            };
            if room == 0 {
                lines.push(std::mem::take(&mut current));
                words.push_front(word);
                continue;
            }
            let head: String = word.chars().take(room).collect();
            let rest: String = word.chars().skip(room).collect();
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&head);
            lines.push(std::mem::take(&mut current));
            words.push_front(rest);
            continue;
        }
        let needed = if current.is_empty() {
            word_len
        } else {
            current.chars().count() + 1 + word_len
        };
        if needed > width {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let shortened = ellipsize(&format!("{last} ..."), width);
            *last = if shortened.ends_with("...") {
                shortened
            } else {
                ellipsize(&format!("{last}..."), width)
            };
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn folding_and_cutting() {
        assert_eq!(
            fold("Token expired — renewing…"),
            "Token expired - renewing..."
        );
        assert_eq!(ellipsize("Kitchen & Company Ltd", 10), "Kitchen...");
        assert_eq!(ellipsize("short", 10), "short");
        assert_eq!(tail("0114420794600001234", 12), "<94600001234");
    }

    #[test]
    fn wrapping() {
        assert_eq!(
            wrap("Can't reach Twilio - retrying.", 12, 3),
            vec!["Can't reach", "Twilio -", "retrying."]
        );
        let cut = wrap("one two three four five six seven", 9, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].ends_with("..."), "{cut:?}");
        assert_eq!(wrap("abcdefghijkl", 5, 3), vec!["abcde", "fghij", "kl"]);
    }

    proptest! {
        #[test]
        fn wrapped_lines_always_fit(text in "[ a-zA-Z0-9—…]{0,120}", width in 1usize..30, lines in 1usize..6) {
            let out = wrap(&text, width, lines);
            prop_assert!(out.len() <= lines);
            for line in &out {
                prop_assert!(line.chars().count() <= width, "{line:?} wider than {width}");
            }
        }

        #[test]
        fn ellipsized_text_fits(text in ".{0,60}", max in 0usize..30) {
            prop_assert!(ellipsize(&text, max).chars().count() <= max);
        }
    }
}
