//! The media session's reports about a call: its descriptions, ICE, stats and levels; and
//! the media reconnection (`call.ts _onMediaFailure`, ICE restarts within
//! [`super::MEDIA_RECONNECT_WINDOW`]).

use std::time::{Duration, Instant};

use super::{CallCore, CallOutput, Ending, Ice, Invite, Link, MediaLeg, MediaPhase, Offer};
use crate::core::{MediaEvent, MediaRequest};
use crate::error::TwilioError;
use crate::model::{CallDirection, CallEvent, CallStatus};
use crate::protocol::frame::ClientMessage;
use crate::protocol::sdp;
use crate::quality::WarningChange;

/// The media reconnect backoff (min 1 ms, factor 1.1) is effectively immediate.
const ICE_RESTART_DELAY: Duration = Duration::from_millis(1);
const MEDIA_INTERRUPTED: &str = "Connection with Twilio was interrupted.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaFailure {
    ConnectionDisconnected,
    ConnectionFailed,
    LowBytes,
}

impl CallCore {
    pub fn on_media_event(&mut self, event: MediaEvent, link: Link, now: Instant) {
        match event {
            MediaEvent::LocalDescription(local) => self.on_local_description(local, link),
            MediaEvent::RemoteApplied {
                codec,
                telephone_event,
            } => {
                self.codec = Some(codec);
                self.telephone_event = telephone_event;
                if self.negotiation != MediaPhase::ApplyingRemote {
                    return;
                }
                self.negotiation = MediaPhase::Stable;
                if self.direction == CallDirection::Outgoing
                    && matches!(self.status(), CallStatus::Ringing | CallStatus::Connecting)
                {
                    self.media = MediaLeg::Open;
                    self.maybe_transition_to_open();
                }
                if self.restart_wanted && self.is_live() {
                    self.begin_ice_restart();
                }
            }
            MediaEvent::DescriptionFailed { remote, message } => {
                let code = if remote { 53402 } else { 53400 };
                let e = TwilioError::new(31000, message.clone()).with_original(code, message);
                self.disconnect(link, None, Ending::Other);
                self.emit(CallEvent::Error(e));
            }
            MediaEvent::IceDisconnected => {
                if self.ice == Ice::Connected {
                    self.ice = Ice::Lost;
                    self.emit(CallEvent::Warning {
                        name: "ice-connectivity-lost".into(),
                        data: None,
                    });
                }
                self.on_media_failure(MediaFailure::ConnectionDisconnected, link, now);
            }
            MediaEvent::IceFailed => {
                self.on_media_failure(MediaFailure::ConnectionFailed, link, now)
            }
            MediaEvent::IceConnected => {
                if self.ice == Ice::Lost {
                    self.ice = Ice::Connected;
                    self.emit(CallEvent::WarningCleared {
                        name: "ice-connectivity-lost".into(),
                    });
                }
                self.on_media_reconnected();
            }
            MediaEvent::Stats(stats) => {
                if !self.is_live() {
                    return;
                }
                let (sample, changes) = self.monitor.sample(stats, now);
                let mut low_bytes = false;
                for change in changes {
                    let name = change.name();
                    // Output level warnings go to Insights only; input level ones not while muted.
                    if name == "constant-audio-output-level"
                        || (self.muted && name == "constant-audio-input-level")
                    {
                        continue;
                    }
                    match change {
                        WarningChange::Raised { name, data } => {
                            low_bytes |= name.starts_with("low-bytes-");
                            self.emit(CallEvent::Warning {
                                name,
                                data: Some(data),
                            });
                        }
                        WarningChange::Cleared { name } => {
                            self.emit(CallEvent::WarningCleared { name });
                        }
                    }
                }
                self.emit(CallEvent::Sample(Box::new(sample)));
                if low_bytes {
                    self.on_media_failure(MediaFailure::LowBytes, link, now);
                }
            }
            MediaEvent::Volume {
                input_level,
                output_level,
            } => {
                self.monitor.add_volumes(input_level, output_level);
                self.emit(CallEvent::Volume {
                    input: level_to_volume(input_level),
                    output: level_to_volume(output_level),
                });
            }
            MediaEvent::NetworkChanged { path_lost } => self.on_network_changed(path_lost, now),
            MediaEvent::PeerState(_) => {}
        }
    }

    fn on_local_description(&mut self, local: String, link: Link) {
        let MediaPhase::CreatingLocal { purpose } = self.negotiation else {
            return;
        };
        if !self.is_live() {
            return;
        }
        let local = sdp::set_max_average_bitrate(&local, self.config.max_average_bitrate);
        self.local_sdp = Some(local.clone());
        if purpose == Offer::IceRestart {
            self.negotiation = MediaPhase::HaveLocalOffer { purpose };
            self.send_reinvite();
            return;
        }
        match self.direction {
            CallDirection::Outgoing => {
                self.negotiation = MediaPhase::HaveLocalOffer { purpose };
                if link.connected {
                    self.send_invite();
                } else {
                    self.invite = Invite::Deferred;
                }
            }
            CallDirection::Incoming => {
                self.negotiation = MediaPhase::Stable;
                self.media = MediaLeg::Open;
                let callsid = self.wire_sid().to_string();
                self.send(ClientMessage::Answer {
                    callsid,
                    sdp: local,
                });
                self.maybe_transition_to_open();
            }
        }
    }

