//! From keys pressed to a number to call: digit maps, emergency numbers, `+`, speed dials,
//! extensions and E.164 normalisation.

pub mod digitmap;
pub mod directory;
pub mod e164;

use std::collections::BTreeMap;
use std::time::Duration;

pub use digitmap::{DigitMap, DigitMapError, MapMatch};
pub use directory::{Contact, Directory};
pub use e164::{Country, Normalized};

/// The default digit map for a country: emergency numbers come from the country table and are
/// matched before the map, so they are not repeated here.
pub fn default_digit_map(country: &Country) -> &'static str {
    match country.calling_code {
        // NANP: N11 service codes, 1 + 10 digits, 10 digits, 011 international, 0 operator.
        "1" => "(+x.T|[2-9]11S0|1[2-9]xx[2-9]xxxxxx|[2-9]xx[2-9]xxxxxx|011x.T|0T)",
        "44" => "(+x.T|00x.T|0[1-9]xxxxxxxxx|0[1-9]xxxxxxxxT|1xxT|[2-9]xxxxx.T)",
        _ => "(+x.T|00x.T|0x.T|[1-9]x.T)",
    }
}

/// How the voicemail code is named on screen and in the history.
pub const VOICEMAIL_NAME: &str = "Voicemail";

/// What the phone should do after a key or a timer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialDecision {
    /// Call this (the digit map's output: rewrites applied, not yet normalised).
    Dial(String),
    /// Keep collecting; decide again after `wait` without a key.
    Wait(Duration),
    /// The keys cannot make a valid number: play reorder.
    Invalid,
    /// The number is barred by the dial plan: play reorder.
    Barred,
}

/// Where a call goes and how to show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The call's `To` parameter: E.164, `client:<identity>` or a short code as dialed.
    pub to: String,
    /// The contact's name, if the directory knows the number.
    pub name: Option<String>,
}

/// The whole dial plan of one handset.
#[derive(Debug, Clone, PartialEq)]
pub struct DialPlan {
    map: DigitMap,
    country: &'static Country,
    emergency: Vec<String>,
    speed_dials: BTreeMap<u8, String>,
    directory: Directory,
    /// The voicemail access code (offhook-server answers it with the mailbox menu), dialed
    /// like an emergency number: at once, whatever the digit map says.
    voicemail: Option<String>,
    /// The key whose long press calls voicemail (it wins over a speed dial on that key).
    voicemail_key: Option<u8>,
}

impl DialPlan {
    pub fn new(
        map: DigitMap,
        country: &'static Country,
        extra_emergency: &[String],
        speed_dials: BTreeMap<u8, String>,
        directory: Directory,
    ) -> DialPlan {
        let mut emergency: Vec<String> = country.emergency.iter().map(|s| s.to_string()).collect();
        for number in extra_emergency {
            if !emergency.contains(number) {
                emergency.push(number.clone());
            }
        }
        DialPlan {
            map,
            country,
            emergency,
            speed_dials,
            directory,
            voicemail: None,
            voicemail_key: None,
        }
    }

    /// The same plan with a voicemail access code (e.g. `*97`; empty = none) and the key
    /// (1–9) whose long press dials it.
    pub fn with_voicemail(mut self, code: Option<String>, long_press: Option<u8>) -> DialPlan {
        self.voicemail = code.filter(|c| !c.is_empty());
        self.voicemail_key = long_press.filter(|k| (1..=9).contains(k));
        self
    }

    /// The voicemail access code, if there is one.
    pub fn voicemail(&self) -> Option<&str> {
        self.voicemail.as_deref()
    }

    /// The key whose long press calls voicemail (only when there is a code to call).
    pub fn voicemail_key(&self) -> Option<u8> {
        self.voicemail_key.filter(|_| self.voicemail.is_some())
    }

    /// Whether `dialed` is the start (not the whole) of the voicemail code.
    fn voicemail_prefix(&self, dialed: &str) -> bool {
        self.voicemail
            .as_deref()
            .is_some_and(|code| code.len() > dialed.len() && code.starts_with(dialed))
    }

    /// The country's default map, emergency numbers and no speed dials or contacts.
    pub fn for_country(country: &'static Country) -> DialPlan {
        let map =
            DigitMap::parse(default_digit_map(country)).unwrap_or_else(|_| DigitMap::any_number());
        DialPlan::new(map, country, &[], BTreeMap::new(), Directory::default())
    }

    pub fn country(&self) -> &'static Country {
        self.country
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn digit_map(&self) -> &DigitMap {
        &self.map
    }

    pub fn is_emergency(&self, dialed: &str) -> bool {
        self.emergency.iter().any(|e| e == dialed)
    }

    /// The number stored for speed dial `slot` (1–9).
    pub fn speed_dial(&self, slot: u8) -> Option<&str> {
        self.speed_dials.get(&slot).map(String::as_str)
    }

    /// What the first key means: `*` is `+` unless the map has rules starting with `*`
    /// (feature codes) or the voicemail code starts with it, in which case it stays `*` (a
    /// long-pressed `0` always gives `+`). See [`DialPlan::star_as_plus`] for the rest.
    pub fn first_key(&self, key: char) -> char {
        if key == '*' && !self.map.accepts("", '*') && !self.voicemail_prefix("") {
            '+'
        } else {
            key
        }
    }

