//! The settings check (`offhook-server check`, and the System page of `/admin`): what the
//! server was configured with, in words, and the webhook URLs to paste into the Twilio console.

use crate::config::{Config, IceServersMode, MailboxMode};

/// One webhook to set in the Twilio console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// Where it goes in the console.
    pub place: String,
    pub url: String,
}

/// The settings that matter, as (name, value) pairs (no secrets).
pub fn settings(config: &Config) -> Vec<(String, String)> {
    vec![
        ("Account".to_string(), config.account_sid.clone()),
        ("Phone number".into(), config.phone_number.to_string()),
        ("API key".into(), config.api_key.clone()),
        ("TwiML app".into(), config.app_sid.clone()),
        (
            "Default country".into(),
            format!(
                "{} ({})",
                config.default_country.name, config.default_country.iso
            ),
        ),
        (
            "Token lifetime".into(),
            format!("{} s", config.token_ttl_secs),
        ),
        ("Listening on".into(), config.listen.to_string()),
        (
            "Public URL".into(),
            config
                .public_url
                .clone()
                .unwrap_or_else(|| "not set (taken from each request's Host)".into()),
        ),
        (
            "Trusted proxies".into(),
            if config.trust_proxy.is_empty() {
                "none".into()
            } else {
                "set (OFFHOOK_TRUST_PROXY)".into()
            },
        ),
        ("Voicemail".into(), voicemail_summary(config)),
        ("Twilio API".into(), config.twilio_api_url.clone()),
        (
            "ICE servers".into(),
            match config.ice_servers {
                IceServersMode::Twilio => {
                    "from Twilio's Network Traversal Service, with each token".into()
                }
                IceServersMode::Off => "off: tokens go out without ICE servers".into(),
            },
        ),
        (
            "Handsets file".into(),
            config.handsets_path.display().to_string(),
        ),
    ]
}

/// `one mailbox per number, calls ring 20 s`.
pub fn voicemail_summary(config: &Config) -> String {
    let mailbox = match config.mailbox_mode {
        MailboxMode::Number => "number",
        MailboxMode::Handset => "handset",
    };
    format!(
        "one mailbox per {mailbox}, calls ring {} s",
        config.dial_timeout_secs
    )
}

/// The webhooks, under `base` (the public URL, or the best guess at it).
pub fn webhooks(config: &Config, base: &str) -> Vec<Webhook> {
    let base = base.trim_end_matches('/');
    vec![
        Webhook {
            place: format!(
                "Phone number {} → A call comes in → Webhook",
                config.phone_number
            ),
            url: format!("{base}/hooks/voice"),
        },
        Webhook {
            place: format!("TwiML app {} → Voice request URL", config.app_sid),
            url: format!("{base}/hooks/call/connect"),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::valid_settings;

    #[test]
    fn the_check_names_the_settings_and_the_webhooks() {
        let s = valid_settings();
        let config = Config::from_settings(|n| s.get(n).cloned()).unwrap();
        let settings = settings(&config);
        assert!(
            settings
                .iter()
                .any(|(k, v)| k == "Phone number" && v == "+447381234567")
        );
        assert!(
            !format!("{settings:?}").contains("fedcba9876543210"),
            "no secrets"
        );
        let hooks = webhooks(&config, "https://x.example/");
        assert_eq!(hooks[0].url, "https://x.example/hooks/voice");
        assert_eq!(hooks[1].url, "https://x.example/hooks/call/connect");
        assert_eq!(
            voicemail_summary(&config),
            "one mailbox per number, calls ring 20 s"
        );
    }
}
