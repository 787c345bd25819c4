//! The requests the lab makes for a call, signed with `X-Twilio-Signature`: fetching TwiML
//! (the Voice URL, `<Redirect>`, an `action`) and running the reply, and requests whose reply
//! nothing waits for (status callbacks, an `action` after the caller hung up).

use super::calls::Phase;
use super::exec::application_error_program;
use super::{Now, Output, Switch, WebhookRequest};
use crate::control::types::CallError;
use crate::error::LabError;
use crate::signature::twilio_signature;
use crate::twiml;

/// Resolves a URL from TwiML against the document it came from.
pub(super) fn resolve(base: Option<&str>, url: &str) -> String {
    match base
        .and_then(|b| url::Url::parse(b).ok())
        .and_then(|b| b.join(url).ok())
    {
        Some(u) => u.to_string(),
        None => url.to_string(),
    }
}

impl Switch {
    /// A signed request for `url`: GET carries the parameters in the URL (and signs only
    /// the URL), POST in the body.
    pub(super) fn signed_request(
        &self,
        url: &str,
        method: &str,
        params: Vec<(String, String)>,
    ) -> WebhookRequest {
        let auth = &self.cfg.credentials.auth_token;
        if method == "GET" {
            let sep = if url.contains('?') { '&' } else { '?' };
            let full = if params.is_empty() {
                url.to_string()
            } else {
                format!("{url}{sep}{}", form_encode(&params))
            };
            WebhookRequest {
                signature: twilio_signature(auth, &full, &[]),
                url: full,
                method: "GET".into(),
                params: Vec::new(),
            }
        } else {
            WebhookRequest {
                signature: twilio_signature(auth, url, &params),
                url: url.to_string(),
                method: "POST".into(),
                params,
            }
        }
    }

    /// `url` resolved against the call's current document, and the call's parameters plus
    /// `extra`.
    fn call_request(
        &self,
        call_sid: &str,
        url: &str,
        extra: Vec<(String, String)>,
    ) -> Option<(String, Vec<(String, String)>)> {
        let call = self.calls.get(call_sid)?;
        let mut params = call.params.clone();
        params.extend(extra);
        Some((resolve(call.doc_url.as_deref(), url), params))
    }

    /// Requests TwiML from `url` with the call's parameters plus `extra`; the call runs the
    /// reply.
    pub(super) fn fetch(
        &mut self,
        call_sid: &str,
        url: &str,
        method: &str,
        extra: Vec<(String, String)>,
        now: Now,
    ) {
        let _ = now;
        let seq = self.seq();
        let Some((url, params)) = self.call_request(call_sid, url, extra) else {
            return;
        };
        let request = self.signed_request(&url, method, params);
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        call.phase = Phase::Fetching { seq };
        call.doc_url = Some(url);
        self.emit(Output::Webhook {
            call: call_sid.to_string(),
            seq,
            request,
        });
    }

    /// Requests `url` with the call's parameters plus `extra` and ignores the reply: an
    /// `action` Twilio still requests after the caller hung up.
    pub(super) fn notify_action(
        &mut self,
        call_sid: &str,
        url: &str,
        method: &str,
        extra: Vec<(String, String)>,
    ) {
        if let Some((url, params)) = self.call_request(call_sid, url, extra) {
            let request = self.signed_request(&url, method, params);
            self.send_callback(call_sid, request);
        }
    }

    /// A request whose reply nothing waits for (status callbacks, actions after a hang-up):
    /// its sequence number matches no fetch.
    pub(super) fn send_callback(&mut self, call_sid: &str, request: WebhookRequest) {
        let seq = self.seq();
        self.emit(Output::Webhook {
            call: call_sid.to_string(),
            seq,
            request,
        });
    }

    pub(super) fn webhook_done(
        &mut self,
        call_sid: &str,
        seq: u64,
        result: Result<String, LabError>,
        now: Now,
    ) {
        let Some(call) = self.calls.get_mut(call_sid) else {
            return;
        };
        if !matches!(call.phase, Phase::Fetching { seq: s } if s == seq) {
            return;
        }
        let doc_url = call.doc_url.clone();
        let program = match result {
            Ok(body) => match twiml::parse(&body) {
                Ok(verbs) => verbs,
                Err(e) => {
                    call.errors.push(CallError {
                        code: e.code(),
                        message: e.to_string(),
                    });
                    application_error_program()
                }
            },
            Err(why) => {
                call.errors.push(CallError {
                    code: 11200,
                    message: format!("HTTP retrieval failure: {why}"),
                });
                application_error_program()
            }
        };
        self.set_program(call_sid, program, doc_url);
        self.run(call_sid, now);
    }
}

/// Sets a parameter every later webhook of the call carries.
pub(super) fn set_param(params: &mut [(String, String)], name: &str, value: &str) {
    for (k, v) in params.iter_mut() {
        if k == name {
            *v = value.to_string();
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of pairs.
pub fn form_encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
