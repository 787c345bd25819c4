//! The WebRTC stack boundary: everything that touches `str0m` lives here, so that swapping
//! the stack stays local. One audio m-line, ICE (we are controlling toward Twilio's ICE-lite
//! gateway), DTLS-SRTP, rtcp-mux, BUNDLE; PCMU, Opus and telephone-event.
//!
//! Twilio's SDP is normalised on the way in: its `m=audio … RTP/SAVPF` proto is read as
//! `UDP/TLS/RTP/SAVPF` (str0m only parses the latter), its component-2 (RTCP) candidates are
//! dropped (we use rtcp-mux), and codec order is left to the caller's munging. Our answer
//! mirrors the offer's proto, as Chrome does, and takes the DTLS client role (`active`), as
//! the SDK makes the browser do toward Twilio's `actpass`.
//!
//! Twilio negotiates no RTP header extensions, so incoming RTP is mapped by SSRC alone. A
//! media server that switches SSRC mid-call (a re-bridge, a transfer, `<Play>` then `<Dial>`)
//! would be dropped by str0m as unknown; [`Peer::receive`] declares the new SSRC on our one
//! audio m-line instead, and [`PeerOutput::Audio`] says which SSRC each packet came from.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec as StrCodec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::model::Codec;

/// Payload types we offer (the browsers' numbers; Opus is str0m's 111).
const PT_PCMU: u8 = 0;
const PT_TE_8K: u8 = 126;

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

/// How many receive SSRCs a call keeps at once: the current one and the one it replaced
/// (its last packets may still arrive after the switch).
const MAX_RX_SSRCS: usize = 2;

/// A negotiated `telephone-event` format: its payload type and RTP clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEventFormat {
    pub pt: u8,
    pub clock_rate: u32,
}

/// What was agreed for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub pt: u8,
    /// RFC 4733 events, when the far end accepted a telephone-event: at the codec's clock if
    /// offered, else at another clock (Twilio offers only `telephone-event/8000`, also beside
    /// `opus/48000`, and Chrome then sends 8 kHz events in the same stream).
    pub telephone_event: Option<TelephoneEventFormat>,
}

/// ICE connectivity as the media session reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceState {
    Checking,
    Connected,
    Disconnected,
}

/// A datagram to send: from one of our candidates' bases (a host address, or a relayed
/// address, whose datagrams go through its TURN server) to the far end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub data: Vec<u8>,
}

/// One of our ICE candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalCandidate {
    /// An interface's address (a socket bound to it).
    Host(SocketAddr),
    /// Our address as a STUN server saw it, for the host socket at `base`.
    Reflexive {
        mapped: SocketAddr,
        base: SocketAddr,
    },
    /// An allocation on a TURN server, reached from our `local` address.
    Relayed {
        relayed: SocketAddr,
        local: SocketAddr,
    },
}

/// What the peer produced.
#[derive(Debug)]
pub enum PeerOutput {
    Transmit(Transmit),
    Ice(IceState),
    /// DTLS done and SRTP keys in place: media can flow.
    Connected,
    Audio {
        /// The RTP stream it came on (changes when the far end switches SSRC).
        ssrc: u32,
        pt: u8,
        seq: u16,
        rtp_time: u32,
        payload: Vec<u8>,
        arrival: Instant,
    },
    Rtt(Duration),
    Timeout(Instant),
}

