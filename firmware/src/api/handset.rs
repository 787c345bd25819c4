//! The handset's own routes on offhook-server: its mailbox and its settings. Each answer is
//! checked before the phone sees it — the JSON shape, and sizes and characters a screen can
//! show — so a server that sends something odd gets a clear error, never a panic. The JSON
//! types are the phone's ([`crate::phone::remote`]).

use crate::phone::{Forwarding, ServerSettings, SettingsUpdate, VoicemailCount, VoicemailList};

use super::{RequestError, ServerEndpoint};

/// `GET`: the mailbox (counts and messages, newest first).
pub const VOICEMAIL_PATH: &str = "api/handset/voicemail";
/// `GET` / `PUT`: do-not-disturb and forwarding.
pub const SETTINGS_PATH: &str = "api/handset/settings";
/// `GET`: the server-sent events (`voicemail`, `settings`, `config`).
pub const EVENTS_PATH: &str = "api/handset/events";

/// Largest answer read (a full mailbox is a few tens of KiB).
const MAX_BODY: usize = 512 * 1024;
/// Most messages taken from one answer (the phone keeps fewer).
const MAX_MESSAGES: usize = 1000;
/// Longest caller, forwarding or speed-dial number accepted.
const MAX_NUMBER: usize = 64;
/// Longest no-answer delay accepted (an hour).
const MAX_AFTER_SECS: u32 = 3600;
/// The most of a server's error message kept for the screen.
const MAX_MESSAGE: usize = 80;

/// Why a handset request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Request(#[from] RequestError),
    /// 401/403: the device's credentials are not accepted.
    #[error("device credentials rejected")]
    Rejected,
    /// Any other status; `message` is the server's own (`{"error":{"message":…}}`), if any.
    #[error("the server answered HTTP {status}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        status: u16,
        message: Option<String>,
    },
    #[error("unexpected answer from the server: {0}")]
    BadResponse(String),
}

impl ApiError {
    /// A few words for the handset's screen (`Not saved: …`).
    pub fn short(&self) -> String {
        match self {
            ApiError::Request(RequestError::NoNetwork(_)) => "no network".into(),
            ApiError::Request(_) => "server unreachable".into(),
            ApiError::Rejected => "handset not accepted".into(),
            ApiError::Status {
                message: Some(m), ..
            } => m.clone(),
            ApiError::Status { status, .. } => format!("server error {status}"),
            ApiError::BadResponse(_) => "bad answer from the server".into(),
        }
    }

    /// The server does not know the route or this handset: no use trying again soon.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            ApiError::Rejected | ApiError::Status { status: 404, .. }
        )
    }
}

/// `GET /api/handset/voicemail`.
pub async fn get_voicemail(endpoint: &ServerEndpoint) -> Result<VoicemailList, ApiError> {
    let response = endpoint
        .request(http::Method::GET, VOICEMAIL_PATH, None, MAX_BODY)
        .await?;
    answer(response.status, &response.body, parse_voicemail_list)
}

/// `GET /api/handset/settings`.
pub async fn get_settings(endpoint: &ServerEndpoint) -> Result<ServerSettings, ApiError> {
    let response = endpoint
        .request(http::Method::GET, SETTINGS_PATH, None, MAX_BODY)
        .await?;
    answer(response.status, &response.body, parse_settings)
}

/// `PUT /api/handset/settings` with only the fields to change; the answer is the settings
/// now in force.
pub async fn put_settings(
    endpoint: &ServerEndpoint,
    update: &SettingsUpdate,
) -> Result<ServerSettings, ApiError> {
    let body = serde_json::to_vec(update)
        .map_err(|e| ApiError::BadResponse(format!("cannot encode the change: {e}")))?;
    let response = endpoint
        .request(http::Method::PUT, SETTINGS_PATH, Some(body), MAX_BODY)
        .await?;
    answer(response.status, &response.body, parse_settings)
}

/// What an answer means: 200 with a body `parse` accepts, or the error.
pub fn answer<T>(
    status: u16,
    body: &[u8],
    parse: impl FnOnce(&[u8]) -> Result<T, String>,
) -> Result<T, ApiError> {
    match status {
        200 => parse(body).map_err(ApiError::BadResponse),
        401 | 403 => Err(ApiError::Rejected),
        status => Err(ApiError::Status {
            status,
            message: error_message(body),
        }),
    }
}

/// The message of `{"error":{"code":…,"message":…}}`, cut to fit a screen.
fn error_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Wrapper {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        message: String,
    }
    let wrapper: Wrapper = serde_json::from_slice(body).ok()?;
    let message = printable(&wrapper.error.message);
    let message = message.trim();
    if message.is_empty() {
        return None;
    }
    Some(if message.chars().count() > MAX_MESSAGE {
        let cut: String = message.chars().take(MAX_MESSAGE - 3).collect();
        format!("{cut}...")
    } else {
        message.to_string()
    })
}

/// `text` without control characters (a screen and a log line cannot show them).
pub(super) fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// A number as the server sends it (a caller, a forwarding target): printable, not too long.
pub(super) fn check_number(what: &str, number: &str) -> Result<String, String> {
    if number.chars().count() > MAX_NUMBER {
        return Err(format!("{what} is longer than {MAX_NUMBER} characters"));
    }
    Ok(printable(number).trim().to_string())
}

