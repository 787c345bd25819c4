//! Fixtures shared by the server's integration tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use base64::Engine as _;
use http_body_util::BodyExt as _;
use offhook_server::clock::ManualClock;
use offhook_server::handsets::HandsetEntry;
use offhook_server::{AppState, Config, Handsets, secret};
use tower::ServiceExt as _;

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";
pub const API_KEY: &str = "SK0123456789abcdef0123456789abcdef";
pub const API_SECRET: &str = "abcdefghijklmnopqrstuvwxyzABCDEF";
pub const APP_SID: &str = "AP0123456789abcdef0123456789abcdef";
pub const PHONE_NUMBER: &str = "+447381234567";

pub const DESK_SECRET: &str = "desk-secret-1";
pub const KITCHEN_SECRET: &str = "kitchen-secret-2";

/// 2026-11-21T12:00:00Z: a plausible "now" for minted tokens.
pub const NOW: u64 = 1_795_262_400;

pub fn settings(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut s: HashMap<String, String> = [
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("TWILIO_API_KEY", API_KEY),
        ("TWILIO_API_SECRET", API_SECRET),
        ("TWILIO_APP_SID", APP_SID),
        ("TWILIO_PHONE_NUMBER", PHONE_NUMBER),
        // Tests of the ICE servers turn the fetch on, against a FakeTwilio; the rest must
        // not reach Twilio.
        ("OFFHOOK_ICE_SERVERS", "off"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        s.insert(k.to_string(), v.to_string());
    }
    s
}

pub fn config(extra: &[(&str, &str)]) -> Config {
    let s = settings(extra);
    Config::from_settings(|n| s.get(n).cloned()).expect("test settings are valid")
}

fn cheap_hash(secret: &str) -> String {
    let params = secret::Params::new(8, 1, 1, None).expect("minimum Argon2 cost");
    secret::hash_with(secret, params).expect("hashing works")
}

pub fn handsets_toml() -> String {
    let entries = [
        ("desk", "desk", "101", "Desk", DESK_SECRET),
        ("kitchen-1", "kitchen", "102", "Kitchen", KITCHEN_SECRET),
    ];
    entries
        .iter()
        .map(|(id, identity, ext, name, secret)| {
            format!(
                "[[handset]]\nid = \"{id}\"\nidentity = \"{identity}\"\nextension = \"{ext}\"\ndisplay_name = \"{name}\"\nsecret_hash = \"{}\"\n\n",
                cheap_hash(secret)
            )
        })
        .collect()
}

pub fn handsets() -> Handsets {
    Handsets::from_toml(&handsets_toml(), Path::new("test-handsets.toml"))
        .expect("test handsets are valid")
}

pub fn entry(id: &str, extension: &str) -> HandsetEntry {
    HandsetEntry {
        id: id.into(),
        identity: None,
        extension: extension.into(),
        display_name: id.into(),
        secret_hash: cheap_hash("x"),
        numbers: vec![],
    }
}

pub struct Fixture {
    pub app: Router,
    pub clock: Arc<ManualClock>,
    pub state: Arc<AppState>,
}

pub fn fixture(extra: &[(&str, &str)]) -> Fixture {
    let clock = Arc::new(ManualClock::new(NOW));
    let state = AppState::with_clock(config(extra), handsets(), clock.clone());
    Fixture {
        app: offhook_server::app(state.clone()),
        clock,
        state,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The peer `send` gives a request that names none: a proxy or tunnel on this machine,
/// as the README sets the server up.
pub const LOOPBACK_PEER: &str = "127.0.0.1:40000";

/// `request` as if it came over a connection from `peer`.
pub fn from_peer(mut request: Request<Body>, peer: &str) -> Request<Body> {
    let addr: std::net::SocketAddr = peer.parse().expect("a socket address");
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(addr));
    request
}

pub async fn send(app: &Router, request: Request<Body>) -> Reply {
    let request = if request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .is_some()
    {
        request
    } else {
        from_peer(request, LOOPBACK_PEER)
    };
    let response = app
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

pub fn token_request(authorization: Option<&str>) -> axum::http::request::Builder {
    let mut b = Request::post("/api/token/generate").header("host", "localhost");
    if let Some(a) = authorization {
        b = b.header("authorization", a);
    }
    b
}

pub fn form(params: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

pub fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A webhook request as Twilio sends it: form body, signed for `signed_url`.
pub fn webhook(path: &str, host: &str, signed_url: &str, params: &[(&str, &str)]) -> Request<Body> {
    let signature =
        offhook_server::signature::expected_signature(AUTH_TOKEN, signed_url, &owned(params));
    Request::post(path)
        .header("host", host)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .header("x-twilio-signature", signature)
        .body(Body::from(form(params)))
        .expect("request")
}

// ---- Voicemail, the handset API and the database ----

#[path = "../../src/store/test_postgres.rs"]
pub mod test_postgres;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use offhook_server::store::Store;

/// The public URL the voicemail fixtures configure (TwiML URLs are absolute under it).
pub const PUBLIC: &str = "https://phone.example.com";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database, removed when dropped.
pub struct Database {
    pub url: String,
    _postgres: Option<test_postgres::TestDatabase>,
    sqlite_dir: Option<std::path::PathBuf>,
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub fn database(backend: Backend, name: &str) -> Database {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!(
                "offhook-it-{name}-{}-{}",
                std::process::id(),
                rand::random::<u32>()
            ));
            std::fs::create_dir_all(&dir).expect("temp dir");
            Database {
                url: Store::default_url(&dir.join("handsets.toml")),
                _postgres: None,
                sqlite_dir: Some(dir),
            }
        }
        Backend::Postgres => {
            let db = test_postgres::TestDatabase::create(name);
            Database {
                url: db.url.clone(),
                _postgres: Some(db),
                sqlite_dir: None,
            }
        }
    }
}

/// A server with a database (its own connection to `db`, as a second instance would have).
pub async fn fixture_with_store(db: &Database, extra: &[(&str, &str)]) -> Fixture {
    let mut settings = vec![("OFFHOOK_PUBLIC_URL", PUBLIC)];
    settings.extend_from_slice(extra);
    let clock = Arc::new(ManualClock::new(NOW));
    let store = Store::open(&db.url).await.expect("open the database");
    let state = AppState::with_parts(config(&settings), handsets(), clock.clone(), Some(store));
    Fixture {
        app: offhook_server::app(state.clone()),
        clock,
        state,
    }
}

/// Runs `$body` (an async block using `$backend: Backend`) once on SQLite and once on
/// PostgreSQL.
#[macro_export]
macro_rules! on_both {
    ($name:ident, |$backend:ident| $body:block) => {
        mod $name {
            use super::*;

            async fn run($backend: Backend) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run(Backend::Postgres).await;
            }
        }
    };
}

/// A server whose handsets live in the database (imported from [`handsets_toml`], as the
/// daemon imports its handsets file), so that `/admin` may change them.
pub async fn fixture_with_db_handsets(db: &Database, extra: &[(&str, &str)]) -> Fixture {
    let mut settings = vec![("OFFHOOK_PUBLIC_URL", PUBLIC)];
    settings.extend_from_slice(extra);
    let clock = Arc::new(ManualClock::new(NOW));
    let store = Store::open(&db.url).await.expect("open the database");
    let entries: Vec<HandsetEntry> = handsets().iter().map(|h| h.to_entry()).collect();
    store
        .import_handsets(entries, i64::try_from(NOW).expect("a time"))
        .await
        .expect("import the handsets");
    let state = AppState::from_store(config(&settings), store, clock.clone())
        .await
        .expect("a server on the database");
    Fixture {
        app: offhook_server::app(state.clone()),
        clock,
        state,
    }
}

/// A webhook request Twilio signs for `{PUBLIC}{path_and_query}`.
pub async fn twilio(app: &Router, path_and_query: &str, params: &[(&str, &str)]) -> Reply {
    send(
        app,
        webhook(
            path_and_query,
            "127.0.0.1:8080",
            &format!("{PUBLIC}{path_and_query}"),
            params,
        ),
    )
    .await
}

/// The same request signed with another key than the account's (a forgery).
pub async fn twilio_forged(app: &Router, path_and_query: &str, params: &[(&str, &str)]) -> Reply {
    let signature = offhook_server::signature::expected_signature(
        "ffffffffffffffffffffffffffffffff",
        &format!("{PUBLIC}{path_and_query}"),
        &owned(params),
    );
    let mut request = webhook(
        path_and_query,
        "127.0.0.1:8080",
        &format!("{PUBLIC}{path_and_query}"),
        params,
    );
    request.headers_mut().insert(
        "x-twilio-signature",
        signature.parse().expect("a header value"),
    );
    send(app, request).await
}

/// The value of `attr` on the first `<element …>` of a TwiML document, unescaped, with the
/// public URL taken off (what Twilio would request next).
pub fn attr(xml: &str, element: &str, attr: &str) -> Option<String> {
    let start = xml.find(&format!("<{element} "))?;
    let tag = &xml[start..start + xml[start..].find('>')?];
    let at = tag.find(&format!(" {attr}=\""))? + attr.len() + 3;
    let value = &tag[at..at + tag[at..].find('"')?];
    Some(unescape(value).trim_start_matches(PUBLIC).to_string())
}

/// The text of the first `<element>…</element>`, unescaped, without the public URL.
pub fn text_of(xml: &str, element: &str) -> Option<String> {
    let open = format!("<{element}");
    let start = xml.find(&open)?;
    let body_start = start + xml[start..].find('>')? + 1;
    let end = body_start + xml[body_start..].find(&format!("</{element}>"))?;
    Some(
        unescape(&xml[body_start..end])
            .trim_start_matches(PUBLIC)
            .to_string(),
    )
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub const CALLER: &str = "+12025550123";

/// The parameters Twilio sends with every request about an incoming call.
pub fn call_params(call_sid: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AccountSid", ACCOUNT_SID.to_string()),
        ("CallSid", call_sid.to_string()),
        ("From", CALLER.to_string()),
        ("To", PHONE_NUMBER.to_string()),
        ("Direction", "inbound".to_string()),
    ]
}

pub fn borrowed<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A call SID or recording SID numbered `n`.
pub fn sid(prefix: &str, n: u32) -> String {
    format!("{prefix}{n:032x}")
}

/// The recording status callback Twilio posts for recording `n` of call `call_sid`.
pub fn recording_params(call_sid: &str, n: u32) -> Vec<(&'static str, String)> {
    let recording_sid = sid("RE", n);
    vec![
        ("AccountSid", ACCOUNT_SID.to_string()),
        ("CallSid", call_sid.to_string()),
        ("RecordingSid", recording_sid.clone()),
        (
            "RecordingUrl",
            format!(
                "https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{recording_sid}"
            ),
        ),
        ("RecordingStatus", "completed".to_string()),
        ("RecordingDuration", "3".to_string()),
        ("RecordingChannels", "1".to_string()),
        ("RecordingSource", "RecordVerb".to_string()),
        (
            "RecordingStartTime",
            "Sat, 21 Nov 2026 12:00:00 +0000".to_string(),
        ),
        ("ErrorCode", "0".to_string()),
    ]
}

/// A call to the number that nobody answers, through to the recording callback's URL
/// (as the server wrote it into the TwiML).
pub async fn unanswered_call(app: &Router, call_sid: &str) -> String {
    let params = call_params(call_sid);
    let voice = twilio(app, "/hooks/voice", &borrowed(&params)).await;
    assert_eq!(voice.status, StatusCode::OK, "{}", voice.text());
    let action = attr(&voice.text(), "Dial", "action").expect("the Dial has an action");
    let mut ended = params.clone();
    ended.push(("DialCallStatus", "no-answer".into()));
    ended.push(("DialCallSid", sid("CA", 0xdead)));
    let record = twilio(app, &action, &borrowed(&ended)).await;
    assert_eq!(record.status, StatusCode::OK, "{}", record.text());
    attr(&record.text(), "Record", "recordingStatusCallback").expect("a Record with a callback")
}

/// Leaves message `n` (a whole unanswered call and its recording callback).
pub async fn leave_message(app: &Router, n: u32) -> Reply {
    let call_sid = sid("CA", n);
    let callback = unanswered_call(app, &call_sid).await;
    twilio(app, &callback, &borrowed(&recording_params(&call_sid, n))).await
}

/// A handset API request with the desk's credentials.
pub fn desk(method: &str, path: &str, body: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("authorization", basic("desk", DESK_SECRET));
    if body.is_some() {
        b = b.header("content-type", "application/json");
    }
    b.body(body.map_or_else(Body::empty, |t| Body::from(t.to_string())))
        .expect("request")
}

/// A server-sent-event stream being read.
pub struct Events {
    body: Body,
    buffer: String,
}

impl Events {
    /// Opens `GET /api/handset/events` for `id`.
    pub async fn open(app: &Router, id: &str, secret: &str) -> Result<Events, Reply> {
        let request = Request::get("/api/handset/events")
            .header("host", "localhost")
            .header("authorization", basic(id, secret))
            .body(Body::empty())
            .expect("request");
        let response = app
            .clone()
            .oneshot(from_peer(request, LOOPBACK_PEER))
            .await
            .expect("infallible");
        if response.status() != StatusCode::OK {
            let status = response.status();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            return Err(Reply {
                status,
                headers,
                body,
            });
        }
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        Ok(Events {
            body: response.into_body(),
            buffer: String::new(),
        })
    }

    /// The next event (`event`, `data`) within `within`, skipping comments; `None` when the
    /// stream ended or nothing came in time.
    pub async fn next(&mut self, within: Duration) -> Option<(String, serde_json::Value)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                match event {
                    Some(event) => {
                        let data = serde_json::from_str(&data).expect("event data is JSON");
                        return Some((event, data));
                    }
                    None => continue,
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .ok()??;
            if let Ok(data) = frame.ok()?.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }

    /// Whether the stream ends within `within` (events before the end are skipped).
    pub async fn ends(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Err(_) => return false,
                Ok(None) => return true,
                Ok(Some(_)) => {}
            }
        }
    }
}