    /// A leading `*` kept only because the voicemail code starts with it becomes `+` once
    /// the keys can no longer make that code (`*4420…` dials `+4420…`, `*97` calls
    /// voicemail). `None`: leave `dialed` as it is.
    pub fn star_as_plus(&self, dialed: &str) -> Option<String> {
        let rest = dialed.strip_prefix('*')?;
        if self.map.accepts("", '*')
            || self.voicemail_prefix(dialed)
            || self.voicemail() == Some(dialed)
        {
            return None;
        }
        Some(format!("+{rest}"))
    }

    /// Whether `#` after `dialed` is part of the number (a rule takes it) rather than "send".
    pub fn pound_is_digit(&self, dialed: &str) -> bool {
        self.map.accepts(dialed, '#')
    }

    /// Decides after a key was added to `dialed`.
    pub fn after_key(&self, dialed: &str) -> DialDecision {
        if self.is_emergency(dialed) || self.voicemail() == Some(dialed) {
            return DialDecision::Dial(dialed.to_string());
        }
        // Directory extensions and the voicemail code act as extra rules: they complete when
        // unambiguous.
        let longer_extension = self.voicemail_prefix(dialed)
            || self.directory.contacts().iter().any(|c| {
                c.extension
                    .as_deref()
                    .is_some_and(|e| e.len() > dialed.len() && e.starts_with(dialed))
            });
        let map = self.map.classify(dialed);
        if self.directory.by_extension(dialed).is_some() {
            return match map {
                MapMatch::Incomplete { .. } | MapMatch::CompleteAfter { .. } => {
                    DialDecision::Wait(self.map.short_timer())
                }
                _ if longer_extension => DialDecision::Wait(self.map.short_timer()),
                _ => DialDecision::Dial(dialed.to_string()),
            };
        }
        match map {
            MapMatch::Dial { output } => DialDecision::Dial(output),
            MapMatch::CompleteAfter { wait, .. } | MapMatch::Incomplete { wait } => {
                DialDecision::Wait(wait)
            }
            MapMatch::Barred => DialDecision::Barred,
            MapMatch::NoMatch if longer_extension => DialDecision::Wait(self.map.long_timer()),
            MapMatch::NoMatch => DialDecision::Invalid,
        }
    }

    /// Decides when the inter-digit timer ran out, or `#` ("send") was pressed.
    pub fn send_now(&self, dialed: &str) -> DialDecision {
        if self.is_emergency(dialed)
            || self.voicemail() == Some(dialed)
            || self.directory.by_extension(dialed).is_some()
        {
            return DialDecision::Dial(dialed.to_string());
        }
        match self.map.complete_now(dialed) {
            MapMatch::Dial { output } => DialDecision::Dial(output),
            MapMatch::Barred => DialDecision::Barred,
            _ => DialDecision::Invalid,
        }
    }

    /// Turns a dial-plan output (or a stored number: redial, speed dial, history) into the
    /// call's destination. Handsets are called by extension (offhook-server resolves it);
    /// phone numbers go out in E.164 where they can.
    pub fn destination(&self, number: &str) -> Destination {
        if self.voicemail() == Some(number) {
            return Destination {
                to: number.to_string(),
                name: Some(VOICEMAIL_NAME.to_string()),
            };
        }
        if let Some(contact) = self.directory.by_extension(number) {
            return Destination {
                to: number.to_string(),
                name: Some(contact.name.clone()),
            };
        }
        let to = directory::canonical_number(number, self.country);
        match self.directory.lookup(&to, self.country) {
            Some(contact) => Destination {
                // A handset's `client:` identity is not callable from here; its extension is.
                to: match (&contact.extension, to.starts_with("client:")) {
                    (Some(extension), true) => extension.clone(),
                    _ => to,
                },
                name: Some(contact.name.clone()),
            },
            None => Destination { to, name: None },
        }
    }

