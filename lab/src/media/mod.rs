//! The media gateway: one task per leg. WebRTC legs (a client's peer connection through str0m
//! in ICE-lite mode, one UDP socket each) and virtual legs (numbers and callers the lab plays)
//! exchange 20 ms PCM frames when bridged. A leg also records its party for `<Record>`
//! ([`recorder`]) and reports the keys its party presses.

pub mod analysis;
pub mod audio;
#[cfg(feature = "twilio-crypto")]
pub mod dtls;
mod negotiate;
pub mod playback;
pub mod recorder;
pub mod sdp;
mod stats;
mod virtual_leg;
mod webrtc;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

pub use stats::LegStats;

use crate::control::types::MediaStats;
use crate::error::LabError;
use crate::http::HttpClient;
use crate::switch::{Input, MediaCommand, MediaEvent, PlayItem};
use playback::Resolved;

/// Audio and DTMF passed between bridged legs.
#[derive(Debug, Clone)]
pub enum BridgeMsg {
    Audio(audio::Frame),
    Dtmf { digit: char, duration: Duration },
}

/// Frames buffered between bridged legs (bounded: late audio is dropped, not queued).
const BRIDGE_QUEUE: usize = 25;

#[derive(Debug)]
pub(crate) enum LegCommand {
    AcceptAnswer(String),
    Reinvite(String),
    SetPeer(Option<mpsc::Sender<BridgeMsg>>),
    Play {
        token: u64,
        items: Vec<Resolved>,
        loops: u32,
    },
    /// Fetched files for the playback `token` (replacing its `Pending` items).
    Resolved {
        token: u64,
        items: Vec<Resolved>,
    },
    StopPlayback,
    ForwardDtmf(String),
    StartRecording(recorder::Recorder),
    StopRecording(u64),
    /// A virtual leg presses keys.
    SendDigits(String),
    StopMedia(Duration),
    SwitchSsrc,
    Close,
}

struct LegHandle {
    commands: mpsc::UnboundedSender<LegCommand>,
    audio_in: mpsc::Sender<BridgeMsg>,
}

/// Statistics kept after legs end, up to this many legs.
const KEEP_STATS: usize = 2000;

/// The shell-side registry of media legs.
pub struct Gateway {
    ip: IpAddr,
    legs: HashMap<String, LegHandle>,
    stats: HashMap<String, Arc<Mutex<LegStats>>>,
    stats_order: VecDeque<String>,
    bridges: HashMap<String, String>,
    events: mpsc::UnboundedSender<Input>,
    http: HttpClient,
}

impl Gateway {
    pub fn new(ip: IpAddr, events: mpsc::UnboundedSender<Input>, http: HttpClient) -> Self {
        Gateway {
            ip,
            legs: HashMap::new(),
            stats: HashMap::new(),
            stats_order: VecDeque::new(),
            bridges: HashMap::new(),
            events,
            http,
        }
    }

    /// Current media figures of a leg (also after it ended).
    pub fn stats(&self, leg: &str) -> Option<MediaStats> {
        let stats = self.stats.get(leg)?;
        let guard = stats.lock().ok()?;
        Some(guard.snapshot())
    }

    fn new_stats(&mut self, leg: &str, kind: &str) -> Arc<Mutex<LegStats>> {
        let stats = Arc::new(Mutex::new(LegStats::new(kind)));
        self.stats.insert(leg.to_string(), stats.clone());
        self.stats_order.push_back(leg.to_string());
        while self.stats_order.len() > KEEP_STATS {
            if let Some(old) = self.stats_order.pop_front() {
                self.stats.remove(&old);
            }
        }
        stats
    }

    /// Sends a command to a leg's task; false if there is no such leg (or it has ended).
    fn command(&self, leg: &str, command: LegCommand) -> bool {
        self.legs
            .get(leg)
            .is_some_and(|h| h.commands.send(command).is_ok())
    }

