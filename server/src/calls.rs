//! What a call does: the decisions behind `/hooks/voice` and `/hooks/call/connect`, as
//! pure functions from the webhook's parameters to TwiML.

use crate::config::Config;
use crate::handsets::Handsets;
use crate::phone::{self, E164};
use crate::twiml::{Dial, DialTarget, Response};

/// Custom parameters the ringing handset receives in its `invite` (`Params`).
pub const PARAM_CALLER_NUMBER: &str = "callerNumber";
pub const PARAM_CALLER_NAME: &str = "callerName";
pub const PARAM_CALLER_EXTENSION: &str = "callerExtension";

pub const SAY_NOBODY_HERE: &str = "Sorry, no phone answers this number.";
pub const SAY_NOT_A_HANDSET: &str = "This phone is not set up to make calls.";
pub const SAY_INVALID_NUMBER: &str =
    "The number you dialled is not valid. Please check it and try again.";
pub const SAY_OWN_EXTENSION: &str = "That is your own extension.";

/// What the server decided, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    RingHandsets(Vec<String>),
    DialNumber(E164),
    DialExtension(String),
    Refused(&'static str),
}

/// The TwiML and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub twiml: Response,
    pub outcome: Outcome,
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

fn refuse(say: &'static str, why: &'static str) -> Plan {
    Plan {
        twiml: Response::new().say(say).hangup(),
        outcome: Outcome::Refused(why),
    }
}

/// A call to one of the account's numbers: ring every handset configured for it, with the
/// caller's number as caller ID and as the `callerNumber` parameter.
pub fn incoming(config: &Config, handsets: &Handsets, params: &[(String, String)]) -> Plan {
    let Some(to) = param(params, "To").and_then(|t| E164::parse(t).ok()) else {
        return refuse(SAY_NOBODY_HERE, "the call has no E.164 To number");
    };
    let from = param(params, "From").unwrap_or_default();
    let caller_parameters: Vec<(String, String)> = if from.is_empty() {
        Vec::new()
    } else {
        vec![(PARAM_CALLER_NUMBER.to_string(), from.to_string())]
    };
    let targets: Vec<DialTarget> = handsets
        .ringing_for(&to, &config.phone_number)
        .map(|h| DialTarget::Client {
            identity: h.identity.clone(),
            parameters: caller_parameters.clone(),
        })
        .collect();
    if targets.is_empty() {
        return refuse(SAY_NOBODY_HERE, "no handset rings for this number");
    }
    let identities = targets
        .iter()
        .filter_map(|t| match t {
            DialTarget::Client { identity, .. } => Some(identity.clone()),
            DialTarget::Number(_) => None,
        })
        .collect();
    Plan {
        twiml: Response::new().dial(Dial {
            caller_id: E164::parse(from).ok().map(|n| n.to_string()),
            answer_on_bridge: true,
            targets,
        }),
        outcome: Outcome::RingHandsets(identities),
    }
}

