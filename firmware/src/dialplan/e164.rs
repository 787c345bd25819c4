//! E.164 normalisation of dialed numbers for a configured home country.
//!
//! `+…` is kept; the country's international prefix (`011` in NANP, `00` in most of the world)
//! becomes `+`; a national number (with its trunk prefix, `1` in NANP or `0` in GB, where the
//! country has one) gets the country code. Anything else — emergency and service numbers,
//! extensions, feature codes — is not a phone number in E.164 terms and is sent as dialed.

use serde::{Deserialize, Serialize};

/// Dialing facts for one country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166-1 alpha-2, upper case.
    pub iso: &'static str,
    pub name: &'static str,
    /// Country calling code without `+`.
    pub calling_code: &'static str,
    /// Dialed before a country code (`011`, `00`, `0011`, …).
    pub international_prefix: &'static str,
    /// Dialed before a national number (`1`, `0`), or empty where numbers are dialed as is.
    pub trunk_prefix: &'static str,
    /// Lengths of national significant numbers (without trunk prefix).
    pub national_lengths: &'static [usize],
    /// Numbers dialed at once, whatever the digit map says.
    pub emergency: &'static [&'static str],
}

macro_rules! countries {
    ($($iso:literal $name:literal $cc:literal $intl:literal $trunk:literal [$($len:literal),*] [$($sos:literal),*];)*) => {
        /// The countries the phone knows how to normalise numbers for.
        pub const COUNTRIES: &[Country] = &[$(Country {
            iso: $iso, name: $name, calling_code: $cc, international_prefix: $intl,
            trunk_prefix: $trunk, national_lengths: &[$($len),*], emergency: &[$($sos),*],
        }),*];
    };
}

countries! {
    "US" "United States" "1" "011" "1" [10] ["911", "933"];
    "CA" "Canada" "1" "011" "1" [10] ["911"];
    "GB" "United Kingdom" "44" "00" "0" [9, 10] ["999", "112"];
    "IE" "Ireland" "353" "00" "0" [7, 8, 9] ["999", "112"];
    "DE" "Germany" "49" "00" "0" [6, 7, 8, 9, 10, 11] ["112", "110"];
    "FR" "France" "33" "00" "0" [9] ["112", "15", "17", "18"];
    "NL" "Netherlands" "31" "00" "0" [9] ["112"];
    "BE" "Belgium" "32" "00" "0" [8, 9] ["112"];
    "CH" "Switzerland" "41" "00" "0" [9] ["112", "117", "118", "144"];
    "AT" "Austria" "43" "00" "0" [6, 7, 8, 9, 10, 11, 12, 13] ["112", "133", "144"];
    "IT" "Italy" "39" "00" "" [6, 7, 8, 9, 10, 11] ["112"];
    "ES" "Spain" "34" "00" "" [9] ["112"];
    "PT" "Portugal" "351" "00" "" [9] ["112"];
    "DK" "Denmark" "45" "00" "" [8] ["112"];
    "NO" "Norway" "47" "00" "" [8] ["112", "110", "113"];
    "SE" "Sweden" "46" "00" "0" [7, 8, 9] ["112"];
    "FI" "Finland" "358" "00" "0" [5, 6, 7, 8, 9, 10] ["112"];
    "PL" "Poland" "48" "00" "" [9] ["112"];
    "AU" "Australia" "61" "0011" "0" [9] ["000", "112"];
    "NZ" "New Zealand" "64" "00" "0" [8, 9, 10] ["111"];
    "IN" "India" "91" "00" "0" [10] ["112"];
    "JP" "Japan" "81" "010" "0" [9, 10] ["110", "119"];
    "SG" "Singapore" "65" "000" "" [8] ["999", "995"];
    "HK" "Hong Kong" "852" "001" "" [8] ["999"];
    "ZA" "South Africa" "27" "00" "0" [9] ["10111", "112"];
    "MX" "Mexico" "52" "00" "" [10] ["911"];
    "BR" "Brazil" "55" "00" "0" [10, 11] ["190", "192", "193"];
}

impl Country {
    /// Looks a country up by ISO code (case-insensitive).
    pub fn by_iso(iso: &str) -> Option<&'static Country> {
        COUNTRIES.iter().find(|c| c.iso.eq_ignore_ascii_case(iso))
    }
}

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

/// Whether `s` is `+` followed by 7–15 digits, the first not 0.
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
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
    let national = if country.trunk_prefix.is_empty() {
        Some(dialed)
    } else {
        dialed.strip_prefix(country.trunk_prefix)
    };
    if let Some(national) = national
        && country.national_lengths.contains(&national.len())
    {
        return e164(&format!("{}{national}", country.calling_code));
    }
    // NANP: ten digits without the trunk `1` are a full national number too.
    if country.calling_code == "1" && country.national_lengths.contains(&dialed.len()) {
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
        if country.national_lengths.contains(&national.len()) {
            return format!("{}{national}", country.trunk_prefix);
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

    #[test]
    fn country_table_is_consistent() {
        for c in COUNTRIES {
            assert_eq!(c.iso.len(), 2, "{}", c.iso);
            assert!(c.calling_code.bytes().all(|b| b.is_ascii_digit()));
            assert!(!c.national_lengths.is_empty());
            assert!(!c.emergency.is_empty());
        }
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
