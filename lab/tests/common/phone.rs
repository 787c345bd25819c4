//! A minimal softphone on str0m (full ICE, controlling), sending a PCMU tone and analysing
//! what it hears. It checks that the lab's Twilio-shaped SDP negotiates with str0m.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use offhook_lab::media::analysis::Analyzer;
use offhook_lab::media::audio::{self, Tone};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec, CodecExtra, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, TelephoneEvent};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

#[derive(Default)]
pub struct Heard {
    pub connected: bool,
    pub analyzer: Analyzer,
    pub packets_in: u64,
    pub packets_out: u64,
    pub dtmf: Vec<char>,
}

enum Cmd {
    Answer(String, oneshot::Sender<Result<(), String>>),
    Dtmf(char),
    IceRestart(oneshot::Sender<String>),
}

pub struct Phone {
    pub sdp: String,
    heard: Arc<Mutex<Heard>>,
    cmd: mpsc::UnboundedSender<Cmd>,
}

fn config() -> RtcConfig {
    let mut c = RtcConfig::new()
        .set_crypto_provider(offhook_rtc_crypto::provider())
        .clear_codecs();
    let codecs = c.codec_config();
    codecs.add_config(
        0.into(),
        None,
        Codec::PCMU,
        Frequency::EIGHT_KHZ,
        None,
        FormatParams::default(),
    );
    codecs.add_config(
        111.into(),
        None,
        Codec::Opus,
        Frequency::FORTY_EIGHT_KHZ,
        Some(2),
        FormatParams {
            min_p_time: Some(10),
            use_inband_fec: Some(true),
            ..FormatParams::default()
        },
    );
    codecs.add_config(
        126.into(),
        None,
        Codec::Tele,
        Frequency::EIGHT_KHZ,
        None,
        FormatParams::parse_line("0-16"),
    );
    c
}

/// What a str0m client must do to Twilio's SDP: accept the `RTP/SAVPF` proto.
fn normalise(sdp: &str) -> String {
    offhook_lab::media::sdp::prepare_remote(sdp, false).expect("the lab's SDP is an SDP")
}

impl Phone {
    /// An offering phone (for an outgoing call); apply the lab's answer with [`Phone::accept`].
    pub async fn offer(tone_hz: f32) -> Phone {
        let (socket, local) = bind().await;
        let mut rtc = config().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        Self::spawn(
            rtc,
            socket,
            local,
            Some(mid),
            Some(pending),
            offer.to_sdp_string(),
            tone_hz,
        )
    }

    /// An answering phone (for an incoming call) made from the lab's offer. It takes the DTLS
    /// client role (`a=setup:active`) as Chrome and our client do, so the lab is the server.
    pub async fn answer(offer: &str, tone_hz: f32) -> Result<Phone, String> {
        Self::answer_as(offer, tone_hz, true).await
    }

    /// A phone that answers `passive` (str0m's own choice), which Twilio refuses.
    pub async fn answer_passive(offer: &str, tone_hz: f32) -> Result<Phone, String> {
        Self::answer_as(offer, tone_hz, false).await
    }

