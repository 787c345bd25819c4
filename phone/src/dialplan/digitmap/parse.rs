//! The digit-map parser.

use std::time::Duration;

use super::{Atom, DigitMap, DigitMapError, KeySet, Rule};

pub(super) struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    text: &'a str,
}

impl<'a> Parser<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        Parser {
            chars: text.chars().collect(),
            pos: 0,
            text,
        }
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, DigitMapError> {
        Err(DigitMapError {
            position: self.pos,
            message: message.into(),
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn seconds(&mut self) -> Result<Duration, DigitMapError> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits: String = self.chars[start..self.pos].iter().collect();
        match digits.parse::<u64>() {
            Ok(secs) if secs <= 300 => Ok(Duration::from_secs(secs)),
            Ok(_) => self.error("timer longer than 300 s"),
            Err(_) => self.error("expected a number of seconds"),
        }
    }

    pub(super) fn map(mut self) -> Result<DigitMap, DigitMapError> {
        let mut map = DigitMap {
            rules: Vec::new(),
            short_timer: DigitMap::DEFAULT_SHORT_TIMER,
            long_timer: DigitMap::DEFAULT_LONG_TIMER,
        };
        // Global timer overrides: `L:15,S:6,`.
        loop {
            self.skip_space();
            let which = self.peek().map(|c| c.to_ascii_uppercase());
            if (which == Some('L') || which == Some('S'))
                && self.chars.get(self.pos + 1) == Some(&':')
            {
                self.pos += 2;
                let value = self.seconds()?;
                if which == Some('L') {
                    map.long_timer = value;
                } else {
                    map.short_timer = value;
                }
                self.skip_space();
                if self.peek() != Some(',') {
                    return self.error("expected ',' after a timer setting");
                }
                self.pos += 1;
            } else {
                break;
            }
        }
        self.skip_space();
        let wrapped = self.peek() == Some('(');
        if wrapped {
            self.pos += 1;
        }
        loop {
            let rule = self.rule()?;
            map.rules.push(rule);
            match self.peek() {
                Some('|') => self.pos += 1,
                Some(')') if wrapped => {
                    self.pos += 1;
                    self.skip_space();
                    if self.peek().is_some() {
                        return self.error("unexpected text after ')'");
                    }
                    break;
                }
                None if wrapped => return self.error("missing ')'"),
                None => break,
                Some(c) => return self.error(format!("unexpected '{c}'")),
            }
        }
        Ok(map)
    }

    fn rule(&mut self) -> Result<Rule, DigitMapError> {
        self.skip_space();
        let start = self.pos;
        let mut rule = Rule {
            text: String::new(),
            atoms: Vec::new(),
            short_timer: None,
            long_timer: None,
            timer_terminated: false,
            barred: false,
        };
        while let Some(c) = self.peek() {
            match c {
                '|' | ')' => break,
                c if c.is_whitespace() => self.pos += 1,
                '0'..='9' | '*' | '#' | '+' => {
                    let set = KeySet::single(c).unwrap_or_default();
                    rule.atoms.push(Atom::Key {
                        set,
                        repeat: false,
                        keep: true,
                    });
                    self.pos += 1;
                }
                'x' | 'X' => {
                    rule.atoms.push(Atom::Key {
                        set: KeySet::ALL_DIGITS,
                        repeat: false,
                        keep: true,
                    });
                    self.pos += 1;
                }
                '[' => {
                    let set = self.set()?;
                    rule.atoms.push(Atom::Key {
                        set,
                        repeat: false,
                        keep: true,
                    });
                }
                '.' => {
                    match rule.atoms.last_mut() {
                        Some(Atom::Key {
                            repeat, keep: true, ..
                        }) if !*repeat => *repeat = true,
                        _ => return self.error("'.' must follow a key, 'x' or a [set]"),
                    }
                    self.pos += 1;
                }
                'T' | 't' => {
                    rule.timer_terminated = true;
                    self.pos += 1;
                }
                'S' | 's' => {
                    self.pos += 1;
                    rule.short_timer = Some(self.seconds()?);
                }
                'L' | 'l' => {
                    self.pos += 1;
                    rule.long_timer = Some(self.seconds()?);
                }
                '!' => {
                    rule.barred = true;
                    self.pos += 1;
                }
                '<' => self.rewrite(&mut rule)?,
                other => return self.error(format!("unexpected '{other}'")),
            }
        }
        if rule.atoms.is_empty() {
            return self.error("empty rule");
        }
        rule.text = self
            .text
            .chars()
            .skip(start)
            .take(self.pos - start)
            .collect::<String>()
            .trim()
            .to_string();
        Ok(rule)
    }

    fn set(&mut self) -> Result<KeySet, DigitMapError> {
        self.pos += 1; // '['
        let mut set = KeySet::default();
        loop {
            match self.peek() {
                None => return self.error("missing ']'"),
                Some(']') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => {
                    let Some(single) = KeySet::single(c) else {
                        return self.error(format!("'{c}' cannot appear in a [set]"));
                    };
                    self.pos += 1;
                    if self.peek() == Some('-') && c.is_ascii_digit() {
                        self.pos += 1;
                        match self.peek() {
                            Some(end) if end.is_ascii_digit() && end >= c => {
                                for d in c..=end {
                                    set.0 |= KeySet::single(d).unwrap_or_default().0;
                                }
                                self.pos += 1;
                            }
                            _ => return self.error("bad range in [set]"),
                        }
                    } else {
                        set.0 |= single.0;
                    }
                }
            }
        }
        if set == KeySet::default() {
            return self.error("empty [set]");
        }
        Ok(set)
    }

    fn rewrite(&mut self, rule: &mut Rule) -> Result<(), DigitMapError> {
        self.pos += 1; // '<'
        let mut from = String::new();
        while let Some(c) = self.peek() {
            if c == ':' {
                break;
            }
            if KeySet::single(c).is_none() {
                return self.error(format!("'{c}' cannot appear in <from:to>"));
            }
            from.push(c);
            self.pos += 1;
        }
        if self.peek() != Some(':') {
            return self.error("expected ':' in <from:to>");
        }
        self.pos += 1;
        let mut to = String::new();
        while let Some(c) = self.peek() {
            if c == '>' {
                break;
            }
            if KeySet::single(c).is_none() {
                return self.error(format!("'{c}' cannot appear in <from:to>"));
            }
            to.push(c);
            self.pos += 1;
        }
        if self.peek() != Some('>') {
            return self.error("expected '>' closing <from:to>");
        }
        self.pos += 1;
        for c in from.chars() {
            rule.atoms.push(Atom::Key {
                set: KeySet::single(c).unwrap_or_default(),
                repeat: false,
                keep: false,
            });
        }
        if !to.is_empty() {
            rule.atoms.push(Atom::Insert(to));
        }
        Ok(())
    }
}
