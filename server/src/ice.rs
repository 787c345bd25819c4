//! The handsets' ICE servers: STUN and TURN from Twilio's Network Traversal Service (NTS),
//! handed out beside every token (`POST /api/token/generate`) so that a handset behind a
//! firewall that blocks UDP still gets audio through a TURN relay.
//!
//! One list per process ([`IceServers`], in the [`crate::AppState`]): fetched with
//! `POST …/Tokens.json` ([`crate::twilio_api::TwilioApi::create_ice_token`]), kept for its
//! lifetime and fetched again at half of it, so that every list a handset gets is good for at
//! least half of Twilio's TTL (12 h by default) — longer than its token. Fetches are
//! single-flight: at most one runs, started by the refresher task ([`crate::worker`]) or by a
//! token request that finds the list due. A token request waits for a fetch only when it has
//! nothing usable (none yet, or expired), and then at most [`FIRST_FETCH_WAIT`].
//!
//! When Twilio cannot be reached the last good list is still handed out, marked stale
//! (`ice_servers_stale: true`), and fetches are retried with a doubling pause
//! ([`RETRY_MIN`] to [`RETRY_MAX`]). With none ever fetched the token is still served, without
//! ICE servers and with the reason. A token is never refused for want of ICE servers.
//!
//! [`IceCache`] is the sans-IO core (list, failures, deadlines, answers, all in the caller's
//! time); [`IceServers`] is its shell (the lock, the fetch task, the wait).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

use crate::config::IceServersMode;
use crate::http::AppState;

/// The lifetime asked of Twilio for the credentials (its default and its maximum, a day).
pub const NTS_TTL_SECS: u64 = 86_400;
/// How long a token request waits for a fetch when there is no usable list.
pub const FIRST_FETCH_WAIT: Duration = Duration::from_secs(3);
/// The pause after the first failed fetch; it doubles with each failure in a row…
pub const RETRY_MIN: Duration = Duration::from_secs(5);
/// …up to this.
pub const RETRY_MAX: Duration = Duration::from_secs(300);
/// The most entries kept from an answer (Twilio sends four or five).
pub const MAX_ENTRIES: usize = 16;
/// The most URLs kept per entry.
pub const MAX_URLS: usize = 8;
/// The longest URL, username or credential kept.
pub const MAX_FIELD: usize = 512;

/// One STUN or TURN server, in the JS SDK's shape (`RTCIceServer`: `urls`, `username`,
/// `credential`): what the token endpoint hands out.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl std::fmt::Debug for IceServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username.as_ref().map(|_| "…"))
            .field("credential", &self.credential.as_ref().map(|_| "…"))
            .finish()
    }
}

/// A usable answer of the Tokens resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NtsToken {
    pub ice_servers: Vec<IceServer>,
    /// How long the credentials are good for (at most [`NTS_TTL_SECS`]).
    pub ttl: Duration,
}

/// Reads Twilio's answer to `POST …/Tokens.json`:
/// `{"ice_servers": [{"url", "urls", "username", "credential"}, …], "ttl": "86400", …}`.
/// `urls` may be a string (as Twilio sends it) or a list (as `RTCIceServer` allows); `url`
/// stands in when `urls` is missing. Entries without a `stun:`, `turn:` or `turns:` URL, or
/// with fields too long to be real, are dropped; the `ttl` (a string or a number of seconds)
/// must be there.
pub fn parse_nts_answer(body: &[u8]) -> Result<NtsToken, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let ttl_secs = match value.get("ttl") {
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
    .filter(|t| *t > 0)
    .ok_or("no ttl (seconds) in the answer")?;
    let entries = match value.get("ice_servers") {
        Some(Value::Array(entries)) => entries,
        _ => return Err("no ice_servers list in the answer".into()),
    };
    let ice_servers = entries.iter().filter_map(entry).take(MAX_ENTRIES).collect();
    Ok(NtsToken {
        ice_servers,
        ttl: Duration::from_secs(ttl_secs.min(NTS_TTL_SECS)),
    })
}