    /// Carries out a command. Results that are known at once come back as the return value;
    /// later ones go to the switch through the event channel.
    pub fn execute(&mut self, command: MediaCommand) -> Option<MediaEvent> {
        match command {
            MediaCommand::CreateWebrtc { leg, offer } => {
                let stats = self.new_stats(&leg, "webrtc");
                let result =
                    webrtc::spawn(&leg, self.ip, offer.as_deref(), stats, self.events.clone());
                let result = result.map(|(handle, sdp)| {
                    self.legs.insert(leg.clone(), handle);
                    sdp
                });
                Some(MediaEvent::Ready { leg, result })
            }
            MediaCommand::CreateVirtual { leg, media } => {
                let stats = self.new_stats(&leg, "virtual");
                let handle = virtual_leg::spawn(&leg, media, stats, self.events.clone());
                self.legs.insert(leg, handle);
                None
            }
            MediaCommand::AcceptAnswer { leg, sdp } => {
                if self.legs.contains_key(&leg) {
                    self.command(&leg, LegCommand::AcceptAnswer(sdp));
                    None
                } else {
                    Some(MediaEvent::AnswerApplied {
                        leg,
                        result: Err(LabError::Media("no media for this leg")),
                    })
                }
            }
            MediaCommand::Reinvite { leg, sdp } => {
                if self.legs.contains_key(&leg) {
                    self.command(&leg, LegCommand::Reinvite(sdp));
                    None
                } else {
                    Some(MediaEvent::ReinviteAnswered {
                        leg,
                        result: Err(LabError::Media("no media for this leg")),
                    })
                }
            }
            MediaCommand::Bridge { a, b } => {
                let (Some(ha), Some(hb)) = (self.legs.get(&a), self.legs.get(&b)) else {
                    return None;
                };
                let _ = ha
                    .commands
                    .send(LegCommand::SetPeer(Some(hb.audio_in.clone())));
                let _ = hb
                    .commands
                    .send(LegCommand::SetPeer(Some(ha.audio_in.clone())));
                self.bridges.insert(a.clone(), b.clone());
                self.bridges.insert(b, a);
                None
            }
            MediaCommand::Unbridge { leg } => {
                self.unbridge(&leg);
                None
            }
            MediaCommand::Play {
                leg,
                token,
                items,
                loops,
            } => {
                self.play(leg, token, items, loops);
                None
            }
            MediaCommand::StopPlayback { leg } => {
                self.command(&leg, LegCommand::StopPlayback);
                None
            }
            MediaCommand::ForwardDtmf { leg, digits } => {
                self.command(&leg, LegCommand::ForwardDtmf(digits));
                None
            }
            MediaCommand::StopMedia { leg, duration } => {
                self.command(&leg, LegCommand::StopMedia(duration));
                None
            }
            MediaCommand::SwitchSsrc { leg } => {
                self.command(&leg, LegCommand::SwitchSsrc);
                None
            }
            MediaCommand::StartRecording {
                leg,
                token,
                silence_timeout,
                max_length,
                trim_silence,
            } => {
                let recorder =
                    recorder::Recorder::new(token, silence_timeout, max_length, trim_silence);
                // No media to record: the recording is empty at once.
                (!self.command(&leg, LegCommand::StartRecording(recorder))).then(|| {
                    MediaEvent::Recorded {
                        leg,
                        token,
                        samples: Vec::new(),
                    }
                })
            }
            MediaCommand::StopRecording { leg, token } => {
                // A leg that is gone already sent what it had when its task ended.
                self.command(&leg, LegCommand::StopRecording(token));
                None
            }
            MediaCommand::SendDigits { leg, digits } => {
                self.command(&leg, LegCommand::SendDigits(digits));
                None
            }
            MediaCommand::Close { leg } => {
                self.unbridge(&leg);
                if let Some(h) = self.legs.remove(&leg) {
                    let _ = h.commands.send(LegCommand::Close);
                }
                None
            }
        }
    }

    fn unbridge(&mut self, leg: &str) {
        if let Some(peer) = self.bridges.remove(leg) {
            self.bridges.remove(&peer);
            self.command(&peer, LegCommand::SetPeer(None));
            self.command(leg, LegCommand::SetPeer(None));
        }
    }

    /// Hands playback to the leg at once (so a later stop cannot overtake it); WAV files are
    /// fetched meanwhile and delivered as `Resolved`.
    fn play(&mut self, leg: String, token: u64, items: Vec<PlayItem>, loops: u32) {
        let Some(h) = self.legs.get(&leg) else {
            // No media (yet): playback "finishes" at once so the call moves on.
            let _ = self
                .events
                .send(Input::Media(MediaEvent::PlayDone { leg, token }));
            return;
        };
        let immediate = |item: &PlayItem| match item {
            PlayItem::Say(text) => Resolved::Samples(audio::say(text)),
            PlayItem::Digits(d) => Resolved::Digits(d.clone()),
            PlayItem::Silence(d) => Resolved::Samples(vec![0; (d.as_millis() as usize) * 8]),
            PlayItem::Ringback => Resolved::Ringback,
            PlayItem::Beep => Resolved::Samples(audio::beep()),
            PlayItem::Recording { audio, .. } => Resolved::Samples(audio.samples().to_vec()),
            PlayItem::Url(_) => Resolved::Pending,
        };
        let first: Vec<Resolved> = items.iter().map(immediate).collect();
        let _ = h.commands.send(LegCommand::Play {
            token,
            items: first,
            loops,
        });
        if !items.iter().any(|i| matches!(i, PlayItem::Url(_))) {
            return;
        }
        let commands = h.commands.clone();
        let http = self.http.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let mut resolved = Vec::new();
            for item in &items {
                let PlayItem::Url(url) = item else {
                    resolved.push(immediate(item));
                    continue;
                };
                let samples = match fetch_audio(&http, url).await {
                    Ok(samples) => samples,
                    Err((code, message)) => {
                        tracing::warn!(%url, code, "cannot play: {message}");
                        let _ = events.send(Input::Media(MediaEvent::PlayFailed {
                            leg: leg.clone(),
                            code,
                            message,
                        }));
                        Vec::new()
                    }
                };
                resolved.push(Resolved::Samples(samples));
            }
            let _ = commands.send(LegCommand::Resolved {
                token,
                items: resolved,
            });
        });
    }
}

/// A `<Play>` file's audio, or Twilio's debugger code and why not: 11200 when it cannot be
/// fetched (Twilio skips it and moves on), 12300 when it is not audio the lab can play.
async fn fetch_audio(http: &HttpClient, url: &str) -> Result<Vec<i16>, (u32, String)> {
    match http.get(url).await {
        Ok((200..=299, body)) => audio::decode_wav(&body)
            .map_err(|e| (12300, format!("Invalid content from {url}: {e}"))),
        Ok((status, _)) => Err((
            11200,
            format!("HTTP retrieval failure: {url}: HTTP {status}"),
        )),
        Err(e) => Err((11200, format!("HTTP retrieval failure: {url}: {e}"))),
    }
}

/// A bridge channel pair.
fn bridge_channel() -> (mpsc::Sender<BridgeMsg>, mpsc::Receiver<BridgeMsg>) {
    mpsc::channel(BRIDGE_QUEUE)
}
