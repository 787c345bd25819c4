//! The IO shell around the switch: one actor task that feeds it inputs and time and carries
//! out its outputs (frames to sockets, webhooks over HTTP, commands to media legs).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use hyper::body::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use crate::control::types::WebhookRecord;
use crate::error::LabError;
use crate::http::HttpClient;
use crate::media::Gateway;
use crate::switch::control::ControlError;
use crate::switch::{
    ConnId, ControlReply, ControlRequest, Input, Now, Output, Switch, WebhookRequest,
};

/// What a connection task is told to do.
#[derive(Debug)]
pub enum ConnOut {
    Text(String),
    Close { frame: bool },
}

/// Messages to the actor besides media inputs. A connection sends its opening, frames and
/// closing down this one channel, so the switch sees them in order.
pub enum ActorMsg {
    ConnOpened {
        conn: ConnId,
        peer: std::net::SocketAddr,
        user_agent: Option<String>,
        tx: mpsc::UnboundedSender<ConnOut>,
    },
    Input(Input),
    Control(
        ControlRequest,
        oneshot::Sender<Result<ControlReply, ControlError>>,
    ),
}

/// Webhook requests the lab made, newest last.
pub type WebhookLog = Arc<Mutex<VecDeque<WebhookRecord>>>;
const WEBHOOK_LOG: usize = 500;

pub fn now(offset_ms: i64) -> Now {
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Now {
        at: std::time::Instant::now(),
        unix_ms: (unix_ms + offset_ms).max(0) as u64,
    }
}

pub struct Actor {
    pub switch: Switch,
    pub gateway: Gateway,
    pub conns: HashMap<ConnId, mpsc::UnboundedSender<ConnOut>>,
    pub inputs_tx: mpsc::UnboundedSender<Input>,
    pub http: HttpClient,
    pub webhooks: WebhookLog,
}

impl Actor {
    pub async fn run(
        mut self,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        mut messages: mpsc::UnboundedReceiver<ActorMsg>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let deadline = self.switch.next_deadline();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(input) = inputs.recv() => {
                    self.switch.handle(input, now(0));
                }
                Some(msg) = messages.recv() => match msg {
                    ActorMsg::ConnOpened { conn, peer, user_agent, tx } => {
                        self.conns.insert(conn, tx);
                        self.switch
                            .handle(Input::ConnOpened { conn, peer, user_agent }, now(0));
                    }
                    ActorMsg::Input(input) => self.switch.handle(input, now(0)),
                    ActorMsg::Control(request, reply) => {
                        let result = self.control(request);
                        let _ = reply.send(result);
                    }
                },
                _ = sleep => self.switch.handle_timeout(now(0)),
                _ = shutdown.changed() => break,
            }
            self.flush();
        }
        for (_, tx) in self.conns.drain() {
            let _ = tx.send(ConnOut::Close { frame: false });
        }
    }

    fn control(&mut self, request: ControlRequest) -> Result<ControlReply, ControlError> {
        let reply = self.switch.control(request, now(0));
        self.flush();
        match reply {
            Ok(ControlReply::Calls(mut calls)) => {
                for call in &mut calls {
                    for leg in &mut call.legs {
                        leg.media = self.gateway.stats(&leg.sid);
                    }
                }
                Ok(ControlReply::Calls(calls))
            }
            Ok(ControlReply::Call(mut call)) => {
                for leg in &mut call.legs {
                    leg.media = self.gateway.stats(&leg.sid);
                }
                Ok(ControlReply::Call(call))
            }
            other => other,
        }
    }

    /// Carries out everything the switch asked for (which may feed it more inputs).
    fn flush(&mut self) {
        while let Some(output) = self.switch.poll_output() {
            match output {
                Output::Send { conn, text } => {
                    if let Some(tx) = self.conns.get(&conn) {
                        let _ = tx.send(ConnOut::Text(text));
                    }
                }
                Output::Close { conn, close_frame } => {
                    if let Some(tx) = self.conns.remove(&conn) {
                        let _ = tx.send(ConnOut::Close { frame: close_frame });
                    }
                }
                Output::Webhook { call, seq, request } => self.webhook(call, seq, request),
                Output::Media(command) => {
                    if let Some(event) = self.gateway.execute(command) {
                        self.switch.handle(Input::Media(event), now(0));
                    }
                }
            }
        }
    }

    fn webhook(&self, call: String, seq: u64, request: WebhookRequest) {
        let http = self.http.clone();
        let log = self.webhooks.clone();
        let inputs = self.inputs_tx.clone();
        tokio::spawn(async move {
            let body = crate::switch::form_encode(&request.params);
            let headers = [
                (
                    "Content-Type",
                    "application/x-www-form-urlencoded; charset=UTF-8".to_string(),
                ),
                ("X-Twilio-Signature", request.signature.clone()),
                (
                    "I-Twilio-Idempotency-Token",
                    uuid::Uuid::new_v4().to_string(),
                ),
                ("User-Agent", "TwilioProxy/1.1".to_string()),
                ("Cache-Control", "max-age=259200".to_string()),
                ("Accept", "*/*".to_string()),
            ];
            let body = if request.method == "GET" {
                Bytes::new()
            } else {
                Bytes::from(body)
            };
            let headers: &[(&str, String)] = if request.method == "GET" {
                &headers[1..]
            } else {
                &headers
            };
            let started = now(0).unix_ms;
            let outcome = http
                .request(&request.method, &request.url, headers, body)
                .await;
            let (status, error, result) = match outcome {
                Ok((status @ 200..=299, body)) => (
                    Some(status),
                    None,
                    Ok(String::from_utf8_lossy(&body).into_owned()),
                ),
                Ok((status, _)) => (
                    Some(status),
                    Some(format!("HTTP {status}")),
                    Err(LabError::HttpStatus(status)),
                ),
                Err(e) => (None, Some(e.to_string()), Err(e)),
            };
            if let Ok(mut log) = log.lock() {
                if log.len() >= WEBHOOK_LOG {
                    log.pop_front();
                }
                log.push_back(WebhookRecord {
                    call_sid: call.clone(),
                    url: request.url.clone(),
                    method: request.method.clone(),
                    params: request.params.clone(),
                    signature: request.signature.clone(),
                    unix_ms: started,
                    status,
                    error,
                });
            }
            let _ = inputs.send(Input::Webhook { call, seq, result });
        });
    }
}
