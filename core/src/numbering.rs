//! Phone numbers: one table of countries (calling code, prefixes, number lengths, emergency
//! numbers), and what people type normalised to E.164 with a default country.
//!
//! Not a full numbering plan (that is libphonenumber's job): enough to turn what people
//! type on a desk phone — a national number with or without its trunk prefix, an
//! international one with `+`, `00`, `011`, … — into the `+<country><number>` form Twilio
//! dials, and to refuse what cannot be a phone number.

use std::fmt;

/// How numbers are written in one country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    /// ISO 3166-1 alpha-2 code, upper case.
    pub iso: &'static str,
    pub name: &'static str,
    /// ITU calling code, without `+`.
    pub calling_code: &'static str,
    /// What is dialled before a calling code when calling abroad from this country.
    pub international_prefix: &'static str,
    /// What is dialled before a national number and dropped in E.164 (`0` in most of
    /// Europe, `1` in North America); `None` where the leading digit belongs to the number.
    pub trunk_prefix: Option<&'static str>,
    /// The shortest and longest national significant number (the digits after the
    /// calling code, without any trunk prefix).
    pub national_digits: (usize, usize),
    /// Numbers dialed at once, whatever a digit map says.
    pub emergency: &'static [&'static str],
}

impl Country {
    /// Looks a country up by its ISO 3166-1 alpha-2 code (any case, spaces trimmed).
    pub fn by_iso(iso: &str) -> Option<&'static Country> {
        COUNTRIES
            .iter()
            .find(|c| c.iso.eq_ignore_ascii_case(iso.trim()))
    }

    /// Whether a national significant number of `len` digits can exist here.
    pub fn national_length_fits(&self, len: usize) -> bool {
        (self.national_digits.0..=self.national_digits.1).contains(&len)
    }

    /// The trunk prefix, or "" where numbers are dialed without one.
    pub fn trunk(&self) -> &'static str {
        self.trunk_prefix.unwrap_or("")
    }
}

#[rustfmt::skip]
const COUNTRIES_TABLE: &[Country] = &[
    c("US", "United States", "1", "011", Some("1"), 10, 10, &["911", "933"]),
    c("CA", "Canada", "1", "011", Some("1"), 10, 10, &["911"]),
    c("GB", "United Kingdom", "44", "00", Some("0"), 7, 10, &["999", "112"]),
    c("IE", "Ireland", "353", "00", Some("0"), 7, 10, &["999", "112"]),
    c("FR", "France", "33", "00", Some("0"), 9, 9, &["112", "15", "17", "18"]),
    c("DE", "Germany", "49", "00", Some("0"), 4, 14, &["112", "110"]),
    c("AT", "Austria", "43", "00", Some("0"), 4, 13, &["112", "133", "144"]),
    c("CH", "Switzerland", "41", "00", Some("0"), 9, 9, &["112", "117", "118", "144"]),
    c("IT", "Italy", "39", "00", None, 6, 11, &["112"]),
    c("ES", "Spain", "34", "00", None, 9, 9, &["112"]),
    c("PT", "Portugal", "351", "00", None, 9, 9, &["112"]),
    c("NL", "Netherlands", "31", "00", Some("0"), 9, 9, &["112"]),
    c("BE", "Belgium", "32", "00", Some("0"), 8, 9, &["112"]),
    c("LU", "Luxembourg", "352", "00", None, 4, 11, &["112", "113"]),
    c("DK", "Denmark", "45", "00", None, 8, 8, &["112"]),
    c("NO", "Norway", "47", "00", None, 5, 8, &["112", "110", "113"]),
    c("SE", "Sweden", "46", "00", Some("0"), 6, 12, &["112"]),
    c("FI", "Finland", "358", "00", Some("0"), 5, 12, &["112"]),
    c("IS", "Iceland", "354", "00", None, 7, 9, &["112"]),
    c("PL", "Poland", "48", "00", None, 9, 9, &["112"]),
    c("CZ", "Czechia", "420", "00", None, 9, 9, &["112", "150", "155", "158"]),
    c("SK", "Slovakia", "421", "00", Some("0"), 9, 9, &["112", "150", "155", "158"]),
    c("HU", "Hungary", "36", "00", Some("06"), 8, 9, &["112", "104", "105", "107"]),
    c("RO", "Romania", "40", "00", Some("0"), 9, 9, &["112"]),
    c("GR", "Greece", "30", "00", None, 10, 10, &["112", "100", "166", "199"]),
    c("TR", "Turkey", "90", "00", Some("0"), 10, 10, &["112"]),
    c("IL", "Israel", "972", "00", Some("0"), 8, 9, &["100", "101", "102", "112"]),
    c("UA", "Ukraine", "380", "00", Some("0"), 9, 9, &["112", "101", "102", "103"]),
    c("RU", "Russia", "7", "810", Some("8"), 10, 10, &["112", "101", "102", "103"]),
    c("IN", "India", "91", "00", Some("0"), 10, 10, &["112"]),
    c("CN", "China", "86", "00", Some("0"), 7, 12, &["110", "119", "120"]),
    c("JP", "Japan", "81", "010", Some("0"), 9, 10, &["110", "119"]),
    c("KR", "South Korea", "82", "001", Some("0"), 8, 10, &["112", "119"]),
    c("HK", "Hong Kong", "852", "001", None, 8, 8, &["999"]),
    c("SG", "Singapore", "65", "000", None, 8, 8, &["999", "995"]),
    c("AU", "Australia", "61", "0011", Some("0"), 9, 9, &["000", "112"]),
    c("NZ", "New Zealand", "64", "00", Some("0"), 8, 10, &["111"]),
    c("ZA", "South Africa", "27", "00", Some("0"), 9, 9, &["10111", "112"]),
    c("MX", "Mexico", "52", "00", None, 10, 10, &["911"]),
    c("BR", "Brazil", "55", "00", Some("0"), 10, 11, &["190", "192", "193"]),
    c("AE", "United Arab Emirates", "971", "00", Some("0"), 8, 9, &["999", "998", "997"]),
    c("PH", "Philippines", "63", "00", Some("0"), 8, 10, &["911"]),
];

