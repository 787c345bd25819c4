//! The listening menu a handset reaches by dialling [`super::ACCESS_CODE`]: the counts, then
//! each message (new ones first, each group oldest first) with its caller and date, and the
//! keys: `7` delete, `9` save, `#` next, `*` repeat, `0` record the greeting
//! ([`super::greeting`]).
//!
//! Every step is a `<Gather numDigits="1">` around the message, whose action carries where the
//! caller is ([`Position`]: the mailboxes, the message, the ones still to come), followed by a
//! `<Redirect>` to the same URL: Twilio runs it when no key came before the timeout or when `#`
//! (Twilio's finishing key, which never reaches the action) was pressed, and the handler takes
//! a request without `Digits` as `#`. So a message played to its end is kept as saved and the
//! next one plays, as on a desk phone.

use crate::calls::{Outcome, Plan};
use crate::config::Config;
use crate::store::voicemail::{Counts, MailboxId, Message, MessageState};
use crate::twiml::{Gather, Prompt, Response};

use super::{MENU_PATH, hook_url, query_values, speech, value};

/// Messages one call goes through (the rest wait for the next call, once some are deleted).
pub const MAX_SESSION_MESSAGES: usize = 100;
/// Seconds the menu waits for a key after a message.
pub const KEY_TIMEOUT_SECS: u32 = 5;

pub const SAY_OPTIONS: &str = "Press 7 to delete, 9 to save, pound for the next message, \
     star to repeat, 0 to record your greeting.";
pub const SAY_NO_MORE: &str = "No more messages. Goodbye.";
pub const SAY_DELETED: &str = "Message deleted.";
pub const SAY_SAVED: &str = "Message saved.";
pub const SAY_NOT_AN_OPTION: &str = "Sorry, that is not an option.";
pub const SAY_CANNOT_PLAY: &str =
    "Sorry, this message cannot be played right now. It has been kept.";
pub const SAY_UNAVAILABLE: &str =
    "Sorry, voicemail is not available right now. Please try again later. Goodbye.";
pub const SAY_NOT_SET_UP: &str = "Voicemail is not set up on this server. Goodbye.";

/// A key pressed at the menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Delete,
    Save,
    /// `#`, or no key at all (the `<Redirect>` after the `<Gather>`).
    Next,
    Repeat,
    /// `0`: record the mailbox's greeting.
    Greeting,
    Other,
}

impl Key {
    pub fn parse(digits: Option<&str>) -> Key {
        match digits.map(str::trim).unwrap_or("") {
            "7" => Key::Delete,
            "9" => Key::Save,
            "" | "#" => Key::Next,
            "*" => Key::Repeat,
            "0" => Key::Greeting,
            _ => Key::Other,
        }
    }
}

/// Where a listening caller is, carried in the menu's action URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub mailboxes: Vec<MailboxId>,
    /// The message being played.
    pub message: i64,
    /// The messages still to come, in order.
    pub queue: Vec<i64>,
}

impl Position {
    /// `/hooks/voicemail/menu?mailbox=…[&mailbox=…]&msg=ID[&next=ID,ID…]`.
    pub fn url(&self, config: &Config) -> String {
        let message = self.message.to_string();
        let next = self
            .queue
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut query: Vec<(&str, &str)> = self
            .mailboxes
            .iter()
            .map(|m| ("mailbox", m.as_str()))
            .collect();
        query.push(("msg", &message));
        if !next.is_empty() {
            query.push(("next", &next));
        }
        hook_url(config, MENU_PATH, &query)
    }

    pub fn from_query(query: &[(String, String)]) -> Option<Position> {
        let mailboxes: Vec<MailboxId> = query_values(query, "mailbox")
            .into_iter()
            .map(str::to_string)
            .collect();
        if mailboxes.is_empty() {
            return None;
        }
        let message = value(query, "msg")?.parse().ok()?;
        let queue = match value(query, "next") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(|id| id.trim().parse().ok())
                .collect::<Option<Vec<i64>>>()?,
        };
        if queue.len() > MAX_SESSION_MESSAGES {
            return None;
        }
        Some(Position {
            mailboxes,
            message,
            queue,
        })
    }
}

/// Sorts messages into the order they are played: new ones first, each group oldest first.
pub fn play_order(messages: &mut [Message]) {
    messages.sort_by_key(|m| (m.state != MessageState::New, m.received_at, m.id));
}

