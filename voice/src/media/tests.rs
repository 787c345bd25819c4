//! Two media sessions talking to each other in virtual time: no sockets, no sleeps. Each
//! side has a simulated sound card (a at 16 kHz with 10 ms periods, b at 48 kHz with 20 ms
//! ones) whose periods drive its session.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use turn_client_proto::stun::Instant as TurnInstant;
use turn_client_proto::stun::agent::Transmit as TurnTransmit;
use turn_client_proto::stun::types::TransportType;
use turn_server_proto::api::{TurnServerApi, TurnServerPollRet};
use turn_server_proto::server::TurnServer;

use super::analysis::{dominant_frequency, rms};
use super::audio::{AudioSink, AudioSource, RecordingSink, ToneSource};
use super::rtc::{LocalCandidate, Transmit};
use super::session::MediaSession;
use super::turn::{Relay, RelayEvent, TurnTransport};
use crate::core::{MediaEvent, MediaRequest};
use crate::model::Codec;

/// A simulated sound card: a period of its source in, the same length out to its sink.
struct Card {
    source: ToneSource,
    sink: RecordingSink,
    period: Duration,
    next: Instant,
    /// A stopped card delivers no periods.
    running: bool,
}

impl Card {
    fn new(source: ToneSource, sink: RecordingSink, period: Duration, now: Instant) -> Card {
        Card {
            source,
            sink,
            period,
            next: now + period,
            running: true,
        }
    }

    fn next_period(&self) -> Option<Instant> {
        self.running.then_some(self.next)
    }

    /// Runs the periods due by `now`.
    fn drive(&mut self, session: &mut MediaSession, now: Instant) {
        let len = (self.source.sample_rate() as u128 * self.period.as_millis() / 1000) as usize;
        while self.running && self.next <= now {
            let mut mic = vec![0i16; len];
            self.source.read(&mut mic);
            session.capture(self.next, &mic);
            let mut out = vec![0i16; len];
            session.playback(self.next, &mut out);
            self.sink.write(&out);
            self.next += self.period;
        }
    }
}

/// A TURN server (`turn-server-proto`) between a and b, and a's allocation on it.
struct Hop {
    relay: Relay,
    server: TurnServer,
    base: Instant,
    /// a's end of its connection to the server.
    client: SocketAddr,
    listen: SocketAddr,
    relayed: SocketAddr,
    /// Datagrams the server sent out of the relayed address: (to, data).
    out: Vec<(SocketAddr, Vec<u8>)>,
}

impl Hop {
    fn new(now: Instant) -> Hop {
        let client: SocketAddr = "127.0.0.1:40010".parse().unwrap();
        let listen: SocketAddr = "127.0.0.1:3478".parse().unwrap();
        let mut server = TurnServer::new(TransportType::Udp, listen, "offhook".into());
        server.add_user("u".into(), "p".into());
        Hop {
            relay: Relay::new(TurnTransport::Udp, client, listen, "u", "p", now),
            server,
            base: now,
            client,
            listen,
            relayed: "127.0.0.1:50000".parse().unwrap(),
            out: Vec::new(),
        }
    }

    fn at(&self, now: Instant) -> TurnInstant {
        TurnInstant::from_nanos(now.duration_since(self.base).as_nanos() as i64)
    }

    /// Moves what the relay and the server have to say at `now`; datagrams for peers end
    /// up in `out`.
    fn pump(&mut self, now: Instant) {
        let at = self.at(now);
        loop {
            let mut moved = false;
            while let Some(bytes) = self.relay.poll_transmit() {
                moved = true;
                let t = TurnTransmit::new(
                    bytes.as_slice(),
                    TransportType::Udp,
                    self.client,
                    self.listen,
                );
                if let Some(reply) = self.server.recv(t, at) {
                    let reply = reply.build();
                    self.deliver(reply.data, reply.to, now);
                }
            }
            while let TurnServerPollRet::AllocateSocket {
                transport,
                listen_addr,
                client_addr,
                allocation_transport,
                family,
            } = self.server.poll(at)
            {
                moved = true;
                self.server.allocated_socket(
                    transport,
                    listen_addr,
                    client_addr,
                    allocation_transport,
                    family,
                    Ok(self.relayed),
                    at,
                );
            }
            while let Some(t) = self.server.poll_transmit(at) {
                moved = true;
                self.deliver(t.data, t.to, now);
            }
            if !moved {
                return;
            }
        }
    }

