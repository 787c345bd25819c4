//! The control API's HTTP server (axum), which also serves the part of Twilio's REST API the
//! lab emulates ([`super::rest`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::types::*;
use crate::config::Credentials;
use crate::runtime::{ActorMsg, WebhookLog};
use crate::signaling::RefuseUntil;
use crate::switch::{ControlError, ControlReply, ControlRequest};

#[derive(Clone)]
pub struct ControlState {
    pub actor: mpsc::UnboundedSender<ActorMsg>,
    pub refuse_until: RefuseUntil,
    pub webhooks: WebhookLog,
    /// Facts about this lab (`GET /v1/lab`).
    pub info: Arc<Value>,
    /// The account the REST API authenticates.
    pub credentials: Credentials,
    /// Recording media needs HTTP Basic auth too.
    pub enforce_media_auth: bool,
    /// The Tokens resource (ICE servers) and its fault.
    pub ice_tokens: Arc<super::rest::IceTokens>,
}

pub fn router(state: ControlState) -> Router {
    Router::new()
        .route("/v1/lab", get(lab_info))
        .route("/v1/calls", get(list_calls).post(start_call))
        .route("/v1/calls/{sid}", get(get_call))
        .route("/v1/calls/{sid}/hangup", post(hangup_call))
        .route("/v1/legs/{sid}/hangup", post(hangup_leg))
        .route("/v1/legs/{sid}/messages", post(send_message))
        .route("/v1/legs/{sid}/stop-media", post(stop_media))
        .route("/v1/legs/{sid}/switch-ssrc", post(switch_ssrc))
        .route("/v1/connections", get(connections))
        .route("/v1/webhooks", get(webhooks))
        .route("/v1/clock", post(clock))
        .route("/v1/faults/close-socket", post(close_socket))
        .route("/v1/faults/stop-heartbeats", post(stop_heartbeats))
        .route("/v1/faults/resume-heartbeats", post(resume_heartbeats))
        .route("/v1/faults/refuse-connections", post(refuse_connections))
        .route("/v1/faults/next-error", post(next_error))
        .route("/v1/faults/refuse-listen", post(refuse_listen))
        .route("/v1/faults/accept-listen", post(accept_listen))
        .route(
            "/v1/faults/answer-without-ringing",
            post(answer_without_ringing),
        )
        .route("/v1/faults/ring-before-answer", post(ring_before_answer))
        .route("/v1/legs/{sid}/digits", post(send_digits))
        .route("/v1/ice-tokens", get(ice_tokens))
        .route("/v1/faults/fail-ice-tokens", post(fail_ice_tokens))
        .route("/v1/faults/serve-ice-tokens", post(serve_ice_tokens))
        .route("/v1/recordings", get(recordings))
        .route("/v1/recordings/{sid}", get(recording))
        .merge(super::rest::routes())
        .with_state(state)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

/// A request to the switch; the outer error is a response for a lab that is stopping.
pub(super) async fn ask_switch(
    state: &ControlState,
    request: ControlRequest,
) -> Result<Result<ControlReply, ControlError>, Response> {
    let stopping = || error(StatusCode::SERVICE_UNAVAILABLE, "the lab is stopping");
    let (tx, rx) = oneshot::channel();
    state
        .actor
        .send(ActorMsg::Control(request, tx))
        .map_err(|_| stopping())?;
    rx.await.map_err(|_| stopping())
}

async fn ask(state: &ControlState, request: ControlRequest) -> Result<ControlReply, Response> {
    ask_switch(state, request).await?.map_err(|e| {
        error(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            e.message,
        )
    })
}

fn reply(reply: ControlReply) -> Response {
    match reply {
        ControlReply::Started(s) => (StatusCode::CREATED, Json(s)).into_response(),
        ControlReply::Calls(c) => Json(c).into_response(),
        ControlReply::Call(c) => Json(c).into_response(),
        ControlReply::Connections(c) => Json(c).into_response(),
        ControlReply::Sent(s) => Json(s).into_response(),
        ControlReply::Done(n) => Json(json!({ "affected": n })).into_response(),
        ControlReply::Recordings(r) => Json(r).into_response(),
        ControlReply::Recording { info, .. } => Json(info).into_response(),
    }
}

async fn run(state: ControlState, request: ControlRequest) -> Response {
    match ask(&state, request).await {
        Ok(r) => reply(r),
        Err(e) => e,
    }
}

async fn lab_info(State(state): State<ControlState>) -> Response {
    Json(state.info.as_ref().clone()).into_response()
}

async fn list_calls(State(state): State<ControlState>) -> Response {
    run(state, ControlRequest::Calls).await
}

async fn start_call(State(state): State<ControlState>, Json(body): Json<StartCall>) -> Response {
    run(state, ControlRequest::StartCall(body)).await
}

async fn get_call(State(state): State<ControlState>, Path(sid): Path<String>) -> Response {
    run(state, ControlRequest::Call(sid)).await
}

async fn hangup_call(State(state): State<ControlState>, Path(sid): Path<String>) -> Response {
    run(state, ControlRequest::HangupCall(sid)).await
}

async fn hangup_leg(State(state): State<ControlState>, Path(sid): Path<String>) -> Response {
    run(state, ControlRequest::HangupLeg(sid)).await
}

async fn send_message(
    State(state): State<ControlState>,
    Path(sid): Path<String>,
    Json(body): Json<SendMessage>,
) -> Response {
    run(
        state,
        ControlRequest::SendMessage {
            leg: sid,
            message: body,
        },
    )
    .await
}

async fn stop_media(
    State(state): State<ControlState>,
    Path(sid): Path<String>,
    Json(body): Json<StopMediaFault>,
) -> Response {
    run(
        state,
        ControlRequest::StopMedia {
            leg: sid,
            seconds: body.seconds,
        },
    )
    .await
}

async fn switch_ssrc(State(state): State<ControlState>, Path(sid): Path<String>) -> Response {
    run(state, ControlRequest::SwitchSsrc(sid)).await
}

async fn connections(State(state): State<ControlState>) -> Response {
    run(state, ControlRequest::Connections).await
}

async fn webhooks(State(state): State<ControlState>) -> Response {
    let log: Vec<WebhookRecord> = state
        .webhooks
        .lock()
        .map(|l| l.iter().cloned().collect())
        .unwrap_or_default();
    Json(log).into_response()
}

async fn clock(State(state): State<ControlState>, Json(body): Json<ClockOffset>) -> Response {
    run(state, ControlRequest::SetClockOffset(body.offset_secs)).await
}

async fn close_socket(
    State(state): State<ControlState>,
    Json(body): Json<CloseSocketFault>,
) -> Response {
    run(state, ControlRequest::CloseSocket(body)).await
}

async fn stop_heartbeats(
    State(state): State<ControlState>,
    Json(body): Json<ConnSelector>,
) -> Response {
    run(state, ControlRequest::StopHeartbeats(body)).await
}

async fn resume_heartbeats(
    State(state): State<ControlState>,
    Json(body): Json<ConnSelector>,
) -> Response {
    run(state, ControlRequest::ResumeHeartbeats(body)).await
}

async fn refuse_connections(
    State(state): State<ControlState>,
    Json(body): Json<RefuseConnectionsFault>,
) -> Response {
    if !(body.seconds.is_finite() && (0.0..3600.0).contains(&body.seconds)) {
        return error(StatusCode::BAD_REQUEST, "seconds must be in [0, 3600)");
    }
    let until = Instant::now() + Duration::from_secs_f32(body.seconds);
    if let Ok(mut g) = state.refuse_until.lock() {
        *g = Some(until);
    }
    Json(json!({ "affected": 1 })).into_response()
}

async fn refuse_listen(
    State(state): State<ControlState>,
    Json(body): Json<RefuseListenFault>,
) -> Response {
    run(state, ControlRequest::RefuseListen(Some(body))).await
}

async fn accept_listen(State(state): State<ControlState>) -> Response {
    run(state, ControlRequest::RefuseListen(None)).await
}

async fn answer_without_ringing(State(state): State<ControlState>) -> Response {
    run(state, ControlRequest::AnswerWithoutRinging(true)).await
}

async fn ring_before_answer(State(state): State<ControlState>) -> Response {
    run(state, ControlRequest::AnswerWithoutRinging(false)).await
}

async fn next_error(
    State(state): State<ControlState>,
    Json(body): Json<NextErrorFault>,
) -> Response {
    run(state, ControlRequest::NextError(body)).await
}

async fn send_digits(
    State(state): State<ControlState>,
    Path(sid): Path<String>,
    Json(body): Json<SendDigits>,
) -> Response {
    run(
        state,
        ControlRequest::SendDigits {
            leg: sid,
            digits: body.digits,
        },
    )
    .await
}

async fn recordings(State(state): State<ControlState>) -> Response {
    run(state, ControlRequest::Recordings).await
}

async fn recording(State(state): State<ControlState>, Path(sid): Path<String>) -> Response {
    run(state, ControlRequest::Recording(sid)).await
}

async fn ice_tokens(State(state): State<ControlState>) -> Response {
    Json(state.ice_tokens.stats()).into_response()
}

async fn fail_ice_tokens(
    State(state): State<ControlState>,
    Json(body): Json<FailIceTokensFault>,
) -> Response {
    if !(400..=599).contains(&body.status) {
        return error(StatusCode::BAD_REQUEST, "status must be from 400 to 599");
    }
    state.ice_tokens.fail_with(Some(body.status));
    Json(json!({ "affected": 1 })).into_response()
}

async fn serve_ice_tokens(State(state): State<ControlState>) -> Response {
    state.ice_tokens.fail_with(None);
    Json(json!({ "affected": 1 })).into_response()
}
