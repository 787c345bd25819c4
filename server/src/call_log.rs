//! The call log, from Twilio's status callbacks (pure: TwiML attributes in, rows out).
//!
//! Every `<Number>` and `<Client>` in a `<Dial>` the server answers with carries
//! `statusCallback="{public}/hooks/status?…"` and `statusCallbackEvent="completed"`
//! ([`attach`]). The query says what the server knew when it dialled (the direction, the
//! caller, the number called, the calling handset); Twilio signs it with the rest of the URL.
//! When a dialled leg ends, Twilio posts its `CallStatus` and `CallDuration`, with the parent
//! call's SID: one row per parent call, which each leg's callback may improve (an answered leg
//! beats a busy one, which beats an unanswered one: [`rank`]).

use crate::calls::{Plan, param};
use crate::config::Config;
use crate::handsets::Handsets;
use crate::store::UnixSeconds;
use crate::twiml::{DialTarget, Verb};
use crate::voicemail::{hook_url, is_sid, value};

/// Where Twilio posts each dialled leg's end.
pub const STATUS_PATH: &str = "/hooks/status";
/// Longest caller, number or target kept (Twilio's are far shorter).
pub const MAX_FIELD: usize = 64;

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From outside to one of the account's numbers.
    Incoming,
    /// From a handset to a phone number.
    Outgoing,
    /// From one handset to another.
    Internal,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
            Direction::Internal => "internal",
        }
    }

    pub fn parse(text: &str) -> Option<Direction> {
        match text {
            "incoming" => Some(Direction::Incoming),
            "outgoing" => Some(Direction::Outgoing),
            "internal" => Some(Direction::Internal),
            _ => None,
        }
    }
}

/// A call as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// The parent call's SID (the call that came in, or the handset's call).
    pub call_sid: String,
    /// When the call started: the callback's arrival less the talk time.
    pub started_at: UnixSeconds,
    pub direction: Direction,
    pub from: String,
    pub to: String,
    /// The handset the call belongs to: the caller's (outgoing, internal), or the one that
    /// answered (incoming).
    pub handset: Option<String>,
    /// Who answered: a handset's id, or the number a forward rang.
    pub answered_by: Option<String>,
    pub duration_seconds: i64,
    /// Twilio's final `CallStatus`: completed, busy, no-answer, canceled or failed.
    pub result: String,
}

/// How good an ending is: the best leg of a call stands for it.
pub fn rank(result: &str) -> i64 {
    match result {
        "completed" => 5,
        "busy" => 4,
        "no-answer" => 3,
        "canceled" => 2,
        "failed" => 1,
        _ => 0,
    }
}