    fn deliver(&mut self, data: Vec<u8>, to: SocketAddr, now: Instant) {
        if to == self.client {
            self.relay.handle_input(&data, now);
        } else {
            self.out.push((to, data));
        }
    }

    /// A datagram from a peer to the relayed address.
    fn peer_sent(&mut self, from: SocketAddr, data: &[u8], now: Instant) {
        let t = TurnTransmit::new(data, TransportType::Udp, from, self.relayed);
        if let Some(out) = self.server.recv(t, self.at(now)) {
            let out = out.build();
            self.deliver(out.data, out.to, now);
        }
        self.pump(now);
    }
}

struct Pair {
    a: MediaSession,
    b: MediaSession,
    a_card: Card,
    b_card: Card,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    now: Instant,
    a_events: Vec<MediaEvent>,
    b_events: Vec<MediaEvent>,
    /// a's relay, when a offers only that.
    hop: Option<Hop>,
    /// What a sent from an address other than its relayed one.
    a_direct: u64,
    /// a's first offer.
    a_offer: String,
}

fn local_description(events: &mut Vec<MediaEvent>) -> String {
    let pos = events
        .iter()
        .position(|e| matches!(e, MediaEvent::LocalDescription(_)))
        .unwrap_or_else(|| panic!("no local description in {events:?}"));
    match events.remove(pos) {
        MediaEvent::LocalDescription(s) => s,
        _ => unreachable!(),
    }
}

impl Pair {
    fn new(
        prefs_a: &[Codec],
        prefs_b: &[Codec],
        a_hz: f64,
        b_hz: f64,
        a_sink: RecordingSink,
        b_sink: RecordingSink,
    ) -> Pair {
        Pair::with(prefs_a, prefs_b, a_hz, b_hz, a_sink, b_sink, false)
    }

    /// With `relay_only`, a's one candidate is a relay on a TURN server between them.
    fn with(
        prefs_a: &[Codec],
        prefs_b: &[Codec],
        a_hz: f64,
        b_hz: f64,
        a_sink: RecordingSink,
        b_sink: RecordingSink,
        relay_only: bool,
    ) -> Pair {
        let mut now = Instant::now();
        let a_addr: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let b_addr: SocketAddr = "127.0.0.1:40002".parse().unwrap();
        let mut a = MediaSession::new(now, prefs_a, None, 16_000).unwrap();
        let mut b = MediaSession::new(now, prefs_b, None, 48_000).unwrap();
        b.add_candidate(LocalCandidate::Host(b_addr), now);
        let hop = if relay_only {
            let mut hop = Hop::new(now);
            // Gathering: the allocation, before the offer that carries it.
            hop.pump(now);
            while hop.relay.relayed().is_none() {
                now = hop.relay.poll_timeout().expect("allocating").max(now);
                hop.relay.handle_timeout(now);
                hop.pump(now);
            }
            assert_eq!(
                hop.relay.poll_event(),
                Some(RelayEvent::Allocated(hop.relayed))
            );
            let relayed = LocalCandidate::Relayed {
                relayed: hop.relayed,
                local: hop.client,
            };
            a.add_candidate(relayed, now);
            assert_eq!(a.candidates(), &[relayed]);
            Some(hop)
        } else {
            a.add_candidate(LocalCandidate::Host(a_addr), now);
            None
        };
        let a_card = Card::new(
            ToneSource::new(16_000, a_hz, 8000),
            a_sink,
            Duration::from_millis(10),
            now,
        );
        let b_card = Card::new(
            ToneSource::new(48_000, b_hz, 8000),
            b_sink,
            Duration::from_millis(20),
            now,
        );
        let mut p = Pair {
            a,
            b,
            a_card,
            b_card,
            a_addr,
            b_addr,
            now,
            a_events: vec![],
            b_events: vec![],
            hop,
            a_direct: 0,
            a_offer: String::new(),
        };
        p.a.handle_request(MediaRequest::CreateOffer, now);
        p.collect();
        let offer = local_description(&mut p.a_events);
        p.a_offer = offer.clone();
        p.b.handle_request(MediaRequest::AnswerOffer { offer }, now);
        p.collect();
        let answer = local_description(&mut p.b_events);
        p.a.handle_request(MediaRequest::ApplyAnswer { answer }, now);
        p.collect();
        p
    }

