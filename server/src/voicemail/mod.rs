//! Voicemail's decisions, pure like [`crate::calls`]: which mailbox a call leaves its message
//! in and which a handset listens to, the TwiML that takes a message ([`deposit`]) and the
//! TwiML of the listening menu ([`menu`]). The handlers in [`crate::http::voicemail`] read
//! the store first and hand the facts in.
//!
//! - [`deposit`] — after `<Dial>`: forwarding, the greeting, `<Record>`; the recording
//!   callback's parameters.
//! - [`menu`] — `*97`: the counts, each message with its caller and date, the keys.
//! - [`speech`] — how counts, callers and dates are spoken.

pub mod deposit;
pub mod greeting;
pub mod menu;
pub mod speech;

use crate::config::{Config, MailboxMode};
use crate::handsets::{Handset, Handsets};
use crate::phone::E164;
use crate::store::voicemail::MailboxId;

/// What a handset dials to hear its messages.
pub const ACCESS_CODE: &str = "*97";

/// The webhooks voicemail adds (Twilio requests them with POST).
pub const DIAL_ENDED_PATH: &str = "/hooks/voicemail/dial-ended";
pub const RECORDED_PATH: &str = "/hooks/voicemail/recorded";
pub const GOODBYE_PATH: &str = "/hooks/voicemail/goodbye";
pub const MENU_PATH: &str = "/hooks/voicemail/menu";
pub const GREETING_PATH: &str = "/hooks/voicemail/greeting";

/// The URL a TwiML attribute names for one of this server's hooks: absolute under
/// `OFFHOOK_PUBLIC_URL` when set, else relative (Twilio resolves it against the document's
/// own URL, the one it signed).
pub fn hook_url(config: &Config, path: &str, query: &[(&str, &str)]) -> String {
    let mut url = format!("{}{path}", config.public_url.as_deref().unwrap_or(""));
    if !query.is_empty() {
        url.push('?');
        url.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(query)
                .finish(),
        );
    }
    url
}

/// The mailbox of a number (`number:+14155550100`).
pub fn number_mailbox(number: &E164) -> MailboxId {
    format!("number:{number}")
}

/// The mailbox of a handset (`handset:desk-1`, by its id).
pub fn handset_mailbox(handset: &Handset) -> MailboxId {
    format!("handset:{}", handset.id)
}

/// The mailbox a call to `number` leaves its message in: the number's, or (per handset) the
/// first handset in the file that the number rings. `None` if it rings no handset.
pub fn mailbox_for_call(config: &Config, handsets: &Handsets, number: &E164) -> Option<MailboxId> {
    let first = handsets.ringing_for(number, &config.phone_number).next()?;
    Some(match config.mailbox_mode {
        MailboxMode::Number => number_mailbox(number),
        MailboxMode::Handset => handset_mailbox(first),
    })
}

/// The mailboxes a handset listens to: those of every number that rings it, or its own.
pub fn mailboxes_of(config: &Config, handset: &Handset) -> Vec<MailboxId> {
    match config.mailbox_mode {
        MailboxMode::Handset => vec![handset_mailbox(handset)],
        MailboxMode::Number if handset.numbers.is_empty() => {
            vec![number_mailbox(&config.phone_number)]
        }
        MailboxMode::Number => handset.numbers.iter().map(number_mailbox).collect(),
    }
}

/// Whether `mailbox` is one that calls can leave messages in under this configuration.
pub fn is_known_mailbox(config: &Config, handsets: &Handsets, mailbox: &str) -> bool {
    handsets
        .iter()
        .any(|h| mailboxes_of(config, h).iter().any(|m| m == mailbox))
}

/// A query's values of `name`, in order.
pub(crate) fn query_values<'a>(query: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    query
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A query's (or form's) first non-empty value of `name`, trimmed.
pub(crate) fn value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// A Twilio SID: its two-letter prefix and 32 hexadecimal digits.
pub(crate) fn is_sid(value: &str, prefix: &str) -> bool {
    value.len() == 34
        && value.starts_with(prefix)
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::tests::valid_settings;
    use crate::handsets::tests::{entry, toml_of};

    /// desk (101) and kitchen (102) on the main number (+447381234567), fax (103) on
    /// +12031234567.
    pub(crate) fn setup(extra: &[(&str, &str)]) -> (Config, Handsets) {
        let mut settings = valid_settings();
        for (k, v) in extra {
            settings.insert(k.to_string(), v.to_string());
        }
        let config = Config::from_settings(|n| settings.get(n).cloned()).unwrap();
        let mut fax = entry("fax", "103", "f");
        fax.numbers = vec!["+12031234567".into()];
        let file = toml_of(vec![
            entry("desk", "101", "d"),
            entry("kitchen", "102", "k"),
            fax,
        ]);
        (
            config,
            Handsets::from_toml(&file, Path::new("t.toml")).unwrap(),
        )
    }

    #[test]
    fn mailboxes_per_number_and_per_handset() {
        let (config, handsets) = setup(&[]);
        let main = E164::parse("+447381234567").unwrap();
        let fax_number = E164::parse("+12031234567").unwrap();
        assert_eq!(
            mailbox_for_call(&config, &handsets, &main).as_deref(),
            Some("number:+447381234567")
        );
        assert_eq!(
            mailbox_for_call(&config, &handsets, &E164::parse("+15550000000").unwrap()),
            None
        );
        let desk = handsets.by_id("desk").unwrap();
        assert_eq!(mailboxes_of(&config, desk), ["number:+447381234567"]);
        assert!(is_known_mailbox(&config, &handsets, "number:+12031234567"));
        assert!(!is_known_mailbox(&config, &handsets, "handset:desk"));

        let (config, handsets) = setup(&[("OFFHOOK_MAILBOX", "handset")]);
        assert_eq!(
            mailbox_for_call(&config, &handsets, &main).as_deref(),
            Some("handset:desk")
        );
        assert_eq!(
            mailbox_for_call(&config, &handsets, &fax_number).as_deref(),
            Some("handset:fax")
        );
        let kitchen = handsets.by_id("kitchen").unwrap();
        assert_eq!(mailboxes_of(&config, kitchen), ["handset:kitchen"]);
        assert!(is_known_mailbox(&config, &handsets, "handset:kitchen"));
        assert!(!is_known_mailbox(
            &config,
            &handsets,
            "number:+447381234567"
        ));
    }

    #[test]
    fn hook_urls_are_absolute_under_the_public_url_and_encoded() {
        let (config, _) = setup(&[]);
        assert_eq!(
            hook_url(
                &config,
                MENU_PATH,
                &[("mailbox", "number:+1"), ("msg", "3")]
            ),
            "/hooks/voicemail/menu?mailbox=number%3A%2B1&msg=3"
        );
        let (config, _) = setup(&[("OFFHOOK_PUBLIC_URL", "https://x.example/p/")]);
        assert_eq!(
            hook_url(&config, GOODBYE_PATH, &[]),
            "https://x.example/p/hooks/voicemail/goodbye"
        );
    }
}
