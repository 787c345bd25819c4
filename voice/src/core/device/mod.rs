//! The Device engine (`device.ts`), the way a quinn-proto `Endpoint` sits over its
//! `Connection`s: registration, the signaling stream (PStream) and its sockets, the token and
//! its expiry timer, and the routing of frames to calls by CallSid. It owns the calls in a map
//! and drains each call's outputs right after routing an input to it, so that outputs come
//! out in the order the SDK emits them; its deadline is the earliest of its own timers and
//! its calls'.
//!
//! - this file — the engine's state, its timers, and the routing of inputs to calls;
//! - [`api`] — what the application asks of the Device and of its calls;
//! - [`frames`] — the stream's events and the server's frames;
//! - [`stream`] — the signaling stream and its sockets.
//!
//! Deliberate differences from the browser SDK, each because a desk phone must not get stuck:
//! - after `unregister()` a later socket reconnect does not re-register (the SDK does);
//! - the 30 s register refresh is not queued while the socket is down (the SDK queues one
//!   per interval and reports 31009 each time); reconnecting re-registers anyway;
//! - a `connected` frame on a socket that never dropped (the answer to `update_token`) does
//!   not send reconnect invites for live calls, so refreshing a token never touches audio;
//! - a call whose socket drops without a reconnect token ends with `error` + `disconnect`
//!   (the SDK marks it closed silently and stays busy), and a pending incoming call lost with
//!   the socket ends with `cancel` (the SDK drops it silently);
//! - a `close` frame (the server refusing the token or the account: `error`, then `close`)
//!   ends the stream as in the SDK, but a Device that wanted to be registered tries again
//!   with a new stream after [`RESTREAM_BACKOFF`] (the SDK waits for `register()`), so a
//!   phone recovers by itself once the server side is fixed;
//! - with no `token` in `connected` (the seed capture's form: only `region` and `gateway`)
//!   the identity comes from the token's own `grants.identity` and `tokenWillExpire` from its
//!   `exp - iat`, counted from when the Device got the token (the SDK sets neither).

mod api;
mod frames;
mod stream;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;

use super::Output;
use super::call::{CallConfig, CallCore, CallOutput, Ending, Link};
use super::random::Random;
use crate::error::{TwilioError, VoiceError};
use crate::model::{CallId, DeviceEvent, DeviceState};
use crate::options::DeviceOptions;
use crate::signaling::backoff::{Backoff, BackoffConfig};
use crate::signaling::{PStream, StreamStatus};

/// `device.ts REGISTRATION_INTERVAL`.
pub const REGISTRATION_INTERVAL: Duration = Duration::from_secs(30);
const SOCKET_GEN_SHIFT: u32 = 32;
/// How a Device that wants to be registered retries after the server ended the stream with
/// `close` (a refused token or account): 1 s, doubling, ±40 %, never more than a minute
/// apart; a `retryAfter` in the error that came with the `close` is waited at least.
pub const RESTREAM_BACKOFF: BackoffConfig = BackoffConfig {
    min_ms: 1000,
    max_ms: 60_000,
    factor: 2.0,
    jitter: 0.4,
    use_initial_value: false,
};

pub struct Engine {
    options: DeviceOptions,
    token: String,
    state: DeviceState,
    stream: Option<PStream>,
    stream_gen: u64,
    /// `connected` seen on the current stream (the SDK's `_streamConnectedPromise`).
    stream_connected: bool,
    /// Whether the socket dropped since the last `connected` (calls then resend invites).
    socket_dropped: bool,
    /// `register()` waits for the stream's `connected`.
    register_deferred: bool,
    should_reregister: bool,
    unregistering: bool,
    register_at: Option<Instant>,
    token_will_expire_at: Option<Instant>,
    /// When the Device got its current token (its first use, or `update_token`): the
    /// token's `exp - iat` counts from here when `connected` gives no `ttl`.
    token_received_at: Option<Instant>,
    /// A new stream after the server's `close`, for a Device that wants to be registered.
    restream: Backoff,
    restream_at: Option<Instant>,
    /// `retryAfter` of the last `error` frame, waited at least before a new stream.
    retry_after: Option<Duration>,
    random: Random,
    identity: Option<String>,
    edge: Option<String>,
    region: Option<String>,
    home: Option<String>,
    preferred_uri: Option<String>,
    last_error: Option<TwilioError>,
    calls: BTreeMap<CallId, CallCore>,
    active_call: Option<CallId>,
    next_call: u64,
    outputs: VecDeque<Output>,
    /// Recently ended calls the far end hung up (for Insights' `disconnected-by-remote`).
    ended_by_remote: VecDeque<CallId>,
}