    fn collect(&mut self) {
        while let Some(e) = self.a.poll_event() {
            self.a_events.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.b_events.push(e);
        }
    }

    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            // Deliver everything in flight (zero-latency network), then advance time.
            let mut moved = true;
            while moved {
                moved = false;
                while let Some(t) = self.a.poll_transmit() {
                    moved = true;
                    match &mut self.hop {
                        Some(hop) if t.from == hop.relayed => {
                            hop.relay.send(t.to, &t.data, self.now);
                            hop.pump(self.now);
                        }
                        _ => {
                            self.a_direct += 1;
                            // From a's address only (an address a no longer has sends nothing).
                            if t.to == self.b_addr && t.from == self.a_addr {
                                self.b.receive(self.now, t.from, t.to, &t.data);
                            }
                        }
                    }
                }
                if let Some(hop) = &mut self.hop {
                    for (to, data) in hop.out.drain(..) {
                        moved = true;
                        if to == self.b_addr {
                            self.b.receive(self.now, hop.relayed, to, &data);
                        }
                    }
                    while let Some((from, data)) = hop.relay.poll_received() {
                        moved = true;
                        self.a.receive(self.now, from, hop.relayed, &data);
                    }
                }
                while let Some(Transmit { from, to, data }) = self.b.poll_transmit() {
                    moved = true;
                    match &mut self.hop {
                        Some(hop) if to == hop.relayed => hop.peer_sent(from, &data, self.now),
                        _ if to == self.a_addr => self.a.receive(self.now, from, to, &data),
                        _ => {}
                    }
                }
            }
            self.collect();
            let mut next = self.a.poll_timeout().min(self.b.poll_timeout());
            if let Some(t) = self.hop.as_ref().and_then(|h| h.relay.poll_timeout()) {
                next = next.min(t);
            }
            for card in [self.a_card.next_period(), self.b_card.next_period()]
                .into_iter()
                .flatten()
            {
                next = next.min(card);
            }
            self.now = next.max(self.now + Duration::from_micros(100)).min(end);
            self.a_card.drive(&mut self.a, self.now);
            self.b_card.drive(&mut self.b, self.now);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            if let Some(hop) = &mut self.hop {
                hop.relay.handle_timeout(self.now);
                hop.pump(self.now);
            }
        }
        self.collect();
    }
}