    async fn answer_as(offer: &str, tone_hz: f32, active: bool) -> Result<Phone, String> {
        let (socket, local) = bind().await;
        let mut rtc = config().build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        // As an offer, `prepare_remote` turns `actpass` into `passive`: str0m then answers active.
        let offer =
            offhook_lab::media::sdp::prepare_remote(offer, active).map_err(|e| e.to_string())?;
        let offer = SdpOffer::from_sdp_string(&offer).map_err(|e| e.to_string())?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| e.to_string())?;
        Ok(Self::spawn(
            rtc,
            socket,
            local,
            None,
            None,
            answer.to_sdp_string(),
            tone_hz,
        ))
    }

    fn spawn(
        rtc: Rtc,
        socket: UdpSocket,
        local: SocketAddr,
        mid: Option<Mid>,
        pending: Option<SdpPendingOffer>,
        sdp: String,
        tone_hz: f32,
    ) -> Phone {
        let heard = Arc::new(Mutex::new(Heard::default()));
        let (cmd, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(
            rtc,
            socket,
            local,
            mid,
            pending,
            rx,
            heard.clone(),
            tone_hz,
        ));
        Phone { sdp, heard, cmd }
    }

    pub async fn accept(&self, answer: &str) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Answer(answer.to_string(), tx))
            .map_err(|_| "phone stopped")?;
        rx.await.map_err(|_| "phone stopped")?
    }

    /// Makes an ICE-restart offer (new credentials); apply the lab's answer with `accept`.
    pub async fn ice_restart(&self) -> String {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(Cmd::IceRestart(tx)).expect("phone running");
        rx.await.expect("phone running")
    }

    pub fn dtmf(&self, digit: char) {
        let _ = self.cmd.send(Cmd::Dtmf(digit));
    }

    pub fn heard<T>(&self, f: impl FnOnce(&Heard) -> T) -> T {
        f(&self.heard.lock().unwrap())
    }

    /// Waits until `pred` holds for what the phone heard.
    pub async fn wait(&self, what: &str, pred: impl Fn(&Heard) -> bool) {
        let start = Instant::now();
        while !self.heard(&pred) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "phone: timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn bind() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    (socket, local)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    mut rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    mut mid: Option<Mid>,
    mut pending: Option<SdpPendingOffer>,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    heard: Arc<Mutex<Heard>>,
    tone_hz: f32,
) {
    let mut tone = Tone::new(&[tone_hz], 0.5);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut buf = vec![0u8; 2048];
    let mut sent: u64 = 0;
    let mut dtmf = None;
    let mut last_event = None;
    loop {
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Event(e)) => match e {
                    Event::Connected => heard.lock().unwrap().connected = true,
                    Event::MediaAdded(m) => mid = mid.or(Some(m.mid)),
                    Event::MediaData(d) => {
                        let mut h = heard.lock().unwrap();
                        h.packets_in += 1;
                        if let CodecExtra::Tele(ev) = d.codec_extra {
                            if last_event != Some(d.time) {
                                last_event = Some(d.time);
                                if let Some(c) = audio::dtmf_digit(ev.event) {
                                    h.dtmf.push(c);
                                }
                            }
                        } else if d.params.spec().codec == Codec::PCMU {
                            let pcm: Vec<i16> =
                                d.data.iter().map(|b| audio::ulaw_decode(*b)).collect();
                            h.analyzer.push(&pcm);
                        }
                    }
                    _ => {}
                },
                Err(e) => panic!("phone rtc failed: {e}"),
            }
        };
        let wake = tokio::time::Instant::from_std(timeout.max(Instant::now()));
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, source)) = r else { continue };
                let Ok(contents) = buf[..n].try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: local, contents });
                if rtc.accepts(&input) {
                    let _ = rtc.handle_input(input);
                }
            }
            c = cmds.recv() => match c {
                None => return,
                Some(Cmd::Answer(sdp, reply)) => {
                    let result = match (pending.take(), SdpAnswer::from_sdp_string(&normalise(&sdp))) {
                        (Some(p), Ok(a)) => rtc.sdp_api().accept_answer(p, a).map_err(|e| e.to_string()),
                        (None, _) => Err("nothing pending".into()),
                        (_, Err(e)) => Err(e.to_string()),
                    };
                    let _ = reply.send(result);
                }
                Some(Cmd::Dtmf(d)) => dtmf = Some(d),
                Some(Cmd::IceRestart(reply)) => {
                    let mut api = rtc.sdp_api();
                    api.ice_restart(true);
                    let (offer, p) = api.apply().expect("an ICE-restart offer");
                    pending = Some(p);
                    let _ = reply.send(offer.to_sdp_string());
                }
            },
            _ = tick.tick() => {
                let connected = heard.lock().unwrap().connected;
                if let (true, Some(m)) = (connected, mid)
                    && let Some(mut w) = rtc.writer(m) {
                        let pt = w.payload_params().find(|p| p.spec().codec == Codec::PCMU).map(|p| p.pt());
                        if let Some(pt) = pt {
                            if let Some(d) = dtmf.take().and_then(audio::dtmf_event) {
                                w = w.telephone_event(TelephoneEvent { event: d, end: true, volume: 10, duration: Duration::from_millis(160) });
                            }
                            let payload: Vec<u8> = tone.frame().iter().map(|s| audio::ulaw_encode(*s)).collect();
                            if w.write(pt, Instant::now(), MediaTime::new(sent, Frequency::EIGHT_KHZ), payload).is_ok() {
                                heard.lock().unwrap().packets_out += 1;
                            }
                            sent += 160;
                        }
                    }
            }
            _ = tokio::time::sleep_until(wake) => {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }
}
