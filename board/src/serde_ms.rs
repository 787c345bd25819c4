//! Serde helpers: durations written as whole milliseconds in profiles (`debounce_ms = 20`).
//! Values are capped at one day so that no deadline computed from them can overflow.

/// The longest duration a profile may give.
pub const MAX_MS: u64 = 86_400_000;

/// `Duration` as an integer number of milliseconds.
pub mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(|ms| Duration::from_millis(ms.min(super::MAX_MS)))
    }
}

/// `Option<Duration>` as milliseconds; `0` means "off".
pub mod opt_millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        let ms = d.map_or(0, |d| d.as_millis().try_into().unwrap_or(u64::MAX));
        s.serialize_u64(ms)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let ms = u64::deserialize(d)?.min(super::MAX_MS);
        Ok((ms > 0).then(|| Duration::from_millis(ms)))
    }
}
