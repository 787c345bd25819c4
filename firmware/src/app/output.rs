//! Carrying out what the phone asks: call commands on the Device, tones and routes on the
//! audio path, LEDs and the ringer on the board, the screen, settings and history.

use std::time::Instant;

use offhook_board::audio::{Audio, DevicePair, Route};
use offhook_board::display::Canvas;
use offhook_board::led::{Led as BoardLed, LedMode};

use super::App;
use crate::phone::{
    self, AudioRoute, CallEvent, DeviceRole, Led, LedState, PhoneInput, PhoneOutput, TwilioError,
};

impl App {
    /// Drains the phone's outputs (carrying them out may feed it more input).
    pub(crate) async fn flush(&mut self) {
        let mut guard = 0;
        while let Some(out) = self.phone.poll_output() {
            guard += 1;
            if guard > 10_000 {
                tracing::error!("the phone keeps producing output; dropping the rest");
                break;
            }
            self.carry_out(out).await;
        }
    }

    async fn carry_out(&mut self, out: PhoneOutput) {
        let now = Instant::now();
        match out {
            PhoneOutput::Connect { call, to, params } => {
                let Some(device) = self.device.clone() else {
                    self.fail_call(
                        call,
                        TwilioError::new(
                            31009,
                            "No transport available to send or receive messages",
                        ),
                    );
                    return;
                };
                if self.relay_missing() {
                    tracing::error!(%to, "call refused: relay only, and no TURN server is known");
                    self.fail_call(call, relay_missing_error());
                    return;
                }
                tracing::info!(%to, "placing a call");
                match device.connect(params).await {
                    Ok(handle) => self.track_call(call, handle),
                    Err(e) => {
                        tracing::warn!(error = %e, "connect refused");
                        self.fail_call(
                            call,
                            TwilioError::new(e.twilio_code().unwrap_or(31000), e.to_string()),
                        );
                    }
                }
            }
            PhoneOutput::Accept { call } if self.relay_missing() => {
                tracing::error!("incoming call refused: relay only, and no TURN server is known");
                self.with_call(call, |c| c.reject());
                self.fail_call(call, relay_missing_error());
            }
            PhoneOutput::Accept { call } => self.with_call(call, |c| c.accept()),
            PhoneOutput::Reject { call } => self.with_call(call, |c| c.reject()),
            PhoneOutput::Ignore { call } => self.with_call(call, |c| c.ignore()),
            PhoneOutput::Hangup { call } => self.with_call(call, |c| c.disconnect()),
            PhoneOutput::Mute { call, muted } => self.with_call(call, |c| c.mute(muted)),
            PhoneOutput::SendDigits { call, digits } => self.with_call(call, |c| {
                if let Err(e) = c.send_digits(&digits) {
                    tracing::warn!(error = %e, %digits, "digits not sent");
                }
            }),
            PhoneOutput::PlayTone(tone) => self.path.play_tone(Some(tone)),
            PhoneOutput::StopTone => self.path.play_tone(None),
            PhoneOutput::Ringer(cadence) => {
                self.board.indicators.set_ringer(cadence);
            }
            PhoneOutput::Led { led, state } => {
                let led = match led {
                    Led::Mute => BoardLed::Mute,
                    Led::Message => BoardLed::Message,
                    Led::Speaker => BoardLed::Speaker,
                };
                let mode = match state {
                    LedState::Off => LedMode::Off,
                    LedState::On => LedMode::On,
                    LedState::Blink { period_ms } => LedMode::blink(u64::from(period_ms)),
                };
                self.board.indicators.set_led(led, mode);
            }
            PhoneOutput::Route(route) => {
                self.path.set_route(route);
                if let Some(io) = &self.audio_io {
                    io.set_route(match route {
                        AudioRoute::Handset => Route::Handset,
                        AudioRoute::Speaker => Route::Speaker,
                    });
                }
            }
            PhoneOutput::Volume { path, level } => self.path.set_volume(path, level),
            PhoneOutput::UseAudioDevice { role, id } => self.use_audio_device(role, id),
            PhoneOutput::SetEdge(_) | PhoneOutput::SetCodecPreferences(_) => {
                // The ICE servers the Device has stay: new ones wait for a moment with no call
                // (`apply_ice_when_idle`).
                if let (Some(device), Some(ice)) = (self.device.clone(), self.applied_ice.clone()) {
                    let options = super::device_options(&self.config, &self.phone, &ice);
                    if let Err(e) = device.update_options(options).await {
                        tracing::warn!(error = %e, "options not changed");
                    }
                }
            }
            PhoneOutput::RefreshToken => self.tokens.refresh_now(now),
            PhoneOutput::SettingsChanged => self.save_settings(),
            PhoneOutput::PutSettings(update) => self.spawn_put_settings(update),
            PhoneOutput::HistoryChanged => self.save_history(),
            PhoneOutput::ViewChanged => self.draw(now),
        }
    }