/// Whether a message's recording can be played: Twilio still has it, or nobody could ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    Playable,
    /// Twilio answered 404: the caller hears an apology and the message is kept.
    Gone,
}

/// What dialling the access number answers: the counts, then the first message (whose
/// recording is `first`).
pub fn entry(
    config: &Config,
    mailboxes: &[MailboxId],
    counts: Counts,
    messages: &[Message],
    first_recording: Recording,
) -> Plan {
    let said = speech::counts(counts.new, counts.saved);
    let twiml = match messages.split_first() {
        None => {
            let offer = super::greeting::offer(config, mailboxes);
            Response {
                verbs: std::iter::once(crate::twiml::Verb::Say(said))
                    .chain(offer.verbs)
                    .collect(),
            }
        }
        Some((first, rest)) => {
            let queue: Vec<i64> = rest
                .iter()
                .take(MAX_SESSION_MESSAGES)
                .map(|m| m.id)
                .collect();
            play(
                config,
                mailboxes,
                first,
                first_recording,
                &queue,
                Some(&said),
            )
        }
    };
    Plan {
        twiml,
        outcome: Outcome::Mailbox(mailboxes.to_vec()),
    }
}

/// `before` (if any), then `message` with its caller and date, and the keys.
pub fn play(
    config: &Config,
    mailboxes: &[MailboxId],
    message: &Message,
    recording: Recording,
    queue: &[i64],
    before: Option<&str>,
) -> Response {
    let url = Position {
        mailboxes: mailboxes.to_vec(),
        message: message.id,
        queue: queue.to_vec(),
    }
    .url(config);
    let mut prompts = Vec::new();
    if let Some(text) = before {
        prompts.push(Prompt::Say(text.to_string()));
    }
    prompts.push(Prompt::Say(speech::message_header(
        &message.caller,
        message.received_at,
    )));
    prompts.push(match recording {
        Recording::Playable => Prompt::Play(message.recording_url.clone()),
        Recording::Gone => Prompt::Say(SAY_CANNOT_PLAY.into()),
    });
    prompts.push(Prompt::Say(SAY_OPTIONS.into()));
    keys(url, prompts)
}

/// After a key that is not an option: say so, and offer the keys again (without replaying).
pub fn not_an_option(config: &Config, position: &Position) -> Response {
    keys(
        position.url(config),
        vec![
            Prompt::Say(SAY_NOT_AN_OPTION.into()),
            Prompt::Say(SAY_OPTIONS.into()),
        ],
    )
}

/// `before` (if any), then the goodbye.
pub fn finish(before: Option<&str>) -> Response {
    let response = match before {
        Some(text) => Response::new().say(text),
        None => Response::new(),
    };
    response.say(SAY_NO_MORE).hangup()
}

/// The menu cannot go on (no database, or it did not answer).
pub fn unavailable() -> Response {
    Response::new().say(SAY_UNAVAILABLE).hangup()
}