/// One entry of the answer, if it is usable.
fn entry(value: &Value) -> Option<IceServer> {
    let text = |v: &Value| v.as_str().map(str::trim).map(str::to_string);
    let urls: Vec<String> = match value.get("urls").or_else(|| value.get("url"))? {
        Value::String(url) => vec![url.trim().to_string()],
        Value::Array(list) => list.iter().filter_map(text).collect(),
        _ => return None,
    };
    let urls: Vec<String> = urls
        .into_iter()
        .filter(|u| is_ice_url(u))
        .take(MAX_URLS)
        .collect();
    let field = |name: &str| -> Result<Option<String>, ()> {
        match value.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() <= MAX_FIELD && !s.chars().any(char::is_control) => {
                Ok(Some(s.clone()))
            }
            Some(_) => Err(()),
        }
    };
    let username = field("username").ok()?;
    let credential = field("credential").ok()?;
    (!urls.is_empty()).then_some(IceServer {
        urls,
        username,
        credential,
    })
}

/// A `stun:`, `turn:` or `turns:` URL of a sane length, without spaces or control characters.
fn is_ice_url(url: &str) -> bool {
    let scheme_ok = ["stun:", "turn:", "turns:"].iter().any(|s| {
        url.len() > s.len()
            && url
                .get(..s.len())
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case(s))
    });
    scheme_ok && url.len() <= MAX_FIELD && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Why a token answer has no ICE servers, or only stale ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IceProblem {
    /// `OFFHOOK_ICE_SERVERS=off`.
    Disabled,
    /// The first fetch has not answered yet.
    Pending,
    /// Twilio could not be reached or refused: the last failure's words.
    Unavailable(String),
    /// The list's lifetime is over and no new one has come yet.
    Expired,
}

impl IceProblem {
    /// The answer's `ice_servers_error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            IceProblem::Disabled => "disabled",
            IceProblem::Pending => "pending",
            IceProblem::Unavailable(_) => "unavailable",
            IceProblem::Expired => "expired",
        }
    }

    /// The answer's `ice_servers_error.message`.
    pub fn message(&self) -> String {
        match self {
            IceProblem::Disabled => {
                "This server hands out no ICE servers (OFFHOOK_ICE_SERVERS=off).".into()
            }
            IceProblem::Pending => {
                "Twilio's Network Traversal Service has not answered yet.".into()
            }
            IceProblem::Unavailable(why) => {
                format!("Twilio's Network Traversal Service could not be reached: {why}")
            }
            IceProblem::Expired => {
                "The ICE servers' lifetime is over and no new ones have come yet.".into()
            }
        }
    }
}

/// What a token answer says about ICE servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceAnswer {
    /// The list to hand out, if there is one.
    pub servers: Option<Arc<Vec<IceServer>>>,
    /// The list is not the newest Twilio would give (the last refresh failed, or its
    /// lifetime is over).
    pub stale: bool,
    pub problem: Option<IceProblem>,
}

impl IceAnswer {
    fn disabled() -> IceAnswer {
        IceAnswer {
            servers: None,
            stale: false,
            problem: Some(IceProblem::Disabled),
        }
    }

    /// The token answer's fields: `ice_servers` and `ice_servers_stale` when there is a list,
    /// `ice_servers_error: {code, message}` when there is none or it is stale.
    pub fn fields(&self) -> serde_json::Map<String, Value> {
        let mut fields = serde_json::Map::new();
        if let Some(servers) = &self.servers {
            fields.insert(
                "ice_servers".into(),
                serde_json::to_value(servers.as_ref()).unwrap_or(Value::Array(Vec::new())),
            );
            fields.insert("ice_servers_stale".into(), Value::Bool(self.stale));
        }
        if let Some(problem) = &self.problem {
            fields.insert(
                "ice_servers_error".into(),
                serde_json::json!({ "code": problem.code(), "message": problem.message() }),
            );
        }
        fields
    }
}

/// A list fetched from Twilio.
#[derive(Debug, Clone)]
struct Fetched {
    servers: Arc<Vec<IceServer>>,
    ttl: Duration,
    at: Instant,
    at_unix: u64,
}

impl Fetched {
    fn refresh_at(&self) -> Instant {
        self.at + self.ttl / 2
    }

    fn expires_at(&self) -> Instant {
        self.at + self.ttl
    }
}

/// The last failed fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub at_unix: u64,
}

/// What [`IceCache::poll`] asks of its shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Poll {
    /// Start a fetch now (the cache counts it as running until [`IceCache::on_result`]).
    pub fetch: bool,
    /// A fetch is running and there is nothing usable: a token request should wait for it.
    pub wait: bool,
}

/// The sans-IO core: the list, the failures, and when to fetch.
#[derive(Debug, Default)]
pub struct IceCache {
    list: Option<Fetched>,
    in_flight: bool,
    /// Failures in a row since the last success.
    failures: u32,
    last_failure: Option<Failure>,
    /// No fetch before this (after a failure).
    retry_at: Option<Instant>,
    /// Fetches that ended, either way.
    completed: u64,
}