/// Every country offhook knows, in one table: the handset's dial plan and screens and the
/// token server's number checks all read it.
pub const COUNTRIES: &[Country] = COUNTRIES_TABLE;

#[allow(clippy::too_many_arguments)]
const fn c(
    iso: &'static str,
    name: &'static str,
    calling_code: &'static str,
    international_prefix: &'static str,
    trunk_prefix: Option<&'static str>,
    min: usize,
    max: usize,
    emergency: &'static [&'static str],
) -> Country {
    Country {
        iso,
        name,
        calling_code,
        international_prefix,
        trunk_prefix,
        national_digits: (min, max),
        emergency,
    }
}

/// E.164 allows at most 15 digits; the shortest numbers in service have 7.
const E164_MIN_DIGITS: usize = 7;
const E164_MAX_DIGITS: usize = 15;

/// Every country offhook can use as the default, by ISO code.
pub fn supported_countries() -> impl Iterator<Item = &'static Country> {
    COUNTRIES.iter()
}

/// Looks a country up by its ISO 3166-1 alpha-2 code (any case).
pub fn country(iso: &str) -> Option<&'static Country> {
    Country::by_iso(iso)
}

/// The country an E.164 number belongs to, as far as this table knows (for `+1` that is
/// the United States, which shares its numbering plan with Canada).
pub fn country_of(number: &E164) -> Option<&'static Country> {
    let digits = &number.0[1..];
    COUNTRIES
        .iter()
        .find(|c| digits.starts_with(c.calling_code))
}

/// Whether `s` is `+` followed by 7–15 digits, the first not 0 (the form alone; no check
/// against the table).
pub fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (E164_MIN_DIGITS..=E164_MAX_DIGITS).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// A phone number in E.164 form: `+` and 7 to 15 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct E164(String);

impl E164 {
    /// Accepts only a number already written in E.164 (`+` then digits, nothing else).
    pub fn parse(s: &str) -> Result<E164, NumberError> {
        let digits = s.strip_prefix('+').ok_or(NumberError::NotE164)?;
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NumberError::NotE164);
        }
        international(digits)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("no digits")]
    Empty,
    #[error("only digits, '+' and separators ( ) - . / space may appear in a number")]
    BadCharacter,
    #[error("not a number in E.164 form (+ and digits)")]
    NotE164,
    #[error("too short to be a phone number")]
    TooShort,
    #[error("too long to be a phone number")]
    TooLong,
    #[error("a number does not start with 0 after its country code")]
    LeadingZero,
    #[error("not a valid number for its country")]
    InvalidForCountry,
}