fn keys(url: String, prompts: Vec<Prompt>) -> Response {
    Response::new()
        .gather(Gather {
            action: url.clone(),
            num_digits: 1,
            timeout_secs: KEY_TIMEOUT_SECS,
            prompts,
        })
        .redirect(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voicemail::tests::setup;

    fn message(id: i64, state: MessageState, at: i64) -> Message {
        Message {
            id,
            mailbox: "number:+447381234567".into(),
            recording_sid: format!("RE{id:032x}"),
            recording_url: format!(
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE{id}"
            ),
            duration_seconds: 3,
            call_sid: format!("CA{id:032x}"),
            caller: "+12025550123".into(),
            received_at: at,
            state,
        }
    }

    const DECL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

    #[test]
    fn keys() {
        assert_eq!(Key::parse(Some("7")), Key::Delete);
        assert_eq!(Key::parse(Some("9")), Key::Save);
        assert_eq!(Key::parse(Some("#")), Key::Next);
        assert_eq!(Key::parse(Some("")), Key::Next);
        assert_eq!(Key::parse(None), Key::Next);
        assert_eq!(Key::parse(Some("*")), Key::Repeat);
        assert_eq!(Key::parse(Some("0")), Key::Greeting);
        assert_eq!(Key::parse(Some("1")), Key::Other);
        assert_eq!(Key::parse(Some("77")), Key::Other);
    }

    #[test]
    fn new_messages_play_first_each_group_oldest_first() {
        let mut list = vec![
            message(1, MessageState::Saved, 100),
            message(2, MessageState::New, 300),
            message(3, MessageState::New, 200),
        ];
        play_order(&mut list);
        assert_eq!(list.iter().map(|m| m.id).collect::<Vec<_>>(), [3, 2, 1]);
    }

    #[test]
    fn entry_says_the_counts_and_plays_the_first_message() {
        let (config, _) = setup(&[("OFFHOOK_PUBLIC_URL", "https://p.example")]);
        let mailboxes = vec!["number:+447381234567".to_string()];
        let list = [
            message(3, MessageState::New, 1_795_262_700),
            message(1, MessageState::Saved, 100),
        ];
        let plan = entry(
            &config,
            &mailboxes,
            Counts { new: 1, saved: 1 },
            &list,
            Recording::Playable,
        );
        let url = "https://p.example/hooks/voicemail/menu?mailbox=number%3A%2B447381234567&amp;msg=3&amp;next=1";
        assert_eq!(
            plan.twiml.to_xml(),
            format!(
                "{DECL}<Response><Gather input=\"dtmf\" numDigits=\"1\" timeout=\"5\" action=\"{url}\" method=\"POST\">\
                 <Say>You have 1 new and 1 saved messages.</Say>\
                 <Say>Message from +1 2 0 2 5 5 5 0 1 2 3, received November 21 at 12:05 PM UTC.</Say>\
                 <Play>https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE3</Play>\
                 <Say>{SAY_OPTIONS}</Say></Gather><Redirect method=\"POST\">{url}</Redirect></Response>"
            )
        );
        let empty = entry(
            &config,
            &mailboxes,
            Counts::default(),
            &[],
            Recording::Playable,
        );
        assert_eq!(
            empty.twiml.to_xml(),
            format!(
                "{DECL}<Response><Say>You have 0 new and 0 saved messages.</Say>\
                 <Gather input=\"dtmf\" numDigits=\"1\" timeout=\"5\" \
                 action=\"https://p.example/hooks/voicemail/greeting?mailbox=number%3A%2B447381234567\" \
                 method=\"POST\"><Say>{}</Say></Gather><Say>Goodbye.</Say><Hangup/></Response>",
                crate::voicemail::greeting::SAY_OFFER
            )
        );
    }

    #[test]
    fn positions_round_trip_through_the_url() {
        let (config, _) = setup(&[]);
        let position = Position {
            mailboxes: vec!["number:+1".into(), "number:+2".into()],
            message: 7,
            queue: vec![8, 9],
        };
        let url = position.url(&config);
        assert_eq!(
            url,
            "/hooks/voicemail/menu?mailbox=number%3A%2B1&mailbox=number%3A%2B2&msg=7&next=8%2C9"
        );
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
                .into_owned()
                .collect();
        assert_eq!(Position::from_query(&query), Some(position));
        let parse = |q: &str| {
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect();
            Position::from_query(&pairs)
        };
        assert_eq!(parse("msg=1"), None);
        assert_eq!(parse("mailbox=a&msg=x"), None);
        assert_eq!(parse("mailbox=a&msg=1&next=2,,3"), None);
        assert_eq!(parse("mailbox=a&msg=1").unwrap().queue, Vec::<i64>::new());
    }

    #[test]
    fn a_wrong_key_offers_the_keys_again_and_the_end_says_goodbye() {
        let (config, _) = setup(&[]);
        let position = Position {
            mailboxes: vec!["m".into()],
            message: 4,
            queue: vec![],
        };
        let xml = not_an_option(&config, &position).to_xml();
        assert!(
            xml.contains(&format!(
                "<Say>{SAY_NOT_AN_OPTION}</Say><Say>{SAY_OPTIONS}</Say></Gather>"
            )),
            "{xml}"
        );
        assert!(!xml.contains("<Play>"), "{xml}");
        assert_eq!(
            finish(Some(SAY_DELETED)).to_xml(),
            format!(
                "{DECL}<Response><Say>{SAY_DELETED}</Say><Say>{SAY_NO_MORE}</Say><Hangup/></Response>"
            )
        );
    }
}
