//! The token request: `POST {server}/api/token/generate` with HTTP Basic (device id + secret),
//! through [`crate::api::ServerEndpoint`] (the one place that knows the server's URL,
//! credentials and TLS trust).

use twilio_voice::protocol::duration::{MAX_RETRY_AFTER, network_duration_header};

use super::{TokenFetchError, TokenResponse};
use crate::api::{RequestError, ServerEndpoint};

/// The token endpoint is offhook-server's endpoint (kept under this name for the glue).
pub type TokenEndpoint = ServerEndpoint;

/// Where tokens come from, below the server's URL.
pub const TOKEN_PATH: &str = "api/token/generate";

/// Largest token response accepted.
const MAX_RESPONSE: usize = 64 * 1024;

/// Fetches one token. Every failure comes back as a [`TokenFetchError`]; nothing panics on
/// what the server sends.
pub async fn fetch_token(endpoint: &ServerEndpoint) -> Result<TokenResponse, TokenFetchError> {
    let response = endpoint
        .request(http::Method::POST, TOKEN_PATH, None, MAX_RESPONSE)
        .await
        .map_err(|e| match e {
            RequestError::NoNetwork(why) => TokenFetchError::NoNetwork(why),
            RequestError::Body(why) => TokenFetchError::BadResponse(why),
            RequestError::Unreachable(why) => TokenFetchError::Unreachable(why),
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
