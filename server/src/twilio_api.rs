//! Twilio's REST API, the calls the server makes to it: deleting a recording
//! (`DELETE /2010-04-01/Accounts/{AccountSid}/Recordings/{Sid}.json`), asking whether one
//! still exists (`GET` of the same resource), fetching its audio, and asking the Network
//! Traversal Service for ICE servers (`POST /2010-04-01/Accounts/{AccountSid}/Tokens.json`),
//! with HTTP Basic and the account's API key and secret. HTTP/1.1 over rustls (Mozilla's
//! roots compiled in), or plain HTTP to this machine (the lab).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::config::{Config, Secret};
use crate::ice::{NtsToken, parse_nts_answer};
use crate::voicemail::is_sid;

/// The longest a REST request may take, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of an answer's body that is read (errors are small JSON documents).
const MAX_BODY: usize = 64 * 1024;
/// Redirects followed when fetching a recording.
pub const MAX_REDIRECTS: usize = 3;

/// What became of a recording asked to be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// Deleted now (204).
    Now,
    /// Twilio does not know it (404): deleted before, by an earlier try or another server.
    AlreadyGone,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not a recording SID: {0:?}")]
    BadSid(String),
    #[error("the Twilio API URL {0} is not usable")]
    BadUrl(String),
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS with {host}: {source}")]
    Tls {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("building the request: {0}")]
    Request(#[from] http::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("Twilio answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("Twilio's answer is not usable: {0}")]
    BadAnswer(String),
}

/// The REST client of one account.
pub struct TwilioApi {
    base: String,
    account_sid: String,
    key: String,
    secret: Secret,
    tls: OnceLock<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for TwilioApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioApi")
            .field("base", &self.base)
            .field("account_sid", &self.account_sid)
            .finish_non_exhaustive()
    }
}

impl TwilioApi {
    pub fn new(config: &Config) -> TwilioApi {
        TwilioApi {
            base: config.twilio_api_url.clone(),
            account_sid: config.account_sid.clone(),
            key: config.api_key.clone(),
            secret: config.api_secret.clone(),
            tls: OnceLock::new(),
        }
    }

    /// Deletes a recording of the account. A 404 means it is gone already, which is what was
    /// wanted; any other answer than 2xx is an error to retry later.
    pub async fn delete_recording(&self, recording_sid: &str) -> Result<Deleted, ApiError> {
        let found = self
            .recording_resource(http::Method::DELETE, recording_sid)
            .await?;
        Ok(if found {
            Deleted::Now
        } else {
            Deleted::AlreadyGone
        })
    }

    /// Whether Twilio still has a recording (`GET …/Recordings/{Sid}.json`): a message whose
    /// recording is gone cannot be played, and the caller is told so instead of hearing
    /// nothing.
    pub async fn recording_exists(&self, recording_sid: &str) -> Result<bool, ApiError> {
        self.recording_resource(http::Method::GET, recording_sid)
            .await
    }

