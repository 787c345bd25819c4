//! The token request: `POST {server}/api/token/generate` with HTTP Basic (device id + secret),
//! over HTTPS (rustls, webpki roots plus an optional extra CA) or plain HTTP.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use twilio_voice::protocol::duration::{MAX_RETRY_AFTER, network_duration_header};

use super::{TokenFetchError, TokenResponse};
use crate::config::ServerConfig;

/// Largest token response accepted.
const MAX_RESPONSE: usize = 64 * 1024;

/// Where and how to ask for tokens.
#[derive(Clone)]
pub struct TokenEndpoint {
    url: url::Url,
    authorization: String,
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
    #[error("server.ca_file is not PEM certificates: {0}")]
    CaFile(String),
    #[error("TLS setup failed: {0}")]
    Tls(String),
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
        let credentials = format!("{}:{}", server.device_id, server.device_secret);
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = server.ca_pem.as_deref() {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| EndpointError::CaFile(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| EndpointError::Tls(e.to_string()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| EndpointError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TokenEndpoint {
            url,
            authorization: format!("Basic {}", STANDARD.encode(credentials)),
            timeout,
            tls: Arc::new(tls),
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

fn unreachable(e: impl std::fmt::Display) -> TokenFetchError {
    TokenFetchError::Unreachable(e.to_string())
}

async fn fetch(endpoint: &TokenEndpoint) -> Result<TokenResponse, TokenFetchError> {
    let url = &endpoint.url;
    let host = url
        .host_str()
        .ok_or_else(|| unreachable("the server URL has no host"))?
        .to_string();
    let port = url
        .port_or_known_default()
        .ok_or_else(|| unreachable("the server URL has no port"))?;
    // Resolved apart from connecting: a name that does not resolve means no network (or
    // no DNS yet, as at boot), not a server that is down.
    let addrs: Vec<std::net::SocketAddr> =
        tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| TokenFetchError::NoNetwork(format!("cannot resolve {host}: {e}")))?
            .collect();
    let tcp = TcpStream::connect(addrs.as_slice())
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NetworkUnreachable => {
                TokenFetchError::NoNetwork(format!("no route to {host}:{port}: {e}"))
            }
            _ => unreachable(format!("{host}:{port}: {e}")),
        })?;
    let _ = tcp.set_nodelay(true);
    match url.scheme() {
        "https" => {
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_string())
                .map_err(|e| unreachable(format!("bad server name {host}: {e}")))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::clone(&endpoint.tls))
                .connect(name, tcp)
                .await
                .map_err(|e| unreachable(format!("TLS with {host}: {e}")))?;
            exchange(endpoint, tls).await
        }
        "http" => exchange(endpoint, tcp).await,
        other => Err(unreachable(format!("unsupported URL scheme {other}"))),
    }
}

async fn exchange<S>(endpoint: &TokenEndpoint, stream: S) -> Result<TokenResponse, TokenFetchError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(unreachable)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let authority = match endpoint.url.port() {
        Some(port) => format!("{}:{port}", endpoint.url.host_str().unwrap_or_default()),
        None => endpoint.url.host_str().unwrap_or_default().to_string(),
    };
    let path = match endpoint.url.query() {
        Some(q) => format!("{}?{q}", endpoint.url.path()),
        None => endpoint.url.path().to_string(),
    };
    let request = http::Request::post(path)
        .header(http::header::HOST, authority)
        .header(http::header::AUTHORIZATION, &endpoint.authorization)
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::CONTENT_LENGTH, "0")
        .header(
            http::header::USER_AGENT,
            concat!("offhook/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::<Bytes>::new())
        .map_err(|e| unreachable(format!("cannot build the request: {e}")))?;
    let response = sender.send_request(request).await.map_err(unreachable)?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| TokenFetchError::BadResponse(format!("reading the body: {e}")))?
        .to_bytes();
    driver.abort();
    read_response(parts.status.as_u16(), &parts.headers, &body)
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