/// A handset's outgoing call (the TwiML app's voice URL): another handset's extension,
/// or a phone number normalised to E.164 and called with the account's number as caller
/// ID. Anything else is refused with a spoken reason.
pub fn outgoing(config: &Config, handsets: &Handsets, params: &[(String, String)]) -> Plan {
    let caller = param(params, "From")
        .and_then(|f| f.strip_prefix("client:"))
        .and_then(|identity| handsets.by_identity(identity));
    let Some(caller) = caller else {
        return refuse(SAY_NOT_A_HANDSET, "the caller is not a configured handset");
    };
    let Some(dialled) = param(params, "phoneNumber").or_else(|| param(params, "To")) else {
        return refuse(SAY_INVALID_NUMBER, "no number was dialled");
    };
    if let Some(callee) = handsets.by_extension(dialled) {
        if callee.identity == caller.identity {
            return refuse(SAY_OWN_EXTENSION, "a handset dialled its own extension");
        }
        return Plan {
            twiml: Response::new().dial(Dial {
                caller_id: None,
                answer_on_bridge: true,
                targets: vec![DialTarget::Client {
                    identity: callee.identity.clone(),
                    parameters: vec![
                        (PARAM_CALLER_NAME.into(), caller.display_name.clone()),
                        (PARAM_CALLER_EXTENSION.into(), caller.extension.clone()),
                    ],
                }],
            }),
            outcome: Outcome::DialExtension(callee.identity.clone()),
        };
    }
    match phone::normalize(dialled, config.default_country) {
        Ok(number) => Plan {
            twiml: Response::new().dial(Dial {
                caller_id: Some(config.phone_number.to_string()),
                answer_on_bridge: true,
                targets: vec![DialTarget::Number(number.to_string())],
            }),
            outcome: Outcome::DialNumber(number),
        },
        Err(_) => refuse(SAY_INVALID_NUMBER, "the dialled number is not valid"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::tests::valid_settings;
    use crate::handsets::tests::{entry, toml_of};

    fn setup() -> (Config, Handsets) {
        let settings = valid_settings();
        let config = Config::from_settings(|n| settings.get(n).cloned()).unwrap();
        let mut kitchen = entry("kitchen", "102", "k");
        kitchen.display_name = "Kitchen & Co".into();
        let mut fax = entry("fax", "103", "f");
        fax.numbers = vec!["+12031234567".into()];
        let file = toml_of(vec![entry("desk", "101", "d"), kitchen, fax]);
        let handsets = Handsets::from_toml(&file, Path::new("t.toml")).unwrap();
        (config, handsets)
    }

    fn p(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

    #[test]
    fn incoming_rings_the_handsets_of_the_number() {
        let (config, handsets) = setup();
        let plan = incoming(
            &config,
            &handsets,
            &p(&[("From", "+12035550123"), ("To", "+447381234567")]),
        );
        assert_eq!(
            plan.outcome,
            Outcome::RingHandsets(vec!["desk".into(), "kitchen".into()])
        );
        assert_eq!(
            plan.twiml.to_xml(),
            format!(
                "{DECL}<Response><Dial callerId=\"+12035550123\" answerOnBridge=\"true\">\
                 <Client><Identity>desk</Identity><Parameter name=\"callerNumber\" value=\"+12035550123\"/></Client>\
                 <Client><Identity>kitchen</Identity><Parameter name=\"callerNumber\" value=\"+12035550123\"/></Client>\
                 </Dial></Response>"
            )
        );
        let fax = incoming(
            &config,
            &handsets,
            &p(&[("From", "anonymous"), ("To", "+12031234567")]),
        );
        assert_eq!(
            fax.twiml.to_xml(),
            format!(
                "{DECL}<Response><Dial answerOnBridge=\"true\"><Client><Identity>fax</Identity>\
                 <Parameter name=\"callerNumber\" value=\"anonymous\"/></Client></Dial></Response>"
            )
        );
    }

    #[test]
    fn incoming_for_an_unknown_number_is_refused() {
        let (config, handsets) = setup();
        for params in [p(&[("To", "+15550000000")]), p(&[("To", "")]), p(&[])] {
            let plan = incoming(&config, &handsets, &params);
            assert!(matches!(plan.outcome, Outcome::Refused(_)));
            assert_eq!(
                plan.twiml.to_xml(),
                format!("{DECL}<Response><Say>{SAY_NOBODY_HERE}</Say><Hangup/></Response>")
            );
        }
    }

    #[test]
    fn outgoing_number_as_in_the_seed() {
        let (config, handsets) = setup();
        // The seed's capture: the number arrives as phoneNumber, To is empty.
        let params = p(&[
            ("From", "client:desk"),
            ("To", ""),
            ("phoneNumber", "+12031234567"),
        ]);
        let plan = outgoing(&config, &handsets, &params);
        assert_eq!(
            plan.twiml.to_xml(),
            format!(
                "{DECL}<Response><Dial callerId=\"+447381234567\" answerOnBridge=\"true\">\
                 <Number>+12031234567</Number></Dial></Response>"
            )
        );
        // National form in To, read with the default country (GB, from the account number).
        let plan = outgoing(
            &config,
            &handsets,
            &p(&[("From", "client:desk"), ("To", "020 7946 0000")]),
        );
        assert_eq!(
            plan.outcome,
            Outcome::DialNumber(E164::parse("+442079460000").unwrap())
        );
    }

    #[test]
    fn outgoing_extension_rings_that_handset() {
        let (config, handsets) = setup();
        let plan = outgoing(
            &config,
            &handsets,
            &p(&[("From", "client:desk"), ("phoneNumber", "102")]),
        );
        assert_eq!(plan.outcome, Outcome::DialExtension("kitchen".into()));
        assert_eq!(
            plan.twiml.to_xml(),
            format!(
                "{DECL}<Response><Dial answerOnBridge=\"true\"><Client><Identity>kitchen</Identity>\
                 <Parameter name=\"callerName\" value=\"Phone desk\"/><Parameter name=\"callerExtension\" value=\"101\"/>\
                 </Client></Dial></Response>"
            )
        );
        let back = outgoing(
            &config,
            &handsets,
            &p(&[("From", "client:kitchen"), ("To", "101")]),
        );
        assert!(back.twiml.to_xml().contains("value=\"Kitchen &amp; Co\""));
        let own = outgoing(
            &config,
            &handsets,
            &p(&[("From", "client:desk"), ("To", "101")]),
        );
        assert_eq!(
            own.twiml.to_xml(),
            format!("{DECL}<Response><Say>{SAY_OWN_EXTENSION}</Say><Hangup/></Response>")
        );
    }

    #[test]
    fn outgoing_refusals() {
        let (config, handsets) = setup();
        let invalid =
            format!("{DECL}<Response><Say>{SAY_INVALID_NUMBER}</Say><Hangup/></Response>");
        for dialled in ["12", "<Dial>", "+0123456789", "999999999999999999"] {
            let plan = outgoing(
                &config,
                &handsets,
                &p(&[("From", "client:desk"), ("phoneNumber", dialled)]),
            );
            assert_eq!(plan.twiml.to_xml(), invalid, "{dialled}");
        }
        let nothing = outgoing(
            &config,
            &handsets,
            &p(&[("From", "client:desk"), ("To", " ")]),
        );
        assert_eq!(nothing.twiml.to_xml(), invalid);
        let stranger =
            format!("{DECL}<Response><Say>{SAY_NOT_A_HANDSET}</Say><Hangup/></Response>");
        for from in ["client:mallory", "+12035550123", "desk", ""] {
            let plan = outgoing(
                &config,
                &handsets,
                &p(&[("From", from), ("phoneNumber", "+12031234567")]),
            );
            assert_eq!(plan.twiml.to_xml(), stranger, "{from}");
        }
    }
}
