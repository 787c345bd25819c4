//! # offhook-lab: a local Twilio Voice stand-in
//!
//! The lab plays Twilio on loopback: the signaling server the Voice SDK talks to (WSS,
//! `wss://HOST:PORT/signal`), token checks with Twilio's error codes, TwiML fetched from the
//! app's or number's Voice URL and executed, an ICE-lite media gateway (DTLS-SRTP, Opus, PCMU,
//! RFC 4733) and virtual phone numbers — plus a control API for tests. Its fidelity is proven
//! by the official `@twilio/voice-sdk` in headless Chromium (`lab/tests/browser.rs`).
//!
//! ## Modules
//! - [`config`] — credentials (`.env` or generated), [`LabConfig`], virtual numbers.
//! - [`frames`] — signaling frames: parsing client messages, building server messages.
//! - [`switch`] — the Sans-IO core: connections, calls, legs, TwiML execution (with
//!   `<Gather>` and `<Record>`), the recordings the lab holds, faults.
//! - [`twiml`] — the TwiML parser (`<Dial>`, `<Say>`, `<Play>`, `<Pause>`, `<Gather>`,
//!   `<Record>`, `<Hangup>`, …).
//! - [`media`] — the media gateway: WebRTC legs (str0m), virtual legs, audio, SDP shaping,
//!   recording a leg ([`media::recorder`]), and Twilio's crypto ([`media::dtls`]: OpenSSL
//!   DTLS 1.2, ECDSA, SRTP `AES128_CM_SHA1_80`).
//! - [`control`] — the control API: JSON types, the HTTP server (which also serves Twilio's
//!   Recordings REST resource), a typed [`control::Client`].
//! - [`signature`] — `X-Twilio-Signature`.
//! - [`tls`] — the signaling certificate (a throw-away CA and a leaf).
//! - [`http`] — a small HTTP/1 client (webhooks, `<Play>` files, the control client).
//! - `runtime`, `signaling` — the IO shell: the switch's actor and the WSS listener.
//! - [`sid`] — Twilio-shaped SIDs and reconnect tokens.
//!
//! ## Starting a lab in a test
//! ```no_run
//! # async fn demo() -> Result<(), offhook_lab::LabError> {
//! use offhook_lab::{Credentials, Lab, LabConfig};
//! let credentials = Credentials::generate();           // random AC/SK/AP SIDs and secrets
//! let lab = Lab::start(LabConfig::new(credentials.clone())).await?;
//! let token = credentials.token("alice", 600);         // a handset token the lab accepts
//! // Point the client at wss://{lab.signaling_addr}/signal, trusting lab.ca_cert_pem.
//! let control = lab.control();                         // typed control-API client
//! let call_sid = control.call_from("+15551230000", "client:alice", 30).await?;
//! # let _ = (token, call_sid);
//! lab.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## The binary
//! `offhook-lab --env FILE [--listen 127.0.0.1:0] [--app-url URL] [--number-url URL]
//! [--enforce-media-auth] [--ice-server URLS|USER|CREDENTIAL]…` prints one JSON line when
//! ready —
//! `{"signaling":"127.0.0.1:PORT","control":"http://127.0.0.1:PORT","ca_cert":"PATH"}` — logs
//! to stderr and runs until SIGTERM or Ctrl-C. `control` is also the Twilio API base URL.
//!
//! ## Behaviour in brief
//! - `listen`: the token is verified (HS256 with `TWILIO_API_SECRET`, `iss` = `TWILIO_API_KEY`,
//!   `sub` = `TWILIO_ACCOUNT_SID`, `exp`/`nbf`, lifetime ≤ 24 h, identity present). Refusals
//!   send `error` (31202 signature, 31204 malformed, 31205 expired, 31207 too long, 31203 wrong
//!   account, 31105 bad identity) then `close`. Success sends `connected {region, gateway, edge,
//!   home, token:{identity, ttl}}` — or, with [`config::ConnectedForm::Seed`]
//!   (`--connected-form seed`), the seed capture's `connected {region, gateway}`; a `listen` on a
//!   live socket (token update) is answered the same. Each connection records its upgrade
//!   request's `User-Agent` and its last `browserinfo` (`GET /v1/connections`).
//! - `register {audio:true}` → `ready` (31201 + `offline` without an incoming grant),
//!   `{audio:false}` → `offline`. Heartbeats `"\n"` every 5 s (configurable).
//! - A client's `invite`: 31201 hangup without an outgoing grant, 31001 for another app; else the
//!   app's Voice URL is POSTed (Twilio's parameters, custom parameters, `X-Twilio-Signature`) and
//!   the TwiML runs. `answer {callsid, sdp, reconnect}` goes out when the call is answered —
//!   at once for `<Say>`/`<Play>`/`<Pause>`/`<Dial>`, only on bridge with `answerOnBridge`
//!   (then `ringing` comes first: with early-media SDP and in-band ringback when dialling a
//!   number, without SDP when dialling a client, in which case `answer` carries the SDP).
//!   TwiML: `<Dial>` (`<Client>` identity or `<Identity>` + `<Parameter>`, `<Number>`, bare
//!   number; `callerId`, `answerOnBridge`, `timeout`, `timeLimit`, `action`/`method`), `<Say>`
//!   (a tone-per-word stand-in for speech), `<Play>` (WAV over http, or `digits` as RFC 4733),
//!   `<Pause>`, `<Gather>`, `<Record>`, `<Hangup>`, `<Reject reason>`, `<Redirect>`. Failed
//!   dials end an unanswered client call with `hangup {error}`: 31486 busy, 31480 no answer,
//!   31603 declined, 31404 no such number. Unreachable URLs (11200) and bad TwiML (12100, or
//!   12200 also for attribute values Twilio refuses, such as `maxLength="abc"` or
//!   `numDigits="0"`) play an application-error message and hang up; the call's `errors` show
//!   the code. A `<Play>` file that cannot be fetched (11200) or is not audio (12300) is
//!   skipped, noted in `errors`, and the next verb runs.
//! - `<Dial action>` gets `DialCallStatus`: `completed` (with `DialCallSid`,
//!   `DialCallDuration`) after a bridge, `busy` (a client rejected, a busy number), `no-answer`
//!   (the timeout, or a client that is not registered — at once), `failed`, and its TwiML runs.
//!   When the caller hangs up during the dial, the action is still requested — `canceled`
//!   while ringing, `completed` once bridged — with `CallStatus=completed`, and its TwiML is
//!   ignored, as Twilio does.
//! - `statusCallback` on a `<Number>` or `<Client>` (`statusCallbackEvent`: any of
//!   `initiated ringing answered completed`, default `completed`; `statusCallbackMethod`,
//!   default POST) posts each event of the leg that noun rings, signed: `AccountSid`,
//!   `ApiVersion`, `CallSid` (the child's), `ParentCallSid`, `From`, `To` (`client:<identity>`
//!   or the number), `Caller`, `Called`, `CallStatus` (`initiated`, `ringing`, `in-progress`,
//!   then `completed` once bridged, else `busy`, `no-answer`, `canceled` or `failed`),
//!   `Direction=outbound-dial`, `Timestamp` (RFC 2822), `CallbackSource=call-progress-events`,
//!   `SequenceNumber` (from 0), and `CallDuration` (talk seconds) on `completed`.
//! - `<Gather input="dtmf">` (`numDigits`, `finishOnKey` default `#`, `timeout` default 5,
//!   `actionOnEmptyResult`, `action`/`method`) plays its nested `<Say>`/`<Play>`/`<Pause>`;
//!   a key stops the prompt. `action` (default: the current document) gets `Digits`; no
//!   digits means the next verb. Keys are a client's signaling `dtmf` or RFC 4733 events, or a
//!   virtual caller's (`POST /v1/legs/{sid}/digits`), on the leg running the TwiML.
//! - `<Record>` (`timeout` seconds of silence, `finishOnKey`, `maxLength`, `playBeep` — a
//!   half-second 1 kHz beep first —, `trim`, `recordingStatusCallback(Method|Event)`,
//!   `action`/`method`) records the caller's leg (a client's decoded audio, or a virtual
//!   caller's) as 8 kHz mono 16-bit PCM, in memory. `action` (default: the current document)
//!   gets `RecordingUrl` (`{control_url}/2010-04-01/Accounts/{AC}/Recordings/{RE}`),
//!   `RecordingSid`, `RecordingDuration` and `Digits` (the key, or `hangup`); after a hang-up
//!   it is still requested with `CallStatus=completed` and its TwiML ignored; an empty
//!   recording (all silence) requests no action and the next verb runs. The
//!   `recordingStatusCallback` (`completed` only) is always posted, with `AccountSid`,
//!   `CallSid`, `RecordingSid`, `RecordingUrl`, `RecordingStatus`, `RecordingDuration`,
//!   `RecordingChannels`, `RecordingStartTime`, `RecordingSource=RecordVerb`, `ErrorCode`.
//!   A `<Play>` of the lab's own recording URL plays it directly, without HTTP auth.
//! - Every webhook and callback carries `X-Twilio-Signature`.
//! - Built-in routing (no URL configured): an outgoing call's `To` (or `phoneNumber`) parameter,
//!   E.164 → that virtual number, `client:x`/`x` → that client, with `answerOnBridge`; a call to
//!   the phone number rings every registered client.
//! - Incoming calls to clients: `invite {callsid, sdp, parameters:{AccountSid, ApiVersion,
//!   CallSid, From, To, Params?}, reconnect}`; `answer`/`reject` from the client; `cancel` when
//!   the caller gives up, the dial times out or another device answered.
//! - Reconnection: a socket that drops while a call is answered keeps the call for the
//!   `reconnectTimeout` of its last `listen`; `invite {reconnect}` within it gets
//!   `answer {callsid, reconnect}` (a fresh token, no SDP); later or unknown tokens get
//!   `hangup` with 31209 or 31107. `reinvite` (ICE restart) gets `answer {callsid, sdp}`.
//! - `message` → `ack` (31210 for a type other than `user-defined-message`, 31212 over 10 KB).
//! - Malformed frames get `error` 31100 (31103 when over 64 KB); WebSocket messages over 1 MB
//!   close the socket.
//!
//! ## Virtual numbers (defaults)
//! `+12025550100` echo, `+12025550101` 1 kHz tone, `+12025550102` DTMF recorder,
//! `+12025550103` busy, `+12025550104` no answer, `+12025550105` decline,
//! `+12025550106` answers after 3 s of ringing (then echoes). More with
//! [`LabConfig::virtual_numbers`] or `--virtual-number NUMBER=KIND` (see [`VirtualNumber::parse`]).
//!
//! ## Control API (`control_url`, JSON)
//! | route | what |
//! |---|---|
//! | `GET /v1/lab` | addresses (`api_url` too), phone number, virtual numbers |
//! | `POST /v1/calls` `{from, to, caller?, timeout_secs?, params?}` | inbound call from a virtual caller (`caller`: `{"kind":"tone","hz":440}` default, `echo`, `silence`) to the phone number or `client:<id>` → `{call_sid}` |
//! | `GET /v1/calls`, `GET /v1/calls/{sid}` | calls with legs, states, messages, DTMF and media stats (packets/bytes each way, level, dominant frequency, RFC 4733 digits with timestamps) |
//! | `POST /v1/calls/{sid}/hangup`, `POST /v1/legs/{sid}/hangup` | hang up a call or one leg |
//! | `POST /v1/legs/{sid}/messages` `{content, content_type?, message_type?}` | call message to a client → `{voice_event_sid}` |
//! | `GET /v1/connections` | signaling connections with their last frames each way |
//! | `GET /v1/webhooks` | webhook requests made (URL, params, signature, status) |
//! | `POST /v1/clock` `{offset_secs}` | shift the clock used for token checks |
//! | `POST /v1/faults/close-socket` `{identity?, conn?, close_frame}` | close client sockets |
//! | `POST /v1/faults/stop-heartbeats`, `…/resume-heartbeats` `{identity?, conn?}` | heartbeats off/on |
//! | `POST /v1/faults/refuse-connections` `{seconds}` | drop new TCP connections |
//! | `POST /v1/faults/next-error` `{frame: listen\|invite, code, message?, retry_after?, close?}` | answer the next one with an error |
//! | `POST /v1/faults/refuse-listen` `{code?, message?, close_frame?}`, `…/accept-listen` | refuse every `listen` (an `error` if `code`, then `close` or a dropped socket) until accepted again |
//! | `POST /v1/faults/answer-without-ringing`, `…/ring-before-answer` | the built-in `<Dial>` answers at once with no `ringing` (`answerOnBridge="false"`), or rings first again |
//! | `POST /v1/legs/{sid}/stop-media` `{seconds}` | a leg's media (and ICE) goes silent |
//! | `POST /v1/legs/{sid}/switch-ssrc` `{}` | a WebRTC leg's RTP moves to a new SSRC, sequence and timestamp base |
//! | `POST /v1/legs/{sid}/digits` `{digits}` | a virtual leg presses keys (`0-9*#`, `w` = ½ s), 300 ms apart |
//! | `GET /v1/ice-tokens` | what the Tokens resource did: `{served, failed, failing_with}` |
//! | `POST /v1/faults/fail-ice-tokens` `{status?}`, `…/serve-ice-tokens` | the Tokens resource answers `status` (default 503) until served again |
//! | `GET /v1/recordings`, `GET /v1/recordings/{sid}` | recordings: SID, call, URL, duration, how it ended, deleted or not, level and dominant frequency |
//!
//! ## Twilio's REST API (the same address: [`LabHandle::twilio_api_url`])
//! | route | what |
//! |---|---|
//! | `GET /2010-04-01/Accounts/{AC}/Recordings/{RE}` (or `.wav`) | the audio, `audio/x-wav`, 8 kHz mono 16-bit PCM; HTTP Basic only with [`LabConfig::enforce_media_auth`] (`--enforce-media-auth`) |
//! | `GET …/Recordings/{RE}.json` | the Recording resource (HTTP Basic) |
//! | `DELETE …/Recordings/{RE}.json` | 204, and the recording is gone (HTTP Basic) |
//! | `POST /2010-04-01/Accounts/{AC}/Tokens.json` `[Ttl=SECS]` | 201, a Network Traversal Service token: [`LabConfig::ice_servers`] one URL per entry, `ttl` (HTTP Basic) |
//!
//! HTTP Basic is `AccountSid:AuthToken` or `ApiKeySid:ApiKeySecret`; without it, 401
//! `{"code":20003,…}`. Unknown or deleted recordings are 404 `{"code":20404,…}`.

