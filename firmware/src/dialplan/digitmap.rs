//! Cisco / RFC 3435 digit maps: parse a map such as
//! `L:10,S:3,(911S0|[2-9]xxxxxxxxx|1[2-9]xxxxxxxxx|011x.T|<9:>xx.|[1-8]xx|1900x.!)` and classify
//! what has been dialed so far.
//!
//! Syntax, per rule (rules are separated by `|`, the whole map may be wrapped in parentheses):
//! - `0`–`9`, `*`, `#`, `+`: that key; `x`: any digit; `[2-9*]`: one key of a set (ranges allowed);
//! - `.`: zero or more of the element before it (so `xx.` is "one or more digits");
//! - `T`: the rule only completes when the inter-digit timer runs out;
//! - `S<n>` / `L<n>`: this rule's short / long inter-digit timer in seconds (`S0` = dial at once);
//! - `<from:to>`: match `from` literally and send `to` instead (`<9:>` strips a 9, `<:1408>` adds 1408);
//! - `!`: a barred rule — a full match plays reorder instead of dialing.
//!
//! A map may start with `L:<n>,` and/or `S:<n>,` to set the default long / short timers (seconds).

use std::fmt;
use std::time::Duration;

/// Why a digit map could not be parsed; `position` is a character offset into the map text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digit map: {message} at character {position}")]
pub struct DigitMapError {
    pub position: usize,
    pub message: String,
}

/// The keys a digit map can match, as a bit set.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
struct KeySet(u16);

impl KeySet {
    const ALL_DIGITS: KeySet = KeySet(0x03ff);

    fn index(c: char) -> Option<u16> {
        match c {
            '0'..='9' => Some(c as u16 - '0' as u16),
            '*' => Some(10),
            '#' => Some(11),
            '+' => Some(12),
            _ => None,
        }
    }

    fn single(c: char) -> Option<KeySet> {
        Self::index(c).map(|i| KeySet(1 << i))
    }

    fn contains(self, c: char) -> bool {
        Self::index(c).is_some_and(|i| self.0 & (1 << i) != 0)
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chars: String = "0123456789*#+"
            .chars()
            .filter(|&c| self.contains(c))
            .collect();
        write!(f, "[{chars}]")
    }
}

/// One step of a compiled rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    /// Consumes one key from `set`; `repeat` = zero or more. `keep` = the key goes into the output.
    Key {
        set: KeySet,
        repeat: bool,
        keep: bool,
    },
    /// Consumes nothing and adds text to the output (the `to` half of `<from:to>`).
    Insert(String),
}

/// One alternative of a digit map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    text: String,
    atoms: Vec<Atom>,
    short_timer: Option<Duration>,
    long_timer: Option<Duration>,
    timer_terminated: bool,
    barred: bool,
}

impl Rule {
    /// The rule as written in the map.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether a full match must be dialed without waiting (`S0`).
    fn immediate(&self) -> bool {
        self.short_timer == Some(Duration::ZERO)
    }

    /// States reachable from `from` without consuming a key.
    fn closure(&self, states: &mut [bool]) {
        for i in 0..self.atoms.len() {
            if states[i] {
                let skippable = match &self.atoms[i] {
                    Atom::Key { repeat, .. } => *repeat,
                    Atom::Insert(_) => true,
                };
                if skippable {
                    states[i + 1] = true;
                }
            }
        }
    }

    /// The NFA state set after consuming `dialed` (index `atoms.len()` = end of rule).
    fn run(&self, dialed: &str) -> Vec<bool> {
        let n = self.atoms.len();
        let mut states = vec![false; n + 1];
        states[0] = true;
        self.closure(&mut states);
        for c in dialed.chars() {
            let mut next = vec![false; n + 1];
            for (i, atom) in self.atoms.iter().enumerate() {
                if !states[i] {
                    continue;
                }
                if let Atom::Key { set, repeat, .. } = atom
                    && set.contains(c)
                {
                    next[if *repeat { i } else { i + 1 }] = true;
                }
            }
            self.closure(&mut next);
            states = next;
        }
        states
    }