/// Normalises what a caller typed to E.164, reading national numbers as `default`'s.
pub fn normalize(input: &str, default: &Country) -> Result<E164, NumberError> {
    // "+44 (0)20 …" writes the UK trunk prefix for national callers: it is not dialled.
    let input = input.trim().replace("(0)", "");
    let mut digits = String::with_capacity(input.len());
    let mut plus = false;
    for (i, ch) in input.chars().enumerate() {
        match ch {
            '0'..='9' => digits.push(ch),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return Err(NumberError::BadCharacter),
        }
    }
    if digits.is_empty() {
        return Err(NumberError::Empty);
    }
    if plus {
        return international(&digits);
    }
    if let Some(rest) = digits.strip_prefix(default.international_prefix) {
        return international(rest);
    }
    let mut national = digits.as_str();
    if default.calling_code == "1" {
        // North America: "1 555 …" and "555 …" are the same number.
        if national.len() == 11 {
            national = national.strip_prefix('1').unwrap_or(national);
        }
    } else if let Some(trunk) = default.trunk_prefix {
        national = national.strip_prefix(trunk).unwrap_or(national);
    }
    international(&format!("{}{}", default.calling_code, national))
}

/// Validates digits that start with a calling code (`"442079460000"`).
pub fn international(digits: &str) -> Result<E164, NumberError> {
    if digits.len() < E164_MIN_DIGITS {
        return Err(NumberError::TooShort);
    }
    if digits.len() > E164_MAX_DIGITS {
        return Err(NumberError::TooLong);
    }
    if digits.starts_with('0') {
        return Err(NumberError::LeadingZero);
    }
    if let Some(country) = COUNTRIES
        .iter()
        .find(|c| digits.starts_with(c.calling_code))
    {
        let national = &digits[country.calling_code.len()..];
        if !country.national_length_fits(national.len()) {
            return Err(NumberError::InvalidForCountry);
        }
        if country.calling_code == "1" && !valid_nanp(national) {
            return Err(NumberError::InvalidForCountry);
        }
    }
    Ok(E164(format!("+{digits}")))
}

