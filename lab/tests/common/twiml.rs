//! A TwiML app for tests: answers every POST with a fixed document and records what Twilio
//! (the lab) sent, checking `X-Twilio-Signature` with the account's auth token.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::{Form, Router};

#[derive(Debug, Clone)]
pub struct HookRequest {
    /// The path with its query, as signed.
    pub path: String,
    pub params: Vec<(String, String)>,
    pub signature: String,
    pub signature_ok: bool,
}

type Params = Vec<(String, String)>;

#[derive(Default)]
struct State {
    files: Vec<(String, Vec<u8>)>,
    bodies: Vec<String>,
    auth_token: String,
    /// Each request: path, form parameters, signature.
    raw: Vec<(String, Params, String)>,
}

pub struct TwimlServer {
    /// The Voice URL, `http://127.0.0.1:PORT/voice`.
    pub url: String,
    pub base: String,
    state: Arc<Mutex<State>>,
}

impl TwimlServer {
    pub fn set_auth_token(&self, token: &str) {
        self.state.lock().unwrap().auth_token = token.to_string();
    }

    /// Replies in turn: the first request gets `bodies[0]`, and so on; the last repeats.
    pub fn set_replies(&self, bodies: &[&str]) {
        self.state.lock().unwrap().bodies = bodies.iter().map(|b| b.to_string()).collect();
    }

    /// Serves `body` at `path` (GET), e.g. a WAV for `<Play>`.
    pub fn set_file(&self, path: &str, body: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .push((path.to_string(), body));
    }

    pub fn requests(&self) -> Vec<HookRequest> {
        let s = self.state.lock().unwrap();
        s.raw
            .iter()
            .map(|(path, params, signature)| {
                let url = format!("{}{path}", self.base);
                let expected =
                    offhook_lab::signature::twilio_signature(&s.auth_token, &url, params);
                HookRequest {
                    path: path.clone(),
                    params: params.clone(),
                    signature: signature.clone(),
                    signature_ok: &expected == signature,
                }
            })
            .collect()
    }
}

pub async fn twiml_server(body: &str) -> TwimlServer {
    let state = Arc::new(Mutex::new(State {
        bodies: vec![body.to_string()],
        ..State::default()
    }));
    let files = state.clone();
    let serve_file = move |uri: axum::http::Uri| {
        let files = files.clone();
        async move {
            let s = files.lock().unwrap();
            match s.files.iter().find(|(p, _)| p == uri.path()) {
                Some((_, body)) => (axum::http::StatusCode::OK, body.clone()),
                None => (axum::http::StatusCode::NOT_FOUND, Vec::new()),
            }
        }
    };
    let shared = state.clone();
    let handler = move |uri: axum::http::Uri,
                        headers: HeaderMap,
                        Form(params): Form<Vec<(String, String)>>| {
        let shared = shared.clone();
        async move {
            let signature = headers
                .get("x-twilio-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let mut s = shared.lock().unwrap();
            let n = s.raw.len();
            let path = uri
                .path_and_query()
                .map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
            s.raw.push((path, params, signature));
            let body = s
                .bodies
                .get(n)
                .or(s.bodies.last())
                .cloned()
                .unwrap_or_default();
            ([("content-type", "text/xml")], body)
        }
    };
    let app = Router::new().route("/{*path}", axum::routing::get(serve_file).post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TwimlServer {
        url: format!("{base}/voice"),
        base,
        state,
    }
}