    /// (full match, more keys could still lead to a match).
    fn classify(&self, dialed: &str) -> (bool, bool) {
        let states = self.run(dialed);
        let full = states.last().copied().unwrap_or(false);
        let extendable = self
            .atoms
            .iter()
            .enumerate()
            .any(|(i, atom)| states[i] && matches!(atom, Atom::Key { .. }));
        (full, extendable)
    }

    /// Whether the rule could take key `c` after `dialed`.
    fn accepts(&self, dialed: &str, c: char) -> bool {
        let states = self.run(dialed);
        self.atoms
            .iter()
            .enumerate()
            .any(|(i, atom)| states[i] && matches!(atom, Atom::Key { set, .. } if set.contains(c)))
    }

    /// The string to send for a full match of `dialed` (rewrites applied), if it matches.
    fn output(&self, dialed: &str) -> Option<String> {
        // Search (atom index, input position) pairs breadth-first, remembering how each was
        // reached, so pathological maps (`x.x.x.`) stay polynomial.
        let keys: Vec<char> = dialed.chars().collect();
        let n = self.atoms.len();
        let width = keys.len() + 1;
        // parent[state * width + pos] = (previous state, previous pos)
        let mut parent: Vec<Option<(usize, usize)>> = vec![None; (n + 1) * width];
        let mut seen = vec![false; (n + 1) * width];
        let mut queue = std::collections::VecDeque::new();
        seen[0] = true;
        queue.push_back((0usize, 0usize));
        while let Some((state, pos)) = queue.pop_front() {
            if state == n && pos == keys.len() {
                break;
            }
            let Some(atom) = self.atoms.get(state) else {
                continue;
            };
            let mut visit = |next: (usize, usize), queue: &mut std::collections::VecDeque<_>| {
                let slot = next.0 * width + next.1;
                if !seen[slot] {
                    seen[slot] = true;
                    parent[slot] = Some((state, pos));
                    queue.push_back(next);
                }
            };
            match atom {
                Atom::Insert(_) => visit((state + 1, pos), &mut queue),
                Atom::Key { set, repeat, .. } => {
                    if *repeat {
                        visit((state + 1, pos), &mut queue);
                    }
                    if let Some(&c) = keys.get(pos)
                        && set.contains(c)
                    {
                        visit(
                            (if *repeat { state } else { state + 1 }, pos + 1),
                            &mut queue,
                        );
                    }
                }
            }
        }
        if !seen[n * width + keys.len()] {
            return None;
        }
        // Walk back from the end, collecting output pieces in reverse.
        let mut pieces: Vec<String> = Vec::new();
        let (mut state, mut pos) = (n, keys.len());
        while let Some((prev_state, prev_pos)) = parent[state * width + pos] {
            match self.atoms.get(prev_state) {
                Some(Atom::Insert(text)) => pieces.push(text.clone()),
                Some(Atom::Key { keep: true, .. }) if prev_pos != pos => {
                    if let Some(c) = keys.get(prev_pos) {
                        pieces.push(c.to_string());
                    }
                }
                _ => {}
            }
            (state, pos) = (prev_state, prev_pos);
        }
        pieces.reverse();
        Some(pieces.concat())
    }
}

/// A parsed digit map with its default timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitMap {
    rules: Vec<Rule>,
    short_timer: Duration,
    long_timer: Duration,
}

/// What the keys dialed so far amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapMatch {
    /// Dial `output` now.
    Dial { output: String },
    /// A rule matches, but more keys could match a longer one: dial `output` if nothing else is
    /// pressed within `wait` (the short inter-digit timer).
    CompleteAfter { output: String, wait: Duration },
    /// Some rule could still match with more keys: wait up to `wait` (the long timer), then fail.
    Incomplete { wait: Duration },
    /// A barred rule (`!`) matched.
    Barred,
    /// No rule can match, whatever comes next.
    NoMatch,
}

impl DigitMap {
    /// The Cisco defaults: 3 s short, 10 s long inter-digit timers.
    pub const DEFAULT_SHORT_TIMER: Duration = Duration::from_secs(3);
    pub const DEFAULT_LONG_TIMER: Duration = Duration::from_secs(10);

