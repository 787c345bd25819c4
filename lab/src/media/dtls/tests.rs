//! Two DTLS endpoints handshaking in memory: the lab's against itself, against str0m's
//! default (dimpl, what the client uses) in both roles, and against peers that want GCM only.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::crypto::dtls::{DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput, DtlsVersion};
use str0m::crypto::dtls::{ProtocolVersion, SrtpProfile};

use super::instance::OpenSslDtls;
use super::{SRTP_PROFILE, certificate, crypto_provider, watch};
use crate::control::types::DtlsStats;

const GCM_ONLY: &str = "SRTP_AEAD_AES_128_GCM:SRTP_AEAD_AES_256_GCM";

/// What one endpoint gave out during a handshake.
#[derive(Default)]
struct Seen {
    connected: bool,
    keys: Option<(Vec<u8>, SrtpProfile)>,
    peer_cert: Option<Vec<u8>>,
    error: Option<DtlsImplError>,
    /// The first datagram it sent (a ClientHello, or a flight starting with a ServerHello).
    first: Option<Vec<u8>>,
    data: Vec<Vec<u8>>,
    close_notify: bool,
}

impl Seen {
    fn done(&self) -> bool {
        self.error.is_some() || (self.connected && self.keys.is_some())
    }
}

/// Polls `from` dry, handing its datagrams to `to`.
fn pump(
    from: &mut dyn DtlsInstance,
    seen: &mut Seen,
    to: &mut dyn DtlsInstance,
    to_seen: &mut Seen,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        match from.poll_output(&mut buf) {
            DtlsOutput::Packet(p) => {
                seen.first.get_or_insert_with(|| p.to_vec());
                if let Err(e) = to.handle_packet(p) {
                    to_seen.error.get_or_insert(e);
                }
            }
            DtlsOutput::Connected => seen.connected = true,
            DtlsOutput::KeyingMaterial(k, profile) => seen.keys = Some((k.to_vec(), profile)),
            DtlsOutput::PeerCert(c) => seen.peer_cert = Some(c.to_vec()),
            DtlsOutput::ApplicationData(d) => seen.data.push(d.to_vec()),
            DtlsOutput::CloseNotify => seen.close_notify = true,
            DtlsOutput::Timeout(_) => return,
            other => panic!("unexpected output {other:?}"),
        }
    }
}

/// Runs a handshake between `client` and `server` (20 simulated seconds at most).
fn handshake(client: &mut dyn DtlsInstance, server: &mut dyn DtlsInstance) -> (Seen, Seen) {
    let (mut c, mut s) = (Seen::default(), Seen::default());
    let mut now = Instant::now();
    server.set_active(false);
    client.set_active(true);
    for _ in 0..400 {
        if let Err(e) = client.handle_timeout(now) {
            c.error.get_or_insert(e);
        }
        if let Err(e) = server.handle_timeout(now) {
            s.error.get_or_insert(e);
        }
        pump(client, &mut c, server, &mut s);
        pump(server, &mut s, client, &mut c);
        if c.done() && s.done() {
            break;
        }
        now += Duration::from_millis(50);
    }
    (c, s)
}

fn lab(cert: &DtlsCert) -> Box<dyn DtlsInstance> {
    let provider = crypto_provider().dtls_provider;
    provider
        .new_dtls(cert, Instant::now(), DtlsVersion::Dtls12, Some(1150))
        .unwrap()
}

fn dimpl(cert: &DtlsCert) -> Box<dyn DtlsInstance> {
    let provider = offhook_rtc_crypto::provider().dtls_provider;
    provider
        .new_dtls(cert, Instant::now(), DtlsVersion::Dtls12, Some(1150))
        .unwrap()
}

fn gcm_only(cert: &DtlsCert) -> OpenSslDtls {
    OpenSslDtls::new(cert, Instant::now(), 1150, GCM_ONLY, Arc::default()).unwrap()
}

/// The SRTP profile ids in the use_srtp extension of the hello opening a datagram.
fn hello_srtp_profiles(datagram: &[u8]) -> Option<Vec<u16>> {
    // Record header (13 bytes), handshake header (12), version (2), random (32).
    let kind = *datagram.get(13)?;
    let mut at = 13 + 12 + 2 + 32;
    let u8_at = |i: usize| datagram.get(i).map(|b| *b as usize);
    let u16_at = |i: usize| Some(u8_at(i)? << 8 | u8_at(i + 1)?);
    at += 1 + u8_at(at)?; // session id
    if kind == 1 {
        at += 1 + u8_at(at)?; // cookie
        at += 2 + u16_at(at)?; // cipher suites
        at += 1 + u8_at(at)?; // compression methods
    } else {
        at += 3; // the chosen suite and compression
    }
    let end = at + 2 + u16_at(at)?;
    at += 2;
    while at + 4 <= end {
        let (ext, len) = (u16_at(at)?, u16_at(at + 2)?);
        if ext == 14 {
            let list = u16_at(at + 4)?;
            return (0..list / 2)
                .map(|i| u16_at(at + 6 + 2 * i).map(|p| p as u16))
                .collect();
        }
        at += 4 + len;
    }
    None
}