impl IceCache {
    /// Whether a fetch is due at `now`, and whether a token request should wait for one.
    pub fn poll(&mut self, now: Instant) -> Poll {
        let due = self.list.as_ref().is_none_or(|l| now >= l.refresh_at())
            && self.retry_at.is_none_or(|at| now >= at);
        let fetch = due && !self.in_flight;
        if fetch {
            self.in_flight = true;
        }
        Poll {
            fetch,
            wait: self.in_flight && !self.usable(now),
        }
    }

    /// A list whose lifetime is not over.
    fn usable(&self, now: Instant) -> bool {
        self.list.as_ref().is_some_and(|l| now < l.expires_at())
    }

    /// A fetch ended.
    pub fn on_result(&mut self, result: Result<NtsToken, String>, now: Instant, unix: u64) {
        self.in_flight = false;
        self.completed += 1;
        match result {
            Ok(token) => {
                self.list = Some(Fetched {
                    servers: Arc::new(token.ice_servers),
                    // A lifetime of a few seconds would have the server fetching all the time.
                    ttl: token.ttl.max(RETRY_MIN * 2),
                    at: now,
                    at_unix: unix,
                });
                self.failures = 0;
                self.retry_at = None;
            }
            Err(message) => {
                self.failures = self.failures.saturating_add(1);
                self.last_failure = Some(Failure {
                    message,
                    at_unix: unix,
                });
                self.retry_at = Some(now + retry_delay(self.failures));
            }
        }
    }

    /// When a fetch will next be due (`None` while one runs: its end is the next event).
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if self.in_flight {
            return None;
        }
        let refresh = self.list.as_ref().map_or(now, Fetched::refresh_at);
        Some(match self.retry_at {
            Some(retry) => retry.max(refresh),
            None => refresh,
        })
    }

    /// What a token answer says now.
    pub fn answer(&self, now: Instant) -> IceAnswer {
        let failing = self.failures > 0;
        let failure = || {
            IceProblem::Unavailable(
                self.last_failure
                    .as_ref()
                    .map_or_else(|| "no answer".into(), |f| f.message.clone()),
            )
        };
        match &self.list {
            Some(list) => {
                let expired = now >= list.expires_at();
                IceAnswer {
                    servers: Some(Arc::clone(&list.servers)),
                    stale: failing || expired,
                    problem: if failing {
                        Some(failure())
                    } else if expired {
                        Some(IceProblem::Expired)
                    } else {
                        None
                    },
                }
            }
            None => IceAnswer {
                servers: None,
                stale: false,
                problem: Some(if failing {
                    failure()
                } else {
                    IceProblem::Pending
                }),
            },
        }
    }

    /// Fetches that ended, either way.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// The state for the System page.
    pub fn status(&self, now: Instant, unix_now: u64) -> IceStatus {
        let secs_from_now = |at: Instant| {
            let unix = if at >= now {
                unix_now.saturating_add(at.duration_since(now).as_secs())
            } else {
                unix_now.saturating_sub(now.duration_since(at).as_secs())
            };
            i64::try_from(unix).unwrap_or(i64::MAX)
        };
        IceStatus {
            entries: self.list.as_ref().map(|l| l.servers.len()),
            fetched_unix: self
                .list
                .as_ref()
                .map(|l| i64::try_from(l.at_unix).unwrap_or(i64::MAX)),
            ttl_secs: self.list.as_ref().map(|l| l.ttl.as_secs()),
            expires_unix: self.list.as_ref().map(|l| secs_from_now(l.expires_at())),
            next_fetch_unix: self.next_deadline(now).map(secs_from_now),
            fetching: self.in_flight,
            failures: self.failures,
            last_failure: self.last_failure.clone(),
            answer: self.answer(now),
        }
    }
}

/// The pause after `failures` failures in a row: [`RETRY_MIN`], doubling, at most
/// [`RETRY_MAX`].
pub fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    RETRY_MIN.saturating_mul(1u32 << doublings).min(RETRY_MAX)
}

