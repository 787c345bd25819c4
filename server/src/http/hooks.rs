//! Twilio's webhooks. Each request must carry a valid `X-Twilio-Signature`; anything that
//! is not a signed, well-formed form post is refused without TwiML. A signed one always gets
//! TwiML, whatever the database does: without it the handsets still ring. Every `<Dial>` in
//! the TwiML carries the call log's status callback (`POST /hooks/status`, `status`).

use std::sync::Arc;

use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode;

use super::{AppState, BodyError, media_type, read_body};
use crate::calls::{self, Facts, Plan};
use crate::signature;

/// More form fields than this is not a Twilio webhook (Twilio sends a few dozen).
pub const MAX_FORM_FIELDS: usize = 256;

pub(crate) async fn voice(
    State(state): State<Arc<AppState>>,
    Signed { params, .. }: Signed,
) -> Response {
    let handsets = state.handsets();
    let (config, handsets) = (&state.config, &*handsets);
    let plan = match &state.store {
        None => calls::incoming(config, handsets, &params),
        Some(store) => {
            let mailbox = calls::incoming_mailbox(config, handsets, &params).unwrap_or_default();
            let facts = with_deadline(async {
                let settings = store.all_handset_settings().await?;
                let greeting = store.greeting(&mailbox).await?;
                Ok((settings, greeting))
            })
            .await;
            match facts {
                Ok((settings, greeting)) => calls::incoming_with(
                    config,
                    handsets,
                    &params,
                    Facts::Known {
                        settings: &settings,
                        greeting: &greeting,
                    },
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "database unavailable: ringing every handset");
                    calls::incoming_with(config, handsets, &params, Facts::Unreachable)
                }
            }
        }
    };
    respond(&state, "voice", &params, plan)
}

pub(crate) async fn call_connect(
    State(state): State<Arc<AppState>>,
    Signed { params, .. }: Signed,
) -> Response {
    let handsets = state.handsets();
    let plan = match calls::voicemail_access(&handsets, &params) {
        Some(handset) => super::voicemail::mailbox_entry(&state, handset).await,
        None => calls::outgoing(&state.config, &handsets, &params),
    };
    respond(&state, "call/connect", &params, plan)
}