/// Adds the status callback to every `<Dial>` of `plan`, from the parameters of the webhook
/// that made it (the parent call's).
pub fn attach(config: &Config, handsets: &Handsets, params: &[(String, String)], plan: &mut Plan) {
    for verb in &mut plan.twiml.verbs {
        let Verb::Dial(dial) = verb else {
            continue;
        };
        let caller = param(params, "From")
            .and_then(|f| f.strip_prefix("client:"))
            .and_then(|identity| handsets.by_identity(identity));
        let mut query: Vec<(&str, String)> = Vec::new();
        match caller {
            Some(handset) => {
                let first = dial.targets.first();
                let (direction, to) = match first {
                    Some(DialTarget::Client { identity, .. }) => (
                        Direction::Internal,
                        handsets
                            .by_identity(identity)
                            .map_or_else(|| identity.clone(), |h| h.extension.clone()),
                    ),
                    Some(DialTarget::Number(number)) => (Direction::Outgoing, number.clone()),
                    None => (Direction::Outgoing, String::new()),
                };
                query.push(("direction", direction.as_str().into()));
                query.push(("from", handset.extension.clone()));
                query.push(("to", to));
                query.push(("handset", handset.id.clone()));
            }
            None => {
                query.push(("direction", Direction::Incoming.as_str().into()));
                query.push(("from", param(params, "From").unwrap_or_default().into()));
                query.push(("to", param(params, "To").unwrap_or_default().into()));
            }
        }
        let pairs: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, cut(v, MAX_FIELD))).collect();
        dial.status_callback = Some(hook_url(config, STATUS_PATH, &pairs));
    }
}

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The call a leg's status callback tells of: `Ok(None)` for a status that is not a leg's
/// end (nothing to log); `Err` for a malformed callback.
pub fn record(
    handsets: &Handsets,
    query: &[(String, String)],
    params: &[(String, String)],
    now: UnixSeconds,
) -> Result<Option<CallRecord>, &'static str> {
    let direction = value(query, "direction")
        .and_then(Direction::parse)
        .ok_or("the callback URL names no direction")?;
    let leg = param(params, "CallSid").ok_or("no CallSid")?;
    if !is_sid(leg, "CA") {
        return Err("CallSid is not a call SID");
    }
    let call_sid = match param(params, "ParentCallSid") {
        Some(parent) if is_sid(parent, "CA") => parent,
        Some(_) => return Err("ParentCallSid is not a call SID"),
        None => leg,
    };
    let result = param(params, "CallStatus").ok_or("no CallStatus")?;
    if rank(result) == 0 {
        return Ok(None);
    }
    let duration_seconds = match param(params, "CallDuration") {
        None => 0,
        Some(d) => d
            .parse::<u32>()
            .map_err(|_| "CallDuration is not whole seconds")?,
    };
    let field = |name: &str| -> Result<String, &'static str> {
        let v = value(query, name).unwrap_or_default();
        if v.len() > MAX_FIELD || v.chars().any(char::is_control) {
            return Err("a field of the callback URL is malformed");
        }
        Ok(v.to_string())
    };
    let (from, to) = (field("from")?, field("to")?);
    let calling = value(query, "handset")
        .filter(|id| handsets.by_id(id).is_some())
        .map(str::to_string);
    // The leg's own To: `client:<identity>` for a handset, else the number it rang.
    let leg_to = param(params, "To").unwrap_or_default();
    let reached = match leg_to.strip_prefix("client:") {
        Some(identity) => handsets.by_identity(identity).map(|h| h.id.clone()),
        None if leg_to.is_empty() || leg_to.len() > MAX_FIELD => None,
        None => Some(leg_to.to_string()),
    };
    let answered = result == "completed";
    let (handset, answered_by) = match direction {
        Direction::Incoming => {
            let by_handset = reached
                .as_ref()
                .filter(|r| handsets.by_id(r).is_some())
                .cloned();
            (
                by_handset.filter(|_| answered),
                reached.filter(|_| answered),
            )
        }
        Direction::Outgoing | Direction::Internal => (calling, reached.filter(|_| answered)),
    };
    Ok(Some(CallRecord {
        call_sid: call_sid.to_string(),
        started_at: now - i64::from(duration_seconds),
        direction,
        from,
        to,
        handset,
        answered_by,
        duration_seconds: i64::from(duration_seconds),
        result: result.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::Outcome;
    use crate::twiml::{Dial, Response};
    use crate::voicemail::tests::setup;

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sid(n: u32) -> String {
        format!("CA{n:032x}")
    }

    #[test]
    fn every_dial_gets_the_callback_with_what_was_known() {
        let (config, handsets) = setup(&[("OFFHOOK_PUBLIC_URL", "https://x.example")]);
        let mut plan = Plan {
            twiml: Response::new().dial(Dial {
                targets: vec![DialTarget::Number("+12025550100".into())],
                ..Dial::default()
            }),
            outcome: Outcome::Hangup("test"),
        };
        attach(
            &config,
            &handsets,
            &owned(&[("From", "client:desk"), ("To", "+12025550100")]),
            &mut plan,
        );
        let xml = plan.twiml.to_xml();
        assert!(
            xml.contains(
                "<Number statusCallback=\"https://x.example/hooks/status?direction=outgoing&amp;from=101&amp;to=%2B12025550100&amp;handset=desk\" \
                 statusCallbackEvent=\"completed\" statusCallbackMethod=\"POST\">+12025550100</Number>"
            ),
            "{xml}"
        );
    }

    #[test]
    fn legs_make_one_row_per_call() {
        let (_, handsets) = setup(&[]);
        let query = owned(&[
            ("direction", "incoming"),
            ("from", "+12025550123"),
            ("to", "+447381234567"),
        ]);
        let leg = |n: u32, to: &str, status: &str, secs: &str| {
            owned(&[
                ("CallSid", &sid(n)),
                ("ParentCallSid", &sid(1)),
                ("To", to),
                ("CallStatus", status),
                ("CallDuration", secs),
            ])
        };
        let answered = record(
            &handsets,
            &query,
            &leg(2, "client:desk", "completed", "42"),
            1000,
        )
        .unwrap()
        .unwrap();
        assert_eq!(answered.call_sid, sid(1));
        assert_eq!(answered.handset.as_deref(), Some("desk"));
        assert_eq!(answered.started_at, 958);
        let missed = record(
            &handsets,
            &query,
            &leg(3, "client:kitchen", "no-answer", "0"),
            1000,
        )
        .unwrap()
        .unwrap();
        assert_eq!(missed.handset, None);
        assert!(rank(&answered.result) > rank(&missed.result));
        assert_eq!(
            record(&handsets, &query, &leg(4, "client:desk", "ringing", "0"), 1),
            Ok(None)
        );
        assert!(record(&handsets, &owned(&[]), &leg(2, "x", "completed", "1"), 1).is_err());
        assert!(record(&handsets, &query, &leg(2, "x", "completed", "soon"), 1).is_err());
    }
}
