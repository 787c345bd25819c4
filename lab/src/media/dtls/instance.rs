//! One DTLS 1.2 endpoint on OpenSSL, driven the way str0m drives dimpl (sans IO): datagrams
//! in through `handle_packet`, records, events and timers out through `poll_output`.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use dimpl::{CryptoError as DtlsCryptoError, CryptoOperation};
use openssl::error::ErrorStack;
use openssl::pkey::PKey;
use openssl::srtp::SrtpProfileId;
use openssl::ssl::{ErrorCode, Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions};
use openssl::ssl::{SslStream, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use str0m::crypto::CryptoError;
use str0m::crypto::dtls::{DtlsCert, DtlsImplError, DtlsInstance, DtlsOutput};
use str0m::crypto::dtls::{KeyingMaterial, ProtocolVersion, SrtpProfile};

use super::{DtlsReport, SRTP_PROFILE, key_kind};
use crate::control::types::DtlsStats;

/// ECDHE suites, ECDSA first (the lab's certificate), RSA for peers with RSA certificates.
const CIPHERS: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
    ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:\
    ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA";
const GROUPS: &str = "X25519:P-256:P-384";
/// RFC 5764 §4.2: the exporter label of DTLS-SRTP keys.
const SRTP_LABEL: &str = "EXTRACTOR-dtls_srtp";
/// How often a handshake in progress gets a turn: OpenSSL resends a flight from there when its
/// own timer (1 s, doubling) ran out.
const HANDSHAKE_TICK: Duration = Duration::from_millis(50);
const IDLE: Duration = Duration::from_secs(3600);
/// Datagrams waiting for OpenSSL; it takes them all at each turn, so this is never reached.
const MAX_INCOMING: usize = 64;

/// The datagrams between OpenSSL and str0m: one read is one datagram, one write is one.
#[derive(Debug, Default)]
struct Datagrams {
    incoming: VecDeque<Vec<u8>>,
    outgoing: VecDeque<Vec<u8>>,
}

impl io::Read for Datagrams {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(datagram) = self.incoming.pop_front() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let n = datagram.len().min(buf.len());
        buf[..n].copy_from_slice(&datagram[..n]);
        Ok(n)
    }
}

impl io::Write for Datagrams {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.push_back(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before str0m said which role to take.
    Idle,
    Handshaking,
    Connected,
    /// Closed by either side (close_notify).
    Closed,
    Failed,
}

/// What `poll_output` hands str0m after the datagrams.
#[derive(Debug)]
enum Event {
    PeerCert(Vec<u8>),
    Connected,
    Keys(Vec<u8>, SrtpProfile),
    Data(Vec<u8>),
    CloseNotify,
}

#[derive(Debug)]
pub(super) struct OpenSslDtls {
    stream: SslStream<Datagrams>,
    active: Option<bool>,
    phase: Phase,
    events: VecDeque<Event>,
    report: DtlsReport,
    now: Instant,
    failure: Option<DtlsImplError>,
    close_sent: bool,
}

fn context(cert: &DtlsCert, profiles: &str) -> Result<SslContext, ErrorStack> {
    let mut ctx = SslContextBuilder::new(SslMethod::dtls())?;
    ctx.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
    ctx.set_max_proto_version(Some(SslVersion::DTLS1_2))?;
    ctx.set_cipher_list(CIPHERS)?;
    ctx.set_groups_list(GROUPS)?;
    // The client's list is its offer; the server picks from its own list, in its order.
    ctx.set_tlsext_use_srtp(profiles)?;
    // Certificates are self-signed: str0m compares the peer's with the SDP's fingerprint.
    let verify = SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT;
    ctx.set_verify_callback(verify, |_, _| true);
    let (x509, key) = (
        X509::from_der(&cert.certificate)?,
        PKey::private_key_from_der(&cert.private_key)?,
    );
    ctx.set_certificate(&x509)?;
    ctx.set_private_key(&key)?;
    ctx.check_private_key()?;
    ctx.set_options(
        SslOptions::NO_QUERY_MTU | SslOptions::NO_RENEGOTIATION | SslOptions::NO_TICKET,
    );
    Ok(ctx.build())
}

impl OpenSslDtls {
    /// An endpoint offering (as client) or accepting (as server) the SRTP `profiles`, an
    /// OpenSSL list such as `SRTP_AES128_CM_SHA1_80`.
    pub(super) fn new(
        cert: &DtlsCert,
        now: Instant,
        mtu: usize,
        profiles: &str,
        report: DtlsReport,
    ) -> Result<Self, CryptoError> {
        let setup = |e: ErrorStack| CryptoError::Other(format!("OpenSSL DTLS setup: {e}"));
        let ctx = context(cert, profiles).map_err(setup)?;
        let mut ssl = Ssl::new(&ctx).map_err(setup)?;
        ssl.set_mtu(mtu as u32).map_err(setup)?;
        let stream = SslStream::new(ssl, Datagrams::default()).map_err(setup)?;
        let local = X509::from_der(&cert.certificate).map_err(setup)?;
        if let Ok(mut r) = report.lock() {
            r.state = "new".into();
            r.local_cert = Some(key_kind(&local));
        }
        Ok(OpenSslDtls {
            stream,
            active: None,
            phase: Phase::Idle,
            events: VecDeque::new(),
            report,
            now,
            failure: None,
            close_sent: false,
        })
    }

