//! The WebRTC stack boundary: everything that touches `str0m` lives here, so that swapping
//! the stack stays local. One audio m-line, ICE (we are controlling toward Twilio's ICE-lite
//! gateway), DTLS-SRTP, rtcp-mux, BUNDLE; PCMU, Opus and telephone-event.
//!
//! Twilio's SDP is normalised on the way in: its `m=audio … RTP/SAVPF` proto is read as
//! `UDP/TLS/RTP/SAVPF` (str0m only parses the latter), and codec order is left to the
//! caller's munging.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec as StrCodec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt, TelephoneEvent};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::model::Codec;

/// Payload types we offer (the browsers' numbers; Opus is str0m's 111).
const PT_PCMU: u8 = 0;
const PT_TE_8K: u8 = 126;
const PT_TE_48K: u8 = 110;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcFailure {
    #[error("cannot parse SDP: {0}")]
    BadSdp(String),
    #[error("SDP negotiation failed: {0}")]
    Negotiation(String),
    #[error("no common audio codec")]
    NoCodec,
    #[error("no offer is pending")]
    NoPendingOffer,
    #[error("media engine: {0}")]
    Engine(String),
}

/// What was agreed for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub pt: u8,
    /// Whether telephone-event was negotiated at the codec's clock rate.
    pub telephone_event: bool,
    /// Its payload type, when negotiated.
    pub telephone_event_pt: Option<u8>,
}

/// ICE connectivity as the media session reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceState {
    Checking,
    Connected,
    Disconnected,
}

/// What the peer produced.
#[derive(Debug)]
pub enum PeerOutput {
    Transmit {
        to: SocketAddr,
        data: Vec<u8>,
    },
    Ice(IceState),
    /// DTLS done and SRTP keys in place: media can flow.
    Connected,
    Audio {
        pt: u8,
        seq: u16,
        rtp_time: u32,
        payload: Vec<u8>,
        arrival: Instant,
    },
    Rtt(Duration),
    Timeout(Instant),
}

