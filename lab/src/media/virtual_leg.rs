//! A virtual leg: a number (echo, tone, DTMF recorder, silence) or a virtual caller.
//!
//! It "hears" what its bridged peer sends (counted and analysed like a WebRTC leg's received
//! audio) and what the lab plays to it, and sends its own audio to the peer every 20 ms.
//! What it sends is what a `<Record>` on its call records; the keys it is told to press go
//! to its peer as RFC 4733 events and to the switch as input.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::audio::{FRAME, Frame, Tone};
use super::playback::{PlayOut, Player, Resolved};
use super::recorder::Recorder;
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
        keys: None,
        recorder: None,
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
    /// Keys being pressed (`POST /v1/legs/{sid}/digits`), timed like `<Play digits>`.
    keys: Option<Player>,
    recorder: Option<Recorder>,
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
        self.finish_recording();
    }

    fn finish_recording(&mut self) {
        if let Ok(mut s) = self.stats.lock() {
            s.set_recording(None);
        }
        if let Some(r) = self.recorder.take() {
            let _ = self.events.send(Input::Media(MediaEvent::Recorded {
                leg: self.leg.clone(),
                token: r.token,
                samples: r.finish(),
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
            LegCommand::StartRecording(recorder) => {
                self.finish_recording();
                if let Ok(mut s) = self.stats.lock() {
                    s.set_recording(Some(&recorder));
                }
                self.recorder = Some(recorder);
            }
            LegCommand::StopRecording(token) => {
                if self.recorder.as_ref().is_some_and(|r| r.token == token) {
                    self.finish_recording();
                }
            }
            LegCommand::SendDigits(digits) => {
                self.keys = Some(Player::new(0, vec![Resolved::Digits(digits)], 1));
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
        let stopped = self.stopped();
        if !stopped {
            self.hear_playback();
            self.press_keys();
        }
        let frame: Option<Frame> = match (&self.media, &mut self.tone) {
            _ if stopped => None,
            (VirtualMedia::Tone { .. }, Some(tone)) => Some(tone.frame()),
            // An echo sends what it hears, when it hears it.
            (VirtualMedia::Echo, _) => None,
            _ => Some(vec![0; FRAME]),
        };
        if let Some(r) = &mut self.recorder {
            r.push(frame.as_deref().unwrap_or(&[0; FRAME]));
            if let Ok(mut s) = self.stats.lock() {
                s.set_recording(Some(r));
            }
            if r.tick() {
                self.finish_recording();
            }
        }
        if let Some(frame) = frame {
            self.send(BridgeMsg::Audio(frame));
        }
    }

    /// What the lab plays to a virtual party is what it hears.
    fn hear_playback(&mut self) {
        let Some(player) = &mut self.player else {
            return;
        };
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

    fn press_keys(&mut self) {
        let Some(keys) = &mut self.keys else {
            return;
        };
        match keys.next_frame() {
            PlayOut::Dtmf {
                digit, duration, ..
            } => {
                self.send(BridgeMsg::Dtmf { digit, duration });
                let _ = self.events.send(Input::Media(MediaEvent::Dtmf {
                    leg: self.leg.clone(),
                    digit,
                }));
            }
            PlayOut::Audio(_) => {}
            PlayOut::Done => self.keys = None,
        }
    }
}