    /// Parses a map with the default timers (a leading `L:n,`/`S:n,` overrides them).
    pub fn parse(text: &str) -> Result<DigitMap, DigitMapError> {
        Parser::new(text).map()
    }

    /// `x.T`: any digits, sent on `#` or after the short timer. (The fallback if a built-in map
    /// ever failed to parse; the tests make sure none does.)
    pub fn any_number() -> DigitMap {
        DigitMap {
            rules: vec![Rule {
                text: "x.T".into(),
                atoms: vec![Atom::Key {
                    set: KeySet::ALL_DIGITS,
                    repeat: true,
                    keep: true,
                }],
                short_timer: None,
                long_timer: None,
                timer_terminated: true,
                barred: false,
            }],
            short_timer: Self::DEFAULT_SHORT_TIMER,
            long_timer: Self::DEFAULT_LONG_TIMER,
        }
    }

    /// Overrides the default timers (rules with their own `S`/`L` keep theirs).
    pub fn with_timers(mut self, short: Duration, long: Duration) -> DigitMap {
        self.short_timer = short;
        self.long_timer = long;
        self
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn short_timer(&self) -> Duration {
        self.short_timer
    }

    pub fn long_timer(&self) -> Duration {
        self.long_timer
    }

    /// Whether some rule could take `c` as the next key after `dialed` (used to decide whether
    /// `#` is a digit of the number or the "send" key).
    pub fn accepts(&self, dialed: &str, c: char) -> bool {
        self.rules.iter().any(|rule| rule.accepts(dialed, c))
    }

    /// Classifies the keys dialed so far (Cisco rules: an `S0` match or a match no rule can extend
    /// dials at once; a match that could grow waits for the short timer; a prefix waits for the
    /// long timer; anything else is no match).
    pub fn classify(&self, dialed: &str) -> MapMatch {
        let mut first_full: Option<&Rule> = None;
        let mut first_extendable: Option<&Rule> = None;
        for rule in &self.rules {
            let (full, extendable) = rule.classify(dialed);
            if full && rule.immediate() {
                return self.complete(rule, dialed);
            }
            if full && first_full.is_none() {
                first_full = Some(rule);
            }
            if extendable && first_extendable.is_none() {
                first_extendable = Some(rule);
            }
        }
        match (first_full, first_extendable) {
            (Some(rule), None) if !rule.timer_terminated => self.complete(rule, dialed),
            (Some(rule), _) => match rule.output(dialed) {
                Some(_) if rule.barred => MapMatch::Barred,
                Some(output) => MapMatch::CompleteAfter {
                    output,
                    wait: rule.short_timer.unwrap_or(self.short_timer),
                },
                None => MapMatch::NoMatch,
            },
            (None, Some(rule)) => MapMatch::Incomplete {
                wait: rule.long_timer.unwrap_or(self.long_timer),
            },
            (None, None) => MapMatch::NoMatch,
        }
    }

    /// What to do when the user says "send" (`#` or a timeout with a complete match pending):
    /// the first fully matching rule's output, if any.
    pub fn complete_now(&self, dialed: &str) -> MapMatch {
        match self.rules.iter().find(|rule| rule.classify(dialed).0) {
            Some(rule) => self.complete(rule, dialed),
            None => MapMatch::NoMatch,
        }
    }

    fn complete(&self, rule: &Rule, dialed: &str) -> MapMatch {
        if rule.barred {
            return MapMatch::Barred;
        }
        match rule.output(dialed) {
            Some(output) => MapMatch::Dial { output },
            None => MapMatch::NoMatch,
        }
    }
}

impl std::str::FromStr for DigitMap {
    type Err = DigitMapError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DigitMap::parse(s)
    }
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    text: &'a str,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
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

    fn map(mut self) -> Result<DigitMap, DigitMapError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn map(text: &str) -> DigitMap {
        DigitMap::parse(text).expect("valid map")
    }

    const NANP: &str = "(911S0|[2-9]11S0|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|011x.T|[1-8]xx|0T)";