    fn update(&self, f: impl FnOnce(&mut DtlsStats)) {
        if let Ok(mut r) = self.report.lock() {
            f(&mut r);
        }
    }

    /// Marks the endpoint dead (logged, and in its report): str0m gets `error` now and on
    /// every later call.
    fn fail(&mut self, reason: String, error: DtlsImplError) -> DtlsImplError {
        tracing::warn!("DTLS failed: {reason}");
        self.phase = Phase::Failed;
        self.update(|r| {
            r.state = "failed".into();
            r.error = Some(reason);
        });
        self.failure = Some(error.clone());
        error
    }

    /// One turn of the handshake: reads what arrived, writes the next flight (or resends one).
    fn handshake(&mut self) -> Result<(), DtlsImplError> {
        clear_errors();
        let result = if self.active == Some(true) {
            self.stream.connect()
        } else {
            self.stream.accept()
        };
        match result {
            Ok(()) => {
                self.established()?;
                self.read()
            }
            Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => Ok(()),
            Err(e) => {
                let reason = describe(&e);
                Err(self.fail(reason, DtlsImplError::ConnectionClosed))
            }
        }
    }

    /// The handshake is done: checks it is Twilio's crypto and exports the SRTP keys.
    fn established(&mut self) -> Result<(), DtlsImplError> {
        let ssl = self.stream.ssl();
        let version = ssl.version_str().to_string();
        let cipher = ssl.current_cipher().map(|c| c.name().to_string());
        let profile = ssl.selected_srtp_profile().map(|p| p.id());
        let peer = ssl.peer_certificate();
        let mut keys = vec![0u8; SrtpProfile::AES128_CM_SHA1_80.keying_material_len()];
        let exported = ssl.export_keying_material(&mut keys, SRTP_LABEL, None);
        self.update(|r| {
            r.version = Some(version.replace("DTLSv1.2", "DTLS 1.2"));
            r.cipher = cipher;
            r.srtp_profile = profile.map(|p| profile_name(p).to_string());
            r.peer_cert = peer.as_ref().map(|c| key_kind(c));
        });
        let srtp_failure = DtlsImplError::CryptoError(DtlsCryptoError::OperationFailed(
            CryptoOperation::ExtractSrtpKeyingMaterial,
        ));
        let problem = if self.stream.ssl().version2() != Some(SslVersion::DTLS1_2) {
            Some((
                format!("negotiated {version}, not DTLS 1.2"),
                DtlsImplError::ConnectionClosed,
            ))
        } else if profile != Some(SrtpProfileId::SRTP_AES128_CM_SHA1_80) {
            let got = profile.map_or("none", profile_name);
            let reason = format!(
                "no SRTP profile in common: the lab takes only {SRTP_PROFILE}, the handshake gave {got}"
            );
            Some((reason, srtp_failure.clone()))
        } else if let Err(e) = &exported {
            Some((format!("cannot export the SRTP keys: {e}"), srtp_failure))
        } else {
            None
        };
        let Some(cert) = peer.and_then(|c| c.to_der().ok()) else {
            let reason = "the peer sent no certificate".to_string();
            return Err(self.fail(reason, DtlsImplError::ConnectionClosed));
        };
        if let Some((reason, error)) = problem {
            // The TLS handshake itself succeeded: tell the peer it is over.
            let _ = self.stream.shutdown();
            self.close_sent = true;
            return Err(self.fail(reason, error));
        }
        self.phase = Phase::Connected;
        self.update(|r| r.state = "connected".into());
        self.events.push_back(Event::PeerCert(cert));
        self.events.push_back(Event::Connected);
        self.events
            .push_back(Event::Keys(keys, SrtpProfile::AES128_CM_SHA1_80));
        Ok(())
    }

