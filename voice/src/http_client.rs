//! One HTTP/1.1 request and its answer, over TLS (rustls, [`crate::tls`]) or, for a server on
//! this machine, plain TCP: what Insights posts to Twilio's event gateway and what the handset
//! asks its token server. The one place that resolves, connects, shakes hands and reads a
//! bounded answer, with one set of errors.
//!
//! [`send`] reads the whole (bounded) answer; [`open`] hands back the answer's head and its
//! body to read as it arrives (server-sent events). The caller puts its own deadline around
//! them; nothing here waits without end on its own (a silent server is the caller's timeout).

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// Whether the connection is TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Https,
    /// Plain HTTP: for a server on loopback or a network that is the owner's own.
    Http,
}

/// What to ask, and of whom.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: Method,
    pub scheme: Scheme,
    /// A DNS name or an address (IPv6 with or without brackets).
    pub host: &'a str,
    pub port: u16,
    /// The path, with its query if any.
    pub path: &'a str,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

/// The answer, its body read whole (up to the caller's limit).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a request got no answer. The first two mean there is no usable network (a name that
/// does not resolve, as at boot before DNS works, or no route), the others a server that
/// could not be reached or did not answer properly.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no route to {host}:{port}: {source}")]
    NoRoute {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("{host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("bad server name {0}")]
    ServerName(String),
    #[error("TLS with {host}: {source}")]
    Tls {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the request: {0}")]
    Request(#[from] http::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("reading the body: {0}")]
    Body(String),
}

impl HttpError {
    /// No usable network, rather than a server that is down.
    pub fn is_no_network(&self) -> bool {
        matches!(self, HttpError::Resolve { .. } | HttpError::NoRoute { .. })
    }
}

/// Sends `request` and reads the answer, its body at most `max_body` bytes.
pub async fn send(
    tls: &Arc<rustls::ClientConfig>,
    request: Request<'_>,
    max_body: usize,
) -> Result<Response, HttpError> {
    let answer = open(tls, request).await?;
    let body = answer.body.read_to_end(max_body).await?;
    Ok(Response {
        status: answer.status,
        headers: answer.headers,
        body,
    })
}

/// An answer whose body is still to come.
pub struct Streaming {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: BodyStream,
}

/// A response body read as it arrives. Dropping it closes the connection.
pub struct BodyStream {
    body: Incoming,
    /// Drives the connection; aborted on drop.
    driver: JoinHandle<()>,
}

impl BodyStream {
    /// The next piece of the body; `None` when the server ended it.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, HttpError>> {
        loop {
            match self.body.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => return Some(Ok(data)),
                    // Trailers: not data, nothing to read.
                    Err(_) => continue,
                },
                Err(e) => return Some(Err(HttpError::Body(e.to_string()))),
            }
        }
    }

    /// The rest of the body, at most `max_body` bytes.
    pub async fn read_to_end(mut self, max_body: usize) -> Result<Bytes, HttpError> {
        let mut whole = Vec::new();
        while let Some(chunk) = self.next_chunk().await {
            let chunk = chunk?;
            if whole.len() + chunk.len() > max_body {
                return Err(HttpError::Body(format!(
                    "the answer is longer than {max_body} bytes"
                )));
            }
            whole.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(whole))
    }
}