    #[test]
    fn ten_digit_number_dials_at_once() {
        let m = map(NANP);
        assert_eq!(
            m.classify("4155550100"),
            MapMatch::Dial {
                output: "4155550100".into()
            }
        );
        assert_eq!(
            m.classify("415555"),
            MapMatch::Incomplete {
                wait: Duration::from_secs(10)
            }
        );
    }

    #[test]
    fn emergency_s0_beats_longer_rules() {
        let m = map(NANP);
        assert_eq!(
            m.classify("911"),
            MapMatch::Dial {
                output: "911".into()
            }
        );
        assert_eq!(
            m.classify("411"),
            MapMatch::Dial {
                output: "411".into()
            }
        );
    }

    #[test]
    fn extension_waits_short_timer_because_longer_numbers_are_possible() {
        let m = map(NANP);
        assert_eq!(
            m.classify("234"),
            MapMatch::CompleteAfter {
                output: "234".into(),
                wait: Duration::from_secs(3)
            }
        );
    }

    #[test]
    fn timer_terminated_rule_waits_even_when_nothing_can_extend() {
        let m = map(NANP);
        assert_eq!(
            m.classify("0"),
            MapMatch::CompleteAfter {
                output: "0".into(),
                wait: Duration::from_secs(3)
            }
        );
        assert!(matches!(
            m.classify("01144"),
            MapMatch::CompleteAfter { .. }
        ));
    }

    #[test]
    fn no_match_is_reported_at_once() {
        let m = map(NANP);
        assert_eq!(m.classify("9*"), MapMatch::NoMatch);
        assert_eq!(m.classify("#"), MapMatch::NoMatch);
    }

    #[test]
    fn rewrites_strip_and_insert() {
        let m = map("(<9:>xxxxxxxxxx|<:1408>[2-9]xxxxxx)");
        assert_eq!(
            m.classify("94155550100"),
            MapMatch::Dial {
                output: "4155550100".into()
            }
        );
        assert_eq!(
            m.classify("5550100"),
            MapMatch::Dial {
                output: "14085550100".into()
            }
        );
    }

    #[test]
    fn barred_rule_and_rule_timers() {
        let m = map("L:15,S:6,(1900x.!|1[2-8]xxxxxxxxx|*xxS0|[1-8]xxL4)");
        assert_eq!(m.short_timer(), Duration::from_secs(6));
        assert_eq!(m.long_timer(), Duration::from_secs(15));
        assert_eq!(m.classify("19005551212"), MapMatch::Barred);
        assert_eq!(
            m.classify("*69"),
            MapMatch::Dial {
                output: "*69".into()
            }
        );
        assert_eq!(
            m.classify("2"),
            MapMatch::Incomplete {
                wait: Duration::from_secs(4)
            }
        );
    }

    #[test]
    fn pound_is_a_digit_only_where_a_rule_takes_it() {
        let m = map("(*xx#|[2-9]xxxxxxxxx)");
        assert!(m.accepts("*12", '#'));
        assert!(!m.accepts("415", '#'));
    }

    #[test]
    fn complete_now_uses_first_full_match() {
        let m = map(NANP);
        assert_eq!(
            m.complete_now("234"),
            MapMatch::Dial {
                output: "234".into()
            }
        );
        assert_eq!(m.complete_now("23"), MapMatch::NoMatch);
    }

    #[test]
    fn parse_errors_point_at_the_problem() {
        let err = DigitMap::parse("(xx|[2-").unwrap_err();
        assert_eq!(err.position, 7);
        assert!(DigitMap::parse("(.x)").is_err());
        assert!(DigitMap::parse("(xx|)").is_err());
        assert!(DigitMap::parse("(xx").is_err());
        assert!(DigitMap::parse("(x?)").is_err());
        assert!(DigitMap::parse("S:999,(x)").is_err());
    }

    #[test]
    fn pathological_repeats_stay_fast() {
        let m = map("(x.x.x.x.x.x.x.x.x.x.#)");
        let dialed = "1".repeat(32);
        assert!(matches!(m.classify(&dialed), MapMatch::Incomplete { .. }));
        assert_eq!(
            m.complete_now(&format!("{dialed}#")),
            MapMatch::Dial {
                output: format!("{dialed}#")
            }
        );
    }
}