/// Rewrites the transport proto of `m=` lines so str0m can read Twilio's SDP, and drops
/// component-2 (RTCP) candidates: with rtcp-mux they name a port nobody listens on.
pub fn normalise_remote_sdp(sdp: &str) -> String {
    sdp.split("\r\n")
        .filter(|line| !is_rtcp_candidate(line))
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

/// `a=candidate:<foundation> 2 …`: a candidate for RTCP on its own port.
fn is_rtcp_candidate(line: &str) -> bool {
    line.strip_prefix("a=candidate:")
        .and_then(|c| c.split_whitespace().nth(1))
        .is_some_and(|component| component != "1")
}

/// The offer as str0m must see it for us to take the DTLS client role: str0m answers an
/// `actpass` offer as `passive`, and a `passive` one as `active`. Both mean the offerer
/// accepts being the DTLS server, so rewriting is faithful.
fn as_dtls_client(offer: &str) -> String {
    offer
        .split("\r\n")
        .map(|line| {
            if line == "a=setup:actpass" {
                "a=setup:passive"
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The transport proto of the first audio m-line (`RTP/SAVPF`, `UDP/TLS/RTP/SAVPF`).
pub fn audio_proto_of(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find(|l| l.starts_with("m=audio"))
        .and_then(|l| l.split(' ').nth(2))
        .map(str::trim)
}

/// Sets the audio m-line's proto to `proto` (our answer mirrors the offer's).
fn with_audio_proto(sdp: &str, proto: &str) -> String {
    sdp.split("\r\n")
        .map(|line| {
            if line.starts_with("m=audio") {
                let mut parts: Vec<&str> = line.split(' ').collect();
                if parts.len() > 2 {
                    parts[2] = proto;
                }
                parts.join(" ")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// The SSRC of an RTP (not RTCP) datagram; RFC 5761's rule: RTCP packet types 192–223.
fn rtp_ssrc(data: &[u8]) -> Option<u32> {
    if data.len() < 12 || data[0] >> 6 != 2 || (192..=223).contains(&data[1]) {
        return None;
    }
    Some(u32::from_be_bytes([data[8], data[9], data[10], data[11]]))
}

/// The `a=mid:` of the first audio m-section.
fn audio_mid_of(sdp: &str) -> Option<String> {
    let mut in_audio = false;
    for line in sdp.lines() {
        if line.starts_with("m=") {
            in_audio = line.starts_with("m=audio");
        } else if in_audio && let Some(mid) = line.strip_prefix("a=mid:") {
            return Some(mid.trim().to_string());
        }
    }
    None
}

fn str0m_candidate(c: LocalCandidate) -> Result<Candidate, RtcFailure> {
    match c {
        LocalCandidate::Host(addr) => Candidate::host(addr, "udp"),
        LocalCandidate::Reflexive { mapped, base } => {
            Candidate::server_reflexive(mapped, base, "udp")
        }
        LocalCandidate::Relayed { relayed, local } => Candidate::relayed(relayed, local, "udp"),
    }
    .map_err(|e| RtcFailure::Engine(e.to_string()))
}

pub struct Peer {
    rtc: Rtc,
    mid: Option<Mid>,
    pending: Option<SdpPendingOffer>,
    /// The candidates str0m took.
    candidates: Vec<LocalCandidate>,
    prefs: Vec<Codec>,
    connected: bool,
    /// Where our media goes: the far end of the selected ICE pair.
    remote: Option<SocketAddr>,
    /// Receive SSRCs declared for our audio m-line, oldest first.
    rx_ssrcs: Vec<u32>,
    /// The SSRC of the last RTP datagram handed to str0m (its data comes out right after).
    last_rx_ssrc: u32,
}

impl Peer {
    /// A peer without candidates yet (see [`Peer::add_candidate`]).
    pub fn new(now: Instant, prefs: &[Codec]) -> Result<Self, RtcFailure> {
        let mut config = RtcConfig::new()
            .set_crypto_provider(offhook_rtc_crypto::provider())
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
            // telephone-event at 8 kHz only, whatever the codec: it is what Twilio offers and
            // accepts (also beside Opus). With a 48 kHz one configured too, str0m would offer
            // only the one matching Opus's clock, and Twilio would then take none.
            cc.add_config(
                PT_TE_8K.into(),
                None,
                StrCodec::Tele,
                Frequency::EIGHT_KHZ,
                None,
                FormatParams::parse_line("0-16"),
            );
        }
        let rtc = config.build(now);
        Ok(Peer {
            rtc,
            mid: None,
            pending: None,
            candidates: Vec::new(),
            prefs: prefs.to_vec(),
            connected: false,
            remote: None,
            rx_ssrcs: Vec::new(),
            last_rx_ssrc: 0,
        })
    }

    /// The candidates offered so far.
    pub fn candidates(&self) -> &[LocalCandidate] {
        &self.candidates
    }

    /// Adds one of our candidates (before the description that carries them: there is no
    /// trickle). `false` if str0m found it redundant (the same address and base as one it has).
    pub fn add_candidate(&mut self, c: LocalCandidate) -> Result<bool, RtcFailure> {
        let added = self.rtc.add_local_candidate(str0m_candidate(c)?).is_some();
        if added {
            self.candidates.push(c);
        }
        Ok(added)
    }

    /// Our candidates become `fresh` (gathered again, for an ICE restart): the others are
    /// discarded with their pairs (their addresses may be gone), the new ones added. The
    /// next offer carries exactly these (less any str0m finds redundant).
    pub fn replace_candidates(&mut self, fresh: &[LocalCandidate]) -> Result<(), RtcFailure> {
        let stale: Vec<LocalCandidate> = self
            .candidates
            .iter()
            .filter(|c| !fresh.contains(c))
            .copied()
            .collect();
        for c in stale {
            self.rtc
                .direct_api()
                .invalidate_candidate(&str0m_candidate(c)?);
            self.candidates.retain(|x| *x != c);
        }
        for c in fresh {
            if !self.candidates.contains(c) && !self.add_candidate(*c)? {
                tracing::debug!(candidate = ?c, "redundant candidate left out");
            }
        }
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

    /// Our answer to an incoming call's offer: DTLS client (`a=setup:active`), and the
    /// offer's own transport proto.
    pub fn accept_offer(&mut self, offer: &str) -> Result<String, RtcFailure> {
        let proto = audio_proto_of(offer).map(str::to_string);
        let normalised = as_dtls_client(&normalise_remote_sdp(offer));
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
        let answer = answer.to_sdp_string();
        Ok(match proto {
            Some(p) => with_audio_proto(&answer, &p),
            None => answer,
        })
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
                let offered: Vec<TelephoneEventFormat> = params
                    .iter()
                    .filter(|t| t.spec().codec.is_tele() && remote.contains(&t.pt()))
                    .map(|t| TelephoneEventFormat {
                        pt: *t.pt(),
                        clock_rate: t.spec().clock_rate.get(),
                    })
                    .collect();
                // The codec's own clock when offered, else 8 kHz (what Twilio offers).
                let tele = offered
                    .iter()
                    .find(|t| t.clock_rate == rate)
                    .or_else(|| offered.iter().find(|t| t.clock_rate == 8000))
                    .or(offered.first())
                    .copied();
                return Some(Negotiated {
                    codec: *want,
                    pt: *p.pt(),
                    telephone_event: tele,
                });
            }
        }
        None
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// A datagram from `from` that arrived at `to`: one of our candidates' bases (the host
    /// socket's address, or the relayed address for what came through a TURN server).
    pub fn receive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        data: &[u8],
    ) -> Result<(), RtcFailure> {
        let Ok(receive) = Receive::new(Protocol::Udp, from, to, data) else {
            return Ok(()); // Not STUN/DTLS/RTP: ignore stray datagrams.
        };
        let input = Input::Receive(now, receive);
        if !self.rtc.accepts(&input) {
            return Ok(());
        }
        if let Some(ssrc) = rtp_ssrc(data) {
            self.track_rx_ssrc(ssrc, from);
            self.last_rx_ssrc = ssrc;
        }
        self.rtc
            .handle_input(input)
            .map_err(|e| RtcFailure::Engine(e.to_string()))
    }

    /// Declares an SSRC str0m does not know on our audio m-line, when it comes from the
    /// address our media goes to once DTLS is up (SRTP then authenticates each packet, and
    /// nobody else can make us forget the current stream).
    fn track_rx_ssrc(&mut self, ssrc: u32, from: SocketAddr) {
        let Some(mid) = self.mid else { return };
        if !self.connected || self.remote != Some(from) || self.rx_ssrcs.contains(&ssrc) {
            return;
        }
        let mut api = self.rtc.direct_api();
        if self.rx_ssrcs.is_empty() {
            // The SSRCs the SDP announced are str0m's already.
            if let Some(s) = api.stream_rx_by_mid(mid, None) {
                self.rx_ssrcs.push(*s.ssrc());
            }
            if self.rx_ssrcs.contains(&ssrc) {
                return;
            }
        }
        if api.stream_rx(&ssrc.into()).is_none() {
            tracing::info!(ssrc, "the far end switched to a new RTP stream");
            api.expect_stream_rx(ssrc.into(), None, mid, None);
        }
        self.rx_ssrcs.push(ssrc);
        while self.rx_ssrcs.len() > MAX_RX_SSRCS {
            let old = self.rx_ssrcs.remove(0);
            api.remove_stream_rx(old.into());
        }
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
                    // DTLS and SRTP go only over the selected pair; STUN checks go anywhere.
                    if t.contents.first().is_some_and(|b| *b >= 20) {
                        self.remote = Some(t.destination);
                    }
                    return Ok(PeerOutput::Transmit(Transmit {
                        from: t.source,
                        to: t.destination,
                        data: t.contents.to_vec(),
                    }));
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
                    Event::MediaAdded(m) if m.kind == MediaKind::Audio && self.mid.is_none() => {
                        self.mid = Some(m.mid);
                    }
                    Event::MediaData(d) => {
                        let seq = (*d.seq_range.start()).as_u16();
                        return Ok(PeerOutput::Audio {
                            ssrc: self.last_rx_ssrc,
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

    /// Sends one RFC 4733 packet (built by [`super::dtmf::EventSender`]) in our audio
    /// stream. `rtp_time` counts at the telephone-event's own clock, which may differ from the
    /// codec's: str0m's event writer insists on equal clocks, so the packets are written as
    /// frames of the telephone-event payload type, one each.
    pub fn write_telephone_event(
        &mut self,
        now: Instant,
        format: TelephoneEventFormat,
        rtp_time: u64,
        packet: &super::dtmf::EventPacket,
    ) -> Result<(), RtcFailure> {
        let mid = self.mid.ok_or(RtcFailure::NoCodec)?;
        let Some(writer) = self.rtc.writer(mid) else {
            return Ok(());
        };
        writer
            .start_of_talkspurt(packet.marker)
            .write(
                Pt::from(format.pt),
                now,
                MediaTime::new(
                    rtp_time,
                    Frequency::new(format.clock_rate).ok_or_else(|| {
                        RtcFailure::Engine(format!("bad clock rate {}", format.clock_rate))
                    })?,
                ),
                packet.payload.to_vec(),
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
        let mut p = Peer::new(now, &[Codec::Pcmu, Codec::Opus]).unwrap();
        let host: SocketAddr = "192.0.2.2:5000".parse().unwrap();
        assert_eq!(p.add_candidate(LocalCandidate::Host(host)), Ok(true));
        let relayed = LocalCandidate::Relayed {
            relayed: "198.51.100.1:50000".parse().unwrap(),
            local: "192.0.2.2:5001".parse().unwrap(),
        };
        assert_eq!(p.add_candidate(relayed), Ok(true));
        assert_eq!(p.candidates(), &[LocalCandidate::Host(host), relayed]);
        let offer = p.create_offer().unwrap();
        assert!(offer.contains(" 192.0.2.2 5000 typ host"), "{offer}");
        assert!(offer.contains(" 198.51.100.1 50000 typ relay"), "{offer}");
        let m = offer.lines().find(|l| l.starts_with("m=audio")).unwrap();
        assert!(m.contains(" 0 111"), "{m}");
        assert!(offer.contains("a=rtpmap:126 telephone-event/8000"));
        assert!(offer.contains("a=candidate:"));
        assert!(offer.contains("a=rtcp-mux"));
        assert!(offer.contains("a=setup:actpass"));
    }

    /// The SDP string of the frame at `line` of the seed capture.
    fn seed_sdp(line: usize) -> String {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/seeds/000_d74093c7acc83100.txt"
        );
        let text = std::fs::read_to_string(path).expect("the seed capture beside the repository");
        let l = text.lines().nth(line - 1).expect("line in the seed");
        let json = l
            .trim()
            .trim_start_matches("\"sdp\":")
            .trim()
            .trim_end_matches(',');
        serde_json::from_str(json).expect("an SDP string")
    }

    fn peer(prefs: &[Codec]) -> Peer {
        let mut p = Peer::new(Instant::now(), prefs).unwrap();
        let host = LocalCandidate::Host("127.0.0.1:5000".parse().unwrap());
        assert_eq!(p.add_candidate(host), Ok(true));
        p
    }

    #[test]
    fn twilios_offer_is_answered_as_the_dtls_client_in_its_own_profile() {
        let offer = seed_sdp(1013);
        assert!(offer.contains("a=setup:actpass") && offer.contains(" 2 UDP 2130706430 "));
        for (prefs, codec, pt) in [
            (&[Codec::Pcmu, Codec::Opus][..], Codec::Pcmu, 0),
            (&[Codec::Opus, Codec::Pcmu][..], Codec::Opus, 107),
        ] {
            let mut p = peer(prefs);
            let answer = p.accept_offer(&offer).unwrap();
            let m = answer.lines().find(|l| l.starts_with("m=audio")).unwrap();
            // The offer's profile (Chrome answers RTP/SAVPF too: seed line 1213).
            assert_eq!(m.split(' ').nth(2), Some("RTP/SAVPF"), "{answer}");
            assert!(answer.contains("a=setup:active"), "{answer}");
            assert!(answer.contains("a=mid:audio"), "{answer}");
            assert!(
                answer.contains("a=rtpmap:101 telephone-event/8000"),
                "{answer}"
            );
            let n = p.negotiated().unwrap();
            assert_eq!((n.codec, n.pt), (codec, pt));
            // telephone-event/8000 is used beside Opus too.
            assert_eq!(
                n.telephone_event,
                Some(TelephoneEventFormat {
                    pt: 101,
                    clock_rate: 8000
                })
            );
            assert_eq!(audio_proto_of(&seed_sdp(1213)), Some("RTP/SAVPF"));
        }
    }

    #[test]
    fn twilios_rtcp_candidates_and_trailing_attributes_are_ignored() {
        let offer = seed_sdp(1013);
        let normalised = normalise_remote_sdp(&offer);
        let candidates: Vec<&str> = normalised
            .lines()
            .filter(|l| l.starts_with("a=candidate:"))
            .collect();
        assert_eq!(
            candidates,
            vec!["a=candidate:H37ab5af 1 UDP 2130706431 3.122.181.175 18130 typ host"]
        );
        assert!(
            normalised.contains("a=end-of-candidates") && normalised.contains("a=connection:new")
        );
        // str0m takes what is left, and the only remote candidate is the RTP one.
        let mut p = peer(&[Codec::Pcmu]);
        p.accept_offer(&offer).unwrap();
        assert!(is_rtcp_candidate(
            "a=candidate:H37ab5af 2 UDP 2130706430 3.122.181.175 18131 typ host"
        ));
        assert!(!is_rtcp_candidate(
            "a=candidate:H37ab5af 1 UDP 2130706431 3.122.181.175 18130 typ host"
        ));
    }

    #[test]
    fn twilios_answer_to_our_offer_is_applied() {
        let answer = seed_sdp(546);
        assert!(answer.contains("a=setup:active"));
        for (prefs, codec, pt) in [
            (&[Codec::Pcmu, Codec::Opus][..], Codec::Pcmu, 0),
            (&[Codec::Opus, Codec::Pcmu][..], Codec::Opus, 111),
        ] {
            let mut p = peer(prefs);
            let offer = p.create_offer().unwrap();
            assert!(offer.contains("a=setup:actpass"));
            // Twilio echoes the offer's mid (Chrome's is `0`, ours str0m's).
            let mid = audio_mid_of(&offer).unwrap();
            let answer = answer
                .replace("a=mid:0", &format!("a=mid:{mid}"))
                .replace("a=group:BUNDLE 0", &format!("a=group:BUNDLE {mid}"));
            p.accept_answer(&answer).unwrap();
            assert_eq!(p.mid.map(|m| m.to_string()), Some(mid));
            let n = p.negotiated().unwrap();
            assert_eq!((n.codec, n.pt), (codec, pt));
            assert_eq!(
                n.telephone_event,
                Some(TelephoneEventFormat {
                    pt: 126,
                    clock_rate: 8000
                })
            );
        }
    }

    #[test]
    fn every_offer_carries_telephone_event_at_8khz() {
        // As Chrome's does (seed line 448), also when Opus is the only codec.
        for prefs in [
            &[Codec::Opus][..],
            &[Codec::Pcmu][..],
            &[Codec::Opus, Codec::Pcmu][..],
        ] {
            let offer = peer(prefs).create_offer().unwrap();
            assert!(
                offer.contains("a=rtpmap:126 telephone-event/8000"),
                "{offer}"
            );
            let m = offer.lines().find(|l| l.starts_with("m=audio")).unwrap();
            assert!(m.split(' ').any(|pt| pt == "126"), "{m}");
        }
        assert!(seed_sdp(448).contains("a=rtpmap:126 telephone-event/8000"));
    }

    #[test]
    fn rtp_and_rtcp_are_told_apart() {
        let mut rtp = [0u8; 12];
        rtp[0] = 0x80;
        rtp[1] = 0x00;
        rtp[8..12].copy_from_slice(&0xDEAD_BEEFu32.to_be_bytes());
        assert_eq!(rtp_ssrc(&rtp), Some(0xDEAD_BEEF));
        rtp[1] = 0x80 | 126; // marker + PT 126
        assert_eq!(rtp_ssrc(&rtp), Some(0xDEAD_BEEF));
        rtp[1] = 200; // sender report
        assert_eq!(rtp_ssrc(&rtp), None);
        assert_eq!(rtp_ssrc(&rtp[..8]), None);
        assert_eq!(rtp_ssrc(&[0x16; 20]), None, "DTLS");
    }
}