/// Rewrites the transport proto of `m=` lines so str0m can read Twilio's SDP.
pub fn normalise_remote_sdp(sdp: &str) -> String {
    sdp.split("\r\n")
        .map(|line| {
            if line.starts_with("m=") {
                let parts: Vec<&str> = line.split(' ').collect();
                if parts.len() > 2 && parts[2] == "RTP/SAVPF" {
                    let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
                    p[2] = "UDP/TLS/RTP/SAVPF".into();
                    return p.join(" ");
                }
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The `a=mid:` of the first audio m-section.
fn audio_mid_of(sdp: &str) -> Option<String> {
    let mut in_audio = false;
    for line in sdp.lines() {
        if line.starts_with("m=") {
            in_audio = line.starts_with("m=audio");
        } else if in_audio {
            if let Some(mid) = line.strip_prefix("a=mid:") {
                return Some(mid.trim().to_string());
            }
        }
    }
    None
}

pub struct Peer {
    rtc: Rtc,
    mid: Option<Mid>,
    pending: Option<SdpPendingOffer>,
    local: SocketAddr,
    prefs: Vec<Codec>,
    connected: bool,
}

impl Peer {
    /// A peer with one host candidate at `local` (the address our UDP socket is reached at).
    pub fn new(now: Instant, local: SocketAddr, prefs: &[Codec]) -> Result<Self, RtcFailure> {
        let mut config = RtcConfig::new()
            .clear_codecs()
            .set_reordering_size_audio(0)
            .set_stats_interval(Some(Duration::from_secs(1)));
        // Notice a dead path in about 3.5 s, as browsers do (str0m's default takes ~20 s):
        // checks at least every 500 ms, disconnected after 7 unanswered.
        config.set_initial_stun_rto(Duration::from_millis(250));
        config.set_max_stun_rto(Duration::from_millis(500));
        config.set_max_stun_retransmits(7);
        {
            let cc = config.codec_config();
            for codec in prefs {
                match codec {
                    Codec::Pcmu => cc.enable_pcmu(true, false),
                    Codec::Opus => cc.enable_opus(true, false),
                }
            }
            for (pt, rate) in [
                (PT_TE_8K, Frequency::EIGHT_KHZ),
                (PT_TE_48K, Frequency::FORTY_EIGHT_KHZ),
            ] {
                cc.add_config(
                    pt.into(),
                    None,
                    StrCodec::Tele,
                    rate,
                    None,
                    FormatParams::parse_line("0-16"),
                );
            }
        }
        let mut rtc = config.build(now);
        let candidate =
            Candidate::host(local, "udp").map_err(|e| RtcFailure::Engine(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        Ok(Peer {
            rtc,
            mid: None,
            pending: None,
            local,
            prefs: prefs.to_vec(),
            connected: false,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Adds a server-reflexive candidate (our address as a STUN server saw it).
    pub fn add_reflexive(&mut self, mapped: SocketAddr) -> Result<(), RtcFailure> {
        let c = Candidate::server_reflexive(mapped, self.local, "udp")
            .map_err(|e| RtcFailure::Engine(e.to_string()))?;
        self.rtc.add_local_candidate(c);
        Ok(())
    }

    /// Our offer for an outgoing call.
    pub fn create_offer(&mut self) -> Result<String, RtcFailure> {
        let mut change = self.rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| RtcFailure::Engine("no change to offer".into()))?;
        self.mid = Some(mid);
        self.pending = Some(pending);
        Ok(offer.to_sdp_string())
    }

    /// Our answer to an incoming call's offer.
    pub fn accept_offer(&mut self, offer: &str) -> Result<String, RtcFailure> {
        let normalised = normalise_remote_sdp(offer);
        let audio_mid = audio_mid_of(&normalised);
        let offer = SdpOffer::from_sdp_string(&normalised)
            .map_err(|e| RtcFailure::BadSdp(e.to_string()))?;
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| RtcFailure::Negotiation(e.to_string()))?;
        self.mid = audio_mid
            .map(|m| Mid::from(m.as_str()))
            .filter(|m| self.rtc.media(*m).is_some());
        if self.negotiated().is_none() {
            return Err(RtcFailure::NoCodec);
        }
        Ok(answer.to_sdp_string())
    }

    /// Applies the answer to our pending offer.
    pub fn accept_answer(&mut self, answer: &str) -> Result<(), RtcFailure> {
        let pending = self.pending.take().ok_or(RtcFailure::NoPendingOffer)?;
        let answer = SdpAnswer::from_sdp_string(&normalise_remote_sdp(answer))
            .map_err(|e| RtcFailure::BadSdp(e.to_string()))?;
        self.rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .map_err(|e| RtcFailure::Negotiation(e.to_string()))?;
        if self.negotiated().is_none() {
            return Err(RtcFailure::NoCodec);
        }
        Ok(())
    }

    /// A new offer with fresh ICE credentials (ICE restart).
    pub fn restart_ice(&mut self) -> Result<String, RtcFailure> {
        let mut change = self.rtc.sdp_api();
        change.ice_restart(true);
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| RtcFailure::Engine("no change to offer".into()))?;
        self.pending = Some(pending);
        Ok(offer.to_sdp_string())
    }

    /// The codec we send with: the first of our preferences the remote accepted.
    pub fn negotiated(&self) -> Option<Negotiated> {
        let mid = self.mid?;
        let media = self.rtc.media(mid)?;
        let remote = media.remote_pts();
        let params = self.rtc.codec_config().params();
        for want in &self.prefs {
            let (codec, rate) = match want {
                Codec::Pcmu => (StrCodec::PCMU, 8000),
                Codec::Opus => (StrCodec::Opus, 48_000),
            };
            let found = params
                .iter()
                .find(|p| p.spec().codec == codec && remote.contains(&p.pt()));
            if let Some(p) = found {
                let tele = params.iter().find(|t| {
                    t.spec().codec.is_tele()
                        && t.spec().clock_rate.get() == rate
                        && remote.contains(&t.pt())
                });
                return Some(Negotiated {
                    codec: *want,
                    pt: *p.pt(),
                    telephone_event: tele.is_some(),
                    telephone_event_pt: tele.map(|t| *t.pt()),
                });
            }
        }
        None
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    pub fn receive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: &[u8],
    ) -> Result<(), RtcFailure> {
        let Ok(receive) = Receive::new(Protocol::Udp, from, self.local, data) else {
            return Ok(()); // Not STUN/DTLS/RTP: ignore stray datagrams.
        };
        let input = Input::Receive(now, receive);
        if !self.rtc.accepts(&input) {
            return Ok(());
        }
        self.rtc
            .handle_input(input)
            .map_err(|e| RtcFailure::Engine(e.to_string()))
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), RtcFailure> {
        self.rtc
            .handle_input(Input::Timeout(now))
            .map_err(|e| RtcFailure::Engine(e.to_string()))
    }

    /// Drains str0m; call until it returns `Timeout`.
    pub fn poll(&mut self) -> Result<PeerOutput, RtcFailure> {
        loop {
            match self
                .rtc
                .poll_output()
                .map_err(|e| RtcFailure::Engine(e.to_string()))?
            {
                Output::Timeout(t) => return Ok(PeerOutput::Timeout(t)),
                Output::Transmit(t) => {
                    return Ok(PeerOutput::Transmit {
                        to: t.destination,
                        data: t.contents.to_vec(),
                    });
                }
                Output::Event(e) => match e {
                    Event::IceConnectionStateChange(s) => {
                        let state = match s {
                            IceConnectionState::New | IceConnectionState::Checking => {
                                IceState::Checking
                            }
                            IceConnectionState::Connected | IceConnectionState::Completed => {
                                IceState::Connected
                            }
                            IceConnectionState::Disconnected => IceState::Disconnected,
                        };
                        return Ok(PeerOutput::Ice(state));
                    }
                    Event::Connected => {
                        self.connected = true;
                        return Ok(PeerOutput::Connected);
                    }
                    Event::MediaAdded(m) => {
                        if m.kind == MediaKind::Audio && self.mid.is_none() {
                            self.mid = Some(m.mid);
                        }
                    }
                    Event::MediaData(d) => {
                        let seq = (*d.seq_range.start()).as_u16();
                        return Ok(PeerOutput::Audio {
                            pt: *d.pt,
                            seq,
                            rtp_time: d.time.numer() as u32,
                            payload: d.data.to_vec(),
                            arrival: d.network_time,
                        });
                    }
                    Event::PeerStats(s) => {
                        // RTCP's round trip when known, else the ICE pair's (as the SDK reads
                        // `currentRoundTripTime` when remote stats have none).
                        let pair_rtt = s
                            .selected_candidate_pair
                            .as_ref()
                            .and_then(|p| p.current_round_trip_time);
                        if let Some(rtt) = s.rtt.or(pair_rtt) {
                            return Ok(PeerOutput::Rtt(rtt));
                        }
                    }
                    Event::MediaEgressStats(s) => {
                        if let Some(rtt) = s.rtt {
                            return Ok(PeerOutput::Rtt(rtt));
                        }
                    }
                    _ => {}
                },
            }
        }
    }

    /// The writer for our audio m-line and the RTP clock of `pt` (8 kHz PCMU, else 48 kHz).
    fn writer(
        &mut self,
        pt: u8,
    ) -> Result<Option<(str0m::media::Writer<'_>, Frequency)>, RtcFailure> {
        let mid = self.mid.ok_or(RtcFailure::NoCodec)?;
        let rate = if pt == PT_PCMU {
            Frequency::EIGHT_KHZ
        } else {
            Frequency::FORTY_EIGHT_KHZ
        };
        Ok(self.rtc.writer(mid).map(|w| (w, rate)))
    }

    /// Sends one encoded frame; `rtp_time` counts samples at the codec's clock.
    pub fn write_audio(
        &mut self,
        now: Instant,
        pt: u8,
        rtp_time: u64,
        payload: &[u8],
    ) -> Result<(), RtcFailure> {
        let Some((writer, rate)) = self.writer(pt)? else {
            return Ok(());
        };
        writer
            .write(
                Pt::from(pt),
                now,
                MediaTime::new(rtp_time, rate),
                payload.to_vec(),
            )
            .map_err(|e| RtcFailure::Engine(e.to_string()))
    }

    /// Sends one RFC 4733 event of `duration`, stamped at `rtp_time` of the audio clock.
    pub fn write_dtmf(
        &mut self,
        now: Instant,
        pt: u8,
        rtp_time: u64,
        event: u8,
        duration: Duration,
    ) -> Result<(), RtcFailure> {
        let Some((writer, rate)) = self.writer(pt)? else {
            return Ok(());
        };
        writer
            .telephone_event(TelephoneEvent {
                event,
                end: true,
                volume: 10,
                duration,
            })
            .write(
                Pt::from(pt),
                now,
                MediaTime::new(rtp_time, rate),
                Vec::new(),
            )
            .map_err(|e| RtcFailure::Engine(e.to_string()))
    }

    pub fn close(&mut self) {
        self.rtc.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_proto_is_normalised() {
        let sdp = "v=0\r\nm=audio 10000 RTP/SAVPF 0 111 126\r\na=rtcp-mux\r\n";
        assert_eq!(
            normalise_remote_sdp(sdp),
            "v=0\r\nm=audio 10000 UDP/TLS/RTP/SAVPF 0 111 126\r\na=rtcp-mux\r\n"
        );
        let already = "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n";
        assert_eq!(normalise_remote_sdp(already), already);
    }

    #[test]
    fn offer_lists_preferred_codecs_and_telephone_events() {
        let now = Instant::now();
        let mut p = Peer::new(
            now,
            "127.0.0.1:5000".parse().unwrap(),
            &[Codec::Pcmu, Codec::Opus],
        )
        .unwrap();
        let offer = p.create_offer().unwrap();
        let m = offer.lines().find(|l| l.starts_with("m=audio")).unwrap();
        assert!(m.contains(" 0 111"), "{m}");
        assert!(offer.contains("a=rtpmap:126 telephone-event/8000"));
        assert!(offer.contains("a=candidate:"));
        assert!(offer.contains("a=rtcp-mux"));
        assert!(offer.contains("a=setup:actpass"));
    }
}
