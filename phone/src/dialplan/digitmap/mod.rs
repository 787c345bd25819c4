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

mod parse;

use parse::Parser;

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

#[cfg(test)]
mod tests;
