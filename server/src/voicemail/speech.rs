//! What the menu says: counts, callers and dates as `<Say>` reads them well.

use time::OffsetDateTime;
use time::macros::format_description;

use crate::phone::E164;
use crate::store::UnixSeconds;

/// "You have 2 new and 1 saved messages."
pub fn counts(new: u32, saved: u32) -> String {
    format!("You have {new} new and {saved} saved messages.")
}

/// A caller as spoken: a number digit by digit ("+1 2 0 2 5 5 5 …", which `<Say>` reads one
/// digit at a time instead of as billions), anything else as an unknown caller.
pub fn caller(caller: &str) -> String {
    match E164::parse(caller) {
        Ok(number) => {
            let digits: Vec<String> = number
                .as_str()
                .trim_start_matches('+')
                .chars()
                .map(String::from)
                .collect();
            format!("+{}", digits.join(" "))
        }
        Err(_) => "an unknown caller".into(),
    }
}

/// "November 21 at 12:05 PM UTC" (the server knows no local time zone).
pub fn date(at: UnixSeconds) -> String {
    let format = format_description!(
        "[month repr:long] [day padding:none] at [hour repr:12 padding:none]:[minute] [period] UTC"
    );
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| "at an unknown time".into())
}

/// "Message from +1 2 0 2 … received November 21 at 12:05 PM UTC."
pub fn message_header(caller_text: &str, at: UnixSeconds) -> String {
    format!(
        "Message from {}, received {}.",
        caller(caller_text),
        date(at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spoken_forms() {
        assert_eq!(counts(1, 0), "You have 1 new and 0 saved messages.");
        assert_eq!(counts(2, 3), "You have 2 new and 3 saved messages.");
        assert_eq!(counts(0, 0), "You have 0 new and 0 saved messages.");
        assert_eq!(caller("+12025550123"), "+1 2 0 2 5 5 5 0 1 2 3");
        for unknown in ["anonymous", "", "client:desk", "+0"] {
            assert_eq!(caller(unknown), "an unknown caller");
        }
        // 2026-11-21T12:05:00Z
        assert_eq!(date(1_795_262_700), "November 21 at 12:05 PM UTC");
        assert_eq!(date(1_795_219_200), "November 21 at 12:00 AM UTC");
        assert_eq!(date(i64::MAX), "at an unknown time");
        assert_eq!(
            message_header("+12025550123", 1_795_262_700),
            "Message from +1 2 0 2 5 5 5 0 1 2 3, received November 21 at 12:05 PM UTC."
        );
    }
}
