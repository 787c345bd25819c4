//! A small HTTP/1 client (plain HTTP): webhooks, `<Play>` files, and the control-API client.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::LabError;

/// Twilio gives a webhook 15 seconds.
pub const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        HttpClient {
            inner: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub async fn get(&self, url: &str) -> Result<(u16, Bytes), LabError> {
        self.request("GET", url, &[], Bytes::new()).await
    }

    /// Sends a request; returns status and body. Only `http://` URLs are supported.
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<(u16, Bytes), LabError> {
        let response = self.request_response(method, url, headers, body).await?;
        Ok((response.status().as_u16(), response.into_body()))
    }

    /// Sends a request; returns the whole response (status, headers, body).
    pub async fn request_response(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<http::Response<Bytes>, LabError> {
        if !url.starts_with("http://") {
            return Err(LabError::UnsupportedUrl(url.to_string()));
        }
        let mut builder = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        let request = builder.body(Full::new(body))?;
        let response = tokio::time::timeout(TIMEOUT, self.inner.request(request))
            .await
            .map_err(|_| LabError::Timeout("the request"))??;
        let (parts, body) = response.into_parts();
        let body = tokio::time::timeout(TIMEOUT, body.collect())
            .await
            .map_err(|_| LabError::Timeout("reading the body"))??
            .to_bytes();
        Ok(http::Response::from_parts(parts, body))
    }
}