    fn on_media_failure(&mut self, kind: MediaFailure, link: Link, now: Instant) {
        if !matches!(
            self.status(),
            CallStatus::Open | CallStatus::Reconnecting | CallStatus::Ringing
        ) {
            return;
        }
        let end_of_cycle = kind == MediaFailure::ConnectionFailed;
        if let MediaLeg::Reconnecting { started, .. } = self.media {
            if end_of_cycle {
                if now.saturating_duration_since(started) > super::MEDIA_RECONNECT_WINDOW {
                    self.media_fatal(link);
                    return;
                }
                self.media = MediaLeg::Reconnecting {
                    started,
                    restart_at: Some(now + ICE_RESTART_DELAY),
                };
            }
            return;
        }
        let low_bytes = self.monitor.has_active_warning("low-bytes-received")
            || self.monitor.has_active_warning("low-bytes-sent");
        let reconnect = (kind == MediaFailure::LowBytes && self.ice == Ice::Lost)
            || (kind == MediaFailure::ConnectionDisconnected && low_bytes)
            || end_of_cycle;
        if !reconnect {
            return;
        }
        self.media = MediaLeg::Reconnecting {
            started: now,
            restart_at: Some(now + ICE_RESTART_DELAY),
        };
        let e = TwilioError::new(53405, "Media connection failed.");
        self.emit(CallEvent::Reconnecting(e));
    }

    pub(super) fn start_ice_restart(&mut self) {
        if matches!(self.media, MediaLeg::Reconnecting { .. }) {
            self.begin_ice_restart();
        }
    }

    /// Asks the media for an ICE-restart offer (it gathers its candidates again first).
    fn begin_ice_restart(&mut self) {
        if let MediaLeg::Reconnecting { started, .. } = self.media {
            self.media = MediaLeg::Reconnecting {
                started,
                restart_at: None,
            };
        }
        self.restart_wanted = false;
        self.negotiation = MediaPhase::CreatingLocal {
            purpose: Offer::IceRestart,
        };
        self.push(CallOutput::Media(MediaRequest::RestartIce));
    }

    /// Sends our ICE-restart offer (`reinvite`).
    pub(super) fn send_reinvite(&mut self) {
        let Some(sdp) = self.local_sdp.clone() else {
            return;
        };
        let callsid = self.wire_sid().to_string();
        self.send(ClientMessage::Reinvite { callsid, sdp });
    }

    /// The network changed under a connected call (`MediaEvent::NetworkChanged`): an ICE
    /// restart gathers the candidates again and offers what works now, at once, or as soon
    /// as an offer/answer under way is done. The SDK leaves this to the browser, which
    /// closes its sockets on a network change, and then restarts ICE on the failure; here
    /// the restart comes without waiting for ICE to notice. With the path lost, media is
    /// reconnecting from now on (`reconnecting`, 53405, as after an ICE failure, and the
    /// same window); otherwise the call goes on over its pair until the restart moves it.
    fn on_network_changed(&mut self, path_lost: bool, now: Instant) {
        if self.phase != super::Phase::Open {
            return;
        }
        if path_lost && self.media == MediaLeg::Open {
            self.media = MediaLeg::Reconnecting {
                started: now,
                restart_at: None,
            };
            let e = TwilioError::new(53405, "Media connection failed.");
            self.emit(CallEvent::Reconnecting(e));
        }
        if self.negotiation == MediaPhase::Stable {
            self.begin_ice_restart();
        } else {
            self.restart_wanted = true;
        }
    }

    pub(super) fn media_fatal(&mut self, link: Link) {
        self.disconnect(link, Some(MEDIA_INTERRUPTED.to_string()), Ending::Other);
        let e = TwilioError::new(31003, MEDIA_INTERRUPTED)
            .with_original(53405, "Media connection failed.");
        self.emit(CallEvent::Error(e));
    }

    fn on_media_reconnected(&mut self) {
        if !matches!(self.media, MediaLeg::Reconnecting { .. }) {
            return;
        }
        self.media = MediaLeg::Open;
        if self.signaling == super::SignalingLeg::Open {
            self.emit(CallEvent::Reconnected);
        }
    }
}

/// A level (0–32767) as the SDK's 0–1 volume: the analyser's −100…−30 dB range.
fn level_to_volume(level: f64) -> f32 {
    if level <= 0.0 {
        return 0.0;
    }
    let db = 20.0 * (level / 32767.0).log10();
    (((db + 100.0) / 70.0).clamp(0.0, 1.0)) as f32
}
