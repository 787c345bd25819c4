//! Wall-clock time without a real-time clock: the glue tells the phone the time once it is
//! known (NTP), and the phone carries it forward with the monotonic clock.

use std::time::{Duration, Instant};

/// A wall-clock reading tied to a monotonic instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    unix_secs: i64,
    utc_offset_secs: i32,
    at: Instant,
}

/// A local date and time, broken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    /// 0 = Monday.
    pub weekday: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl WallClock {
    pub fn new(unix_secs: i64, utc_offset_secs: i32, at: Instant) -> WallClock {
        WallClock {
            unix_secs,
            utc_offset_secs,
            at,
        }
    }

    /// Seconds since 1970 UTC at `now`.
    pub fn unix_at(&self, now: Instant) -> i64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs();
        self.unix_secs
            .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }

    pub fn utc_offset_secs(&self) -> i32 {
        self.utc_offset_secs
    }

    pub fn local_at(&self, now: Instant) -> LocalTime {
        local_time(self.unix_at(now), self.utc_offset_secs)
    }

    /// The next instant at which the minute changes (for redrawing the status-bar clock).
    pub fn next_minute(&self, now: Instant) -> Instant {
        let secs_into_minute = (self.unix_at(now) + i64::from(self.utc_offset_secs)).rem_euclid(60);
        let sub = now.saturating_duration_since(self.at).subsec_nanos();
        now + Duration::from_secs((60 - secs_into_minute) as u64)
            - Duration::from_nanos(u64::from(sub))
    }
}

/// Breaks `unix_secs` + offset into a civil date (proleptic Gregorian; Hinnant's algorithm).
pub fn local_time(unix_secs: i64, utc_offset_secs: i32) -> LocalTime {
    // Saturating: a time from the network may be anything.
    let t = unix_secs.saturating_add(i64::from(utc_offset_secs));
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400) as u32;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    LocalTime {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs / 60 % 60,
        second: secs % 60,
        // 1970-01-01 was a Thursday (3).
        weekday: (days + 3).rem_euclid(7) as u32,
    }
}

impl LocalTime {
    /// `14:05`
    pub fn hh_mm(&self) -> String {
        format!("{:02}:{:02}", self.hour, self.minute)
    }

    /// `21 Nov`
    pub fn day_month(&self) -> String {
        let month = MONTHS
            .get(self.month.saturating_sub(1) as usize)
            .unwrap_or(&"???");
        format!("{} {month}", self.day)
    }

    /// `Fri`
    pub fn weekday_name(&self) -> &'static str {
        WEEKDAYS
            .get(self.weekday as usize)
            .copied()
            .unwrap_or("???")
    }
}

/// `1:05` or `1:02:03` for a call duration.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        let t = local_time(0, 0);
        assert_eq!((t.year, t.month, t.day, t.weekday), (1970, 1, 1, 3));
        // 2026-11-21 14:05:09 UTC is a Saturday.
        let t = local_time(1_795_269_909, 0);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2026, 11, 21, 14, 5, 9)
        );
        assert_eq!(t.weekday_name(), "Sat");
        assert_eq!(t.hh_mm(), "14:05");
        assert_eq!(t.day_month(), "21 Nov");
        // Offsets cross midnight.
        let t = local_time(1_795_269_909, 11 * 3600);
        assert_eq!((t.day, t.hour), (22, 1));
        let t = local_time(-1, 0);
        assert_eq!((t.year, t.month, t.day, t.hour), (1969, 12, 31, 23));
    }

    #[test]
    fn any_time_from_the_network_has_a_date() {
        // A voicemail's `received_at` comes from the server: no overflow at the extremes.
        for (unix, offset) in [(i64::MIN, -3600), (i64::MAX, 3600), (i64::MIN, 0)] {
            let t = local_time(unix, offset);
            assert!((1..=12).contains(&t.month) && (1..=31).contains(&t.day));
            let _ = (t.hh_mm(), t.day_month());
        }
    }

    #[test]
    fn wall_clock_moves_with_monotonic_time() {
        let start = Instant::now();
        let clock = WallClock::new(1_795_269_909, 0, start);
        let later = start + Duration::from_secs(51);
        assert_eq!(clock.local_at(later).hh_mm(), "14:06");
        assert_eq!(clock.next_minute(start), start + Duration::from_secs(51));
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_secs(65)), "1:05");
        assert_eq!(format_duration(Duration::from_secs(3723)), "1:02:03");
    }
}