/// A dialled leg's status callback ([`crate::call_log`]): a forged one is refused (403), a
/// malformed one gets 400, a genuine one is logged (200, also without a database: nothing to
/// keep then).
pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    Signed { params, uri }: Signed,
) -> Response {
    let record = match crate::call_log::record(
        &state.handsets(),
        &query_pairs(&uri),
        &params,
        state.unix_now(),
    ) {
        Ok(Some(record)) => record,
        Ok(None) => return (StatusCode::OK, "ignored\n").into_response(),
        Err(reason) => return refuse(StatusCode::BAD_REQUEST, reason),
    };
    let Some(store) = &state.store else {
        return (StatusCode::OK, "not kept\n").into_response();
    };
    match with_deadline(store.log_call(&record)).await {
        Ok(()) => {
            tracing::info!(
                call_sid = %record.call_sid,
                direction = record.direction.as_str(),
                result = %record.result,
                "call logged"
            );
            (StatusCode::OK, "logged\n").into_response()
        }
        Err(e) => {
            // Twilio retries a callback that fails.
            tracing::warn!(error = %e, call_sid = %record.call_sid, "cannot log a call");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// Why a store call in a webhook gave up.
#[derive(Debug)]
pub(crate) enum Unavailable {
    Failed(crate::Error),
    TooSlow,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::Failed(e) => e.fmt(f),
            Unavailable::TooSlow => {
                write!(f, "no answer within {:?}", crate::worker::STORE_DEADLINE)
            }
        }
    }
}

/// Runs store calls for a webhook, giving up after [`crate::worker::STORE_DEADLINE`]:
/// Twilio waits 15 s for TwiML, and a caller should not hear silence while a database that
/// went away times out.
pub(crate) async fn with_deadline<T>(
    work: impl Future<Output = Result<T, crate::Error>>,
) -> Result<T, Unavailable> {
    match tokio::time::timeout(crate::worker::STORE_DEADLINE, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(Unavailable::Failed(e)),
        Err(_) => Err(Unavailable::TooSlow),
    }
}

/// The query of the URL Twilio requested (signed with it).
pub(crate) fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The TwiML of `plan`, with the call log's status callback on every `<Dial>`.
pub(crate) fn respond(
    state: &AppState,
    hook: &str,
    params: &[(String, String)],
    mut plan: Plan,
) -> Response {
    crate::call_log::attach(&state.config, &state.handsets(), params, &mut plan);
    let call_sid = params
        .iter()
        .find(|(k, _)| k == "CallSid")
        .map_or("-", |(_, v)| v.as_str());
    tracing::info!(hook, call_sid, outcome = ?plan.outcome, "webhook answered");
    let mut response = (StatusCode::OK, plan.twiml.to_xml()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

pub(crate) fn refuse(status: StatusCode, reason: &'static str) -> Response {
    tracing::warn!(status = status.as_u16(), reason, "webhook refused");
    let mut response = (status, format!("{reason}\n")).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A genuine Twilio request, as a handler's last argument: its form parameters and the URI
/// it was sent to (as the client sent it: the request's own URI is relative to this router,
/// which differs when the router is nested under a prefix). Anything else is answered with
/// the refusal [`verified_params`] gives.
pub(crate) struct Signed {
    pub params: Vec<(String, String)>,
    pub uri: Uri,
}

impl axum::extract::FromRequest<Arc<AppState>> for Signed {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Signed, Response> {
        let uri = request
            .extensions()
            .get::<OriginalUri>()
            .map(|original| original.0.clone())
            .unwrap_or_else(|| request.uri().clone());
        let params = verified_params(state, &uri, request).await?;
        Ok(Signed { params, uri })
    }
}

/// The form parameters of a genuine Twilio request, or the refusal to send.
async fn verified_params(
    state: &AppState,
    original: &Uri,
    request: Request,
) -> Result<Vec<(String, String)>, Response> {
    let (parts, body) = request.into_parts();
    let Some(signature) = parts
        .headers
        .get(signature::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return Err(refuse(StatusCode::FORBIDDEN, "missing X-Twilio-Signature"));
    };
    match media_type(&parts.headers) {
        Some((media, true)) if media == "application/x-www-form-urlencoded" => {}
        _ => {
            return Err(refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected application/x-www-form-urlencoded",
            ));
        }
    }
    let body = match read_body(
        body,
        super::WEBHOOK_BODY_LIMIT,
        state.config.limits.body_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(BodyError::TimedOut) => {
            return Err(refuse(StatusCode::REQUEST_TIMEOUT, "body too slow"));
        }
        Err(BodyError::TooLarge) => {
            return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, "body too large"));
        }
        Err(BodyError::Unreadable) => {
            return Err(refuse(StatusCode::BAD_REQUEST, "body unreadable"));
        }
    };
    let params = parse_form(&body).map_err(|reason| refuse(StatusCode::BAD_REQUEST, reason))?;
    let auth_token = state.config.auth_token.expose();
    let from_trusted_proxy = state
        .config
        .trust_proxy
        .trusts_peer(super::peer(&parts.extensions));
    let valid = candidate_urls(
        state,
        original,
        &parts.uri,
        &parts.headers,
        from_trusted_proxy,
    )
    .iter()
    .any(|url| signature::is_valid(auth_token, &signature, url, &params));
    if !valid {
        return Err(refuse(StatusCode::FORBIDDEN, "invalid X-Twilio-Signature"));
    }
    Ok(params)
}

/// The URLs Twilio may have requested: the configured public URL plus the path within
/// this router (the public URL carries any prefix), or -- when none is configured -- this
/// host and the full path, with the forwarded scheme (from a trusted proxy) or either
/// scheme. Trying more than one is safe: each must still match the HMAC. Public only for the
/// fuzz targets.
#[doc(hidden)]
pub fn candidate_urls(
    state: &AppState,
    original: &Uri,
    relative: &Uri,
    headers: &HeaderMap,
    from_trusted_proxy: bool,
) -> Vec<String> {
    let path_of = |uri: &Uri| {
        uri.path_and_query()
            .map_or_else(|| uri.path().to_string(), |p| p.to_string())
    };
    if let Some(base) = &state.config.public_url {
        return vec![format!("{base}{}", path_of(relative))];
    }
    let path = path_of(original);
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return Vec::new();
    };
    let forwarded_proto = from_trusted_proxy
        .then(|| {
            headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
        })
        .flatten()
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| v == "http" || v == "https");
    match forwarded_proto {
        Some(scheme) => vec![format!("{scheme}://{host}{path}")],
        None => vec![
            format!("https://{host}{path}"),
            format!("http://{host}{path}"),
        ],
    }
}

/// Parses `application/x-www-form-urlencoded`, refusing what is not UTF-8 after decoding
/// (Twilio signs the decoded text; a lossy decode would check a different text).
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, &'static str> {
    let mut params = Vec::new();
    for field in body.split(|&b| b == b'&').filter(|f| !f.is_empty()) {
        if params.len() == MAX_FORM_FIELDS {
            return Err("too many form fields");
        }
        let (name, value) = match field.iter().position(|&b| b == b'=') {
            Some(i) => (&field[..i], &field[i + 1..]),
            None => (field, &[][..]),
        };
        params.push((decode(name)?, decode(value)?));
    }
    Ok(params)
}

fn decode(raw: &[u8]) -> Result<String, &'static str> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Vec<u8> = percent_decode(&spaced).collect();
    String::from_utf8(bytes).map_err(|_| "form field is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_webhook_body() {
        let body = b"AccountSid=AC123&ApiVersion=2010-04-01&Called=&Caller=client%3AAnonymous&To=&phoneNumber=%2B12031234567&Name=A+B";
        let params = parse_form(body).unwrap();
        assert_eq!(params[3], ("Caller".into(), "client:Anonymous".into()));
        assert_eq!(params[2], ("Called".into(), String::new()));
        assert_eq!(params[5], ("phoneNumber".into(), "+12031234567".into()));
        assert_eq!(params[6], ("Name".into(), "A B".into()));
    }

    #[test]
    fn refuses_bad_forms() {
        assert_eq!(parse_form(b"a=%FF"), Err("form field is not UTF-8"));
        assert_eq!(parse_form(b"\xff=1"), Err("form field is not UTF-8"));
        let many: Vec<u8> = (0..=MAX_FORM_FIELDS)
            .map(|i| format!("k{i}=v&"))
            .collect::<String>()
            .into_bytes();
        assert_eq!(parse_form(&many), Err("too many form fields"));
        assert_eq!(
            parse_form(b"&&flag&"),
            Ok(vec![("flag".into(), String::new())])
        );
    }
}