/// `body` as a JSON object of type `T` (serde would also take an array for a struct; the
/// contract's shapes are objects).
pub(super) fn object<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, String> {
    if body.trim_ascii_start().first() != Some(&b'{') {
        return Err(format!("not {what}: not a JSON object"));
    }
    serde_json::from_slice(body).map_err(|e| format!("not {what}: {e}"))
}

/// The `voicemail` event's data: `{"new":N,"saved":M}`.
pub fn parse_count(data: &[u8]) -> Result<VoicemailCount, String> {
    object(data, "a voicemail count")
}

/// `GET /api/handset/voicemail`'s body.
pub fn parse_voicemail_list(body: &[u8]) -> Result<VoicemailList, String> {
    let mut list: VoicemailList = object(body, "a mailbox")?;
    if list.messages.len() > MAX_MESSAGES {
        list.messages.truncate(MAX_MESSAGES);
    }
    for message in &mut list.messages {
        message.caller = check_number("a caller", &message.caller)?;
    }
    Ok(list)
}

/// The `settings` event's data and `GET|PUT /api/handset/settings`'s body.
pub fn parse_settings(body: &[u8]) -> Result<ServerSettings, String> {
    let mut settings: ServerSettings = object(body, "settings")?;
    settings.forwarding = check_forwarding(settings.forwarding)?;
    Ok(settings)
}

/// Forwarding as the server sends it (in the settings, and in the provisioned config):
/// a delay of at most an hour, a number a screen can show.
pub(super) fn check_forwarding(mut forwarding: Forwarding) -> Result<Forwarding, String> {
    if forwarding.after_secs > MAX_AFTER_SECS {
        return Err(format!(
            "forwarding after {} s is more than {MAX_AFTER_SECS} s",
            forwarding.after_secs
        ));
    }
    forwarding.to = match forwarding.to.take() {
        Some(to) => Some(check_number("a forwarding number", &to)?).filter(|t| !t.is_empty()),
        None => None,
    };
    Ok(forwarding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::{ForwardMode, MessageState};

    #[test]
    fn the_contracts_shapes_parse() {
        let list = parse_voicemail_list(
            br#"{"new":1,"saved":1,"messages":[
                {"id":2,"caller":"+15550100","received_at":1795269900,"duration_secs":3,"state":"new"},
                {"id":1,"caller":"201","received_at":1795260000,"duration_secs":40,"state":"saved"}]}"#,
        )
        .expect("mailbox");
        assert_eq!(list.count(), VoicemailCount { new: 1, saved: 1 });
        assert_eq!(list.messages[1].state, MessageState::Saved);
        let settings = parse_settings(
            br#"{"dnd":false,"forwarding":{"mode":"busy","to":"+15550100","after_secs":20}}"#,
        )
        .expect("settings");
        assert_eq!(settings.forwarding.mode, ForwardMode::Busy);
        assert_eq!(
            parse_count(br#"{"new":3,"saved":0}"#),
            Ok(VoicemailCount { new: 3, saved: 0 })
        );
    }

    #[test]
    fn odd_answers_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"{}",
            b"[1,2]",
            br#"{"new":-1,"saved":0}"#,
            br#"{"new":1e99,"saved":0}"#,
            b"\xff\xfe",
        ] {
            assert!(parse_count(bad).is_err(), "{bad:?}");
            assert!(parse_voicemail_list(bad).is_err(), "{bad:?}");
            assert!(parse_settings(bad).is_err(), "{bad:?}");
        }
        let long = format!(
            r#"{{"dnd":true,"forwarding":{{"mode":"always","to":"{}","after_secs":5}}}}"#,
            "9".repeat(200)
        );
        assert!(parse_settings(long.as_bytes()).is_err());
        assert!(
            parse_settings(
                br#"{"dnd":true,"forwarding":{"mode":"always","to":"1","after_secs":99999}}"#
            )
            .is_err()
        );
        // Control characters are dropped, not shown.
        let list = parse_voicemail_list(
            br#"{"new":0,"saved":1,"messages":[{"id":1,"caller":"+1\u001b[2J555","received_at":0,"duration_secs":1,"state":"saved"}]}"#,
        )
        .expect("mailbox");
        assert_eq!(list.messages[0].caller, "+1[2J555");
    }

    #[test]
    fn statuses_and_the_servers_message() {
        let ok = |b: &[u8]| parse_count(b);
        assert_eq!(answer(401, b"", ok), Err(ApiError::Rejected));
        let e = answer(
            400,
            br#"{"error":{"code":"bad_forwarding","message":"forwarding needs a number"}}"#,
            ok,
        )
        .unwrap_err();
        assert_eq!(e.short(), "forwarding needs a number");
        let e = answer(500, b"<html>oops</html>", ok).unwrap_err();
        assert_eq!(e.short(), "server error 500");
        assert!(answer(404, b"", ok).unwrap_err().is_refusal());
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x".repeat(500));
        let e = answer(400, long.as_bytes(), ok).unwrap_err();
        assert_eq!(e.short().chars().count(), MAX_MESSAGE);
        assert_eq!(
            ApiError::Request(RequestError::Unreachable("refused".into())).short(),
            "server unreachable"
        );
    }
}