fn assert_twilio_keys(lab: &Seen, peer: &Seen) {
    assert!(
        lab.error.is_none() && peer.error.is_none(),
        "{:?} / {:?}",
        lab.error,
        peer.error
    );
    assert!(lab.connected && peer.connected);
    let (lab_keys, lab_profile) = lab.keys.clone().expect("the lab's SRTP keys");
    let (peer_keys, peer_profile) = peer.keys.clone().expect("the peer's SRTP keys");
    assert_eq!(lab_profile, SrtpProfile::AES128_CM_SHA1_80);
    assert_eq!(peer_profile, SrtpProfile::AES128_CM_SHA1_80);
    assert_eq!(lab_keys.len(), 60, "2 × (16-byte key + 14-byte salt)");
    assert_eq!(
        lab_keys, peer_keys,
        "both sides export the same keying material"
    );
}

fn assert_report(report: &Mutex<DtlsStats>, role: &str) {
    let r = report.lock().unwrap().clone();
    assert_eq!(r.state, "connected", "{r:?}");
    assert_eq!(r.role.as_deref(), Some(role));
    assert_eq!(r.version.as_deref(), Some("DTLS 1.2"));
    assert_eq!(r.srtp_profile.as_deref(), Some(SRTP_PROFILE));
    assert_eq!(r.local_cert.as_deref(), Some("ECDSA P-256"));
    assert_eq!(r.peer_cert.as_deref(), Some("ECDSA P-256"));
    assert!(
        r.cipher
            .as_deref()
            .is_some_and(|c| c.starts_with("ECDHE-ECDSA-")),
        "{r:?}"
    );
    assert_eq!(r.error, None);
}

#[test]
fn lab_server_picks_aes128_cm_though_the_dimpl_client_prefers_gcm() {
    let (lab_cert, peer_cert) = (certificate().unwrap(), certificate().unwrap());
    let report = watch(&lab_cert);
    let (mut server, mut client) = (lab(&lab_cert), dimpl(&peer_cert));
    let (c, s) = handshake(client.as_mut(), server.as_mut());
    let offered = hello_srtp_profiles(c.first.as_ref().unwrap()).unwrap();
    assert_eq!(
        offered[0], 0x0008,
        "dimpl offers AEAD_AES_256_GCM first: {offered:x?}"
    );
    assert!(offered.contains(&0x0001));
    assert_eq!(
        hello_srtp_profiles(s.first.as_ref().unwrap()),
        Some(vec![0x0001])
    );
    assert_twilio_keys(&s, &c);
    assert_eq!(s.peer_cert.as_ref(), Some(&peer_cert.certificate));
    assert_eq!(c.peer_cert.as_ref(), Some(&lab_cert.certificate));
    assert_eq!(server.protocol_version(), Some(ProtocolVersion::DTLS1_2));
    assert_eq!(client.protocol_version(), Some(ProtocolVersion::DTLS1_2));
    assert_report(&report, "server");
}

#[test]
fn lab_client_offers_aes128_cm_only_to_a_dimpl_server() {
    let (lab_cert, peer_cert) = (certificate().unwrap(), certificate().unwrap());
    let report = watch(&lab_cert);
    let (mut client, mut server) = (lab(&lab_cert), dimpl(&peer_cert));
    let (c, s) = handshake(client.as_mut(), server.as_mut());
    assert_eq!(
        hello_srtp_profiles(c.first.as_ref().unwrap()),
        Some(vec![0x0001])
    );
    assert_twilio_keys(&c, &s);
    assert_eq!(c.peer_cert.as_ref(), Some(&peer_cert.certificate));
    assert_eq!(server.protocol_version(), Some(ProtocolVersion::DTLS1_2));
    assert_report(&report, "client");
}

