//! The token request: `POST {server}/api/token/generate` with HTTP Basic (device id + secret),
//! over HTTPS (rustls, webpki roots plus an optional extra CA) or plain HTTP, through the voice
//! crate's one HTTP client.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::body::Bytes;
use twilio_voice::http_client::{self, HttpError, Scheme};
use twilio_voice::protocol::duration::{MAX_RETRY_AFTER, network_duration_header};

use super::{TokenFetchError, TokenResponse};
use crate::config::ServerConfig;

/// Largest token response accepted.
const MAX_RESPONSE: usize = 64 * 1024;

/// Where and how to ask for tokens.
#[derive(Clone)]
pub struct TokenEndpoint {
    url: url::Url,
    authorization: http::HeaderValue,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEndpoint")
            .field("url", &self.url.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why the endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("cannot build the token URL from {0}")]
    Url(String),
    #[error("server.ca_file: {0}")]
    CaFile(#[source] twilio_voice::VoiceError),
    #[error("the device id and secret cannot go in an HTTP header")]
    Credentials,
}

impl TokenEndpoint {
    /// The endpoint for `server` (its `ca_pem`, if any, is trusted besides the web roots).
    pub fn new(server: &ServerConfig, timeout: Duration) -> Result<TokenEndpoint, EndpointError> {
        let mut base = server.url.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let url = base
            .join("api/token/generate")
            .map_err(|_| EndpointError::Url(server.url.to_string()))?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
            return Err(EndpointError::Url(server.url.to_string()));
        }
        let credentials = format!("{}:{}", server.device_id, server.device_secret);
        let mut authorization =
            http::HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))
                .map_err(|_| EndpointError::Credentials)?;
        authorization.set_sensitive(true);
        let tls = twilio_voice::tls::client_config(server.ca_pem.as_deref())
            .map_err(EndpointError::CaFile)?;
        Ok(TokenEndpoint {
            url,
            authorization,
            timeout,
            tls,
        })
    }

    pub fn url(&self) -> &url::Url {
        &self.url
    }
}

/// Fetches one token. Every failure comes back as a [`TokenFetchError`]; nothing panics on
/// what the server sends.
pub async fn fetch_token(endpoint: &TokenEndpoint) -> Result<TokenResponse, TokenFetchError> {
    match tokio::time::timeout(endpoint.timeout, fetch(endpoint)).await {
        Ok(result) => result,
        Err(_) => Err(TokenFetchError::Unreachable(format!(
            "no answer within {} s",
            endpoint.timeout.as_secs_f32()
        ))),
    }
}

async fn fetch(endpoint: &TokenEndpoint) -> Result<TokenResponse, TokenFetchError> {
    let url = &endpoint.url;
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let request = http_client::Request {
        method: http::Method::POST,
        scheme: if url.scheme() == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        },
        host: url.host_str().unwrap_or_default(),
        port: url.port_or_known_default().unwrap_or(443),
        path: &path,
        headers: vec![
            (http::header::AUTHORIZATION, endpoint.authorization.clone()),
            (
                http::header::ACCEPT,
                http::HeaderValue::from_static("application/json"),
            ),
            (
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from_static("0"),
            ),
            (
                http::header::USER_AGENT,
                http::HeaderValue::from_static(concat!("offhook/", env!("CARGO_PKG_VERSION"))),
            ),
        ],
        body: Bytes::new(),
    };
    let response = http_client::send(&endpoint.tls, request, MAX_RESPONSE)
        .await
        .map_err(|e| match e {
            e if e.is_no_network() => TokenFetchError::NoNetwork(e.to_string()),
            HttpError::Body(_) => TokenFetchError::BadResponse(e.to_string()),
            e => TokenFetchError::Unreachable(e.to_string()),
        })?;
    read_response(response.status, &response.headers, &response.body)
}

/// What a token response (status, headers, body) means. Public only for the fuzz targets.
#[doc(hidden)]
pub fn read_response(
    status: u16,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, TokenFetchError> {
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| network_duration_header(v, MAX_RETRY_AFTER));
    match status {
        200 => {
            let parsed: TokenResponse = serde_json::from_slice(body)
                .map_err(|e| TokenFetchError::BadResponse(format!("not a token: {e}")))?;
            if parsed.token.is_empty() || parsed.identity.is_empty() || parsed.ttl == 0 {
                return Err(TokenFetchError::BadResponse(
                    "empty token, identity or ttl".into(),
                ));
            }
            Ok(parsed)
        }
        401 | 403 => Err(TokenFetchError::Rejected),
        429 => Err(TokenFetchError::Throttled { retry_after }),
        code => Err(TokenFetchError::Status(code)),
    }
}
