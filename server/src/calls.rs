//! What a call does: the decisions behind `/hooks/voice` and `/hooks/call/connect`, as
//! pure functions from the webhook's parameters (and what the store knows, [`Facts`]) to
//! TwiML.

use std::collections::HashMap;

use crate::config::Config;
use crate::forwarding::Forward;
use crate::handsets::{Handset, Handsets};
use crate::phone::{self, E164};
use crate::store::handsets::{ForwardWhen, HandsetSettings};
use crate::store::voicemail::{Greeting, MailboxId};
use crate::twiml::{Dial, DialTarget, Response};
use crate::voicemail::{self, deposit};

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
    /// Rings these handsets (identities) and numbers.
    RingHandsets(Vec<String>),
    DialNumber(E164),
    DialExtension(String),
    /// Takes a message for this mailbox.
    Voicemail(MailboxId),
    /// The dial ended and the call was forwarded to this number or extension.
    Forwarded(String),
    /// Plays these mailboxes' messages.
    Mailbox(Vec<MailboxId>),
    /// Hangs up (the call was answered, or the caller has been told why).
    Hangup(&'static str),
    Refused(&'static str),
}

/// The TwiML and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub twiml: Response,
    pub outcome: Outcome,
}

/// What the store says about an incoming call's handsets.
#[derive(Debug, Clone, Copy)]
pub enum Facts<'a> {
    /// The server runs without a database: the handsets ring, and that is all.
    NoStore,
    /// The database did not answer in time: every handset rings (forwarding and
    /// do-not-disturb are unknown), and an unanswered call still goes to voicemail.
    Unreachable,
    /// Every handset's settings (absent: the defaults) and the mailbox's greeting.
    Known {
        settings: &'a HashMap<String, HandsetSettings>,
        greeting: &'a Greeting,
    },
}

pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
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

/// The number an incoming call is for.
pub fn called_number(params: &[(String, String)]) -> Option<E164> {
    param(params, "To").and_then(|t| E164::parse(t).ok())
}

/// The mailbox an incoming call would leave its message in (what the handler reads the
/// greeting of before [`incoming_with`]).
pub fn incoming_mailbox(
    config: &Config,
    handsets: &Handsets,
    params: &[(String, String)],
) -> Option<MailboxId> {
    voicemail::mailbox_for_call(config, handsets, &called_number(params)?)
}

/// A call to one of the account's numbers, on a server without a database: ring every
/// handset configured for it, with the caller's number as caller ID and as the
/// `callerNumber` parameter.
pub fn incoming(config: &Config, handsets: &Handsets, params: &[(String, String)]) -> Plan {
    incoming_with(config, handsets, params, Facts::NoStore)
}

