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
