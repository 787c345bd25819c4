//! The Device's ICE servers: the config file's (`[device] ice_servers`,
//! `ice_transport_policy`) or offhook-server's (handed out beside each token, from Twilio's
//! Network Traversal Service), and which of them a call uses ([`choose`]): the file's when it
//! gives a list (even an empty one), else the server's, else none.
//!
//! A list reaches the Device between calls, never during one: the Device reads its options
//! when a call's media starts, and the glue ([`crate::app`]) only changes them while no call
//! is up.

use std::fmt;

use serde_json::Value;
use twilio_voice::options::{IceServer, IceTransportPolicy};

/// The most entries taken from the server (Twilio sends four or five).
pub const MAX_SERVER_ENTRIES: usize = 16;
/// The most URLs taken per entry.
pub const MAX_URLS: usize = 8;
/// The longest URL, username or credential taken from the server.
pub const MAX_FIELD: usize = 512;

/// ICE servers whose `Debug` shows the URLs and hides the credentials (a config or a token
/// answer may be logged).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct IceServerList(pub Vec<IceServer>);

impl fmt::Debug for IceServerList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|s| {
                let hidden = s.credential.as_ref().map(|_| "<hidden>");
                (&s.urls, &s.username, hidden)
            }))
            .finish()
    }
}

impl IceServerList {
    /// Whether any entry has a `turn:` or `turns:` URL.
    pub fn has_turn(&self) -> bool {
        self.0.iter().flat_map(|s| &s.urls).any(|u| is_turn(u))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

fn is_turn(url: &str) -> bool {
    url.starts_with("turn:") || url.starts_with("turns:")
}

/// Why the Device would refuse `url`, if it would.
pub fn check_url(url: &str) -> Result<(), String> {
    if is_turn(url) {
        twilio_voice::media::turn::parse_turn_url(url)
            .map(|_| ())
            .map_err(|e| format!("{url}: {e}"))
    } else if url.starts_with("stun:") {
        twilio_voice::media::stun::stun_server(url)
            .map(|_| ())
            .ok_or_else(|| format!("{url}: not a stun:host[:port] URL"))
    } else {
        Err(format!("{url}: not a stun:, turn: or turns: URL"))
    }
}

/// Why the Device would refuse `server`, if it would: a URL it cannot use, or a TURN server
/// without a username and a credential.
pub fn check_server(server: &IceServer) -> Result<(), String> {
    if server.urls.is_empty() {
        return Err("an ICE server needs at least one URL".into());
    }
    for url in &server.urls {
        check_url(url)?;
        let present = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
        if is_turn(url) && !(present(&server.username) && present(&server.credential)) {
            return Err(format!(
                "{url}: a TURN server needs a username and a credential"
            ));
        }
    }
    Ok(())
}

/// The token answer's `ice_servers` (`[{urls, username, credential}]`, `urls` a list or a
/// string, `url` standing in for it), as far as the Device can use them: the entries it would
/// refuse are left out and described in the second list. Nothing here fails the token.
pub fn from_token_answer(value: &Value) -> (IceServerList, Vec<String>) {
    let mut servers = Vec::new();
    let mut dropped = Vec::new();
    let Some(entries) = value.as_array() else {
        return (
            IceServerList::default(),
            vec!["ice_servers is not a list".into()],
        );
    };
    for (i, entry) in entries.iter().enumerate() {
        if servers.len() == MAX_SERVER_ENTRIES {
            dropped.push(format!("entries past the first {MAX_SERVER_ENTRIES}"));
            break;
        }
        match server_entry(entry) {
            Ok(server) => servers.push(server),
            Err(why) => dropped.push(format!("entry {i}: {why}")),
        }
    }
    (IceServerList(servers), dropped)
}

fn server_entry(entry: &Value) -> Result<IceServer, String> {
    let text = |v: &Value| -> Result<String, String> {
        match v.as_str() {
            Some(s) if s.len() <= MAX_FIELD => Ok(s.trim().to_string()),
            Some(_) => Err(format!("longer than {MAX_FIELD} characters")),
            None => Err("not a string".into()),
        }
    };
    let urls = match entry.get("urls").or_else(|| entry.get("url")) {
        Some(one @ Value::String(_)) => vec![text(one)?],
        Some(Value::Array(list)) if list.len() <= MAX_URLS => {
            list.iter().map(text).collect::<Result<Vec<_>, _>>()?
        }
        Some(Value::Array(_)) => return Err(format!("more than {MAX_URLS} URLs")),
        _ => return Err("no urls".into()),
    };
    let optional = |name: &str| -> Result<Option<String>, String> {
        match entry.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => text(v).map(Some).map_err(|e| format!("{name}: {e}")),
        }
    };
    let server = IceServer {
        urls,
        username: optional("username")?,
        credential: optional("credential")?,
    };
    check_server(&server)?;
    Ok(server)
}

/// Where the Device's ICE servers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceSource {
    /// `[device] ice_servers` in the config file.
    Config,
    /// offhook-server, beside the token.
    Server,
    /// Neither gives any.
    None,
}

