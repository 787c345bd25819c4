//! Two media sessions talking to each other in virtual time: no sockets, no sleeps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::analysis::{dominant_frequency, rms};
use super::audio::{RecordingSink, ToneSource};
use super::session::MediaSession;
use crate::core::{MediaEvent, MediaRequest};
use crate::model::Codec;

struct Pair {
    a: MediaSession,
    b: MediaSession,
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
        let a = MediaSession::new(
            now,
            a_addr,
            prefs_a,
            None,
            Box::new(ToneSource::new(16_000, a_hz, 8000)),
            Box::new(a_sink),
        )
        .unwrap();
        let b = MediaSession::new(
            now,
            b_addr,
            prefs_b,
            None,
            Box::new(ToneSource::new(48_000, b_hz, 8000)),
            Box::new(b_sink),
        )
        .unwrap();
        let mut p = Pair {
            a,
            b,
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
            let next = self
                .a
                .poll_timeout()
                .min(self.b.poll_timeout())
                .max(self.now + Duration::from_micros(100));
            self.now = next.min(end);
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