pub mod config;
pub mod control;
mod error;
pub mod frames;
pub mod http;
pub mod media;
mod runtime;
pub mod sid;
mod signaling;
pub mod signature;
pub mod switch;
pub mod tls;
pub mod twiml;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use config::{Behaviour, Credentials, IceServer, LabConfig, TlsSource, VirtualNumber};
pub use error::LabError;

/// A running lab. Dropping it stops the lab too; [`LabHandle::shutdown`] also waits for it.
pub struct LabHandle {
    /// Where clients reach the WSS signaling server (`chunderw` for the JS SDK): the listen
    /// address, with the media IP in place of an unspecified (0.0.0.0) listen IP.
    pub signaling_addr: SocketAddr,
    /// The control API's base URL, `http://127.0.0.1:PORT`.
    pub control_url: String,
    /// The CA certificate clients should trust (PEM).
    pub ca_cert_pem: String,
    /// The same, written to a file.
    pub ca_cert_path: PathBuf,
    pub credentials: Credentials,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    remove_ca_file: bool,
}

impl LabHandle {
    /// The base URL of the Twilio REST API the lab serves (the Recordings resource): the
    /// control server's, `http://127.0.0.1:PORT`. A server under test takes it as its Twilio
    /// API base (`OFFHOOK_TWILIO_API_URL`); `RecordingUrl`s start with it.
    pub fn twilio_api_url(&self) -> &str {
        &self.control_url
    }