/// The audio the fake serves for every recording.
pub const FAKE_AUDIO: &[u8] = b"RIFF....WAVEfmt fake audio for the admin page";

/// Twilio's REST API as far as the server uses it: records each request; a `DELETE` is
/// answered with the next queued status (204 when none is queued), a `GET` with 200 (the audio,
/// [`FAKE_AUDIO`], for `….wav`), or 404 for a recording [`FakeTwilio::lose`] was told of; a
/// `POST …/Tokens.json` (the Network Traversal Service) with [`FakeTwilio::ice_servers`] and
/// [`FakeTwilio::ice_ttl`] in Twilio's shape, or with the status [`FakeTwilio::fail_tokens`]
/// set. Stopped when dropped.
pub struct FakeTwilio {
    pub url: String,
    pub requests: Arc<Mutex<Vec<FakeRequest>>>,
    statuses: Arc<Mutex<std::collections::VecDeque<u16>>>,
    lost: Arc<Mutex<Vec<String>>>,
    tokens: Arc<Mutex<FakeTokens>>,
    task: tokio::task::JoinHandle<()>,
}

/// What the fake's Tokens resource answers.
#[derive(Debug, Clone)]
struct FakeTokens {
    /// `(url, username, credential)` entries, one URL each as Twilio sends them.
    servers: Vec<(String, Option<String>, Option<String>)>,
    ttl: u64,
    fail: Option<u16>,
}