    /// Application data (and resent handshake flights, which OpenSSL answers here).
    fn read(&mut self) -> Result<(), DtlsImplError> {
        clear_errors();
        let mut buf = vec![0u8; 16 * 1024];
        while self.phase == Phase::Connected {
            match self.stream.ssl_read(&mut buf) {
                Ok(n) if n > 0 => self.events.push_back(Event::Data(buf[..n].to_vec())),
                Err(e) if e.code() == ErrorCode::WANT_READ => break,
                Ok(_) => self.peer_closed(),
                Err(e) if e.code() == ErrorCode::ZERO_RETURN => self.peer_closed(),
                Err(e) => {
                    let reason = format!("reading: {}", describe(&e));
                    return Err(self.fail(reason, DtlsImplError::ConnectionClosed));
                }
            }
        }
        Ok(())
    }

    fn peer_closed(&mut self) {
        self.phase = Phase::Closed;
        self.events.push_back(Event::CloseNotify);
        if !self.close_sent {
            let _ = self.stream.shutdown();
            self.close_sent = true;
        }
    }

    fn outgoing(&mut self) -> &mut VecDeque<Vec<u8>> {
        &mut self.stream.get_mut().outgoing
    }
}

impl DtlsInstance for OpenSslDtls {
    fn set_active(&mut self, active: bool) {
        if self.active.is_some() {
            return;
        }
        self.active = Some(active);
        self.phase = Phase::Handshaking;
        self.update(|r| {
            r.state = "handshaking".into();
            r.role = Some(if active { "client" } else { "server" }.into());
        });
        // The client's first flight goes out now; a failure shows on the next call.
        let _ = self.handshake();
    }

    fn handle_packet(&mut self, packet: &[u8]) -> Result<(), DtlsImplError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        if matches!(self.phase, Phase::Idle | Phase::Closed) {
            return Ok(());
        }
        // str0m hands an empty "packet" to a client to start it: a turn, not a datagram
        // (OpenSSL would read it as the end of the stream).
        let incoming = &mut self.stream.get_mut().incoming;
        if incoming.len() >= MAX_INCOMING {
            return Err(DtlsImplError::ReceiveQueueFull);
        }
        if !packet.is_empty() {
            incoming.push_back(packet.to_vec());
        }
        match self.phase {
            Phase::Handshaking => self.handshake(),
            _ => self.read(),
        }
    }