/// The fetch's health, for the System page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceStatus {
    /// Entries in the list (`None`: no list).
    pub entries: Option<usize>,
    pub fetched_unix: Option<i64>,
    pub ttl_secs: Option<u64>,
    pub expires_unix: Option<i64>,
    /// When the next fetch is due (`None` while one runs).
    pub next_fetch_unix: Option<i64>,
    pub fetching: bool,
    /// Failures in a row.
    pub failures: u32,
    /// The last failure, even if a success came after it.
    pub last_failure: Option<Failure>,
    /// What a token answer says now.
    pub answer: IceAnswer,
}

/// The shell: the cache behind a lock, the fetch task, and the wait for it.
#[derive(Debug)]
pub struct IceServers {
    mode: IceServersMode,
    cache: Mutex<IceCache>,
    /// Bumped each time a fetch ends.
    done: watch::Sender<u64>,
}

impl IceServers {
    pub fn new(mode: IceServersMode) -> IceServers {
        IceServers {
            mode,
            cache: Mutex::new(IceCache::default()),
            done: watch::Sender::new(0),
        }
    }

    pub fn mode(&self) -> IceServersMode {
        self.mode
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, IceCache> {
        // The cache holds no invariant a panic elsewhere could break.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ICE servers for a token answer: the cached list, a fetch started when one is due,
    /// and a wait of at most [`FIRST_FETCH_WAIT`] for it when there is nothing usable.
    pub async fn for_token(state: &Arc<AppState>) -> IceAnswer {
        let ice = &state.ice;
        if ice.mode == IceServersMode::Off {
            return IceAnswer::disabled();
        }
        let mut done = ice.done.subscribe();
        let poll = IceServers::kick(state);
        if poll.wait {
            let _ = tokio::time::timeout(FIRST_FETCH_WAIT, done.changed()).await;
        }
        ice.cache().answer(state.clock.now())
    }

    /// Starts a fetch if one is due (in a task of its own: it runs to its end whoever waits).
    pub fn kick(state: &Arc<AppState>) -> Poll {
        if state.ice.mode == IceServersMode::Off {
            return Poll::default();
        }
        let poll = state.ice.cache().poll(state.clock.now());
        if poll.fetch {
            let state = Arc::clone(state);
            tokio::spawn(async move {
                // Reports a fetch that ends without a result (its task cancelled at shutdown)
                // so that the cache never thinks one still runs.
                let mut guard = FetchGuard(Some(Arc::clone(&state)));
                let result = state
                    .twilio
                    .create_ice_token(NTS_TTL_SECS)
                    .await
                    .map_err(|e| e.to_string());
                match &result {
                    Ok(token) => tracing::info!(
                        entries = token.ice_servers.len(),
                        ttl = token.ttl.as_secs(),
                        "ICE servers from Twilio's Network Traversal Service"
                    ),
                    Err(e) => tracing::warn!(
                        error = %e,
                        "cannot fetch ICE servers from Twilio's Network Traversal Service; handing out the last good ones"
                    ),
                }
                guard.0 = None;
                state.ice.finish(&state, result);
            });
        }
        poll
    }

    fn finish(&self, state: &AppState, result: Result<NtsToken, String>) {
        self.cache()
            .on_result(result, state.clock.now(), state.clock.unix_now());
        self.done.send_modify(|n| *n += 1);
    }

    /// A receiver that sees each fetch end.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.done.subscribe()
    }

    /// When a fetch will next be due (`None`: one runs, or the fetch is off).
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        match self.mode {
            IceServersMode::Off => None,
            IceServersMode::Twilio => self.cache().next_deadline(now),
        }
    }

    /// The fetch's health (`None`: off).
    pub fn status(&self, now: Instant, unix_now: u64) -> Option<IceStatus> {
        match self.mode {
            IceServersMode::Off => None,
            IceServersMode::Twilio => Some(self.cache().status(now, unix_now)),
        }
    }
}

struct FetchGuard(Option<Arc<AppState>>);