/// North American numbers: ten digits, the area code starting with 2–9. (Exchanges
/// starting with 0 or 1 are not assigned either, but test numbers such as the seed's
/// +1 203 123 4567 use them, and Twilio answers for those itself.)
fn valid_nanp(national: &str) -> bool {
    let b = national.as_bytes();
    b.len() == 10 && (b'2'..=b'9').contains(&b[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(input: &str, iso: &str) -> Result<String, NumberError> {
        let country = country(iso).unwrap();
        normalize(input, country).map(|e| e.0)
    }

    #[test]
    fn north_american_forms() {
        for input in [
            "2031234567",
            "1 203 123 4567",
            "(203) 123-4567",
            "+1 203-123-4567",
            "203.123.4567",
        ] {
            assert_eq!(n(input, "US").as_deref(), Ok("+12031234567"), "{input}");
        }
        assert_eq!(
            n("011 44 20 7946 0000", "US").as_deref(),
            Ok("+442079460000")
        );
        assert_eq!(n("1234567890", "US"), Err(NumberError::InvalidForCountry));
        assert_eq!(n("2035551", "US"), Err(NumberError::InvalidForCountry));
    }

    #[test]
    fn european_trunk_and_international_prefixes() {
        assert_eq!(n("020 7946 0000", "GB").as_deref(), Ok("+442079460000"));
        assert_eq!(n("07381 234567", "GB").as_deref(), Ok("+447381234567"));
        assert_eq!(
            n("+44 (0)20 7946 0000", "GB").as_deref(),
            Ok("+442079460000")
        );
        assert_eq!(n("001 203 123 4567", "GB").as_deref(), Ok("+12031234567"));
        assert_eq!(n("030 1234567", "DE").as_deref(), Ok("+49301234567"));
        assert_eq!(n("01 23 45 67 89", "FR").as_deref(), Ok("+33123456789"));
        // Italy keeps its leading 0: it is part of the number.
        assert_eq!(n("06 1234 5678", "IT").as_deref(), Ok("+390612345678"));
        assert_eq!(n("06 1 234 5678", "HU").as_deref(), Ok("+3612345678"));
        assert_eq!(n("8 495 123 45 67", "RU").as_deref(), Ok("+74951234567"));
        assert_eq!(
            n("0011 1 203 123 4567", "AU").as_deref(),
            Ok("+12031234567")
        );
    }

    #[test]
    fn refuses_what_is_not_a_number() {
        assert_eq!(n("", "US"), Err(NumberError::Empty));
        assert_eq!(n("  -- ", "US"), Err(NumberError::Empty));
        assert_eq!(n("1-800-FLOWERS", "US"), Err(NumberError::BadCharacter));
        assert_eq!(n("12+34", "US"), Err(NumberError::BadCharacter));
        assert_eq!(n("client:alice", "US"), Err(NumberError::BadCharacter));
        assert_eq!(n("+123", "US"), Err(NumberError::TooShort));
        assert_eq!(n("+1234567890123456", "US"), Err(NumberError::TooLong));
        assert_eq!(n("+0441234567", "US"), Err(NumberError::LeadingZero));
        assert_eq!(n("911", "US"), Err(NumberError::TooShort));
        assert_eq!(n("+4412", "GB"), Err(NumberError::TooShort));
        assert_eq!(
            n("+33 1 23 45 67", "FR"),
            Err(NumberError::InvalidForCountry)
        );
    }

    #[test]
    fn unknown_calling_codes_get_the_general_rule() {
        assert_eq!(n("+2901234", "US").as_deref(), Ok("+2901234"));
        assert_eq!(n("00 290 1234", "DE").as_deref(), Ok("+2901234"));
    }

    #[test]
    fn e164_parse_is_strict() {
        assert_eq!(
            E164::parse("+12031234567").unwrap().as_str(),
            "+12031234567"
        );
        assert_eq!(E164::parse("12031234567"), Err(NumberError::NotE164));
        assert_eq!(E164::parse("+1 203 123 4567"), Err(NumberError::NotE164));
    }

    #[test]
    fn country_lookups() {
        assert_eq!(country("gb").unwrap().calling_code, "44");
        assert!(country("XX").is_none());
        let number = E164::parse("+447381234567").unwrap();
        assert_eq!(country_of(&number).unwrap().iso, "GB");
        let us = E164::parse("+12031234567").unwrap();
        assert_eq!(country_of(&us).unwrap().iso, "US");
    }

    #[test]
    fn table_is_consistent() {
        for c in COUNTRIES {
            assert_eq!(c.iso.len(), 2, "{}", c.iso);
            assert!(
                c.calling_code.bytes().all(|b| b.is_ascii_digit()),
                "{}",
                c.iso
            );
            assert!(c.national_digits.0 <= c.national_digits.1, "{}", c.iso);
            assert!(!c.emergency.is_empty(), "{}", c.iso);
            assert!(c.trunk().bytes().all(|b| b.is_ascii_digit()), "{}", c.iso);
            let isos = COUNTRIES.iter().filter(|o| o.iso == c.iso).count();
            assert_eq!(isos, 1, "{} twice", c.iso);
        }
        assert!(
            Country::by_iso("br").is_some(),
            "Brazil, which the handset had"
        );
        assert!(
            Country::by_iso("LU").is_some(),
            "Luxembourg, which the server had"
        );
    }

    #[test]
    fn is_e164_is_the_form_alone() {
        assert!(is_e164("+12031234567"));
        assert!(is_e164("+2901234"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("12031234567"));
        assert!(!is_e164("+123456"));
        assert!(!is_e164("+1234567890123456"));
    }

    #[test]
    fn calling_codes_are_prefix_free_across_different_plans() {
        // The first match wins in `international`, so no code may be a prefix of another
        // country's different code.
        for a in COUNTRIES {
            for b in COUNTRIES {
                if a.calling_code != b.calling_code {
                    assert!(
                        !b.calling_code.starts_with(a.calling_code),
                        "{} / {}",
                        a.iso,
                        b.iso
                    );
                }
            }
        }
    }
}