#[test]
fn two_lab_endpoints_agree_on_the_keys() {
    let (a, b) = (certificate().unwrap(), certificate().unwrap());
    let (ra, rb) = (watch(&a), watch(&b));
    let (mut client, mut server) = (lab(&a), lab(&b));
    let (c, s) = handshake(client.as_mut(), server.as_mut());
    assert_twilio_keys(&c, &s);
    assert_report(&ra, "client");
    assert_report(&rb, "server");
    // Application data (str0m's SCTP) both ways, then close_notify.
    let (mut c, mut s) = (c, s);
    assert_eq!(client.send_application_data(b"ping").unwrap(), 4);
    assert_eq!(server.send_application_data(b"pong").unwrap(), 4);
    pump(client.as_mut(), &mut c, server.as_mut(), &mut s);
    pump(server.as_mut(), &mut s, client.as_mut(), &mut c);
    pump(client.as_mut(), &mut c, server.as_mut(), &mut s);
    assert_eq!(
        (s.data.clone(), c.data.clone()),
        (vec![b"ping".to_vec()], vec![b"pong".to_vec()])
    );
    client.close().unwrap();
    assert!(client.is_closing() && !client.is_closed());
    pump(client.as_mut(), &mut c, server.as_mut(), &mut s);
    pump(server.as_mut(), &mut s, client.as_mut(), &mut c);
    assert!(client.is_closed() && s.close_notify);
    assert!(server.send_application_data(b"late").is_err());
}

fn assert_srtp_refused(lab: &Seen, report: &Mutex<DtlsStats>) {
    assert!(
        lab.keys.is_none() && !lab.connected,
        "no keys without the profile"
    );
    let error = lab.error.clone().expect("the lab's endpoint fails");
    assert_eq!(
        error.to_string(),
        "crypto error: SRTP keying material extraction failed"
    );
    let r = report.lock().unwrap().clone();
    assert_eq!(r.state, "failed");
    let why = r.error.unwrap_or_default();
    assert!(
        why.contains("no SRTP profile in common") && why.contains(SRTP_PROFILE),
        "{why}"
    );
    assert_eq!(r.srtp_profile, None);
}

#[test]
fn a_client_offering_only_gcm_is_refused() {
    let (lab_cert, peer_cert) = (certificate().unwrap(), certificate().unwrap());
    let report = watch(&lab_cert);
    let (mut server, mut client) = (lab(&lab_cert), gcm_only(&peer_cert));
    let (c, s) = handshake(&mut client, server.as_mut());
    assert_srtp_refused(&s, &report);
    assert!(c.keys.is_none(), "the GCM-only client has no SRTP either");
    // The endpoint stays failed, without panicking, whatever str0m calls next.
    assert!(server.handle_packet(&[22, 254, 253]).is_err());
    assert!(server.send_application_data(b"x").is_err());
    assert!(server.handle_timeout(Instant::now()).is_ok());
}

#[test]
fn a_server_accepting_only_gcm_is_refused() {
    let (lab_cert, peer_cert) = (certificate().unwrap(), certificate().unwrap());
    let report = watch(&lab_cert);
    let (mut client, mut server) = (lab(&lab_cert), gcm_only(&peer_cert));
    let (c, s) = handshake(client.as_mut(), &mut server);
    assert_srtp_refused(&c, &report);
    assert!(s.keys.is_none());
}

#[test]
fn only_dtls_1_2_is_made() {
    let cert = certificate().unwrap();
    let provider = crypto_provider().dtls_provider;
    for version in [DtlsVersion::Dtls13, DtlsVersion::Auto] {
        let made = provider.new_dtls(&cert, Instant::now(), version, None);
        assert!(made.is_err(), "{version}");
    }
}

#[test]
fn a_lost_client_hello_is_sent_again() {
    let (lab_cert, peer_cert) = (certificate().unwrap(), certificate().unwrap());
    let (mut client, mut server) = (lab(&lab_cert), dimpl(&peer_cert));
    let (mut c, mut s) = (Seen::default(), Seen::default());
    server.set_active(false);
    client.set_active(true);
    let mut buf = vec![0u8; 4096];
    let lost = std::iter::from_fn(|| match client.poll_output(&mut buf) {
        DtlsOutput::Packet(_) => Some(()),
        _ => None,
    });
    assert_eq!(
        lost.count(),
        1,
        "the first ClientHello went out (and was lost)"
    );
    // OpenSSL's retransmission timer runs on the real clock (1 s at first).
    let start = Instant::now();
    while !(c.done() && s.done()) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no retransmission"
        );
        std::thread::sleep(Duration::from_millis(50));
        client.handle_timeout(Instant::now()).unwrap();
        server.handle_timeout(Instant::now()).unwrap();
        pump(client.as_mut(), &mut c, server.as_mut(), &mut s);
        pump(server.as_mut(), &mut s, client.as_mut(), &mut c);
    }
    assert_twilio_keys(&c, &s);
}