impl Drop for BodyStream {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Sends `request` and returns the answer's head as soon as it arrives, its body to be read.
pub async fn open(
    tls: &Arc<rustls::ClientConfig>,
    request: Request<'_>,
) -> Result<Streaming, HttpError> {
    let host = request.host.trim_matches(['[', ']']);
    let port = request.port;
    // Resolved apart from connecting: a name that does not resolve means no network.
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| HttpError::Resolve {
            host: host.to_string(),
            source,
        })?
        .collect();
    let tcp = TcpStream::connect(addrs.as_slice())
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NetworkUnreachable => HttpError::NoRoute {
                host: host.to_string(),
                port,
                source,
            },
            _ => HttpError::Connect {
                host: host.to_string(),
                port,
                source,
            },
        })?;
    let _ = tcp.set_nodelay(true);
    match request.scheme {
        Scheme::Https => {
            let name = ServerName::try_from(host.to_string())
                .map_err(|e| HttpError::ServerName(format!("{host}: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
                .connect(name, tcp)
                .await
                .map_err(|source| HttpError::Tls {
                    host: host.to_string(),
                    source,
                })?;
            exchange(stream, request).await
        }
        Scheme::Http => exchange(tcp, request).await,
    }
}

/// The Host header: the port unless it is the scheme's own; IPv6 in brackets.
pub fn authority(host: &str, scheme: Scheme, port: u16) -> String {
    let default_port = match scheme {
        Scheme::Https => 443,
        Scheme::Http => 80,
    };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if port == default_port {
        host
    } else {
        format!("{host}:{port}")
    }
}

async fn exchange<S>(stream: S, request: Request<'_>) -> Result<Streaming, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut builder = http::Request::builder()
        .method(request.method)
        .uri(request.path)
        .header(
            http::header::HOST,
            authority(request.host, request.scheme, request.port),
        );
    for (name, value) in request.headers {
        builder = builder.header(name, value);
    }
    let outgoing = match builder.body(Full::new(request.body)) {
        Ok(outgoing) => outgoing,
        Err(e) => {
            driver.abort();
            return Err(e.into());
        }
    };
    match sender.send_request(outgoing).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            Ok(Streaming {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: BodyStream { body, driver },
            })
        }
        Err(e) => {
            driver.abort();
            Err(e.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// A server on loopback that answers one request with `answer`, and hands back what it
    /// was asked.
    async fn one_shot(answer: &'static [u8]) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut asked = Vec::new();
            let mut buf = [0u8; 1024];
            while !asked.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                asked.extend_from_slice(&buf[..n]);
            }
            s.write_all(answer).await.unwrap();
            String::from_utf8_lossy(&asked).into_owned()
        });
        (port, served)
    }

    fn post(port: u16) -> Request<'static> {
        Request {
            method: Method::POST,
            scheme: Scheme::Http,
            host: "127.0.0.1",
            port,
            path: "/api/token/generate?x=1",
            headers: vec![(
                http::header::ACCEPT,
                HeaderValue::from_static("application/json"),
            )],
            body: Bytes::new(),
        }
    }

    #[tokio::test]
    async fn a_request_and_its_answer() {
        let (port, served) = one_shot(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nContent-Length: 2\r\n\r\nno",
        )
        .await;
        let tls = crate::tls::client_config(None).unwrap();
        let response = send(&tls, post(port), 1024).await.unwrap();
        assert_eq!(response.status, 429);
        assert_eq!(response.headers["retry-after"], "30");
        assert_eq!(&response.body[..], b"no");
        let asked = served.await.unwrap();
        assert!(
            asked.starts_with("POST /api/token/generate?x=1 HTTP/1.1\r\n"),
            "{asked}"
        );
        assert!(
            asked
                .to_ascii_lowercase()
                .contains(&format!("host: 127.0.0.1:{port}\r\n")),
            "{asked}"
        );
        assert!(asked.contains("accept: application/json"), "{asked}");
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_an_error_not_a_buffer() {
        let (port, _served) =
            one_shot(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789").await;
        let tls = crate::tls::client_config(None).unwrap();
        let e = send(&tls, post(port), 10).await.unwrap_err();
        assert!(matches!(e, HttpError::Body(_)), "{e}");
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_no_network() {
        let tls = crate::tls::client_config(None).unwrap();
        let request = Request {
            host: "no-such-host.invalid",
            ..post(80)
        };
        let e = send(&tls, request, 10).await.unwrap_err();
        assert!(e.is_no_network(), "{e}");
    }
}
