//! Two media sessions talking to each other in virtual time: no sockets, no sleeps. Each
//! side has a simulated sound card (a at 16 kHz with 10 ms periods, b at 48 kHz with 20 ms
//! ones) whose periods drive its session.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::analysis::{dominant_frequency, rms};
use super::audio::{AudioSink, AudioSource, RecordingSink, ToneSource};
use super::session::MediaSession;
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
        let now = Instant::now();
        let a_addr: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        let b_addr: SocketAddr = "127.0.0.1:40002".parse().unwrap();
        let a = MediaSession::new(now, a_addr, prefs_a, None, 16_000).unwrap();
        let b = MediaSession::new(now, b_addr, prefs_b, None, 48_000).unwrap();
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
        };
        p.a.handle_request(MediaRequest::CreateOffer, now);
        p.collect();
        let offer = local_description(&mut p.a_events);
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
                while let Some((to, data)) = self.a.poll_transmit() {
                    moved = true;
                    if to == self.b_addr {
                        self.b.receive(self.now, self.a_addr, &data);
                    }
                }
                while let Some((to, data)) = self.b.poll_transmit() {
                    moved = true;
                    if to == self.a_addr {
                        self.a.receive(self.now, self.b_addr, &data);
                    }
                }
            }
            self.collect();
            let mut next = self.a.poll_timeout().min(self.b.poll_timeout());
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