impl Drop for FetchGuard {
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            state
                .ice
                .finish(&state, Err("the fetch was cancelled".into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twilio's documented answer (one URL per entry, `url` and `urls` both strings).
    const TWILIO: &str = r#"{
      "account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
      "date_created": "Fri, 01 May 2020 01:42:57 +0000",
      "date_updated": "Fri, 01 May 2020 01:42:57 +0000",
      "ice_servers": [
        {"url": "stun:global.stun.twilio.com:3478?transport=udp",
         "urls": "stun:global.stun.twilio.com:3478?transport=udp"},
        {"credential": "tE2DajzSJwnsSbc123",
         "url": "turn:global.turn.twilio.com:3478?transport=udp",
         "urls": "turn:global.turn.twilio.com:3478?transport=udp",
         "username": "dc2d2894d5a9023620c467b0e71cfa6a35457e6679785ed6ae9856fe5bdfa269"},
        {"credential": "tE2DajzSJwnsSbc123",
         "url": "turn:global.turn.twilio.com:443?transport=tcp",
         "urls": "turn:global.turn.twilio.com:443?transport=tcp",
         "username": "dc2d2894d5a9023620c467b0e71cfa6a35457e6679785ed6ae9856fe5bdfa269"}
      ],
      "password": "tE2DajzSJwnsSbc123",
      "ttl": "86400",
      "username": "dc2d2894d5a9023620c467b0e71cfa6a35457e6679785ed6ae9856fe5bdfa269"
    }"#;

    fn token(ttl: u64, credential: &str) -> NtsToken {
        NtsToken {
            ice_servers: vec![IceServer {
                urls: vec!["turn:relay.example.com:3478?transport=udp".into()],
                username: Some("u".into()),
                credential: Some(credential.into()),
            }],
            ttl: Duration::from_secs(ttl),
        }
    }

    #[test]
    fn twilios_answer_is_read_in_the_sdks_shape() {
        let t = parse_nts_answer(TWILIO.as_bytes()).unwrap();
        assert_eq!(t.ttl, Duration::from_secs(86_400));
        assert_eq!(t.ice_servers.len(), 3);
        assert_eq!(
            t.ice_servers[0],
            IceServer {
                urls: vec!["stun:global.stun.twilio.com:3478?transport=udp".into()],
                username: None,
                credential: None,
            }
        );
        assert_eq!(
            t.ice_servers[2].credential.as_deref(),
            Some("tE2DajzSJwnsSbc123")
        );
        let json = serde_json::to_value(&t.ice_servers).unwrap();
        assert_eq!(
            json[0],
            serde_json::json!({"urls": ["stun:global.stun.twilio.com:3478?transport=udp"]})
        );
        assert_eq!(
            json[1]["urls"],
            serde_json::json!(["turn:global.turn.twilio.com:3478?transport=udp"])
        );
        assert!(
            !format!("{:?}", t.ice_servers).contains("tE2Daj"),
            "no credential in logs"
        );
    }

    #[test]
    fn odd_answers_are_read_or_refused_without_panicking() {
        let list = r#"{"ttl": 600, "ice_servers": [
            {"urls": ["stun:a.example", "http://nope", "turns:b.example:443?transport=tcp"],
             "username": "u", "credential": "c"},
            {"urls": 42}, {"url": "ftp://x"}, {"urls": "turn:c.example", "username": 7},
            "not an object", {"urls": "turn: spaced"}, {"urls": "tur€n:x"}, {"urls": "€"}
        ]}"#;
        let t = parse_nts_answer(list.as_bytes()).unwrap();
        assert_eq!(t.ttl, Duration::from_secs(600));
        assert_eq!(t.ice_servers.len(), 1);
        assert_eq!(
            t.ice_servers[0].urls,
            ["stun:a.example", "turns:b.example:443?transport=tcp"]
        );
        // Past Twilio's limit the lifetime is taken as Twilio's limit.
        let long = parse_nts_answer(br#"{"ttl":"999999","ice_servers":[]}"#).unwrap();
        assert_eq!(long.ttl, Duration::from_secs(NTS_TTL_SECS));
        let many = format!(
            r#"{{"ttl":"60","ice_servers":[{}]}}"#,
            vec![r#"{"urls":"stun:x.example"}"#; 100].join(",")
        );
        assert_eq!(
            parse_nts_answer(many.as_bytes()).unwrap().ice_servers.len(),
            MAX_ENTRIES
        );
        for bad in [
            &b"<html>"[..],
            br#"{"ice_servers":[]}"#,
            br#"{"ttl":"0","ice_servers":[]}"#,
            br#"{"ttl":"soon","ice_servers":[]}"#,
            br#"{"ttl":"60"}"#,
            br#"{"ttl":"60","ice_servers":{}}"#,
            b"",
        ] {
            assert!(
                parse_nts_answer(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_list_is_fetched_once_kept_and_refreshed_at_half_its_life() {
        let start = Instant::now();
        let mut cache = IceCache::default();
        // Nothing yet: fetch, and a token request waits for it.
        assert_eq!(
            cache.poll(start),
            Poll {
                fetch: true,
                wait: true
            }
        );
        // Single flight: a second request waits for the same fetch.
        assert_eq!(
            cache.poll(start),
            Poll {
                fetch: false,
                wait: true
            }
        );
        assert_eq!(cache.answer(start).problem, Some(IceProblem::Pending));
        assert_eq!(cache.next_deadline(start), None);
        cache.on_result(Ok(token(3600, "one")), start, 1000);
        let answer = cache.answer(start);
        assert_eq!(
            answer.servers.as_ref().unwrap()[0].credential.as_deref(),
            Some("one")
        );
        assert!(!answer.stale && answer.problem.is_none());
        // Kept until half its life…
        let half = start + Duration::from_secs(1800);
        assert_eq!(cache.next_deadline(start), Some(half));
        assert_eq!(cache.poll(half - Duration::from_secs(1)), Poll::default());
        // …then fetched again while the old one is still handed out, without waiting.
        assert_eq!(
            cache.poll(half),
            Poll {
                fetch: true,
                wait: false
            }
        );
        assert!(cache.answer(half).problem.is_none());
        cache.on_result(Ok(token(3600, "two")), half, 2800);
        assert_eq!(
            cache.answer(half).servers.unwrap()[0].credential.as_deref(),
            Some("two")
        );
        assert_eq!(cache.completed(), 2);
    }

    #[test]
    fn failures_keep_the_last_good_list_marked_stale_and_back_off() {
        let start = Instant::now();
        let mut cache = IceCache::default();
        cache.poll(start);
        cache.on_result(Err("connection refused".into()), start, 1000);
        // None ever: no list, and why.
        let answer = cache.answer(start);
        assert_eq!(answer.servers, None);
        assert_eq!(
            answer.problem,
            Some(IceProblem::Unavailable("connection refused".into()))
        );
        // Backing off: no fetch, and no wait either.
        assert_eq!(cache.poll(start + Duration::from_secs(1)), Poll::default());
        assert_eq!(cache.next_deadline(start), Some(start + RETRY_MIN));
        let t = start + RETRY_MIN;
        assert!(cache.poll(t).fetch);
        cache.on_result(Ok(token(600, "good")), t, 1005);
        let refresh = t + Duration::from_secs(300);
        assert!(cache.poll(refresh).fetch);
        cache.on_result(Err("503".into()), refresh, 1305);
        let answer = cache.answer(refresh);
        assert!(answer.stale);
        assert_eq!(
            answer.servers.unwrap()[0].credential.as_deref(),
            Some("good")
        );
        assert_eq!(answer.problem, Some(IceProblem::Unavailable("503".into())));
        // Still handed out past its lifetime, marked stale.
        let late = t + Duration::from_secs(700);
        assert!(cache.poll(late).fetch, "due again after the pause");
        assert!(cache.poll(late).wait, "nothing usable: wait for the fetch");
        cache.on_result(Err("503".into()), late, 1705);
        let answer = cache.answer(late);
        assert!(answer.stale && answer.servers.is_some());
        assert_eq!(cache.next_deadline(late), Some(late + RETRY_MIN * 2));
        let status = cache.status(late, 1705);
        assert_eq!(status.failures, 2);
        assert_eq!(status.entries, Some(1));
        assert_eq!(status.fetched_unix, Some(1005));
        assert_eq!(status.expires_unix, Some(1605));
        assert_eq!(status.next_fetch_unix, Some(1715));
    }

    #[test]
    fn the_pause_doubles_up_to_its_cap() {
        assert_eq!(retry_delay(1), RETRY_MIN);
        assert_eq!(retry_delay(2), RETRY_MIN * 2);
        assert_eq!(retry_delay(40), RETRY_MAX);
        assert_eq!(retry_delay(u32::MAX), RETRY_MAX);
    }

    #[test]
    fn the_answer_fields() {
        let start = Instant::now();
        let mut cache = IceCache::default();
        cache.poll(start);
        cache.on_result(Ok(token(600, "c")), start, 0);
        let fields = cache.answer(start).fields();
        assert_eq!(
            serde_json::Value::Object(fields),
            serde_json::json!({
                "ice_servers": [{
                    "urls": ["turn:relay.example.com:3478?transport=udp"],
                    "username": "u",
                    "credential": "c",
                }],
                "ice_servers_stale": false,
            })
        );
        let off = IceAnswer::disabled().fields();
        assert_eq!(off["ice_servers_error"]["code"], "disabled");
        assert!(!off.contains_key("ice_servers"));
    }
}
