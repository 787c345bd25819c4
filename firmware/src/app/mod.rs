//! The glue: the board, the Twilio Device, the token client and the phone core in one loop.
//!
//! Everything here moves events and commands between parts that decide for themselves: the
//! phone ([`crate::phone`]) decides what the handset does, the Device
//! ([`twilio_voice`]) speaks Twilio, the board ([`offhook_board`]) is the hardware, and
//! the token scheduler ([`crate::token`]) decides when to fetch tokens.
//!
//! - [`audio`] — the audio path: microphone to the call; call audio and tones to the earpiece.
//! - [`events`] — Device and Call events in the phone's words.
//! - [`output`] — carrying out the phone's outputs.
//! - [`remote`] — the push channel's events in, settings changes out to offhook-server.
//! - [`provisioning`] — offhook-server's provisioned settings: the cached copy at start, each
//!   new one resolved and applied (or refused), and the status report's facts.
//! - [`state_writer`] — history, settings and the provisioned copy written to disk off the loop.

pub mod audio;
pub mod events;
mod output;
pub mod provisioning;
mod remote;
mod state_writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use offhook_board::audio::{Audio, AudioIo, DevicePair};
use offhook_board::profile::Profile;
use offhook_board::sim::{SimHandle, SimOptions};
use offhook_board::{Board, BoardError};
use tokio::sync::mpsc;
use twilio_voice::{Device, DeviceEvents};

use crate::api::ServerEndpoint;
use crate::config::Config;
use crate::history::CallHistory;
use crate::ice::{IceChoice, IceServerList};
use crate::phone::{CallId, Phone, PhoneInput, ServerSettings, TokenStatus, UserSettings};
use crate::push::{PushClient, PushConfig};
use crate::status::{StatusReporter, StatusTiming};
use crate::systemd::{Ping, Systemd};
use crate::token::http::fetch_token;
use crate::token::{Backoff, TokenFetchError, TokenResponse, TokenScheduler};
use audio::{AudioPath, CallAudio};
use provisioning::Provisioning;
use state_writer::StateWriter;

/// Why the phone could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("board: {0}")]
    Board(#[from] BoardError),
    #[error("token server: {0}")]
    Token(String),
    /// The Twilio Device's task died (its event stream ended while the phone ran); exiting
    /// lets systemd start a fresh one.
    #[error("the Twilio Device stopped: {0}")]
    DeviceDied(String),
    /// The board's input stream ended without a quit: keypad and hook are gone.
    #[error("every input source is gone (keypad unplugged or its driver failed)")]
    InputsGone,
    #[error("{0}")]
    Other(String),
}

/// How to run besides the config file.
#[derive(Default)]
pub struct RunOptions {
    /// Simulator options (terminal, script, control socket, PNG frames) for a `simulated`
    /// board; `None` = headless from the profile.
    pub sim: Option<SimOptions>,
    /// Report the wall clock to the phone (off in tests, so screens are reproducible).
    pub wall_clock: bool,
    /// Stops the phone when it turns true (besides SIGTERM / Ctrl-C).
    pub stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// Hands the simulator's handle to the caller once the board is up.
    pub sim_handle: Option<tokio::sync::oneshot::Sender<SimHandle>>,
}

/// The board profile with the config's audio devices and rate applied.
pub fn board_profile(config: &Config) -> Result<Profile, AppError> {
    let mut profile = Profile::find(&config.board_profile)?;
    let mut audio = profile.audio.clone().unwrap_or_default();
    audio.rate = config.audio.sample_rate;
    audio.handset = DevicePair {
        capture: config.audio.capture.clone(),
        playback: config.audio.playback.clone(),
    };
    if audio.speaker.capture.is_empty() && audio.speaker.playback.is_empty() {
        audio.speaker = audio.handset.clone();
    }
    if let Some(ringer) = &config.audio.ringer {
        audio.speaker.playback = ringer.clone();
    }
    profile.audio = Some(audio);
    Ok(profile)
}

/// The ICE servers and policy for the Device: the config's list, else `server`'s (the last
/// token answer's), with the config's policy ([`crate::ice::choose`]).
pub fn ice_choice(config: &Config, server: Option<&IceServerList>) -> IceChoice {
    crate::ice::choose(
        config.device.ice_servers.as_ref(),
        server,
        config.device.ice_transport_policy,
    )
}