#[test]
fn tones_cross_both_ways_with_pcmu() {
    let a_sink = RecordingSink::new(16_000);
    let b_sink = RecordingSink::new(48_000);
    let mut p = Pair::new(
        &[Codec::Pcmu, Codec::Opus],
        &[Codec::Pcmu, Codec::Opus],
        700.0,
        1100.0,
        a_sink.clone(),
        b_sink.clone(),
    );
    p.run(Duration::from_secs(3));
    assert!(
        p.a_events.contains(&MediaEvent::IceConnected),
        "{:?}",
        p.a_events
    );
    assert!(p.a_events.iter().any(|e| matches!(
        e,
        MediaEvent::RemoteApplied {
            codec: Codec::Pcmu,
            telephone_event: true
        }
    )));
    let heard_by_b = b_sink.last_ms(1000);
    let heard_by_a = a_sink.last_ms(1000);
    assert!(rms(&heard_by_b) > 2000.0, "b hears {}", rms(&heard_by_b));
    assert!((dominant_frequency(&heard_by_b, 48_000) - 700.0).abs() < 10.0);
    assert!((dominant_frequency(&heard_by_a, 16_000) - 1100.0).abs() < 10.0);
    assert!(p.a.counters().packets_sent > 100 && p.a.counters().packets_received > 100);
    assert!(p.a_events.iter().any(|e| matches!(e, MediaEvent::Stats(_))));
    assert!(
        p.a_events
            .iter()
            .any(|e| matches!(e, MediaEvent::Volume { .. }))
    );
}

/// a offers one relay candidate (a TURN allocation on a server between them, as with
/// `iceTransportPolicy: relay`): its checks, DTLS and audio all go through the relay, both
/// ways, and the allocation is released at the end.
#[test]
fn a_relay_only_call_carries_audio_both_ways_through_the_turn_server() {
    let a_sink = RecordingSink::new(16_000);
    let b_sink = RecordingSink::new(48_000);
    let mut p = Pair::with(
        &[Codec::Pcmu],
        &[Codec::Pcmu],
        700.0,
        1100.0,
        a_sink.clone(),
        b_sink.clone(),
        true,
    );
    p.run(Duration::from_secs(3));
    assert!(
        p.a_events.contains(&MediaEvent::IceConnected),
        "{:?}",
        p.a_events
    );
    let heard_by_b = b_sink.last_ms(1000);
    let heard_by_a = a_sink.last_ms(1000);
    assert!(rms(&heard_by_b) > 2000.0, "b hears {}", rms(&heard_by_b));
    assert!((dominant_frequency(&heard_by_b, 48_000) - 700.0).abs() < 10.0);
    assert!((dominant_frequency(&heard_by_a, 16_000) - 1100.0).abs() < 10.0);
    assert!(p.a.counters().packets_received > 100 && p.b.counters().packets_received > 100);
    assert_eq!(p.a_direct, 0, "a sent nothing around the relay");
    let hop = p.hop.as_mut().unwrap();
    hop.relay.release(p.now);
    hop.pump(p.now);
    assert_eq!(hop.relay.poll_event(), Some(RelayEvent::Released));
}

/// Without a single candidate (relays only, and the TURN server refused) ICE fails as soon
/// as the answer is in, not at the 15 s connect timeout.
#[test]
fn no_candidate_at_all_fails_ice_at_once() {
    let now = Instant::now();
    let mut a = MediaSession::new(now, &[Codec::Pcmu], None, 16_000).unwrap();
    let mut b = MediaSession::new(now, &[Codec::Pcmu], None, 48_000).unwrap();
    b.add_candidate(
        LocalCandidate::Host("127.0.0.1:40002".parse().unwrap()),
        now,
    );
    let mut a_events = Vec::new();
    let mut b_events = Vec::new();
    a.handle_request(MediaRequest::CreateOffer, now);
    a_events.extend(std::iter::from_fn(|| a.poll_event()));
    let offer = local_description(&mut a_events);
    assert!(!offer.contains("a=candidate"), "{offer}");
    b.handle_request(MediaRequest::AnswerOffer { offer }, now);
    b_events.extend(std::iter::from_fn(|| b.poll_event()));
    let answer = local_description(&mut b_events);
    a.handle_request(MediaRequest::ApplyAnswer { answer }, now);
    assert!(a.poll_timeout() <= now);
    a.handle_timeout(now);
    a_events.extend(std::iter::from_fn(|| a.poll_event()));
    assert!(a_events.contains(&MediaEvent::IceFailed), "{a_events:?}");
}

