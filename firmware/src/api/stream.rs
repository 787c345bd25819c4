//! A GET held open: the answer's head, then its body as it arrives (server-sent events),
//! through the voice crate's HTTP client with the endpoint's credentials and trust.
//!
//! Nothing here waits without end: the caller bounds [`open`] (the endpoint's timeout) and
//! every [`EventStream::next_chunk`] (its idle timeout).

use http::Method;
use twilio_voice::http_client::{self, BodyStream, Request};

use super::{RequestError, ServerEndpoint};

/// The answer's head and its body to come.
pub struct Opened {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: EventStream,
}

/// A response body read chunk by chunk. Dropping it closes the connection.
pub struct EventStream(BodyStream);

impl EventStream {
    /// The next piece of the body; `None` when the server ended it.
    pub async fn next_chunk(&mut self) -> Option<Result<hyper::body::Bytes, String>> {
        Some(self.0.next_chunk().await?.map_err(|e| e.to_string()))
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
    let mut headers = endpoint.headers(accept);
    headers.push((
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    ));
    let request = Request {
        method: Method::GET,
        scheme: target.scheme,
        host: &target.host,
        port: target.port,
        path: &target.path,
        headers,
        body: Default::default(),
    };
    let answer = http_client::open(endpoint.tls(), request).await?;
    Ok(Opened {
        status: answer.status,
        headers: answer.headers,
        body: EventStream(answer.body),
    })
}