/// Device options from the config, with the edges and codec order the phone has in force and
/// the ICE servers of `ice`.
pub fn device_options(
    config: &Config,
    phone: &Phone,
    ice: &IceChoice,
) -> twilio_voice::DeviceOptions {
    let d = &config.device;
    let codecs = phone.device_codecs();
    let edges = phone.device_edges();
    twilio_voice::DeviceOptions {
        codec_preferences: codecs.iter().map(|c| events::codec(*c)).collect(),
        edge: edges,
        token_refresh_ms: d.token_refresh_ms,
        enable_improved_signaling_error_precision: d.enable_improved_signaling_error_precision,
        max_call_signaling_timeout_ms: d.max_call_signaling_timeout_ms,
        dscp: d.dscp,
        allow_incoming_while_busy: d.allow_incoming_while_busy,
        app_name: Some(d.app_name.clone()),
        app_version: Some(env!("CARGO_PKG_VERSION").into()),
        chunderw: (!d.signaling_hosts.is_empty()).then(|| d.signaling_hosts.clone()),
        extra_ca_pem: d.signaling_ca_pem.clone(),
        publish_events: d.publish_events,
        log_level: twilio_voice::options::LogLevel::Warn,
        ice_servers: ice.servers.0.clone(),
        ice_transport_policy: ice.policy,
        ..Default::default()
    }
}

/// The parts the loop owns.
pub(crate) struct App {
    pub config: Config,
    pub phone: Phone,
    pub board: Board,
    pub path: AudioPath,
    pub audio_io: Option<AudioIo>,
    pub pump: Option<audio::Pump>,
    pub device: Option<Device>,
    /// Subscribed when the Device is made, before it can say anything.
    pub device_events: Option<DeviceEvents>,
    pub calls: HashMap<CallId, twilio_voice::Call>,
    pub call_tx: mpsc::UnboundedSender<(CallId, twilio_voice::CallEvent)>,
    pub tokens: TokenScheduler,
    /// offhook-server: tokens, the handset routes, the push channel.
    pub endpoint: Arc<ServerEndpoint>,
    pub token_tx: mpsc::UnboundedSender<Result<TokenResponse, TokenFetchError>>,
    /// The push channel's client (its task stops when this goes).
    pub push: PushClient,
    /// Answers to the phone's settings changes (`PUT /api/handset/settings`).
    pub settings_tx: mpsc::UnboundedSender<Result<ServerSettings, String>>,
    /// offhook-server's provisioned settings in use.
    pub provisioning: Provisioning,
    /// Status reports to offhook-server (its task stops when this goes).
    pub status: StatusReporter,
    pub systemd: Systemd,
    pub last_edge: Option<String>,
    pub last_token_status: Option<TokenStatus>,
    /// The last error the Device reported (said again if its task dies after it).
    pub last_device_error: Option<String>,
    /// The ICE servers of the last token answer that had a list (kept when a later answer
    /// has none, unless the server hands out none on purpose).
    pub server_ice: Option<IceServerList>,
    /// The ICE servers and policy the Device has (`None` before there is a Device).
    pub applied_ice: Option<IceChoice>,
    /// A new choice of ICE servers waits for the Device to be idle.
    pub ice_pending: bool,
    pub history_path: PathBuf,
    pub settings_path: PathBuf,
    /// History and settings go to disk on a thread of their own.
    pub state_writer: StateWriter,
}

fn local_utc_offset() -> i32 {
    // SAFETY: time() and localtime_r() only write to the values we own.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return 0;
        }
        tm.tm_gmtoff as i32
    }
}

/// Wall-clock seconds, if the clock looks set (a Pi without an RTC starts in the past).
fn wall_clock() -> Option<i64> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    (secs > 1_700_000_000).then_some(secs)
}