fn ice_ufrag(sdp: &str) -> Option<&str> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .map(str::trim)
}

/// a's address changes mid-call: the old one is gone (what a sends from it goes nowhere,
/// what b sends to it arrives nowhere). a gathers again on its new address; its ICE-restart
/// offer carries that one only, with new credentials; b answers, ICE connects on the new
/// address and the audio comes back both ways.
#[test]
fn an_ice_restart_on_candidates_gathered_again_brings_the_audio_back() {
    let a_sink = RecordingSink::new(16_000);
    let b_sink = RecordingSink::new(48_000);
    let mut p = Pair::new(
        &[Codec::Pcmu],
        &[Codec::Pcmu],
        700.0,
        1100.0,
        a_sink.clone(),
        b_sink.clone(),
    );
    p.run(Duration::from_secs(2));
    assert!(p.a_events.contains(&MediaEvent::IceConnected));
    let old = p.a_addr;
    let first_ufrag = ice_ufrag(&p.a_offer).map(String::from);
    // The network changes: a's address is gone.
    p.a_addr = "127.0.0.1:40003".parse().unwrap();
    p.run(Duration::from_millis(500));
    a_sink.clear();
    b_sink.clear();
    p.a_events.clear();
    p.a.replace_candidates(vec![LocalCandidate::Host(p.a_addr)], p.now);
    assert_eq!(p.a.candidates(), &[LocalCandidate::Host(p.a_addr)]);
    p.a.handle_request(MediaRequest::RestartIce, p.now);
    p.collect();
    let offer = local_description(&mut p.a_events);
    let candidates: Vec<&str> = offer
        .lines()
        .filter(|l| l.starts_with("a=candidate:"))
        .collect();
    assert_eq!(candidates.len(), 1, "{offer}");
    assert!(candidates[0].contains(" 40003 typ host"), "{offer}");
    assert!(!offer.contains(&format!(" {} typ", old.port())), "{offer}");
    assert_ne!(ice_ufrag(&offer), first_ufrag.as_deref(), "new credentials");
    p.b.handle_request(MediaRequest::AnswerOffer { offer }, p.now);
    p.collect();
    let answer = local_description(&mut p.b_events);
    p.a.handle_request(MediaRequest::ApplyAnswer { answer }, p.now);
    p.run(Duration::from_millis(1500));
    assert!(
        p.a_events.contains(&MediaEvent::IceConnected),
        "{:?}",
        p.a_events
    );
    assert!(!p.a_events.contains(&MediaEvent::IceFailed));
    let heard_by_b = b_sink.last_ms(500);
    let heard_by_a = a_sink.last_ms(500);
    assert!(rms(&heard_by_b) > 2000.0, "b hears {}", rms(&heard_by_b));
    assert!((dominant_frequency(&heard_by_b, 48_000) - 700.0).abs() < 10.0);
    assert!(rms(&heard_by_a) > 2000.0, "a hears {}", rms(&heard_by_a));
    assert!((dominant_frequency(&heard_by_a, 16_000) - 1100.0).abs() < 10.0);
}

#[test]
fn opus_when_both_prefer_it() {
    let a_sink = RecordingSink::new(16_000);
    let b_sink = RecordingSink::new(48_000);
    let mut p = Pair::new(
        &[Codec::Opus, Codec::Pcmu],
        &[Codec::Opus, Codec::Pcmu],
        440.0,
        1000.0,
        a_sink.clone(),
        b_sink.clone(),
    );
    p.run(Duration::from_secs(3));
    assert_eq!(p.a.negotiated().unwrap().codec, Codec::Opus);
    assert!((dominant_frequency(&b_sink.last_ms(1000), 48_000) - 440.0).abs() < 10.0);
    assert!((dominant_frequency(&a_sink.last_ms(1000), 16_000) - 1000.0).abs() < 10.0);
}

