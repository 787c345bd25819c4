//! What the application asks of the Device (`device.ts register/unregister/updateToken/
//! updateOptions/connect/disconnectAll/destroy`) and of its calls, routed to them.

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::Value;

use super::super::MediaEvent;
use super::super::call::{CallCore, Ending, check_digits};
use super::Engine;
use crate::error::VoiceError;
use crate::model::{CallId, DeviceState};
use crate::options::DeviceOptions;

impl Engine {
    fn throw_if_destroyed(&self) -> Result<(), VoiceError> {
        if self.state == DeviceState::Destroyed {
            return Err(VoiceError::InvalidState(
                "Device has been destroyed.".into(),
            ));
        }
        Ok(())
    }

    pub fn register(&mut self, now: Instant) -> Result<(), VoiceError> {
        if self.state != DeviceState::Unregistered {
            return Err(VoiceError::InvalidState(format!(
                "Attempt to register when device is in state \"{}\". Must be \"unregistered\".",
                self.state
            )));
        }
        self.should_reregister = false;
        self.unregistering = false;
        self.restream_at = None;
        self.set_state(DeviceState::Registering);
        self.ensure_stream(now);
        if self.stream_connected {
            self.send_presence(true, now);
        } else {
            self.register_deferred = true;
        }
        self.pump(now);
        Ok(())
    }

    pub fn unregister(&mut self, now: Instant) -> Result<(), VoiceError> {
        if self.state != DeviceState::Registered {
            return Err(VoiceError::InvalidState(format!(
                "Attempt to unregister when device is in state \"{}\". Must be \"registered\".",
                self.state
            )));
        }
        self.should_reregister = false;
        self.unregistering = true;
        self.send_presence(false, now);
        self.pump(now);
        Ok(())
    }

    pub fn update_token(&mut self, token: String, now: Instant) -> Result<(), VoiceError> {
        if self.state == DeviceState::Destroyed {
            return Err(VoiceError::InvalidState(
                "Attempt to \"updateToken\" when device is in state \"destroyed\".".into(),
            ));
        }
        if token.trim().is_empty() {
            return Err(VoiceError::InvalidArgument(
                "Parameter \"token\" must be of type \"string\".".into(),
            ));
        }
        self.token = token.clone();
        self.token_received_at = Some(now);
        if let Some(s) = self.stream.as_mut() {
            s.set_token(token);
        }
        self.pump(now);
        Ok(())
    }

    pub fn update_options(
        &mut self,
        options: DeviceOptions,
        now: Instant,
    ) -> Result<(), VoiceError> {
        if self.state == DeviceState::Destroyed {
            return Err(VoiceError::InvalidState(
                "Attempt to \"updateOptions\" when device is in state \"destroyed\".".into(),
            ));
        }
        options
            .validate()
            .map_err(|e| VoiceError::InvalidArgument(e.to_string()))?;
        let old: BTreeSet<String> = self.options.signaling_urls().into_iter().collect();
        let new: BTreeSet<String> = options.signaling_urls().into_iter().collect();
        let changed = old != new;
        if self.is_busy() && changed {
            return Err(VoiceError::InvalidState(
                "Cannot change Edge while on an active Call".into(),
            ));
        }
        self.options = options;
        let config = self.call_config();
        for call in self.calls.values_mut() {
            call.set_config(config.clone());
        }
        if changed && self.stream.is_some() {
            self.setup_stream(now);
        }
        self.pump(now);
        Ok(())
    }