impl Engine {
    /// A Device engine whose random source is seeded from `options.random_seed`, or from
    /// the OS without one.
    pub fn new(token: String, options: DeviceOptions) -> Result<Self, VoiceError> {
        let random = Random::from_seed(options.random_seed);
        Self::with_random(token, options, random)
    }

    /// A Device engine drawing every random number (jitter, stream seeds, SIDs) from `rng`.
    pub fn with_rng(
        token: String,
        options: DeviceOptions,
        rng: StdRng,
    ) -> Result<Self, VoiceError> {
        Self::with_random(token, options, Random::new(rng))
    }

    fn with_random(
        token: String,
        options: DeviceOptions,
        random: Random,
    ) -> Result<Self, VoiceError> {
        options
            .validate()
            .map_err(|e| VoiceError::InvalidArgument(e.to_string()))?;
        Ok(Engine {
            options,
            token,
            state: DeviceState::Unregistered,
            stream: None,
            stream_gen: 0,
            stream_connected: false,
            socket_dropped: false,
            register_deferred: false,
            should_reregister: false,
            unregistering: false,
            register_at: None,
            token_will_expire_at: None,
            token_received_at: None,
            restream: Backoff::new(RESTREAM_BACKOFF),
            restream_at: None,
            retry_after: None,
            random,
            identity: None,
            edge: None,
            region: None,
            home: None,
            preferred_uri: None,
            last_error: None,
            calls: BTreeMap::new(),
            active_call: None,
            next_call: 1,
            outputs: VecDeque::new(),
            ended_by_remote: VecDeque::new(),
        })
    }

    // ---- accessors -------------------------------------------------------------------