/// The ICE servers and policy the Device gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceChoice {
    pub servers: IceServerList,
    /// What the Device is told: the file's policy, except that relay-only without a TURN server
    /// is given as `All` (the Device refuses relay-only options without one) with
    /// [`IceChoice::relay_missing`] set, so that the glue refuses calls instead.
    pub policy: IceTransportPolicy,
    pub source: IceSource,
    /// The file asks for relay-only and no TURN server is known: no call may go ahead (it
    /// would either fail or, worse, not go through a relay).
    pub relay_missing: bool,
}

/// The file's list when it gives one, else the server's; `policy` is the file's.
pub fn choose(
    local: Option<&IceServerList>,
    server: Option<&IceServerList>,
    policy: IceTransportPolicy,
) -> IceChoice {
    let (servers, source) = match (local, server) {
        (Some(list), _) => (list.clone(), IceSource::Config),
        (None, Some(list)) => (list.clone(), IceSource::Server),
        (None, None) => (IceServerList::default(), IceSource::None),
    };
    let relay_missing = policy == IceTransportPolicy::Relay && !servers.has_turn();
    IceChoice {
        servers,
        policy: if relay_missing {
            IceTransportPolicy::All
        } else {
            policy
        },
        source,
        relay_missing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server(urls: &[&str], creds: Option<(&str, &str)>) -> IceServer {
        IceServer {
            urls: urls.iter().map(|u| u.to_string()).collect(),
            username: creds.map(|c| c.0.to_string()),
            credential: creds.map(|c| c.1.to_string()),
        }
    }

    #[test]
    fn the_servers_answer_is_taken_as_far_as_the_device_can_use_it() {
        let answer = json!([
            { "urls": ["stun:global.stun.twilio.com:3478"] },
            // Twilio's own shape: `url` and `urls` both strings.
            { "url": "turn:global.turn.twilio.com:3478?transport=udp",
              "urls": "turn:global.turn.twilio.com:3478?transport=udp",
              "username": "u", "credential": "c" },
            { "urls": ["turn:relay.example.com"] },
            { "urls": ["turns:relay.example.com?transport=udp"], "username": "u", "credential": "c" },
            { "urls": "http://x" },
            { "urls": 42 },
            "nonsense",
            { "urls": ["stun:a.example"], "username": 7 },
        ]);
        let (list, dropped) = from_token_answer(&answer);
        assert_eq!(
            list.0,
            vec![
                server(&["stun:global.stun.twilio.com:3478"], None),
                server(
                    &["turn:global.turn.twilio.com:3478?transport=udp"],
                    Some(("u", "c"))
                ),
            ]
        );
        assert_eq!(dropped.len(), 6, "{dropped:?}");
        assert!(
            dropped[0].contains("username and a credential"),
            "{dropped:?}"
        );
        assert!(
            !format!("{list:?}").contains("\"c\""),
            "credentials hidden: {list:?}"
        );
        let (none, why) = from_token_answer(&json!({"urls": "stun:x"}));
        assert!(none.is_empty() && why.len() == 1);
        let many = json!(vec![json!({"urls": "stun:x.example"}); 40]);
        assert_eq!(from_token_answer(&many).0.len(), MAX_SERVER_ENTRIES);
    }

    #[test]
    fn the_file_wins_then_the_server_and_relay_needs_a_turn_server() {
        let local = IceServerList(vec![server(&["turn:local.example:3478"], Some(("l", "p")))]);
        let remote = IceServerList(vec![server(&["stun:remote.example"], None)]);
        let all = IceTransportPolicy::All;
        let relay = IceTransportPolicy::Relay;
        let c = choose(Some(&local), Some(&remote), relay);
        assert_eq!(
            (c.source, c.policy, c.relay_missing),
            (IceSource::Config, relay, false)
        );
        assert_eq!(c.servers, local);
        let c = choose(None, Some(&remote), all);
        assert_eq!(
            (c.source, c.servers.clone()),
            (IceSource::Server, remote.clone())
        );
        // Relay-only with only STUN known: the Device gets `All`, and calls are refused.
        let c = choose(None, Some(&remote), relay);
        assert_eq!((c.policy, c.relay_missing), (all, true));
        // An empty list in the file is the file's choice: no servers, not the server's.
        let c = choose(Some(&IceServerList::default()), Some(&remote), all);
        assert_eq!((c.source, c.servers.is_empty()), (IceSource::Config, true));
        let c = choose(None, None, all);
        assert_eq!((c.source, c.relay_missing), (IceSource::None, false));
    }
}