    /// A typed client for the control API.
    pub fn control(&self) -> control::Client {
        control::Client::new(&self.control_url)
    }

    /// `wss://ADDR/signal`, the URL clients connect to.
    pub fn signaling_url(&self) -> String {
        format!("wss://{}/signal", self.signaling_addr)
    }

    /// The start-up line the binary prints, keys in the documented order:
    /// `{"signaling":"127.0.0.1:PORT","control":"http://127.0.0.1:PORT","ca_cert":"PATH"}`.
    pub fn startup_line(&self) -> String {
        let s = |v: String| serde_json::Value::String(v).to_string();
        format!(
            "{{\"signaling\":{},\"control\":{},\"ca_cert\":{}}}",
            s(self.signaling_addr.to_string()),
            s(self.control_url.clone()),
            s(self.ca_cert_path.display().to_string())
        )
    }

    /// Stops every task and waits for them.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for LabHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if self.remove_ca_file {
            let _ = std::fs::remove_file(&self.ca_cert_path);
        }
    }
}

/// Starts labs.
pub struct Lab;

impl Lab {
    /// Binds the signaling and control listeners, makes the certificate and starts the lab on
    /// the current tokio runtime.
    pub async fn start(config: LabConfig) -> Result<LabHandle, LabError> {
        // What clients dial: the listen IP, or the media IP when listening on all interfaces.
        let advertised_ip = if config.listen.ip().is_unspecified() {
            config.media_ip()
        } else {
            config.listen.ip()
        };
        let material = tls::material(&config.tls, advertised_ip)?;
        let (ca_cert_path, remove_ca_file) = match &config.ca_cert_path {
            Some(p) => (p.clone(), false),
            None => {
                static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("offhook-lab-ca-{}-{n}.pem", std::process::id());
                (std::env::temp_dir().join(name), true)
            }
        };
        std::fs::write(&ca_cert_path, &material.ca_cert_pem).map_err(|e| {
            LabError::Config(format!("cannot write {}: {e}", ca_cert_path.display()))
        })?;

        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| LabError::Bind {
                what: "signaling",
                addr: config.listen,
                source,
            })?;
        let control_listener =
            TcpListener::bind(config.control_listen)
                .await
                .map_err(|source| LabError::Bind {
                    what: "control API",
                    addr: config.control_listen,
                    source,
                })?;
        let signaling_addr = SocketAddr::new(advertised_ip, listener.local_addr()?.port());
        let control_addr = control_listener.local_addr()?;
        let control_url = format!("http://{control_addr}");

        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (inputs_tx, inputs_rx) = mpsc::unbounded_channel();
        let (actor_tx, actor_rx) = mpsc::unbounded_channel();
        let http = http::HttpClient::new();
        let webhooks: runtime::WebhookLog = Arc::default();
        let refuse_until: signaling::RefuseUntil = Arc::new(Mutex::new(None));