    /// Places an outgoing call with these custom parameters (sent to the TwiML app).
    pub fn connect(
        &mut self,
        custom_parameters: Vec<(String, String)>,
        now: Instant,
    ) -> Result<CallId, VoiceError> {
        self.throw_if_destroyed()?;
        if self.active_call.is_some() {
            return Err(VoiceError::InvalidState("A Call is already active".into()));
        }
        self.ensure_stream(now);
        let id = self.new_call_id();
        let temp_sid = self.random.temp_call_sid();
        let call = CallCore::outgoing(custom_parameters, temp_sid, self.call_config(), now);
        self.calls.insert(id, call);
        self.active_call = Some(id);
        // Any incoming calls are ignored.
        let pending: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(cid, c)| **cid != id && c.is_pending())
            .map(|(i, _)| *i)
            .collect();
        for p in pending {
            self.ignore(p, now);
        }
        self.drain_call(id);
        self.pump(now);
        Ok(id)
    }

    pub fn disconnect_all(&mut self, now: Instant) {
        for id in self.calls() {
            if self.calls.get(&id).is_some_and(CallCore::is_pending) {
                // As the SDK: dropped from the list; not rejected.
                self.remove_call(id);
            } else {
                self.disconnect(id, now);
            }
        }
        if let Some(active) = self.active_call {
            self.disconnect(active, now);
        }
        self.pump(now);
    }

    pub fn destroy(&mut self, now: Instant) {
        if self.state == DeviceState::Destroyed {
            return;
        }
        let pending: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, c)| c.is_pending())
            .map(|(id, _)| *id)
            .collect();
        for id in pending {
            self.reject(id, now);
        }
        self.disconnect_all(now);
        self.register_at = None;
        self.token_will_expire_at = None;
        self.restream_at = None;
        self.destroy_stream(now);
        self.set_state(DeviceState::Destroyed);
        self.pump(now);
    }

    // ---- calls -------------------------------------------------------------------------

    pub fn accept(&mut self, id: CallId, now: Instant) {
        if !self.calls.get(&id).is_some_and(CallCore::can_accept) {
            return;
        }
        // beforeAccept: another active call is hung up first.
        if let Some(active) = self.active_call.filter(|a| *a != id) {
            self.disconnect(active, now);
            self.remove_call(active);
        }
        self.route(id, |call, _| call.accept());
        self.pump(now);
    }

    pub fn reject(&mut self, id: CallId, now: Instant) {
        self.route(id, |call, _| call.reject());
        self.pump(now);
    }

    pub fn ignore(&mut self, id: CallId, now: Instant) {
        self.route(id, |call, _| call.ignore());
        self.pump(now);
    }

    pub fn disconnect(&mut self, id: CallId, now: Instant) {
        self.route(id, |call, link| call.disconnect(link, None, Ending::Other));
        self.pump(now);
    }

    pub fn mute(&mut self, id: CallId, should_mute: bool) {
        self.route(id, |call, _| call.mute(should_mute));
    }

    pub fn send_digits(
        &mut self,
        id: CallId,
        digits: &str,
        now: Instant,
    ) -> Result<(), VoiceError> {
        // The digits are checked first, as the SDK does.
        check_digits(digits)?;
        if !self.calls.contains_key(&id) {
            return Err(VoiceError::InvalidState(
                "Call is no longer held by the Device".into(),
            ));
        }
        let mut result = Ok(());
        self.route(id, |call, link| result = call.send_digits(digits, link));
        self.pump(now);
        result
    }

    /// Sends a call message; returns its voice event SID.
    pub fn send_message(
        &mut self,
        id: CallId,
        content: Value,
        content_type: Option<String>,
        message_type: &str,
        now: Instant,
    ) -> Result<String, VoiceError> {
        if content.is_null() {
            return Err(VoiceError::InvalidArgument("`content` is empty".into()));
        }
        if message_type.is_empty() {
            return Err(VoiceError::InvalidArgument(
                "`messageType` must be a non-empty string.".into(),
            ));
        }
        if self.stream.is_none() {
            return Err(VoiceError::InvalidState(
                "Could not send CallMessage; Signaling channel is disconnected".into(),
            ));
        }
        let Some(call) = self.calls.get(&id) else {
            return Err(VoiceError::InvalidState(
                "Call is no longer held by the Device".into(),
            ));
        };
        if call.call_sid().is_none() {
            return Err(VoiceError::InvalidState(
                "Could not send CallMessage; Call has no CallSid".into(),
            ));
        }
        let voice_event_sid = self.random.voice_event_sid();
        let mut result = Ok(());
        let kx = voice_event_sid.clone();
        self.route(id, |call, _| {
            result = call.send_message(content, content_type, message_type, kx)
        });
        self.pump(now);
        result.map(|()| voice_event_sid)
    }

    /// A report of a call's media session.
    pub fn on_media_event(&mut self, id: CallId, event: MediaEvent, now: Instant) {
        self.route(id, |call, link| call.on_media_event(event, link, now));
        self.pump(now);
    }
}
