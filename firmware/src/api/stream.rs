//! A GET held open: the answer's head, then its body as it arrives (server-sent events). The
//! voice crate's HTTP client reads whole bodies only, so the connection is made here, the
//! same way (resolve, then connect, then TLS with the endpoint's trust) and with its errors.
//!
//! Nothing here waits without end: the caller bounds [`open`] (the endpoint's timeout) and
//! every [`EventStream::next_chunk`] (its idle timeout).

use std::net::SocketAddr;

use http_body_util::BodyExt as _;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use twilio_voice::http_client::{HttpError, Scheme};

use super::{RequestError, ServerEndpoint};

/// The answer's head and its body to come.
pub struct Opened {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: EventStream,
}

/// A response body read chunk by chunk. Dropping it closes the connection.
pub struct EventStream {
    body: Incoming,
    /// Drives the connection; aborted on drop.
    driver: JoinHandle<()>,
}

impl EventStream {
    /// The next piece of the body; `None` when the server ended it.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, String>> {
        loop {
            match self.body.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) => return Some(Ok(data)),
                    // Trailers: not data, nothing to read.
                    Err(_) => continue,
                },
                Err(e) => return Some(Err(e.to_string())),
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Sends `GET path` (with the device's credentials, asking for `accept`) and returns the
/// answer's head as soon as it arrives. Not bounded in time: wrap it in a timeout.
pub async fn open(
    endpoint: &ServerEndpoint,
    path: &str,
    accept: &'static str,
) -> Result<Opened, RequestError> {
    let target = endpoint.target(path)?;
    let host = target.host.trim_matches(['[', ']']).to_string();
    let port = target.port;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|source| HttpError::Resolve {
            host: host.clone(),
            source,
        })?
        .collect();
    let tcp = TcpStream::connect(addrs.as_slice())
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NetworkUnreachable => HttpError::NoRoute {
                host: host.clone(),
                port,
                source,
            },
            _ => HttpError::Connect {
                host: host.clone(),
                port,
                source,
            },
        })?;
    let _ = tcp.set_nodelay(true);
    let authority = authority(&target.host, target.scheme, port);
    let mut headers = endpoint.headers(accept);
    headers.push((
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    ));
    let request = {
        let mut builder = http::Request::builder()
            .method(http::Method::GET)
            .uri(&target.path)
            .header(http::header::HOST, authority);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| RequestError::Unreachable(format!("cannot build the request: {e}")))?
    };
    match target.scheme {
        Scheme::Https => {
            let name = ServerName::try_from(host.clone())
                .map_err(|e| RequestError::Unreachable(format!("bad server name {host}: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(endpoint.tls().clone())
                .connect(name, tcp)
                .await
                .map_err(|source| HttpError::Tls {
                    host: host.clone(),
                    source,
                })?;
            exchange(stream, request).await
        }
        Scheme::Http => exchange(tcp, request).await,
    }
}

/// The Host header: the port unless it is the scheme's own; IPv6 in brackets.
fn authority(host: &str, scheme: Scheme, port: u16) -> String {
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

async fn exchange<S>(
    stream: S,
    request: http::Request<http_body_util::Empty<Bytes>>,
) -> Result<Opened, RequestError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(HttpError::from)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    match sender.send_request(request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            Ok(Opened {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: EventStream { body, driver },
            })
        }
        Err(e) => {
            driver.abort();
            Err(HttpError::from(e).into())
        }
    }
}
