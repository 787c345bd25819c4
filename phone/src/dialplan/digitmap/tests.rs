use super::*;

fn map(text: &str) -> DigitMap {
    DigitMap::parse(text).expect("valid map")
}

const NANP: &str = "(911S0|[2-9]11S0|1[2-9]xxxxxxxxx|[2-9]xxxxxxxxx|011x.T|[1-8]xx|0T)";

#[test]
fn ten_digit_number_dials_at_once() {
    let m = map(NANP);
    assert_eq!(
        m.classify("4155550100"),
        MapMatch::Dial {
            output: "4155550100".into()
        }
    );
    assert_eq!(
        m.classify("415555"),
        MapMatch::Incomplete {
            wait: Duration::from_secs(10)
        }
    );
}

#[test]
fn emergency_s0_beats_longer_rules() {
    let m = map(NANP);
    assert_eq!(
        m.classify("911"),
        MapMatch::Dial {
            output: "911".into()
        }
    );
    assert_eq!(
        m.classify("411"),
        MapMatch::Dial {
            output: "411".into()
        }
    );
}

#[test]
fn extension_waits_short_timer_because_longer_numbers_are_possible() {
    let m = map(NANP);
    assert_eq!(
        m.classify("234"),
        MapMatch::CompleteAfter {
            output: "234".into(),
            wait: Duration::from_secs(3)
        }
    );
}

#[test]
fn timer_terminated_rule_waits_even_when_nothing_can_extend() {
    let m = map(NANP);
    assert_eq!(
        m.classify("0"),
        MapMatch::CompleteAfter {
            output: "0".into(),
            wait: Duration::from_secs(3)
        }
    );
    assert!(matches!(
        m.classify("01144"),
        MapMatch::CompleteAfter { .. }
    ));
}

#[test]
fn no_match_is_reported_at_once() {
    let m = map(NANP);
    assert_eq!(m.classify("9*"), MapMatch::NoMatch);
    assert_eq!(m.classify("#"), MapMatch::NoMatch);
}

#[test]
fn rewrites_strip_and_insert() {
    let m = map("(<9:>xxxxxxxxxx|<:1408>[2-9]xxxxxx)");
    assert_eq!(
        m.classify("94155550100"),
        MapMatch::Dial {
            output: "4155550100".into()
        }
    );
    assert_eq!(
        m.classify("5550100"),
        MapMatch::Dial {
            output: "14085550100".into()
        }
    );
}

#[test]
fn barred_rule_and_rule_timers() {
    let m = map("L:15,S:6,(1900x.!|1[2-8]xxxxxxxxx|*xxS0|[1-8]xxL4)");
    assert_eq!(m.short_timer(), Duration::from_secs(6));
    assert_eq!(m.long_timer(), Duration::from_secs(15));
    assert_eq!(m.classify("19005551212"), MapMatch::Barred);
    assert_eq!(
        m.classify("*69"),
        MapMatch::Dial {
            output: "*69".into()
        }
    );
    assert_eq!(
        m.classify("2"),
        MapMatch::Incomplete {
            wait: Duration::from_secs(4)
        }
    );
}

#[test]
fn pound_is_a_digit_only_where_a_rule_takes_it() {
    let m = map("(*xx#|[2-9]xxxxxxxxx)");
    assert!(m.accepts("*12", '#'));
    assert!(!m.accepts("415", '#'));
}

#[test]
fn complete_now_uses_first_full_match() {
    let m = map(NANP);
    assert_eq!(
        m.complete_now("234"),
        MapMatch::Dial {
            output: "234".into()
        }
    );
    assert_eq!(m.complete_now("23"), MapMatch::NoMatch);
}

#[test]
fn parse_errors_point_at_the_problem() {
    let err = DigitMap::parse("(xx|[2-").unwrap_err();
    assert_eq!(err.position, 7);
    assert!(DigitMap::parse("(.x)").is_err());
    assert!(DigitMap::parse("(xx|)").is_err());
    assert!(DigitMap::parse("(xx").is_err());
    assert!(DigitMap::parse("(x?)").is_err());
    assert!(DigitMap::parse("S:999,(x)").is_err());
}

#[test]
fn pathological_repeats_stay_fast() {
    let m = map("(x.x.x.x.x.x.x.x.x.x.#)");
    let dialed = "1".repeat(32);
    assert!(matches!(m.classify(&dialed), MapMatch::Incomplete { .. }));
    assert_eq!(
        m.complete_now(&format!("{dialed}#")),
        MapMatch::Dial {
            output: format!("{dialed}#")
        }
    );
}
