//! A virtual leg: a number (echo, tone, DTMF recorder, silence) or a virtual caller.
//!
//! It "hears" what its bridged peer sends (counted and analysed like a WebRTC leg's received
//! audio) and what the lab plays to it, and sends its own audio to the peer every 20 ms.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::audio::{FRAME, Tone};
use super::playback::{PlayOut, Player};
use super::stats::unix_ms;
use super::{BridgeMsg, LegCommand, LegHandle, LegStats, bridge_channel};
use crate::switch::{Input, MediaEvent, VirtualMedia};

pub(super) fn spawn(
    leg: &str,
    media: VirtualMedia,
    stats: Arc<Mutex<LegStats>>,
    events: mpsc::UnboundedSender<Input>,
) -> LegHandle {
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (audio_tx, audio_rx) = bridge_channel();
    if let Ok(mut s) = stats.lock() {
        s.base.codec_out = Some("L16/8000".into());
        s.base.codec_in = Some("L16/8000".into());
    }
    let task = VirtualLeg {
        leg: leg.to_string(),
        tone: match media {
            VirtualMedia::Tone { hz } => Some(Tone::new(&[hz], 0.5)),
            _ => None,
        },
        media,
        stats,
        events,
        peer: None,
        player: None,
        stopped_until: None,
    };
    tokio::spawn(task.run(cmd_rx, audio_rx));
    LegHandle {
        commands: cmd_tx,
        audio_in: audio_tx,
    }
}

struct VirtualLeg {
    leg: String,
    media: VirtualMedia,
    tone: Option<Tone>,
    stats: Arc<Mutex<LegStats>>,
    events: mpsc::UnboundedSender<Input>,
    peer: Option<mpsc::Sender<BridgeMsg>>,
    player: Option<Player>,
    stopped_until: Option<Instant>,
}

impl VirtualLeg {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<LegCommand>,
        mut audio: mpsc::Receiver<BridgeMsg>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None | Some(LegCommand::Close) => break,
                    Some(c) => self.command(c),
                },
                Some(msg) = audio.recv() => self.heard(msg),
                _ = tick.tick() => self.tick(),
            }
        }
        if let Some(p) = self.player.take() {
            let _ = self.events.send(Input::Media(MediaEvent::PlayDone {
                leg: self.leg.clone(),
                token: p.token,
            }));
        }
    }

    fn stopped(&mut self) -> bool {
        match self.stopped_until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                self.stopped_until = None;
                if let Ok(mut s) = self.stats.lock() {
                    s.base.media_stopped = false;
                }
                false
            }
            None => false,
        }
    }

    fn command(&mut self, command: LegCommand) {
        match command {
            LegCommand::SetPeer(peer) => self.peer = peer,
            LegCommand::Play {
                token,
                items,
                loops,
            } => {
                if let Some(old) = self.player.replace(Player::new(token, items, loops)) {
                    self.play_done(old.token);
                }
            }
            LegCommand::Resolved { token, items } => {
                if let Some(player) = self.player.as_mut().filter(|p| p.token == token) {
                    player.resolve(items);
                }
            }
            LegCommand::StopPlayback => {
                if let Some(old) = self.player.take() {
                    self.play_done(old.token);
                }
            }
            LegCommand::ForwardDtmf(digits) => {
                if let Ok(mut s) = self.stats.lock() {
                    for d in digits
                        .chars()
                        .filter(|c| super::audio::dtmf_event(*c).is_some())
                    {
                        s.dtmf_started(d, "signaling", None, unix_ms());
                    }
                }
            }
            LegCommand::StopMedia(d) => {
                self.stopped_until = Some(Instant::now() + d);
                if let Ok(mut s) = self.stats.lock() {
                    s.base.media_stopped = true;
                }
            }
            LegCommand::AcceptAnswer(_)
            | LegCommand::Reinvite(_)
            | LegCommand::SwitchSsrc
            | LegCommand::Close => {}
        }
    }

    fn play_done(&self, token: u64) {
        let _ = self.events.send(Input::Media(MediaEvent::PlayDone {
            leg: self.leg.clone(),
            token,
        }));
    }

    /// Audio or DTMF from the bridged peer.
    fn heard(&mut self, msg: BridgeMsg) {
        if self.stopped() {
            return;
        }
        match msg {
            BridgeMsg::Audio(frame) => {
                if let Ok(mut s) = self.stats.lock() {
                    s.base.packets_in += 1;
                    s.base.bytes_in += (frame.len() * 2) as u64;
                    s.received_audio(&frame);
                }
                if self.media == VirtualMedia::Echo {
                    self.send(BridgeMsg::Audio(frame));
                }
            }
            BridgeMsg::Dtmf { digit, duration } => {
                if let Ok(mut s) = self.stats.lock() {
                    s.dtmf_started(digit, "rfc4733", None, unix_ms());
                    s.dtmf_ended(duration.as_millis() as u32);
                }
            }
        }
    }

    fn send(&mut self, msg: BridgeMsg) {
        let Some(peer) = &self.peer else { return };
        let bytes = match &msg {
            BridgeMsg::Audio(f) => (f.len() * 2) as u64,
            BridgeMsg::Dtmf { .. } => 0,
        };
        if peer.try_send(msg).is_ok()
            && let Ok(mut s) = self.stats.lock()
        {
            s.base.packets_out += 1;
            s.base.bytes_out += bytes;
        }
    }

    fn tick(&mut self) {
        if self.stopped() {
            return;
        }
        // What the lab plays to a virtual party is what it hears.
        if let Some(player) = &mut self.player {
            match player.next_frame() {
                PlayOut::Audio(frame) | PlayOut::Dtmf { frame, .. } => {
                    if let Ok(mut s) = self.stats.lock() {
                        s.received_audio(&frame);
                    }
                }
                PlayOut::Done => {
                    let token = player.token;
                    self.player = None;
                    self.play_done(token);
                }
            }
        }
        let frame = match (&self.media, &mut self.tone) {
            (VirtualMedia::Tone { .. }, Some(tone)) => tone.frame(),
            (VirtualMedia::Echo, _) => return,
            _ => vec![0; FRAME],
        };
        self.send(BridgeMsg::Audio(frame));
    }
}