/// The fake's ICE servers until told otherwise: Twilio's STUN and a TURN with credential
/// `cred-1`.
pub const FAKE_TURN: &str = "turn:global.turn.twilio.com:3478?transport=udp";
pub const FAKE_STUN: &str = "stun:global.stun.twilio.com:3478?transport=udp";

#[derive(Debug, Clone)]
pub struct FakeRequest {
    pub method: String,
    pub path: String,
    /// Whether it carried the account's API key and secret as HTTP Basic.
    pub authorized: bool,
    /// The body (form parameters), as text.
    pub body: String,
}

impl FakeTwilio {
    pub async fn start() -> FakeTwilio {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests: Arc<Mutex<Vec<FakeRequest>>> = Arc::default();
        let statuses: Arc<Mutex<std::collections::VecDeque<u16>>> = Arc::default();
        let lost: Arc<Mutex<Vec<String>>> = Arc::default();
        let tokens = Arc::new(Mutex::new(FakeTokens {
            servers: vec![
                (FAKE_STUN.into(), None, None),
                (
                    FAKE_TURN.into(),
                    Some("user-1".into()),
                    Some("cred-1".into()),
                ),
            ],
            ttl: 86_400,
            fail: None,
        }));
        let (seen, answers, gone, nts) = (
            requests.clone(),
            statuses.clone(),
            lost.clone(),
            tokens.clone(),
        );
        let router = Router::new().fallback(move |request: Request<Body>| {
            let (seen, answers, gone, nts) =
                (seen.clone(), answers.clone(), gone.clone(), nts.clone());
            async move {
                let authorized = request
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    == Some(basic(API_KEY, API_SECRET).as_str());
                let method = request.method().clone();
                let path = request.uri().path().to_string();
                let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
                    .await
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                seen.lock().unwrap().push(FakeRequest {
                    method: method.to_string(),
                    path: path.clone(),
                    authorized,
                    body,
                });
                let tokens_path = format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Tokens.json");
                if authorized && method == axum::http::Method::POST && path == tokens_path {
                    return fake_token_answer(&nts.lock().unwrap());
                }
                let status = if !authorized {
                    401
                } else if method == axum::http::Method::GET {
                    let lost = gone.lock().unwrap();
                    if lost.iter().any(|sid| path.contains(sid.as_str())) {
                        404
                    } else {
                        200
                    }
                } else {
                    answers.lock().unwrap().pop_front().unwrap_or(204)
                };
                if status == 200 && path.ends_with(".wav") {
                    return axum::response::IntoResponse::into_response((
                        StatusCode::OK,
                        [("content-type", "audio/x-wav")],
                        FAKE_AUDIO.to_vec(),
                    ));
                }
                let body = match status {
                    401 => r#"{"code":20003,"message":"Authenticate","status":401}"#,
                    404 => r#"{"code":20404,"message":"The requested resource was not found","status":404}"#,
                    200 => r#"{"status":"completed"}"#,
                    _ => "",
                };
                axum::response::IntoResponse::into_response((
                    StatusCode::from_u16(status).expect("a status"),
                    body.to_string(),
                ))
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FakeTwilio {
            url,
            requests,
            statuses,
            lost,
            tokens,
            task,
        }
    }

    /// From now on Twilio has no recording `sid` (its `GET` answers 404).
    pub fn lose(&self, sid: &str) {
        self.lost.lock().unwrap().push(sid.to_string());
    }

    /// Answers the next `DELETE`s with these statuses.
    pub fn answer(&self, statuses: &[u16]) {
        self.statuses.lock().unwrap().extend(statuses);
    }

    pub fn requests(&self) -> Vec<FakeRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// The `DELETE`s among the requests.
    pub fn deletes(&self) -> Vec<FakeRequest> {
        let mut requests = self.requests();
        requests.retain(|r| r.method == "DELETE");
        requests
    }

    /// The requests to the Tokens resource.
    pub fn token_requests(&self) -> Vec<FakeRequest> {
        let mut requests = self.requests();
        requests.retain(|r| r.path.ends_with("/Tokens.json"));
        requests
    }

    /// From now on the Tokens resource hands out these `(url, username, credential)` entries.
    pub fn ice_servers(&self, servers: &[(&str, Option<&str>, Option<&str>)]) {
        self.tokens.lock().unwrap().servers = servers
            .iter()
            .map(|(u, n, c)| (u.to_string(), n.map(String::from), c.map(String::from)))
            .collect();
    }

    /// From now on the credentials are good for `secs`.
    pub fn ice_ttl(&self, secs: u64) {
        self.tokens.lock().unwrap().ttl = secs;
    }

    /// From now on the Tokens resource answers with `status` (`None`: it works again).
    pub fn fail_tokens(&self, status: Option<u16>) {
        self.tokens.lock().unwrap().fail = status;
    }
}

/// The Tokens resource's answer, in Twilio's shape (`url` and `urls` both strings).
fn fake_token_answer(tokens: &FakeTokens) -> axum::response::Response {
    if let Some(status) = tokens.fail {
        return axum::response::IntoResponse::into_response((
            StatusCode::from_u16(status).expect("a status"),
            format!(r#"{{"code":20500,"message":"Internal Server Error","status":{status}}}"#),
        ));
    }
    let entries: Vec<serde_json::Value> = tokens
        .servers
        .iter()
        .map(|(url, username, credential)| {
            let mut e = serde_json::json!({ "url": url, "urls": url });
            if let (Some(u), Some(c)) = (username, credential) {
                e["username"] = u.clone().into();
                e["credential"] = c.clone().into();
            }
            e
        })
        .collect();
    let body = serde_json::json!({
        "account_sid": ACCOUNT_SID,
        "date_created": "Sat, 21 Nov 2026 12:00:00 +0000",
        "date_updated": "Sat, 21 Nov 2026 12:00:00 +0000",
        "ice_servers": entries,
        "password": "cred",
        "ttl": tokens.ttl.to_string(),
        "username": "user",
    });
    axum::response::IntoResponse::into_response((StatusCode::CREATED, axum::Json(body)))
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits (polling, at most 10 s) until `condition` holds.
pub async fn until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
