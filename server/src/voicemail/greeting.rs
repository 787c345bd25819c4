//! Recording a mailbox's greeting from the handset: `0` at the mailbox menu (or at an empty
//! mailbox) asks for the greeting and `<Record>`s it; the `<Record action>` keeps the
//! recording's URL as the greeting, which callers then hear before the beep instead of the
//! default text.

use crate::calls::{Outcome, Plan};
use crate::config::Config;
use crate::store::voicemail::MailboxId;
use crate::twiml::{Gather, Prompt, Record, Response};

use super::{GREETING_PATH, hook_url, menu};

/// The longest greeting, seconds.
pub const MAX_GREETING_SECS: u32 = 60;

pub const SAY_RECORD_GREETING: &str =
    "After the tone, say your greeting. Press pound when you are done.";
pub const SAY_OFFER: &str = "To record your greeting, press 0.";
pub const SAY_SAVED: &str = "Your greeting is saved. Goodbye.";
pub const SAY_NOTHING_RECORDED: &str = "No greeting was recorded. Goodbye.";
pub const SAY_GOODBYE: &str = "Goodbye.";

/// The greeting hook's URL for these mailboxes.
pub fn url(config: &Config, mailboxes: &[MailboxId]) -> String {
    let query: Vec<(&str, &str)> = mailboxes.iter().map(|m| ("mailbox", m.as_str())).collect();
    hook_url(config, GREETING_PATH, &query)
}

/// The prompt, the beep and the recording.
pub fn record(config: &Config, mailboxes: &[MailboxId]) -> Response {
    Response::new()
        .say(SAY_RECORD_GREETING)
        .record(Record {
            action: url(config, mailboxes),
            max_length_secs: MAX_GREETING_SECS,
            timeout_secs: super::deposit::SILENCE_SECS,
            finish_on_key: "#".into(),
            play_beep: true,
            status_callback: None,
        })
        .say(SAY_NOTHING_RECORDED)
        .hangup()
}

/// An empty mailbox: the counts were said; offer the greeting, then goodbye.
pub fn offer(config: &Config, mailboxes: &[MailboxId]) -> Response {
    Response::new()
        .gather(Gather {
            action: url(config, mailboxes),
            num_digits: 1,
            timeout_secs: menu::KEY_TIMEOUT_SECS,
            prompts: vec![Prompt::Say(SAY_OFFER.into())],
        })
        .say(SAY_GOODBYE)
        .hangup()
}

/// What the greeting hook was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A recording ended: keep it (`None`: nothing was recorded).
    Recorded(Option<String>),
    /// A key at the offer: `0` records.
    Key(String),
}

impl Request {
    /// From the hook's parameters: a `<Record action>` carries `RecordingUrl` and
    /// `RecordingDuration` (0 or absent: nothing to keep); a `<Gather action>` carries `Digits`.
    pub fn from_params(params: &[(String, String)]) -> Request {
        let value = |name: &str| crate::calls::param(params, name).filter(|v| !v.is_empty());
        if let Some(url) = value("RecordingUrl") {
            let seconds: u32 = value("RecordingDuration")
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
            let usable = seconds > 0 && (url.starts_with("https://") || url.starts_with("http://"));
            return Request::Recorded(usable.then(|| url.to_string()));
        }
        Request::Key(value("Digits").unwrap_or_default().to_string())
    }
}

/// The answer once the greeting was kept, or not.
pub fn after(config: &Config, mailboxes: &[MailboxId], request: &Request, saved: bool) -> Plan {
    let twiml = match request {
        Request::Recorded(Some(_)) if saved => Response::new().say(SAY_SAVED).hangup(),
        Request::Recorded(Some(_)) => menu::unavailable(),
        Request::Recorded(None) => Response::new().say(SAY_NOTHING_RECORDED).hangup(),
        Request::Key(key) if key == "0" => record(config, mailboxes),
        Request::Key(_) => Response::new().say(SAY_GOODBYE).hangup(),
    };
    Plan {
        twiml,
        outcome: Outcome::Mailbox(mailboxes.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::voicemail::tests::setup;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_recording_with_sound_is_kept_and_an_empty_one_is_not() {
        let url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1";
        assert_eq!(
            Request::from_params(&p(&[("RecordingUrl", url), ("RecordingDuration", "4")])),
            Request::Recorded(Some(url.into()))
        );
        for duration in ["0", "", "x"] {
            assert_eq!(
                Request::from_params(&p(&[
                    ("RecordingUrl", url),
                    ("RecordingDuration", duration)
                ])),
                Request::Recorded(None),
                "{duration:?}"
            );
        }
        assert_eq!(
            Request::from_params(&p(&[
                ("RecordingUrl", "javascript:x"),
                ("RecordingDuration", "4")
            ])),
            Request::Recorded(None)
        );
        assert_eq!(
            Request::from_params(&p(&[("Digits", "0")])),
            Request::Key("0".into())
        );
        assert_eq!(Request::from_params(&[]), Request::Key(String::new()));
    }

    #[test]
    fn zero_records_and_other_keys_say_goodbye() {
        let (config, _) = setup(&[("OFFHOOK_PUBLIC_URL", "https://p.example")]);
        let mailboxes = vec!["number:+447381234567".to_string()];
        let zero = after(&config, &mailboxes, &Request::Key("0".into()), false)
            .twiml
            .to_xml();
        assert!(zero.contains(SAY_RECORD_GREETING), "{zero}");
        assert!(
            zero.contains(
                "action=\"https://p.example/hooks/voicemail/greeting?mailbox=number%3A%2B447381234567\""
            ),
            "{zero}"
        );
        assert!(zero.contains("maxLength=\"60\""), "{zero}");
        let other = after(&config, &mailboxes, &Request::Key("5".into()), false)
            .twiml
            .to_xml();
        assert!(!other.contains("<Record"), "{other}");
        let saved = after(
            &config,
            &mailboxes,
            &Request::Recorded(Some("https://x/RE1".into())),
            true,
        )
        .twiml
        .to_xml();
        assert!(saved.contains(SAY_SAVED), "{saved}");
        let failed = after(
            &config,
            &mailboxes,
            &Request::Recorded(Some("https://x/RE1".into())),
            false,
        )
        .twiml
        .to_xml();
        assert!(failed.contains(menu::SAY_UNAVAILABLE), "{failed}");
    }
}
