//! The pages' templates (`server/templates/`, askama: every value is HTML-escaped unless a
//! template says otherwise, and none does) and the plain data they show.

use askama::Template;

/// What every page's frame shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    pub title: String,
    /// Where the pages live (`/admin`, under any path prefix of the public URL).
    pub base: String,
    /// The navigation entry to mark as current.
    pub section: &'static str,
    /// The signed-in admin (`None`: the sign-in and setup pages).
    pub user: Option<String>,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// An option of a `<select>`.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    pub fn new(value: &str, label: &str, current: &str) -> Choice {
        Choice {
            value: value.to_string(),
            label: label.to_string(),
            selected: value == current,
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage {
    pub layout: Layout,
    pub text: String,
    pub link: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    pub layout: Layout,
    pub form_token: String,
    pub username: String,
    pub no_admin: bool,
    pub setup_log_text: &'static str,
}

#[derive(Template)]
#[template(path = "setup.html")]
pub(crate) struct SetupPage {
    pub layout: Layout,
    pub form_token: String,
    pub token: String,
    pub username: String,
    pub min_password: usize,
}

/// A handset as the list shows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct HandsetRow {
    pub id: String,
    pub name: String,
    pub extension: String,
    pub numbers: String,
    pub online: bool,
    pub registered: bool,
    pub registration: String,
    pub edge: String,
    pub last_seen: String,
    pub firmware: String,
    pub address: String,
    pub last_error: String,
}

#[derive(Template)]
#[template(path = "handsets.html")]
pub(crate) struct HandsetsPage {
    pub layout: Layout,
    pub editable: bool,
    pub rows: Vec<HandsetRow>,
}

/// The add-a-handset form's values.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewHandsetForm {
    pub name: String,
    pub device_id: String,
    pub extension: String,
    pub numbers: String,
    pub server_url: String,
}

#[derive(Template)]
#[template(path = "handset_new.html")]
pub(crate) struct NewHandsetPage {
    pub layout: Layout,
    pub form: NewHandsetForm,
    pub main_number: String,
}

#[derive(Template)]
#[template(path = "handset_secret.html")]
pub(crate) struct SecretPage {
    pub layout: Layout,
    pub name: String,
    pub device_id: String,
    pub secret: String,
    pub toml: String,
    pub toml_data_url: String,
    pub qr_data_url: String,
}

#[derive(Template)]
#[template(path = "handset_remove.html")]
pub(crate) struct RemovePage {
    pub layout: Layout,
    pub name: String,
    pub device_id: String,
}

#[derive(Template)]
#[template(path = "handset.html")]
pub(crate) struct HandsetPage {
    pub layout: Layout,
    pub editable: bool,
    pub h: HandsetRow,
    pub uptime: String,
    pub main_number: String,
    pub numbers_text: String,
    pub dnd: bool,
    pub forward_modes: Vec<Choice>,
    pub forward_to: String,
    pub after_secs: u32,
    pub cadences: Vec<Choice>,
    pub countries: Vec<Choice>,
    pub default_country: String,
    pub digit_map: String,
    pub volume_ring: String,
    pub volume_earpiece: String,
    pub volume_speaker: String,
    pub codec_choices: Vec<Choice>,
    pub edges: String,
    pub known_edges: String,
    pub speed_dials: Vec<(String, String)>,
    pub contacts: Vec<(String, String)>,
    pub config_json: String,
    pub config_etag: String,
}

/// A message as the voicemail page shows it.
#[derive(Debug, Clone)]
pub(crate) struct MessageRow {
    pub id: i64,
    pub caller: String,
    pub received: String,
    pub duration: String,
    pub state: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct MailboxView {
    pub title: String,
    pub new: u32,
    pub saved: u32,
    pub messages: Vec<MessageRow>,
}

#[derive(Template)]
#[template(path = "voicemail.html")]
pub(crate) struct VoicemailPage {
    pub layout: Layout,
    pub mailboxes: Vec<MailboxView>,
}

/// A call as the log shows it.
#[derive(Debug, Clone)]
pub(crate) struct CallRow {
    pub time: String,
    pub direction: &'static str,
    pub from: String,
    pub to: String,
    pub handset: String,
    pub duration: String,
    pub result: String,
}

#[derive(Template)]
#[template(path = "calls.html")]
pub(crate) struct CallsPage {
    pub layout: Layout,
    pub query: String,
    pub calls: Vec<CallRow>,
    pub newer: Option<String>,
    pub older: Option<String>,
}

#[derive(Template)]
#[template(path = "system.html")]
pub(crate) struct SystemPage {
    pub layout: Layout,
    pub settings: Vec<(String, String)>,
    pub webhooks: Vec<(String, String)>,
    pub public_url_set: bool,
    pub database_url: String,
    pub database_ok: bool,
    pub database_error: String,
    pub schema: String,
    pub pending: usize,
    pub version: &'static str,
    pub streams: usize,
    pub ice: IceView,
}

/// The ICE servers' fetch from Twilio's Network Traversal Service, as the System page shows it.
#[derive(Debug, Clone, Default)]
pub(crate) struct IceView {
    /// `OFFHOOK_ICE_SERVERS=twilio`.
    pub enabled: bool,
    /// Tokens go out with a list that is not stale.
    pub ok: bool,
    /// In words: `4 servers, fresh`, `4 servers, stale: …`, `none yet: …`.
    pub state: String,
    pub fetched: String,
    pub expires: String,
    pub next_fetch: String,
    pub failures: u32,
    /// `2026-11-21 12:00 UTC: the words` (`—` for none).
    pub last_failure: String,
}

/// A time as the pages show it: `2026-11-21 12:00 UTC` (`—` for none).
pub(crate) fn time(unix: Option<i64>) -> String {
    let Some(unix) = unix else {
        return "—".into();
    };
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return "—".into();
    };
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    at.format(&format).unwrap_or_else(|_| "—".into())
}

/// A length of time: `42 s`, `3 min 5 s`, `2 h 3 min`, `4 d 2 h`.
pub(crate) fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        3600..86400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86400, secs % 86400 / 3600),
    }
}

/// An empty text shown as a dash.
pub(crate) fn or_dash(text: Option<&str>) -> String {
    match text.map(str::trim) {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let page = MessagePage {
            layout: Layout {
                title: "<b>t</b>".into(),
                base: "/admin".into(),
                ..Layout::default()
            },
            text: "<script>alert(1)</script>".into(),
            link: Some(("/x\"onclick=\"y".into(), "a&b".into())),
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{html}"
        );
        assert!(!html.contains("\"onclick"), "{html}");
        assert!(html.contains("a&#38;b"), "{html}");
    }

    #[test]
    fn times_and_lengths() {
        assert_eq!(time(Some(1_795_262_400)), "2026-11-21 12:00 UTC");
        assert_eq!(time(None), "—");
        assert_eq!(duration(42), "42 s");
        assert_eq!(duration(185), "3 min 5 s");
        assert_eq!(duration(7380), "2 h 3 min");
        assert_eq!(duration(93600), "1 d 2 h");
    }
}