    pub fn state(&self) -> DeviceState {
        self.state
    }
    pub fn identity(&self) -> Option<&str> {
        self.identity.as_deref()
    }
    pub fn edge(&self) -> Option<&str> {
        self.edge.as_deref()
    }
    pub fn home(&self) -> Option<&str> {
        self.home.as_deref()
    }
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }
    pub fn gateway(&self) -> Option<&str> {
        self.stream.as_ref().and_then(|s| s.gateway())
    }
    /// `connected.region` as the server named it (`EU_IRELAND`); [`Engine::region`] is its
    /// shortcode.
    pub fn signaling_region(&self) -> Option<&str> {
        self.stream.as_ref().and_then(|s| s.region())
    }
    pub fn token(&self) -> &str {
        &self.token
    }
    pub fn options(&self) -> &DeviceOptions {
        &self.options
    }
    pub fn is_busy(&self) -> bool {
        self.active_call.is_some()
    }
    pub fn active_call(&self) -> Option<CallId> {
        self.active_call
    }
    /// The calls the Device holds besides the active one (pending and ignored incoming calls).
    pub fn calls(&self) -> Vec<CallId> {
        self.calls
            .keys()
            .copied()
            .filter(|id| Some(*id) != self.active_call)
            .collect()
    }
    pub fn call(&self, id: CallId) -> Option<&CallCore> {
        self.calls.get(&id)
    }
    /// Whether a recently ended call was hung up by the far end.
    pub fn was_ended_by_remote(&self, id: CallId) -> bool {
        self.ended_by_remote.contains(&id)
    }
    /// Whether the signaling socket is up and `connected` was received.
    pub fn is_signaling_connected(&self) -> bool {
        self.stream_connected && self.is_socket_up()
    }

    fn is_socket_up(&self) -> bool {
        self.stream
            .as_ref()
            .is_some_and(|s| s.status() != StreamStatus::Disconnected)
    }

    /// What a call needs to know about the stream under it.
    fn link(&self) -> Link {
        Link {
            up: self.is_socket_up(),
            connected: self.stream_connected,
        }
    }

    // ---- driving ---------------------------------------------------------------------

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.stream.as_ref().and_then(|s| s.poll_timeout()),
            self.register_at,
            self.token_will_expire_at,
            self.restream_at,
        ]
        .into_iter()
        .flatten()
        .chain(self.calls.values().filter_map(CallCore::poll_timeout))
        .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(s) = self.stream.as_mut() {
            s.handle_timeout(now);
        }
        self.pump(now);
        if self.register_at.is_some_and(|t| t <= now) {
            self.register_at = None;
            if self.is_socket_up() {
                self.send_presence(true, now);
            } else {
                // Not queued while the socket is down; reconnecting re-registers.
                self.register_at = Some(now + REGISTRATION_INTERVAL);
            }
        }
        if self.token_will_expire_at.is_some_and(|t| t <= now) {
            self.token_will_expire_at = None;
            self.outputs
                .push_back(Output::Device(DeviceEvent::TokenWillExpire));
        }
        if self.restream_at.is_some_and(|t| t <= now) {
            self.restream_at = None;
            self.restream.attempted();
            if self.state == DeviceState::Unregistered && self.should_reregister {
                crate::device_log!(
                    self.options.log_level,
                    INFO,
                    attempt = self.restream.attempts(),
                    "registering again after the server closed the stream"
                );
                let _ = self.register(now);
            }
        }
        let due: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.poll_timeout().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.route(id, |call, link| call.handle_timeout(now, link));
        }
        self.pump(now);
    }

    // ---- calls -----------------------------------------------------------------------

    /// Gives one input to a call, then carries out what it asks.
    fn route(&mut self, id: CallId, input: impl FnOnce(&mut CallCore, Link)) {
        let link = self.link();
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        input(call, link);
        self.drain_call(id);
    }

    /// Carries out a call's outputs; a call that closed is let go of afterwards.
    fn drain_call(&mut self, id: CallId) {
        let mut closed = false;
        while let Some(out) = self.calls.get_mut(&id).and_then(CallCore::poll) {
            match out {
                CallOutput::Send(message) => self.publish(message),
                CallOutput::Event(ev) => self.outputs.push_back(Output::Call(id, ev)),
                CallOutput::Media(req) => self.outputs.push_back(Output::Media(id, req)),
                CallOutput::Accepted => {
                    self.active_call = Some(id);
                    let uri = self.preferred_uri.clone();
                    if let Some(s) = self.stream.as_mut() {
                        s.update_preferred_uri(uri);
                    }
                }
                CallOutput::Closed(ending) => {
                    closed = true;
                    if ending == Ending::Remote {
                        self.ended_by_remote.push_back(id);
                        while self.ended_by_remote.len() > 16 {
                            self.ended_by_remote.pop_front();
                        }
                    }
                }
            }
        }
        if closed {
            self.remove_call(id);
        }
    }

    fn remove_call(&mut self, id: CallId) {
        if self.calls.remove(&id).is_none() {
            return;
        }
        if self.active_call == Some(id) {
            self.active_call = None;
        }
        if self.active_call.is_none()
            && self.calls.is_empty()
            && let Some(s) = self.stream.as_mut()
        {
            s.update_preferred_uri(None);
        }
        self.outputs.push_back(Output::CallRemoved(id));
    }

    fn call_ids(&self) -> Vec<CallId> {
        self.calls.keys().copied().collect()
    }

    /// The first call (in the order they were made) this SID names.
    fn find_call(&self, sid: &str) -> Option<CallId> {
        self.calls
            .iter()
            .find(|(_, c)| c.matches_sid(sid))
            .map(|(id, _)| *id)
    }

    fn new_call_id(&mut self) -> CallId {
        let id = CallId(self.next_call);
        self.next_call += 1;
        id
    }

    fn call_config(&self) -> CallConfig {
        CallConfig::from_options(&self.options)
    }

    // ---- the Device and its stream ----------------------------------------------------

    fn set_state(&mut self, state: DeviceState) {
        if state == self.state {
            return;
        }
        self.state = state;
        crate::device_log!(self.options.log_level, INFO, state = %state, "device state");
        let ev = match state {
            DeviceState::Unregistered => DeviceEvent::Unregistered,
            DeviceState::Registering => DeviceEvent::Registering,
            DeviceState::Registered => DeviceEvent::Registered,
            DeviceState::Destroyed => DeviceEvent::Destroyed,
        };
        self.outputs.push_back(Output::Device(ev));
    }
}

#[cfg(test)]
mod tests;