    /// A number as the screen shows it (national format for home numbers).
    pub fn display_number(&self, number: &str) -> String {
        e164::display(number, self.country)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn us_plan() -> DialPlan {
        let us = Country::by_iso("US").expect("US");
        let directory = Directory::new(
            vec![Contact {
                name: "Kitchen".into(),
                number: "client:kitchen".into(),
                extension: Some("101".into()),
            }],
            us,
        );
        let mut speed = BTreeMap::new();
        speed.insert(2, "+14155550100".to_string());
        let map = DigitMap::parse(default_digit_map(us)).expect("default map parses");
        DialPlan::new(map, us, &[], speed, directory)
    }

    #[test]
    fn default_maps_parse() {
        for c in e164::COUNTRIES {
            DigitMap::parse(default_digit_map(c)).expect("default map parses");
        }
    }

    #[test]
    fn emergency_bypasses_timers() {
        let plan = us_plan();
        assert_eq!(plan.after_key("911"), DialDecision::Dial("911".into()));
        let gb = DialPlan::for_country(Country::by_iso("GB").expect("GB"));
        assert_eq!(gb.after_key("999"), DialDecision::Dial("999".into()));
        assert_eq!(gb.after_key("112"), DialDecision::Dial("112".into()));
    }

    #[test]
    fn extensions_resolve_to_handsets() {
        let plan = us_plan();
        assert_eq!(
            plan.after_key("101"),
            DialDecision::Dial("101".into()),
            "no rule can extend 101, so it dials at once"
        );
        let dest = plan.destination("101");
        assert_eq!(dest.to, "101", "offhook-server resolves extensions");
        assert_eq!(dest.name.as_deref(), Some("Kitchen"));
        assert_eq!(plan.destination("client:kitchen").to, "101");
        // Prefixes of an extension wait instead of failing.
        assert_eq!(
            plan.after_key("10"),
            DialDecision::Wait(Duration::from_secs(10))
        );
    }

    #[test]
    fn star_is_plus_unless_feature_codes_exist() {
        let plan = us_plan();
        assert_eq!(plan.first_key('*'), '+');
        let us = Country::by_iso("US").expect("US");
        let with_codes = DialPlan::new(
            DigitMap::parse("(*xx|[2-9]xxxxxxxxx)").expect("map"),
            us,
            &[],
            BTreeMap::new(),
            Directory::default(),
        );
        assert_eq!(with_codes.first_key('*'), '*');
    }

    #[test]
    fn the_voicemail_code_dials_at_once_and_a_stray_star_is_still_plus() {
        let plan = us_plan().with_voicemail(Some("*97".into()), Some(1));
        assert_eq!(plan.first_key('*'), '*');
        assert!(matches!(plan.after_key("*"), DialDecision::Wait(_)));
        assert!(matches!(plan.after_key("*9"), DialDecision::Wait(_)));
        assert_eq!(plan.after_key("*97"), DialDecision::Dial("*97".into()));
        assert_eq!(plan.send_now("*97"), DialDecision::Dial("*97".into()));
        assert_eq!(plan.star_as_plus("*9"), None);
        assert_eq!(plan.star_as_plus("*97"), None);
        assert_eq!(plan.star_as_plus("*4"), Some("+4".into()));
        assert_eq!(plan.star_as_plus("*98"), Some("+98".into()));
        assert_eq!(plan.star_as_plus("44*"), None);
        let dest = plan.destination("*97");
        assert_eq!(
            (dest.to.as_str(), dest.name.as_deref()),
            ("*97", Some("Voicemail"))
        );
        assert_eq!(plan.voicemail_key(), Some(1));
        // No code: no key either, and `*` is `+` from the start.
        let none = us_plan().with_voicemail(None, Some(1));
        assert_eq!((none.voicemail(), none.voicemail_key()), (None, None));
        assert_eq!(none.first_key('*'), '+');
        assert_eq!(
            us_plan()
                .with_voicemail(Some("*97".into()), Some(0))
                .voicemail_key(),
            None,
            "0 is no key"
        );
    }

    #[test]
    fn destinations_are_e164() {
        let plan = us_plan();
        assert_eq!(plan.destination("4155550100").to, "+14155550100");
        assert_eq!(plan.destination("+442079460000").to, "+442079460000");
        assert_eq!(plan.speed_dial(2), Some("+14155550100"));
    }

    #[test]
    fn international_number_completes_on_timer_or_send() {
        let plan = us_plan();
        assert_eq!(
            plan.after_key("011442079460000"),
            DialDecision::Wait(Duration::from_secs(3))
        );
        assert_eq!(
            plan.send_now("011442079460000"),
            DialDecision::Dial("011442079460000".into())
        );
        assert_eq!(plan.send_now("415"), DialDecision::Invalid);
    }

    proptest! {
        /// Every prefix of a valid NANP number keeps the phone waiting with the long timer, and
        /// the full number dials at once with the right E.164 destination.
        #[test]
        fn nanp_numbers_dial_when_complete(number in "[2-9][0-9]{2}[2-9][0-9]{6}", with_one in any::<bool>()) {
            let plan = us_plan();
            let dialed = if with_one { format!("1{number}") } else { number.clone() };
            for end in 1..dialed.len() {
                let prefix = &dialed[..end];
                if plan.is_emergency(prefix) || prefix.len() == 3 && prefix.ends_with("11") && !with_one {
                    continue;
                }
                let decision = plan.after_key(prefix);
                prop_assert!(matches!(decision, DialDecision::Wait(_)), "{prefix}: {decision:?}");
            }
            match plan.after_key(&dialed) {
                DialDecision::Dial(out) => prop_assert_eq!(plan.destination(&out).to, format!("+1{number}")),
                other => prop_assert!(false, "{dialed}: {other:?}"),
            }
        }

        /// Whatever is typed, the plan never panics and always decides something coherent.
        #[test]
        fn any_key_sequence_gets_a_decision(keys in "[0-9*#+]{0,24}") {
            let plan = us_plan();
            let _ = plan.after_key(&keys);
            if let DialDecision::Dial(out) = plan.send_now(&keys) {
                prop_assert!(!plan.destination(&out).to.is_empty());
            }
        }
    }
}
