//! Durations that come from the network (signaling `retryAfter`, `connected.token.ttl`, HTTP
//! `Retry-After`, a token server's `ttl`), made safe: the one place where a number a server
//! sent becomes a [`Duration`] or an [`Instant`].
//!
//! A server can send anything: `1e20`, `-1`, `NaN` (as a string), `"30"`, `u64::MAX`.
//! `Duration::from_secs_f64` panics on some of those and `Instant + Duration` panics on
//! overflow, and a panic in the Device task leaves a phone that looks alive and never
//! reconnects. So every such value goes through these functions:
//!
//! - a finite, non-negative number of seconds becomes a `Duration`, capped at `max`;
//! - NaN, infinities, negative numbers and anything that is not a number (strings included)
//!   give `None`: the caller falls back to its own default;
//! - deadlines are computed with checked arithmetic ([`deadline_after`]).

use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest `retryAfter` a signaling server may impose on the Device.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The longest lifetime an Access Token can have (Twilio's limit is 24 hours).
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// `secs` seconds, capped at `max`; `None` for NaN, infinities and negative numbers.
pub fn network_duration(secs: f64, max: Duration) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    if secs >= max.as_secs_f64() {
        return Some(max);
    }
    // Finite, non-negative and below `max`: cannot panic.
    Some(Duration::from_secs_f64(secs))
}

/// A JSON value of seconds: numbers only (a string such as `"30"` is not a number of
/// seconds), through [`network_duration`].
pub fn network_duration_json(value: &Value, max: Duration) -> Option<Duration> {
    value.as_f64().and_then(|secs| network_duration(secs, max))
}

/// Whole seconds (an integer field such as a token response's `ttl`), capped at `max`.
pub fn network_duration_secs(secs: u64, max: Duration) -> Duration {
    Duration::from_secs(secs).min(max)
}

/// An HTTP `Retry-After` header in its delay-seconds form (`"120"`), capped at `max`. The
/// HTTP-date form and anything else give `None`.
pub fn network_duration_header(value: &str, max: Duration) -> Option<Duration> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: only too many of them fails to parse, and that is "huge".
    Some(
        digits
            .parse::<u64>()
            .map_or(max, |secs| network_duration_secs(secs, max)),
    )
}

/// `now + after` without overflowing: an instant past the clock's range becomes the latest
/// one reachable by halving `after` (in practice never, as `after` is capped).
pub fn deadline_after(now: Instant, after: Duration) -> Instant {
    let mut after = after;
    loop {
        if let Some(at) = now.checked_add(after) {
            return at;
        }
        after /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MAX: Duration = Duration::from_secs(60);

    #[test]
    fn absurd_seconds_are_capped_or_refused() {
        assert_eq!(network_duration(1e20, MAX), Some(MAX));
        assert_eq!(network_duration(f64::MAX, MAX), Some(MAX));
        assert_eq!(network_duration(u64::MAX as f64, MAX), Some(MAX));
        assert_eq!(network_duration(-1.0, MAX), None);
        assert_eq!(network_duration(-0.0, MAX), Some(Duration::ZERO));
        assert_eq!(network_duration(f64::NAN, MAX), None);
        assert_eq!(network_duration(f64::INFINITY, MAX), None);
        assert_eq!(network_duration(f64::NEG_INFINITY, MAX), None);
        assert_eq!(network_duration(0.0, MAX), Some(Duration::ZERO));
        assert_eq!(network_duration(0.5, MAX), Some(Duration::from_millis(500)));
        assert_eq!(network_duration(30.0, MAX), Some(Duration::from_secs(30)));
        assert_eq!(network_duration(60.0, MAX), Some(MAX));
    }

    #[test]
    fn json_values_must_be_numbers() {
        let max = MAX;
        assert_eq!(network_duration_json(&json!(1e20), max), Some(max));
        assert_eq!(network_duration_json(&json!(u64::MAX), max), Some(max));
        assert_eq!(network_duration_json(&json!(-1), max), None);
        assert_eq!(network_duration_json(&json!("30"), max), None);
        assert_eq!(network_duration_json(&json!("NaN"), max), None);
        assert_eq!(network_duration_json(&json!(null), max), None);
        assert_eq!(network_duration_json(&json!([30]), max), None);
        assert_eq!(network_duration_json(&json!(0), max), Some(Duration::ZERO));
        assert_eq!(
            network_duration_json(&json!(0.5), max),
            Some(Duration::from_millis(500))
        );
        // serde_json reads `1e400` as no number at all.
        assert!(serde_json::from_str::<Value>("1e400").is_err());
    }

    #[test]
    fn whole_seconds_are_capped() {
        assert_eq!(network_duration_secs(u64::MAX, MAX), MAX);
        assert_eq!(network_duration_secs(0, MAX), Duration::ZERO);
        assert_eq!(network_duration_secs(30, MAX), Duration::from_secs(30));
    }

    #[test]
    fn retry_after_headers_in_seconds_only() {
        assert_eq!(
            network_duration_header("30", MAX),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            network_duration_header(" 7 ", MAX),
            Some(Duration::from_secs(7))
        );
        assert_eq!(network_duration_header("0", MAX), Some(Duration::ZERO));
        assert_eq!(
            network_duration_header(&u64::MAX.to_string(), MAX),
            Some(MAX)
        );
        assert_eq!(
            network_duration_header("99999999999999999999999999", MAX),
            Some(MAX)
        );
        assert_eq!(network_duration_header("1e20", MAX), None);
        assert_eq!(network_duration_header("-1", MAX), None);
        assert_eq!(network_duration_header("0.5", MAX), None);
        assert_eq!(network_duration_header("NaN", MAX), None);
        assert_eq!(network_duration_header("", MAX), None);
        assert_eq!(
            network_duration_header("Wed, 21 Oct 2015 07:28:00 GMT", MAX),
            None
        );
    }

    #[test]
    fn deadlines_never_overflow() {
        let now = Instant::now();
        assert_eq!(deadline_after(now, MAX), now + MAX);
        let far = deadline_after(now, Duration::MAX);
        assert!(far > now + MAX);
    }
}
