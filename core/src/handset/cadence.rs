//! Ring cadences: on/off patterns for the ringer (buzzer, PWM or ring tone), and the named
//! presets. The one cadence type of the workspace: the phone picks one, the board plays it.

use std::fmt;
use std::time::{Duration, Instant};

/// A repeating pattern of (on, off) segments, starting with on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cadence {
    segments: Vec<(Duration, Duration)>,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Cadence {
    /// A cadence from (on, off) pairs. An empty or all-zero pattern rings continuously.
    pub fn new(segments: Vec<(Duration, Duration)>) -> Self {
        Cadence { segments }
    }

    /// North America: 2 s on, 4 s off.
    pub fn north_america() -> Self {
        Cadence::new(vec![(ms(2000), ms(4000))])
    }

    /// UK: 0.4 s on, 0.2 s off, 0.4 s on, 2 s off.
    pub fn uk() -> Self {
        Cadence::new(vec![(ms(400), ms(200)), (ms(400), ms(2000))])
    }

    /// Most of continental Europe: 1 s on, 4 s off.
    pub fn europe() -> Self {
        Cadence::new(vec![(ms(1000), ms(4000))])
    }

    /// Two short rings: 0.8 s on, 0.4 s off, 0.8 s on, 4 s off.
    pub fn short_short() -> Self {
        Cadence::new(vec![(ms(800), ms(400)), (ms(800), ms(4000))])
    }

    /// Two short rings and a long one: 0.4/0.2, 0.4/0.2, 0.8/4 s.
    pub fn short_short_long() -> Self {
        Cadence::new(vec![
            (ms(400), ms(200)),
            (ms(400), ms(200)),
            (ms(800), ms(4000)),
        ])
    }

    /// Always on (for tests and for external bells with their own cadence).
    pub fn continuous() -> Self {
        Cadence::new(Vec::new())
    }

    /// The ring cadences one can choose by name (settings, config, profiles), in the order
    /// settings list them.
    pub fn presets() -> Vec<(&'static str, Cadence)> {
        vec![
            ("us", Cadence::north_america()),
            ("uk", Cadence::uk()),
            ("eu", Cadence::europe()),
            ("short-short", Cadence::short_short()),
            ("short-short-long", Cadence::short_short_long()),
        ]
    }

    /// A preset by name: one of [`Cadence::presets`], or `north-america`, `europe`,
    /// `continuous`.
    pub fn preset(name: &str) -> Option<Cadence> {
        match name {
            "north-america" => Some(Cadence::north_america()),
            "europe" => Some(Cadence::europe()),
            "continuous" => Some(Cadence::continuous()),
            _ => Cadence::presets()
                .into_iter()
                .find_map(|(preset, cadence)| (preset == name).then_some(cadence)),
        }
    }

    /// Parses a preset name (see [`Cadence::preset`]) or a list of milliseconds
    /// `on/off[/on/off…]`, e.g. `400/200/400/2000`.
    pub fn parse(text: &str) -> Option<Cadence> {
        if let Some(preset) = Cadence::preset(text.trim()) {
            return Some(preset);
        }
        // At most a minute per segment: cadences are seconds long, and deadlines must not overflow.
        let values: Vec<u64> = text
            .split('/')
            .map(|v| v.trim().parse().ok().filter(|ms| *ms <= 60_000))
            .collect::<Option<_>>()?;
        if !values.len().is_multiple_of(2) {
            return None;
        }
        Some(Cadence::new(
            values.chunks(2).map(|p| (ms(p[0]), ms(p[1]))).collect(),
        ))
    }

    pub fn segments(&self) -> &[(Duration, Duration)] {
        &self.segments
    }

    /// Whether it never stops (no pattern, or one of zero length).
    pub fn is_continuous(&self) -> bool {
        self.period().is_zero()
    }

    fn period(&self) -> Duration {
        self.segments.iter().map(|(a, b)| *a + *b).sum()
    }

    /// Whether the ringer sounds `elapsed` after ringing started.
    pub fn is_on(&self, elapsed: Duration) -> bool {
        let period = self.period();
        if period.is_zero() {
            return true;
        }
        let mut phase = Duration::from_nanos((elapsed.as_nanos() % period.as_nanos()) as u64);
        for (on, off) in &self.segments {
            if phase < *on {
                return true;
            }
            phase -= *on;
            if phase < *off {
                return false;
            }
            phase -= *off;
        }
        false
    }

    /// The next on/off edge strictly after `now`, for ringing that started at `since`.
    pub fn next_change(&self, since: Instant, now: Instant) -> Option<Instant> {
        let period = self.period();
        if period.is_zero() {
            return None;
        }
        let elapsed = now.saturating_duration_since(since);
        let cycles = elapsed.as_nanos() / period.as_nanos();
        let mut edge = since + Duration::from_nanos((cycles * period.as_nanos()) as u64);
        loop {
            for (on, off) in &self.segments {
                for part in [*on, *off] {
                    edge += part;
                    if edge > now && !part.is_zero() {
                        return Some(edge);
                    }
                }
            }
        }
    }
}

impl fmt::Display for Cadence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.period().is_zero() {
            return f.write_str("continuous");
        }
        let parts: Vec<String> = self
            .segments
            .iter()
            .flat_map(|(on, off)| [on.as_millis().to_string(), off.as_millis().to_string()])
            .collect();
        f.write_str(&parts.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uk_cadence_edges() {
        let c = Cadence::uk();
        assert!(c.is_on(ms(0)));
        assert!(!c.is_on(ms(450)));
        assert!(c.is_on(ms(700)));
        assert!(!c.is_on(ms(1000)));
        assert!(c.is_on(ms(3000)));
        let t0 = Instant::now();
        assert_eq!(c.next_change(t0, t0), Some(t0 + ms(400)));
        assert_eq!(c.next_change(t0, t0 + ms(400)), Some(t0 + ms(600)));
        assert_eq!(c.next_change(t0, t0 + ms(2999)), Some(t0 + ms(3000)));
        assert_eq!(c.next_change(t0, t0 + ms(3000)), Some(t0 + ms(3400)));
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(Cadence::parse("uk"), Some(Cadence::uk()));
        let c = Cadence::parse("400/200/400/2000").unwrap();
        assert_eq!(c, Cadence::uk());
        assert_eq!(c.to_string(), "400/200/400/2000");
        assert_eq!(Cadence::parse("400/200/400"), None);
        assert_eq!(Cadence::parse("us"), Some(Cadence::north_america()));
        assert_eq!(
            Cadence::parse("800/400/800/4000"),
            Cadence::preset("short-short")
        );
        assert_eq!(
            Cadence::parse("61000/1000"),
            None,
            "a minute per segment at most"
        );
        assert!(Cadence::parse("0/0").is_some_and(|c| c.is_continuous()));
        for (name, cadence) in Cadence::presets() {
            assert_eq!(Cadence::parse(name), Some(cadence.clone()), "{name}");
            assert_eq!(
                Cadence::parse(&cadence.to_string()),
                Some(cadence),
                "{name}"
            );
        }
        assert_eq!(Cadence::continuous().to_string(), "continuous");
        assert!(Cadence::continuous().is_on(ms(123_456)));
        assert_eq!(
            Cadence::continuous().next_change(Instant::now(), Instant::now()),
            None
        );
    }
}
