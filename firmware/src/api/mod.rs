//! offhook-server as the handset reaches it, in one place: the endpoint (the server's base
//! URL, the device's HTTP Basic credentials, the TLS trust of `server.ca_file`), one-shot
//! requests through the voice crate's HTTP client, and the long-lived event stream.
//!
//! - [`ServerEndpoint`] — where and how: every request to offhook-server goes through it
//!   (the token client's `POST /api/token/generate` too).
//! - [`handset`] — `GET /api/handset/voicemail`, `GET|PUT /api/handset/settings` and what
//!   their answers mean (checked: nothing the server sends can panic the handset).
//! - [`provisioning`] — `GET /api/handset/config` (with its ETag) and `POST
//!   /api/handset/status`: the settings the server provisions, checked, and the status report.
//! - [`stream`] — `GET /api/handset/events` held open, its body read as it arrives.

pub mod handset;
pub mod provisioning;
pub mod stream;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hyper::body::Bytes;
use twilio_voice::http_client::{self, HttpError, Scheme};

use crate::config::ServerConfig;

/// Why the endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("cannot build the server's URLs from {0}")]
    Url(String),
    #[error("server.ca_file: {0}")]
    CaFile(#[source] twilio_voice::VoiceError),
    #[error("the device id and secret cannot go in an HTTP header")]
    Credentials,
}

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The server's name does not resolve, or there is no route to it.
    #[error("no network: {0}")]
    NoNetwork(String),
    /// No connection (TCP, TLS), or no answer in time.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// An answer whose body could not be read (too large, cut off).
    #[error("unreadable answer: {0}")]
    Body(String),
}

impl From<HttpError> for RequestError {
    fn from(e: HttpError) -> RequestError {
        match e {
            e if e.is_no_network() => RequestError::NoNetwork(e.to_string()),
            HttpError::Body(_) => RequestError::Body(e.to_string()),
            e => RequestError::Unreachable(e.to_string()),
        }
    }
}

/// Where offhook-server is and how this handset proves who it is.
#[derive(Clone)]
pub struct ServerEndpoint {
    /// The server's URL, ending in `/` so that paths join below it.
    base: url::Url,
    authorization: http::HeaderValue,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ServerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEndpoint")
            .field("base", &self.base.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A request's target, split the way the HTTP client takes it.
pub(crate) struct Target {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// Path and query.
    pub path: String,
}

impl ServerEndpoint {
    /// The endpoint for `server`; `timeout` bounds each request (and the opening of a stream).
    pub fn new(server: &ServerConfig, timeout: Duration) -> Result<ServerEndpoint, EndpointError> {
        let mut base = server.url.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        if !matches!(base.scheme(), "https" | "http") || base.host_str().is_none() {
            return Err(EndpointError::Url(server.url.to_string()));
        }
        let credentials = format!("{}:{}", server.device_id, server.device_secret);
        let mut authorization =
            http::HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))
                .map_err(|_| EndpointError::Credentials)?;
        authorization.set_sensitive(true);
        let tls = twilio_voice::tls::client_config(server.ca_pem.as_deref())
            .map_err(EndpointError::CaFile)?;
        Ok(ServerEndpoint {
            base,
            authorization,
            timeout,
            tls,
        })
    }

    /// The full URL of `path` (relative: `api/token/generate`).
    pub fn url(&self, path: &str) -> Result<url::Url, EndpointError> {
        self.base
            .join(path)
            .map_err(|_| EndpointError::Url(format!("{}{path}", self.base)))
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The local address this handset reaches the server from (the route's source address;
    /// nothing is sent). `None`: the server's name does not resolve in time, or no route.
    pub async fn local_address(&self) -> Option<std::net::IpAddr> {
        let target = self.target("").ok()?;
        let host = target.host.trim_matches(['[', ']']).to_string();
        let server = tokio::time::timeout(
            self.timeout,
            tokio::net::lookup_host((host.as_str(), target.port)),
        )
        .await
        .ok()?
        .ok()?
        .next()?;
        let unspecified: std::net::SocketAddr = if server.is_ipv4() {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = tokio::net::UdpSocket::bind(unspecified).await.ok()?;
        socket.connect(server).await.ok()?;
        Some(socket.local_addr().ok()?.ip())
    }

    pub(crate) fn tls(&self) -> &Arc<rustls::ClientConfig> {
        &self.tls
    }

    pub(crate) fn target(&self, path: &str) -> Result<Target, RequestError> {
        let url = self
            .url(path)
            .map_err(|e| RequestError::Unreachable(e.to_string()))?;
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        Ok(Target {
            scheme: if url.scheme() == "https" {
                Scheme::Https
            } else {
                Scheme::Http
            },
            host: url.host_str().unwrap_or_default().to_string(),
            port: url.port_or_known_default().unwrap_or(443),
            path,
        })
    }

    /// The headers every request carries: the device's credentials and who is asking.
    pub(crate) fn headers(
        &self,
        accept: &'static str,
    ) -> Vec<(http::HeaderName, http::HeaderValue)> {
        vec![
            (http::header::AUTHORIZATION, self.authorization.clone()),
            (http::header::ACCEPT, http::HeaderValue::from_static(accept)),
            (
                http::header::USER_AGENT,
                http::HeaderValue::from_static(concat!("offhook/", env!("CARGO_PKG_VERSION"))),
            ),
        ]
    }

    /// One request with a JSON body (or none) and its answer, read whole up to `max_body`
    /// bytes, within the endpoint's timeout.
    pub async fn request(
        &self,
        method: http::Method,
        path: &str,
        json: Option<Vec<u8>>,
        max_body: usize,
    ) -> Result<http_client::Response, RequestError> {
        self.request_with(method, path, json, Vec::new(), max_body)
            .await
    }

    /// [`Self::request`] with more headers (`If-None-Match`).
    pub async fn request_with(
        &self,
        method: http::Method,
        path: &str,
        json: Option<Vec<u8>>,
        extra: Vec<(http::HeaderName, http::HeaderValue)>,
        max_body: usize,
    ) -> Result<http_client::Response, RequestError> {
        let target = self.target(path)?;
        let mut headers = self.headers("application/json");
        headers.extend(extra);
        let body = Bytes::from(json.clone().unwrap_or_default());
        if json.is_some() {
            headers.push((
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            ));
        }
        headers.push((
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        ));
        let request = http_client::Request {
            method,
            scheme: target.scheme,
            host: &target.host,
            port: target.port,
            path: &target.path,
            headers,
            body,
        };
        match tokio::time::timeout(
            self.timeout,
            http_client::send(&self.tls, request, max_body),
        )
        .await
        {
            Ok(result) => result.map_err(RequestError::from),
            Err(_) => Err(RequestError::Unreachable(format!(
                "no answer within {} s",
                self.timeout.as_secs_f32()
            ))),
        }
    }
}