    /// `method` on a recording's resource: `true` for a 2xx, `false` for a 404 (Twilio does
    /// not know it), an error for anything else.
    async fn recording_resource(
        &self,
        method: http::Method,
        recording_sid: &str,
    ) -> Result<bool, ApiError> {
        if !is_sid(recording_sid, "RE") {
            return Err(ApiError::BadSid(recording_sid.to_string()));
        }
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Recordings/{recording_sid}.json",
            self.base, self.account_sid
        );
        let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, self.send(method, &url))
            .await
            .map_err(|_| ApiError::Timeout(REQUEST_TIMEOUT))??;
        match status {
            200..=299 => Ok(true),
            404 => Ok(false),
            _ => Err(ApiError::Status {
                status,
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            }),
        }
    }

    /// New ICE servers from Twilio's Network Traversal Service (`POST …/Tokens.json` with
    /// `Ttl`): STUN and TURN URLs with credentials good for `ttl_secs` (Twilio's limit is a
    /// day). Any answer but a 2xx with a usable document is an error.
    pub async fn create_ice_token(&self, ttl_secs: u64) -> Result<NtsToken, ApiError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Tokens.json",
            self.base, self.account_sid
        );
        let form = format!("Ttl={ttl_secs}");
        let (status, body) = tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.send_form(http::Method::POST, &url, Some(form)),
        )
        .await
        .map_err(|_| ApiError::Timeout(REQUEST_TIMEOUT))??;
        match status {
            200..=299 => parse_nts_answer(&body).map_err(ApiError::BadAnswer),
            _ => Err(ApiError::Status {
                status,
                body: String::from_utf8_lossy(&body).chars().take(300).collect(),
            }),
        }
    }

    async fn send(&self, method: http::Method, url: &str) -> Result<(u16, Bytes), ApiError> {
        self.send_form(method, url, None).await
    }

    /// A request with an optional form body; the status and the body (at most [`MAX_BODY`]).
    async fn send_form(
        &self,
        method: http::Method,
        url: &str,
        form: Option<String>,
    ) -> Result<(u16, Bytes), ApiError> {
        let response = self.request(method, url, true, None, form).await?;
        let status = response.status().as_u16();
        // A body past the limit or cut short still leaves the status to act on.
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok((status, body))
    }

    /// Fetches a recording's audio (`…/Recordings/{Sid}.wav`) with the account's API key, and
    /// hands back its status, headers and body to stream on. `range` is passed on (the browser
    /// seeking). Redirects (Twilio may send the media elsewhere) are followed, at most
    /// [`MAX_REDIRECTS`], to https only, and the credentials go only to the API's own host.
    pub async fn fetch_recording(
        &self,
        recording_sid: &str,
        range: Option<&str>,
    ) -> Result<http::Response<Incoming>, ApiError> {
        if !is_sid(recording_sid, "RE") {
            return Err(ApiError::BadSid(recording_sid.to_string()));
        }
        let base = url::Url::parse(&self.base).map_err(|_| ApiError::BadUrl(self.base.clone()))?;
        let mut url = url::Url::parse(&format!(
            "{}/2010-04-01/Accounts/{}/Recordings/{recording_sid}.wav",
            self.base, self.account_sid
        ))
        .map_err(|_| ApiError::BadUrl(self.base.clone()))?;
        for _ in 0..=MAX_REDIRECTS {
            let own = url.origin() == base.origin();
            let response = tokio::time::timeout(
                REQUEST_TIMEOUT,
                self.request(http::Method::GET, url.as_str(), own, range, None),
            )
            .await
            .map_err(|_| ApiError::Timeout(REQUEST_TIMEOUT))??;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let next = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| url.join(location).ok())
                .filter(|next| next.scheme() == "https" || next.origin() == base.origin());
            url = next.ok_or_else(|| ApiError::Status {
                status: response.status().as_u16(),
                body: "a redirect to somewhere the server does not follow".into(),
            })?;
        }
        Err(ApiError::Status {
            status: 310,
            body: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// One request on a new connection (the connection lives as long as the response's body
    /// is read); with `auth`, HTTP Basic with the API key; with `form`, that
    /// `application/x-www-form-urlencoded` body.
    async fn request(
        &self,
        method: http::Method,
        url: &str,
        auth: bool,
        range: Option<&str>,
        form: Option<String>,
    ) -> Result<http::Response<Incoming>, ApiError> {
        let bad_url = || ApiError::BadUrl(self.base.clone());
        let parsed = url::Url::parse(url).map_err(|_| bad_url())?;
        let host = parsed.host_str().ok_or_else(bad_url)?.to_string();
        let port = parsed.port_or_known_default().ok_or_else(bad_url)?;
        let connect_host = host.trim_matches(['[', ']']).to_string();
        let tcp = TcpStream::connect((connect_host.as_str(), port))
            .await
            .map_err(|source| ApiError::Connect {
                host: host.clone(),
                port,
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let authority = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let path = &parsed[url::Position::BeforePath..];
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, authority)
            .header(http::header::ACCEPT, "application/json, audio/*")
            .header(
                http::header::USER_AGENT,
                concat!("offhook-server/", env!("CARGO_PKG_VERSION")),
            );
        if auth {
            let credentials = STANDARD.encode(format!("{}:{}", self.key, self.secret.expose()));
            request = request.header(http::header::AUTHORIZATION, format!("Basic {credentials}"));
        }
        if let Some(range) = range {
            request = request.header(http::header::RANGE, range);
        }
        let body = match form {
            Some(form) => {
                request = request.header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                );
                Full::new(Bytes::from(form))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body)?;
        match parsed.scheme() {
            "https" => {
                let name = ServerName::try_from(connect_host.clone()).map_err(|_| bad_url())?;
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(self.tls()))
                    .connect(name, tcp)
                    .await
                    .map_err(|source| ApiError::Tls {
                        host: host.clone(),
                        source,
                    })?;
                exchange(tls, request).await
            }
            _ => exchange(tcp, request).await,
        }
    }

    fn tls(&self) -> &Arc<rustls::ClientConfig> {
        self.tls.get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                // The ring provider supports the default versions; this cannot fail.
                .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"))
                .with_root_certificates(roots)
                .with_no_client_auth();
            Arc::new(config)
        })
    }
}

/// Sends `request` on `stream`; the connection is driven in a task of its own until the
/// response's body is read or dropped.
async fn exchange<S>(
    stream: S,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<Incoming>, ApiError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender.send_request(request).await?)
}