/// A call to one of the account's numbers. Each handset the number rings is dialled unless
/// it is on do-not-disturb; one that forwards always has its target dialled instead (even on
/// do-not-disturb: it does not ring either way). The first handset forwarding on busy or on no
/// answer gives the target the dial-ended action forwards to, and a no-answer forward's ring
/// time becomes the `<Dial timeout>`. With nothing left to ring, the caller goes straight to
/// the greeting and `<Record>`.
pub fn incoming_with(
    config: &Config,
    handsets: &Handsets,
    params: &[(String, String)],
    facts: Facts<'_>,
) -> Plan {
    let Some(to) = called_number(params) else {
        return refuse(SAY_NOBODY_HERE, "the call has no E.164 To number");
    };
    let from = param(params, "From").unwrap_or_default();
    let caller_parameters: Vec<(String, String)> = if from.is_empty() {
        Vec::new()
    } else {
        vec![(PARAM_CALLER_NUMBER.to_string(), from.to_string())]
    };
    let client = |h: &Handset| DialTarget::Client {
        identity: h.identity.clone(),
        parameters: caller_parameters.clone(),
    };
    let ringing: Vec<&Handset> = handsets.ringing_for(&to, &config.phone_number).collect();
    let Some(mailbox) = voicemail::mailbox_for_call(config, handsets, &to) else {
        return refuse(SAY_NOBODY_HERE, "no handset rings for this number");
    };
    let mut after = deposit::AfterDial {
        mailbox,
        on_busy: None,
        on_no_answer: None,
    };
    let mut timeout = config.dial_timeout_secs;
    let targets: Vec<DialTarget> = match facts {
        Facts::NoStore => {
            let targets: Vec<DialTarget> = ringing.iter().map(|h| client(h)).collect();
            return Plan {
                outcome: Outcome::RingHandsets(target_names(&targets)),
                twiml: Response::new().dial(Dial {
                    caller_id: E164::parse(from).ok().map(|n| n.to_string()),
                    answer_on_bridge: true,
                    targets,
                    ..Dial::default()
                }),
            };
        }
        Facts::Unreachable => ringing.iter().map(|h| client(h)).collect(),
        Facts::Known { settings, greeting } => {
            let defaults = HandsetSettings::default();
            let of = |id: &str| settings.get(id).unwrap_or(&defaults);
            let mut targets = Vec::new();
            for h in &ringing {
                let s = of(&h.id);
                // A handset on do-not-disturb is never the target of someone else's forward.
                let forward = s
                    .forward_to
                    .as_deref()
                    .and_then(|t| Forward::resolve(t, handsets, h))
                    .filter(|f| match f {
                        Forward::Handset { id, .. } => !of(id).do_not_disturb,
                        Forward::Number(_) => true,
                    });
                let target = match (s.forward_when, &forward) {
                    (ForwardWhen::Always, Some(f)) => forward_target(f, &caller_parameters),
                    _ if s.do_not_disturb => continue,
                    (ForwardWhen::Busy, Some(f)) => {
                        after.on_busy.get_or_insert_with(|| stored(f, handsets));
                        client(h)
                    }
                    (ForwardWhen::NoAnswer, Some(f)) => {
                        if after.on_no_answer.is_none() {
                            after.on_no_answer = Some(stored(f, handsets));
                            timeout = s.no_answer_seconds;
                        }
                        client(h)
                    }
                    _ => client(h),
                };
                if !targets.contains(&target) {
                    targets.push(target);
                }
            }
            if targets.is_empty() {
                return Plan {
                    twiml: deposit::leave_message(config, &after.mailbox, from, greeting),
                    outcome: Outcome::Voicemail(after.mailbox),
                };
            }
            targets
        }
    };
    Plan {
        outcome: Outcome::RingHandsets(target_names(&targets)),
        twiml: Response::new().dial(Dial {
            caller_id: caller_id(config, from, &targets),
            answer_on_bridge: true,
            timeout_secs: Some(timeout),
            action: Some(after.url(config)),
            targets,
            status_callback: None,
        }),
    }
}

/// A forward's `<Dial>` noun.
pub(crate) fn forward_target(
    forward: &Forward,
    caller_parameters: &[(String, String)],
) -> DialTarget {
    match forward {
        Forward::Number(n) => DialTarget::Number(n.to_string()),
        Forward::Handset { identity, .. } => DialTarget::Client {
            identity: identity.clone(),
            parameters: caller_parameters.to_vec(),
        },
    }
}

fn stored(forward: &Forward, handsets: &Handsets) -> String {
    forward.stored(handsets).unwrap_or_default()
}

/// The caller's number when it is one; the account's number when a phone number is
/// dialled for a caller without one (a forward must show some valid number).
pub(crate) fn caller_id(config: &Config, from: &str, targets: &[DialTarget]) -> Option<String> {
    match E164::parse(from) {
        Ok(n) => Some(n.to_string()),
        Err(_) if targets.iter().any(|t| matches!(t, DialTarget::Number(_))) => {
            Some(config.phone_number.to_string())
        }
        Err(_) => None,
    }
}

fn target_names(targets: &[DialTarget]) -> Vec<String> {
    targets
        .iter()
        .map(|t| match t {
            DialTarget::Client { identity, .. } => identity.clone(),
            DialTarget::Number(n) => n.clone(),
        })
        .collect()
}

/// The handset calling the voicemail access number ([`voicemail::ACCESS_CODE`]), if this
/// outgoing call is one.
pub fn voicemail_access<'a>(
    handsets: &'a Handsets,
    params: &[(String, String)],
) -> Option<&'a Handset> {
    let dialled = param(params, "phoneNumber").or_else(|| param(params, "To"))?;
    if dialled != voicemail::ACCESS_CODE {
        return None;
    }
    param(params, "From")
        .and_then(|f| f.strip_prefix("client:"))
        .and_then(|identity| handsets.by_identity(identity))
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
                ..Dial::default()
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
                ..Dial::default()
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