    fn with_call(&self, call: phone::CallId, f: impl FnOnce(&twilio_voice::Call)) {
        match self.calls.get(&call) {
            Some(c) => f(c),
            None => tracing::debug!(?call, "no such call"),
        }
    }

    fn fail_call(&mut self, call: phone::CallId, error: TwilioError) {
        let now = Instant::now();
        self.phone
            .handle(PhoneInput::Call(call, CallEvent::Error(error)), now);
        self.phone
            .handle(PhoneInput::Call(call, CallEvent::Disconnect), now);
    }

    fn draw(&mut self, now: Instant) {
        let view = self.phone.view(now);
        let summary = crate::screens::words::describe(&view);
        let drawn = match self.board.display.canvas() {
            Canvas::Mono(frame) => {
                crate::screens::mono::render(&view, frame).map_err(|e| format!("{e:?}"))
            }
            Canvas::Color(frame) => {
                crate::screens::color::render(&view, frame).map_err(|e| format!("{e:?}"))
            }
        };
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "cannot draw the screen");
        }
        self.board.display.set_summary(&summary);
        if let Err(e) = self.board.display.flush() {
            tracing::warn!(error = %e, "display flush failed");
        }
        let _ = self
            .systemd
            .status(&crate::screens::words::status_line(&view));
    }

    /// Switches a microphone or speaker: the audio threads restart on the new device.
    fn use_audio_device(&mut self, role: DeviceRole, id: String) {
        let Some(old) = self.audio_io.take() else {
            tracing::warn!("no audio device to change");
            return;
        };
        let mut config = old.config().clone();
        let pair: &mut DevicePair = match old.route() {
            Route::Handset => &mut config.handset,
            Route::Speaker => &mut config.speaker,
        };
        match role {
            DeviceRole::Microphone => pair.capture = id.clone(),
            DeviceRole::Speaker => pair.playback = id.clone(),
        }
        if let Some(p) = self.pump.take() {
            p.stop();
        }
        old.stop();
        match Audio::start(config) {
            Ok(Audio {
                io,
                capture,
                playback,
            }) => match self.path.start_pump(capture, playback) {
                Ok(pump) => {
                    self.pump = Some(pump);
                    self.audio_io = Some(io);
                    tracing::info!(?role, %id, "audio device changed");
                }
                Err(e) => tracing::error!(error = %e, "cannot restart the audio mixer"),
            },
            Err(e) => tracing::error!(error = %e, "cannot open the chosen audio device"),
        }
    }
}

/// What a call gets when relay-only is asked for and no TURN server is known: the SDK's
/// media failure (as a browser's relay-only call without a TURN server ends).
fn relay_missing_error() -> TwilioError {
    TwilioError::new(
        53405,
        "ice_transport_policy is relay, but no TURN server is known (none in the config, none \
         from offhook-server)",
    )
}