#[test]
fn mute_sends_silence() {
    let a_sink = RecordingSink::new(16_000);
    let b_sink = RecordingSink::new(48_000);
    let mut p = Pair::new(
        &[Codec::Pcmu],
        &[Codec::Pcmu],
        700.0,
        1100.0,
        a_sink,
        b_sink.clone(),
    );
    p.run(Duration::from_secs(2));
    p.a.handle_request(MediaRequest::Mute(true), p.now);
    p.run(Duration::from_secs(1));
    assert!(
        rms(&b_sink.last_ms(500)) < 50.0,
        "muted but b hears {}",
        rms(&b_sink.last_ms(500))
    );
    p.a.handle_request(MediaRequest::Mute(false), p.now);
    p.run(Duration::from_secs(1));
    assert!(rms(&b_sink.last_ms(500)) > 2000.0);
}

#[test]
fn dtmf_packets_follow_the_digit_schedule() {
    let a_sink = RecordingSink::new(16_000);
    let b_sink = RecordingSink::new(48_000);
    let mut p = Pair::new(
        &[Codec::Pcmu],
        &[Codec::Pcmu],
        700.0,
        1100.0,
        a_sink,
        b_sink,
    );
    p.run(Duration::from_secs(1));
    let sent_at = p.now;
    p.a.handle_request(MediaRequest::SendDigits("123w#".into()), p.now);
    p.run(Duration::from_secs(2));
    let got = p.b.received_dtmf().to_vec();
    let events: Vec<u8> = got.iter().map(|d| d.event).collect();
    assert_eq!(events, vec![1, 2, 3, 11]);
    assert!(
        got[0].arrival - sent_at <= Duration::from_millis(45),
        "first digit goes out on the next ticks"
    );
    let starts: Vec<i64> = got
        .iter()
        .map(|d| (d.arrival - got[0].arrival).as_millis() as i64)
        .collect();
    // 160 ms tones, 70 ms gaps, `w` = 500 ms more; sent on 20 ms ticks.
    for (got, want) in starts.iter().zip([0i64, 230, 460, 1190]) {
        assert!((got - want).abs() <= 20, "starts {starts:?}");
    }
    // RTP times follow the same schedule at 8 kHz.
    let rtp: Vec<i64> = got
        .iter()
        .map(|d| d.rtp_time.wrapping_sub(got[0].rtp_time) as i64)
        .collect();
    for (got, want) in rtp.iter().zip([0i64, 1840, 3680, 9520]) {
        assert!((got - want).abs() <= 160, "rtp times {rtp:?}");
    }
}

#[test]
fn dtmf_with_opus_goes_at_the_8khz_telephone_event_clock() {
    let a_sink = RecordingSink::new(16_000);
    let b_sink = RecordingSink::new(48_000);
    let mut p = Pair::new(
        &[Codec::Opus],
        &[Codec::Opus],
        700.0,
        1100.0,
        a_sink,
        b_sink.clone(),
    );
    p.run(Duration::from_secs(1));
    let te = p.a.negotiated().unwrap().telephone_event.unwrap();
    assert_eq!((te.pt, te.clock_rate), (126, 8000));
    assert_eq!(p.a.negotiated().unwrap().codec, Codec::Opus);
    p.a.handle_request(MediaRequest::SendDigits("123#".into()), p.now);
    p.b.handle_request(MediaRequest::SendDigits("9".into()), p.now);
    p.run(Duration::from_secs(2));
    let got = p.b.received_dtmf().to_vec();
    assert_eq!(
        got.iter().map(|d| d.event).collect::<Vec<_>>(),
        vec![1, 2, 3, 11]
    );
    // RTP times at 8 kHz: 230 ms apart is 1840 ticks (it would be 11040 at 48 kHz).
    let rtp: Vec<i64> = got
        .iter()
        .map(|d| d.rtp_time.wrapping_sub(got[0].rtp_time) as i64)
        .collect();
    for (got, want) in rtp.iter().zip([0i64, 1840, 3680]) {
        assert!((got - want).abs() <= 160, "rtp times {rtp:?}");
    }
    assert_eq!(
        p.a.received_dtmf()
            .iter()
            .map(|d| d.event)
            .collect::<Vec<_>>(),
        vec![9]
    );
    // Audio goes on after the digits.
    assert!(rms(&b_sink.last_ms(500)) > 2000.0);
}