        let mut switch_config = switch::SwitchConfig::from(&config);
        switch_config.api_base_url = control_url.clone();
        let actor = runtime::Actor {
            switch: switch::Switch::new(switch_config),
            gateway: media::Gateway::new(config.media_ip(), inputs_tx.clone(), http.clone()),
            conns: Default::default(),
            inputs_tx: inputs_tx.clone(),
            http: http.clone(),
            webhooks: webhooks.clone(),
        };
        let mut tasks = vec![tokio::spawn(actor.run(
            inputs_rx,
            actor_rx,
            shutdown_rx.clone(),
        ))];

        let listener = signaling::Listener {
            listener,
            tls: tokio_rustls::TlsAcceptor::from(material.server_config),
            refuse_until: refuse_until.clone(),
            actor: actor_tx.clone(),
        };
        tasks.push(tokio::spawn(listener.run(shutdown_rx.clone())));

        let info = json!({
            "signaling": signaling_addr.to_string(),
            "control": control_url,
            "ca_cert": ca_cert_path.display().to_string(),
            "phone_number": config.credentials.phone_number,
            "account_sid": config.credentials.account_sid,
            "app_sid": config.credentials.app_sid,
            "app_url": config.app_url,
            "number_url": config.number_url,
            "media_ip": config.media_ip().to_string(),
            "virtual_numbers": config.virtual_numbers,
            "api_url": control_url,
            "enforce_media_auth": config.enforce_media_auth,
            "ice_servers": config.ice_servers,
        });
        let state = control::server::ControlState {
            actor: actor_tx,
            refuse_until,
            webhooks,
            info: Arc::new(info),
            credentials: config.credentials.clone(),
            enforce_media_auth: config.enforce_media_auth,
            ice_tokens: Arc::new(control::rest::IceTokens::new(
                config.ice_servers.clone(),
                config.ice_servers_ttl_secs,
            )),
        };
        let app = control::server::router(state);
        let mut control_shutdown = shutdown_rx;
        tasks.push(tokio::spawn(async move {
            let serve = axum::serve(control_listener, app).with_graceful_shutdown(async move {
                let _ = control_shutdown.changed().await;
            });
            if let Err(e) = serve.await {
                tracing::warn!("control API stopped: {e}");
            }
        }));

        tracing::info!(%signaling_addr, %control_url, "lab ready");
        Ok(LabHandle {
            signaling_addr,
            control_url,
            ca_cert_pem: material.ca_cert_pem,
            ca_cert_path,
            credentials: config.credentials,
            shutdown: shutdown_tx,
            tasks,
            remove_ca_file,
        })
    }
}