    fn poll_output<'a>(&mut self, buf: &'a mut [u8]) -> DtlsOutput<'a> {
        if let Some(datagram) = self.outgoing().pop_front() {
            if datagram.len() > buf.len() {
                let needed = datagram.len();
                self.outgoing().push_front(datagram);
                return DtlsOutput::BufferTooSmall { needed };
            }
            buf[..datagram.len()].copy_from_slice(&datagram);
            return DtlsOutput::Packet(&buf[..datagram.len()]);
        }
        match self.events.pop_front() {
            Some(Event::Connected) => return DtlsOutput::Connected,
            Some(Event::CloseNotify) => return DtlsOutput::CloseNotify,
            Some(Event::Keys(keys, profile)) => {
                return DtlsOutput::KeyingMaterial(KeyingMaterial::new(&keys), profile);
            }
            Some(Event::PeerCert(bytes)) | Some(Event::Data(bytes)) if bytes.len() > buf.len() => {
                return DtlsOutput::BufferTooSmall {
                    needed: bytes.len(),
                };
            }
            Some(Event::PeerCert(bytes)) => {
                buf[..bytes.len()].copy_from_slice(&bytes);
                return DtlsOutput::PeerCert(&buf[..bytes.len()]);
            }
            Some(Event::Data(bytes)) => {
                buf[..bytes.len()].copy_from_slice(&bytes);
                return DtlsOutput::ApplicationData(&buf[..bytes.len()]);
            }
            None => {}
        }
        let wait = if self.phase == Phase::Handshaking {
            HANDSHAKE_TICK
        } else {
            IDLE
        };
        DtlsOutput::Timeout(self.now + wait)
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), DtlsImplError> {
        self.now = self.now.max(now);
        if self.phase == Phase::Handshaking {
            self.handshake()?;
        }
        Ok(())
    }

    fn send_application_data(&mut self, data: &[u8]) -> Result<usize, DtlsImplError> {
        if let Some(e) = &self.failure {
            return Err(e.clone());
        }
        match self.phase {
            Phase::Closed => return Err(DtlsImplError::ConnectionClosed),
            Phase::Connected if !data.is_empty() && !self.close_sent => {}
            _ => return Ok(0),
        }
        clear_errors();
        match self.stream.ssl_write(data) {
            Ok(n) => Ok(n),
            Err(e) if matches!(e.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE) => Ok(0),
            Err(e) => {
                let reason = format!("writing: {}", describe(&e));
                Err(self.fail(reason, DtlsImplError::ConnectionClosed))
            }
        }
    }

    fn is_active(&self) -> bool {
        self.active.unwrap_or(false)
    }

    fn protocol_version(&self) -> Option<ProtocolVersion> {
        matches!(self.phase, Phase::Connected | Phase::Closed).then_some(ProtocolVersion::DTLS1_2)
    }

    fn is_closing(&self) -> bool {
        self.close_sent && !self.stream.get_ref().outgoing.is_empty()
    }

    fn is_closed(&self) -> bool {
        self.close_sent && self.stream.get_ref().outgoing.is_empty()
    }

    fn close(&mut self) -> Result<(), DtlsImplError> {
        if !self.close_sent && self.phase == Phase::Connected {
            let _ = self.stream.shutdown();
        }
        self.close_sent = true;
        if self.phase != Phase::Failed {
            self.phase = Phase::Closed;
        }
        Ok(())
    }
}

/// Empties this thread's OpenSSL error queue: an error left there by any earlier call would
/// make OpenSSL report the next "would block" as a failure (see `SSL_get_error`).
fn clear_errors() {
    let _ = ErrorStack::get();
}

fn profile_name(id: SrtpProfileId) -> &'static str {
    match id {
        SrtpProfileId::SRTP_AES128_CM_SHA1_80 => "SRTP_AES128_CM_SHA1_80",
        SrtpProfileId::SRTP_AES128_CM_SHA1_32 => "SRTP_AES128_CM_SHA1_32",
        SrtpProfileId::SRTP_AEAD_AES_128_GCM => "SRTP_AEAD_AES_128_GCM",
        SrtpProfileId::SRTP_AEAD_AES_256_GCM => "SRTP_AEAD_AES_256_GCM",
        _ => "another profile",
    }
}

/// OpenSSL's reasons (`sslv3 alert handshake failure`, `no shared cipher`…), else its message.
fn describe(e: &openssl::ssl::Error) -> String {
    let reasons: Vec<&str> = e
        .ssl_error()
        .map(|stack| stack.errors().iter().filter_map(|e| e.reason()).collect())
        .unwrap_or_default();
    if reasons.is_empty() {
        e.to_string()
    } else {
        reasons.join("; ")
    }
}