fn peer_states(events: &[MediaEvent]) -> Vec<crate::model::PeerState> {
    events
        .iter()
        .filter_map(|e| match e {
            MediaEvent::PeerState(s) => Some(*s),
            _ => None,
        })
        .collect()
}

#[test]
fn peer_states_follow_what_each_side_went_through() {
    use crate::model::PeerState::*;
    let mut p = Pair::new(
        &[Codec::Pcmu],
        &[Codec::Pcmu],
        700.0,
        1100.0,
        RecordingSink::new(16_000),
        RecordingSink::new(48_000),
    );
    p.run(Duration::from_secs(2));
    assert_eq!(
        peer_states(&p.a_events),
        [
            Gathering,
            GatheringComplete,
            HaveLocalOffer,
            DtlsNew,
            Stable,
            DtlsConnecting,
            Connecting,
            IceChecking,
            IceConnected,
            DtlsConnected,
            Connected,
        ],
        "the offerer"
    );
    assert_eq!(
        peer_states(&p.b_events),
        [
            Gathering,
            GatheringComplete,
            HaveRemoteOffer,
            DtlsNew,
            DtlsConnecting,
            Connecting,
            Stable,
            IceChecking,
            IceConnected,
            DtlsConnected,
            Connected,
        ],
        "the answerer"
    );
    p.a_events.clear();
    p.a.handle_request(MediaRequest::Close, p.now);
    p.collect();
    assert_eq!(
        peer_states(&p.a_events),
        [DtlsClosed, Closed, IceClosed, SignalingClosed]
    );
}

#[test]
fn a_card_that_stops_delivering_periods_leaves_the_call_going_with_silence() {
    let a_sink = RecordingSink::new(16_000);
    let b_sink = RecordingSink::new(48_000);
    let mut p = Pair::new(
        &[Codec::Pcmu],
        &[Codec::Pcmu],
        700.0,
        1100.0,
        a_sink.clone(),
        b_sink.clone(),
    );
    p.run(Duration::from_secs(2));
    assert!(rms(&b_sink.last_ms(500)) > 2000.0, "b hears a's tone first");
    assert_eq!(p.a.card_stats().stalls, 0);
    // a's card stops for two seconds.
    p.a_card.running = false;
    let sent_before = p.a.counters().packets_sent;
    let received_before = p.b.counters().packets_received;
    p.run(Duration::from_secs(2));
    let stats = p.a.card_stats();
    assert_eq!(stats.stalls, 1, "{stats:?}");
    // 2 s less the 200 ms it takes to notice, in 20 ms frames (give or take one).
    assert!((89..=91).contains(&stats.stand_in_frames), "{stats:?}");
    let sent = p.a.counters().packets_sent - sent_before;
    assert!(sent >= 85, "a keeps sending: {sent} packets in 2 s");
    assert!(p.b.counters().packets_received - received_before >= 85);
    assert!(rms(&b_sink.last_ms(500)) < 50.0, "what a sends is silence");
    assert!(
        !p.a_events.contains(&MediaEvent::IceDisconnected),
        "the call stays up"
    );
    // The card comes back: the tone again, and no second stall counted.
    p.a_card.running = true;
    p.a_card.next = p.now;
    p.run(Duration::from_secs(1));
    assert!(rms(&b_sink.last_ms(400)) > 2000.0);
    assert_eq!(p.a.card_stats().stalls, 1);
    // b's card kept going all along, and a's earpiece plays b's tone again.
    assert!((dominant_frequency(&a_sink.last_ms(400), 16_000) - 1100.0).abs() < 10.0);
}
