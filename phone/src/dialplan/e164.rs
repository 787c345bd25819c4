//! E.164 normalisation of dialed numbers for a configured home country (the country facts
//! are `offhook-core`'s one table).
//!
//! Lenient on purpose, unlike `offhook_core::numbering::normalize` (which checks numbers typed
//! into the server's settings against each country's lengths): a number dialed in E.164 form
//! goes to Twilio as it is, and Twilio says whether it exists. A stricter check here would
//! turn a valid number that the table's lengths do not know into "Invalid" on the handset.
//!
//! `+…` is kept; the country's international prefix (`011` in NANP, `00` in most of the world)
//! becomes `+`; a national number (with its trunk prefix, `1` in NANP or `0` in GB, where the
//! country has one) gets the country code. Anything else — emergency and service numbers,
//! extensions, feature codes — is not a phone number in E.164 terms and is sent as dialed.

use serde::{Deserialize, Serialize};

pub use offhook_core::numbering::{COUNTRIES, Country, is_e164};

/// A number ready to send as the call's `To`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Normalized {
    /// `+` and 7–15 digits.
    E164(String),
    /// Not an E.164 number (short code, extension, feature code): sent exactly as dialed.
    Local(String),
}

impl Normalized {
    pub fn as_str(&self) -> &str {
        match self {
            Normalized::E164(s) | Normalized::Local(s) => s,
        }
    }
}

/// Normalises what was dialed (keys, possibly with a leading `+`) for `country`.
pub fn normalize(dialed: &str, country: &Country) -> Normalized {
    let local = || Normalized::Local(dialed.to_string());
    if dialed.is_empty() || !dialed.bytes().all(|b| b.is_ascii_digit() || b == b'+') {
        return local();
    }
    let e164 = |digits: &str| {
        let candidate = format!("+{digits}");
        if is_e164(&candidate) {
            Normalized::E164(candidate)
        } else {
            local()
        }
    };
    if let Some(rest) = dialed.strip_prefix('+') {
        return e164(rest);
    }
    if dialed.contains('+') {
        return local();
    }
    if country.emergency.contains(&dialed) {
        return local();
    }
    if let Some(rest) = dialed.strip_prefix(country.international_prefix)
        && !rest.is_empty()
    {
        return e164(rest);
    }
    let national = match country.trunk_prefix {
        None => Some(dialed),
        Some(trunk) => dialed.strip_prefix(trunk),
    };
    if let Some(national) = national
        && country.national_length_fits(national.len())
    {
        return e164(&format!("{}{national}", country.calling_code));
    }
    // NANP: ten digits without the trunk `1` are a full national number too.
    if country.calling_code == "1" && country.national_length_fits(dialed.len()) {
        return e164(&format!("1{dialed}"));
    }
    local()
}

/// How a number should look on screen for someone in `country`: national numbers in their
/// national format, foreign ones in international form.
pub fn display(number: &str, country: &Country) -> String {
    let Some(digits) = number.strip_prefix('+') else {
        return number.to_string();
    };
    if !is_e164(number) {
        return number.to_string();
    }
    if let Some(national) = digits.strip_prefix(country.calling_code) {
        if country.calling_code == "1" && national.len() == 10 {
            return format!(
                "({}) {}-{}",
                &national[..3],
                &national[3..6],
                &national[6..]
            );
        }
        if country.national_length_fits(national.len()) {
            return format!("{}{national}", country.trunk());
        }
    }
    number.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn us() -> &'static Country {
        Country::by_iso("us").expect("US is in the table")
    }
    fn gb() -> &'static Country {
        Country::by_iso("GB").expect("GB is in the table")
    }

    #[test]
    fn nanp_forms() {
        let want = Normalized::E164("+14155550100".into());
        assert_eq!(normalize("4155550100", us()), want);
        assert_eq!(normalize("14155550100", us()), want);
        assert_eq!(normalize("+14155550100", us()), want);
        assert_eq!(
            normalize("011442079460000", us()),
            Normalized::E164("+442079460000".into())
        );
        assert_eq!(normalize("911", us()), Normalized::Local("911".into()));
        assert_eq!(normalize("101", us()), Normalized::Local("101".into()));
        assert_eq!(normalize("*69", us()), Normalized::Local("*69".into()));
    }

    #[test]
    fn gb_forms() {
        assert_eq!(
            normalize("02079460000", gb()),
            Normalized::E164("+442079460000".into())
        );
        assert_eq!(
            normalize("0014155550100", gb()),
            Normalized::E164("+14155550100".into())
        );
        assert_eq!(normalize("999", gb()), Normalized::Local("999".into()));
    }

    #[test]
    fn countries_without_trunk_prefix() {
        let es = Country::by_iso("ES").expect("ES");
        assert_eq!(
            normalize("912345678", es),
            Normalized::E164("+34912345678".into())
        );
        let it = Country::by_iso("IT").expect("IT");
        assert_eq!(
            normalize("0612345678", it),
            Normalized::E164("+390612345678".into())
        );
    }

    #[test]
    fn display_national_and_foreign() {
        assert_eq!(display("+14155550100", us()), "(415) 555-0100");
        assert_eq!(display("+442079460000", gb()), "02079460000");
        assert_eq!(display("+442079460000", us()), "+442079460000");
        assert_eq!(display("client:kitchen", us()), "client:kitchen");
    }

    proptest! {
        #[test]
        fn nanp_national_numbers_normalise(area in "[2-9][0-9]{2}", exch in "[2-9][0-9]{2}", line in "[0-9]{4}") {
            let national = format!("{area}{exch}{line}");
            let want = Normalized::E164(format!("+1{national}"));
            prop_assert_eq!(normalize(&national, us()), want.clone());
            prop_assert_eq!(normalize(&format!("1{national}"), us()), want.clone());
            prop_assert_eq!(normalize(&format!("+1{national}"), us()), want);
        }

        #[test]
        fn e164_output_is_valid_and_idempotent(dialed in "\\+?[0-9]{0,18}", iso in prop::sample::select(COUNTRIES.iter().map(|c| c.iso).collect::<Vec<_>>())) {
            let country = Country::by_iso(iso).expect("from the table");
            match normalize(&dialed, country) {
                Normalized::E164(n) => {
                    prop_assert!(is_e164(&n));
                    prop_assert_eq!(normalize(&n, country), Normalized::E164(n.clone()));
                }
                Normalized::Local(s) => prop_assert_eq!(s, dialed),
            }
        }

        #[test]
        fn international_prefix_becomes_plus(rest in "[1-9][0-9]{6,13}", iso in prop::sample::select(COUNTRIES.iter().map(|c| c.iso).collect::<Vec<_>>())) {
            let country = Country::by_iso(iso).expect("from the table");
            let dialed = format!("{}{rest}", country.international_prefix);
            prop_assert_eq!(normalize(&dialed, country), Normalized::E164(format!("+{rest}")));
        }
    }
}