/// Runs the phone until stopped.
pub async fn run(config: Config, mut options: RunOptions) -> Result<(), AppError> {
    let now = Instant::now();
    let history_path = config.history_path();
    let settings_path = config.settings_path();
    if let Err(e) = std::fs::create_dir_all(&config.state_dir) {
        tracing::warn!(dir = %config.state_dir.display(), error = %e, "cannot create the state directory; history will not be kept");
    }
    let (history, problem) = CallHistory::load(&history_path);
    if let Some(p) = problem {
        tracing::warn!(?p, "call history");
    }
    let (settings, problem) = UserSettings::load(&settings_path);
    if let Some(p) = problem {
        tracing::warn!(?p, "settings");
    }
    // The file's settings, with offhook-server's last good ones (cached) where it gives none.
    let (provisioning, resolved) = Provisioning::start(&config);
    let profile = board_profile(&config)?;
    let sim = options.sim.take().map(|mut s| {
        if s.audio.is_none() {
            s.audio = SimOptions::from_profile(&profile).audio;
        }
        s
    });
    let (mut board, sim_handle) = Board::start(&profile, sim)?;
    // Held for the whole run when nobody asked for it: dropping it would close the simulated
    // board's inputs, and a headless phone (the systemd service) would stop at once.
    let _sim_handle = match (sim_handle, options.sim_handle.take()) {
        (Some(h), Some(tx)) => tx.send(h).err(),
        (h, _) => h,
    };
    let rate = board
        .audio
        .as_ref()
        .map(|a| a.capture.rate())
        .unwrap_or(config.audio.sample_rate);
    let path = AudioPath::new(rate, resolved.region, config.audio.speech);
    let (audio_io, pump) = match board.audio.take() {
        Some(Audio {
            io,
            capture,
            playback,
        }) => {
            let pump = path
                .start_pump(capture, playback)
                .map_err(|e| AppError::Other(format!("audio mixer: {e}")))?;
            (Some(io), Some(pump))
        }
        None => (None, None),
    };
    let endpoint = Arc::new(
        ServerEndpoint::new(&config.server, config.token.request_timeout)
            .map_err(|e| AppError::Token(e.to_string()))?,
    );
    let mut phone = Phone::new(resolved.phone, settings, history, now);
    if let Some(settings) = provisioning.current().and_then(|c| c.server_settings()) {
        phone.handle(PhoneInput::ServerSettings(settings), now);
    }
    let (call_tx, mut call_rx) = mpsc::unbounded_channel();
    let (token_tx, mut token_rx) = mpsc::unbounded_channel();
    let (settings_tx, mut settings_rx) = mpsc::unbounded_channel();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id());
    let tokens = TokenScheduler::new(
        Backoff {
            min: config.token.min_retry,
            max: config.token.max_retry,
            jitter: 0.4,
        },
        seed,
        now,
    );
    let (push, mut push_rx) = PushClient::spawn(
        endpoint.clone(),
        PushConfig::from_options(&config.push),
        seed.rotate_left(17) ^ 0x9e37_79b9_7f4a_7c15,
        provisioning.current().and_then(|c| c.etag.clone()),
    );
    let status = StatusReporter::spawn(endpoint.clone(), StatusTiming::default(), now);
    let mut app = App {
        phone,
        board,
        path,
        audio_io,
        pump,
        device: None,
        device_events: None,
        calls: HashMap::new(),
        call_tx,
        tokens,
        endpoint,
        token_tx,
        push,
        settings_tx,
        provisioning,
        status,
        systemd: Systemd::from_env(now),
        last_edge: None,
        last_token_status: None,
        last_device_error: None,
        server_ice: None,
        applied_ice: None,
        ice_pending: false,
        history_path,
        settings_path,
        state_writer: StateWriter::spawn()
            .map_err(|e| AppError::Other(format!("cannot start the state file writer: {e}")))?,
        config,
    };
    app.start_inputs();
    let _ = app.systemd.ready("starting");
    let mut stop = options.stop.take();
    let mut next_clock = Instant::now();
    let sigterm = async {
        #[cfg(unix)]
        {
            if let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                s.recv().await;
                return;
            }
        }
        std::future::pending::<()>().await
    };
    tokio::pin!(sigterm);
    let outcome = loop {
        app.flush().await;
        if app.ice_pending {
            app.apply_ice_when_idle().await;
        }
        let now = Instant::now();
        if app.tokens.poll_fetch(now) {
            app.spawn_token_fetch();
        }
        app.report_token_status(now);
        if options.wall_clock && now >= next_clock {
            if let Some(unix_secs) = wall_clock() {
                app.phone.handle(
                    PhoneInput::WallClock {
                        unix_secs,
                        utc_offset_secs: local_utc_offset(),
                    },
                    now,
                );
            }
            next_clock = now + Duration::from_secs(30);
        }
        let deadline = [
            app.phone.poll_timeout(),
            app.tokens.poll_timeout(),
            app.systemd.poll_timeout(),
            options.wall_clock.then_some(next_clock),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(tokio::time::Instant::from_std);
        let stopped = async {
            match stop.as_mut() {
                Some(rx) => {
                    let _ = rx.wait_for(|v| *v).await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            input = app.board.events.recv() => match input {
                Some(ev) => app.phone.handle(PhoneInput::Input(ev), Instant::now()),
                None if app.board.quit_requested() => {
                    tracing::info!("the board's inputs ended: quit");
                    break Ok(());
                }
                None => {
                    tracing::error!("every input source is gone (keypad unplugged?): stopping so that systemd restarts the phone");
                    break Err(AppError::InputsGone);
                }
            },
            ev = next_device_event(&mut app.device_events) => match ev {
                Some(ev) => app.on_device_event(ev),
                None => {
                    // Only shutdown destroys the Device: an end here is its task dying.
                    let why = app
                        .last_device_error
                        .clone()
                        .unwrap_or_else(|| "its event stream ended".into());
                    tracing::error!(%why, "the Twilio Device stopped: exiting so that systemd restarts the phone");
                    app.device_events = None;
                    break Err(AppError::DeviceDied(why));
                }
            },
            Some((call, ev)) = call_rx.recv() => app.on_call_event(call, ev),
            Some(result) = token_rx.recv() => app.on_token_result(result).await,
            Some(event) = push_rx.recv() => app.on_push_event(event),
            Some(answer) = settings_rx.recv() => {
                app.phone.handle(PhoneInput::SettingsAnswer(answer), Instant::now());
            }
            _ = sleep_until(deadline) => {
                let now = Instant::now();
                app.ping_watchdog(now);
                app.phone.handle(PhoneInput::Timer, now);
            }
            _ = tokio::signal::ctrl_c() => break Ok(()),
            _ = &mut sigterm => break Ok(()),
            _ = stopped => break Ok(()),
        }
    };
    app.shutdown().await;
    outcome
}

async fn next_device_event(
    events: &mut Option<DeviceEvents>,
) -> Option<twilio_voice::DeviceEvent<twilio_voice::Call>> {
    match events.as_mut() {
        Some(e) => e.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl App {
    /// Pings systemd's watchdog when due, vouching only for parts that still beat: the
    /// Device's task (once there is a Device) and the audio mixer (when there is audio).
    fn ping_watchdog(&mut self, now: Instant) {
        let device = self.device.as_ref().map(Device::heartbeat);
        let mut parts = Vec::new();
        if let Some(beat) = device.as_ref() {
            parts.push(("the Twilio Device", beat));
        }
        if let Some(pump) = self.pump.as_ref() {
            parts.push(("the audio mixer", pump.heartbeat()));
        }
        match self.systemd.on_timeout(now, &parts) {
            Ok(Ping::Refused(part)) => {
                tracing::error!(%part, "not pinging the watchdog: this part is dead or stuck")
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "watchdog ping"),
        }
    }

    fn start_inputs(&mut self) {
        let now = Instant::now();
        let devices = offhook_board::audio::list_devices();
        let pick = |capture: bool| {
            devices
                .iter()
                .filter(|d| if capture { d.capture } else { d.playback })
                .map(|d| crate::phone::AudioDevice {
                    id: d.name.clone(),
                    label: d.description.clone(),
                })
                .collect::<Vec<_>>()
        };
        self.phone.handle(
            PhoneInput::AudioDevices {
                microphones: pick(true),
                speakers: pick(false),
            },
            now,
        );
        let ip = twilio_voice::media::task::local_ip_towards(std::net::IpAddr::V4(
            std::net::Ipv4Addr::new(8, 8, 8, 8),
        ));
        let ip = (!ip.is_loopback()).then(|| ip.to_string());
        self.phone.handle(PhoneInput::Network { ip }, now);
    }

    fn spawn_token_fetch(&self) {
        let endpoint = self.endpoint.clone();
        let tx = self.token_tx.clone();
        tokio::spawn(async move {
            let result = fetch_token(&endpoint).await;
            let _ = tx.send(result);
        });
    }

    fn report_token_status(&mut self, now: Instant) {
        let status = self.tokens.status(now);
        let same = match (&self.last_token_status, &status) {
            // `Valid.ttl` and `Failing.retry_in` count down: only the kind and the problem
            // matter to the phone.
            (
                Some(TokenStatus::Valid { identity: a, .. }),
                TokenStatus::Valid { identity: b, .. },
            ) => a == b,
            (
                Some(TokenStatus::Failing { problem: a, .. }),
                TokenStatus::Failing { problem: b, .. },
            ) => a == b,
            (Some(TokenStatus::Fetching), TokenStatus::Fetching) => true,
            _ => false,
        };
        if !same {
            self.last_token_status = Some(status.clone());
            self.phone.handle(PhoneInput::Token(status), now);
        }
    }

    async fn on_token_result(&mut self, result: Result<TokenResponse, TokenFetchError>) {
        let now = Instant::now();
        if let Err(e) = &result {
            tracing::warn!(error = %e, "no token from offhook-server");
        }
        let Some(response) = self.tokens.on_result(result, now) else {
            self.report_token_status(now);
            return;
        };
        tracing::info!(identity = %response.identity, ttl = response.ttl, "new access token");
        self.take_server_ice(&response.ice);
        // The server is reachable: the push channel polls if its stream is down.
        self.push.token_refreshed();
        match &self.device {
            Some(device) => {
                if let Err(e) = device.update_token(response.token.clone()).await {
                    tracing::warn!(error = %e, "update_token refused");
                }
                if device.state() == twilio_voice::DeviceState::Unregistered {
                    spawn_register(device.clone());
                }
                self.apply_ice_when_idle().await;
            }
            None => {
                let ice = ice_choice(&self.config, self.server_ice.as_ref());
                if ice.relay_missing {
                    tracing::error!(
                        "ice_transport_policy is relay, but no TURN server is known (none in the \
                         config, none from offhook-server): calls are refused until one is"
                    );
                }
                let options = device_options(&self.config, &self.phone, &ice);
                let audio = Arc::new(CallAudio::new(self.path.clone()));
                match Device::with_audio(response.token.clone(), options, audio) {
                    Ok(device) => {
                        self.device_events = Some(device.events());
                        spawn_register(device.clone());
                        self.device = Some(device);
                        self.applied_ice = Some(ice);
                        self.ice_pending = false;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot create the Twilio Device");
                        self.phone.handle(
                            PhoneInput::Device(crate::phone::DeviceEvent::Error(
                                crate::phone::TwilioError::new(
                                    e.twilio_code().unwrap_or(31000),
                                    e.to_string(),
                                ),
                            )),
                            now,
                        );
                    }
                }
            }
        }
        self.report_token_status(now);
    }

    /// Keeps the ICE servers of a token answer (the config's, if it gives any, still win) and
    /// notes whether the Device should get a new choice.
    fn take_server_ice(&mut self, ice: &crate::token::ServerIce) {
        for dropped in &ice.dropped {
            tracing::warn!(%dropped, "an ICE server from offhook-server is not used");
        }
        match (&ice.servers, ice.disabled()) {
            (Some(list), _) => {
                if ice.stale {
                    tracing::warn!(
                        why = ice.error.as_deref().unwrap_or("not said"),
                        "offhook-server's ICE servers are stale: their credentials may have expired"
                    );
                }
                if self.server_ice.as_ref() != Some(list) {
                    tracing::info!(servers = list.len(), "ICE servers from offhook-server");
                    self.server_ice = Some(list.clone());
                }
            }
            (None, true) => self.server_ice = None,
            (None, false) => {
                if let Some(why) = &ice.error {
                    tracing::warn!(%why, kept = self.server_ice.is_some(), "no ICE servers from offhook-server");
                }
            }
        }
        let wanted = ice_choice(&self.config, self.server_ice.as_ref());
        self.ice_pending = self.device.is_some() && self.applied_ice.as_ref() != Some(&wanted);
    }

    /// Gives the Device the ICE servers now chosen, if they changed and no call is up (a call
    /// keeps the servers it started with); otherwise it stays pending until the calls end.
    pub(crate) async fn apply_ice_when_idle(&mut self) {
        let Some(device) = self.device.clone() else {
            return;
        };
        if !self.calls.is_empty() || device.is_busy() {
            tracing::debug!("new ICE servers wait for the call to end");
            return;
        }
        let wanted = ice_choice(&self.config, self.server_ice.as_ref());
        if self.applied_ice.as_ref() == Some(&wanted) {
            self.ice_pending = false;
            return;
        }
        if wanted.relay_missing {
            tracing::error!(
                "ice_transport_policy is relay, but no TURN server is known: calls are refused"
            );
        }
        let options = device_options(&self.config, &self.phone, &wanted);
        match device.update_options(options).await {
            Ok(()) => {
                tracing::info!(
                    servers = wanted.servers.len(),
                    source = ?wanted.source,
                    "the Device's ICE servers changed (from the next call)"
                );
                self.applied_ice = Some(wanted);
            }
            Err(e) => tracing::warn!(error = %e, "the Device refused the new ICE servers"),
        }
        self.ice_pending = false;
    }

    /// Relay-only is asked for and the Device knows no TURN server: calls must not go ahead.
    pub(crate) fn relay_missing(&self) -> bool {
        self.applied_ice.as_ref().is_some_and(|c| c.relay_missing)
    }

    fn on_device_event(&mut self, ev: twilio_voice::DeviceEvent<twilio_voice::Call>) {
        let now = Instant::now();
        if let twilio_voice::DeviceEvent::Error { error, .. } = &ev {
            self.last_device_error = Some(format!("{} ({})", error.message, error.code));
        }
        let edge = self.device.as_ref().and_then(|d| d.edge());
        if let Some(input) = events::device_input(ev, self) {
            if let PhoneInput::Device(event) = &input {
                self.track_status(event, edge.as_ref());
            }
            self.phone.handle(input, now);
        }
        if edge != self.last_edge {
            self.last_edge = edge.clone();
            self.phone.handle(
                PhoneInput::Device(crate::phone::DeviceEvent::Edge(edge.clone())),
                now,
            );
            self.track_status(
                &crate::phone::DeviceEvent::Edge(edge.clone()),
                edge.as_ref(),
            );
        }
    }

    fn on_call_event(&mut self, call: CallId, ev: twilio_voice::CallEvent) {
        let ends = matches!(
            ev,
            twilio_voice::CallEvent::Disconnect
                | twilio_voice::CallEvent::Cancel
                | twilio_voice::CallEvent::Reject
        );
        if let Some(e) = events::call_event(ev) {
            self.phone.handle(PhoneInput::Call(call, e), Instant::now());
        }
        if ends {
            // The handle goes: nothing more can be done with an ended call. An error that
            // follows a disconnect (the SDK's order) still arrives: the forwarder task holds
            // the call's own event stream, not this map.
            if let Some(c) = self.calls.remove(&call) {
                tracing::debug!(?call, status = %c.status(), "call ended");
            }
        }
    }

    /// Registers a call so its events reach the phone.
    pub(crate) fn track_call(&mut self, id: CallId, call: twilio_voice::Call) {
        let mut events = call.events();
        let tx = self.call_tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                if matches!(ev, twilio_voice::CallEvent::Volume { .. }) {
                    continue;
                }
                if tx.send((id, ev)).is_err() {
                    return;
                }
            }
        });
        self.calls.insert(id, call);
    }

    async fn shutdown(mut self) {
        let now = Instant::now();
        let _ = self.systemd.stopping();
        self.phone.shutdown(now);
        self.flush().await;
        if let Some(device) = self.device.take() {
            // Let a hang-up reach Twilio before the socket closes.
            if device.is_busy() {
                let deadline = Instant::now() + Duration::from_secs(2);
                while device.is_busy() && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            device.force_destroy();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.save_state();
        if let Some(p) = self.pump.take() {
            p.stop();
        }
        if let Some(io) = self.audio_io.take() {
            io.stop();
        }
        tracing::info!("stopped");
    }

    /// Saves both files and waits until they are on disk (shutdown).
    fn save_state(&self) {
        self.save_history();
        self.save_settings();
        self.state_writer.finish();
    }

    pub(crate) fn save_history(&self) {
        self.state_writer
            .save(&self.history_path, self.phone.history());
    }

    pub(crate) fn save_settings(&self) {
        self.state_writer
            .save(&self.settings_path, self.phone.user_settings());
    }
}

fn spawn_register(device: Device) {
    tokio::spawn(async move {
        if let Err(e) = device.register().await {
            tracing::warn!(error = %e, "registration did not complete");
        }
    });
}
