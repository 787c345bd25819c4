//! The gateway's DTLS, as Twilio's Media Gateway does it: DTLS 1.2 only, an ECDSA P-256
//! certificate, and SRTP `AES128_CM_HMAC_SHA1_80` only (RFC 5764 `SRTP_AES128_CM_SHA1_80`),
//! whichever side sends the ClientHello. As server it picks that profile even when the client
//! offers AEAD-AES-GCM first; as client it offers nothing else.
//!
//! str0m's default DTLS (dimpl) cannot be told to do this — it prefers GCM and offers all
//! three profiles — so the lab brings its own [`DtlsProvider`] on OpenSSL (`instance.rs`).
//! That also makes the lab an independent oracle: the client's dimpl meets another DTLS stack,
//! as it does in production. SRTP itself, SHA-1/SHA-256 and STUN's HMAC stay str0m's defaults.
//!
//! Each leg [`watch`]es its certificate before building its `Rtc`; the endpoint str0m makes
//! with that certificate reports what it negotiated into the returned [`DtlsStats`].

mod instance;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Instant;

use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::x509::X509Ref;
use str0m::crypto::dtls::{DtlsCert, DtlsInstance, DtlsProvider, DtlsVersion};
use str0m::crypto::{CryptoError, CryptoProvider};

use crate::control::types::DtlsStats;
use instance::OpenSslDtls;

/// The one SRTP protection profile offered and accepted (OpenSSL's name, RFC 5764's).
pub const SRTP_PROFILE: &str = "SRTP_AES128_CM_SHA1_80";

/// str0m's DATAGRAM_MTU_TARGET, for an `Rtc` that gives none.
const DEFAULT_MTU: usize = 1150;

/// The handset's crypto (RustCrypto) with the lab's DTLS in place of dimpl.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            Arc::new(CryptoProvider {
                dtls_provider: &OpenSslDtlsProvider,
                ..(*offhook_rtc_crypto::provider()).clone()
            })
        })
        .clone()
}

/// A fresh self-signed ECDSA P-256 certificate (DER certificate, PKCS#8 key), as Twilio's.
pub fn certificate() -> Result<DtlsCert, crate::error::LabError> {
    Ok(offhook_rtc_crypto::dtls::certificate()?)
}

pub use super::stats::DtlsReport;

/// `config` with Twilio's crypto: the lab's DTLS 1.2 with `cert`.
pub fn twilio_crypto(config: str0m::RtcConfig, cert: DtlsCert) -> str0m::RtcConfig {
    config
        .set_crypto_provider(crypto_provider())
        .set_dtls_cert(cert)
        .set_dtls_version(DtlsVersion::Dtls12)
}

/// Endpoints to be made with a watched certificate (DER), and where they report.
static WATCHED: Mutex<Watched> = Mutex::new(Vec::new());
type Watched = Vec<(Vec<u8>, Weak<Mutex<DtlsStats>>)>;

/// Where the DTLS endpoint made with `cert` (by the next `Rtc` built with it) reports.
pub fn watch(cert: &DtlsCert) -> DtlsReport {
    let report = Arc::new(Mutex::new(DtlsStats {
        state: "new".into(),
        ..DtlsStats::default()
    }));
    let mut watched = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
    watched.retain(|(_, r)| r.strong_count() > 0);
    watched.push((cert.certificate.clone(), Arc::downgrade(&report)));
    report
}

/// The report of a watched certificate (a private one for any other).
fn claim(cert: &DtlsCert) -> DtlsReport {
    let mut watched = WATCHED.lock().unwrap_or_else(PoisonError::into_inner);
    watched
        .iter()
        .position(|(der, _)| *der == cert.certificate)
        .and_then(|i| watched.swap_remove(i).1.upgrade())
        .unwrap_or_default()
}

/// What kind of key a certificate has: `ECDSA P-256`, `RSA 2048`, `Ed25519`…
pub fn key_kind(cert: &X509Ref) -> String {
    let Ok(key) = cert.public_key() else {
        return "unreadable".into();
    };
    match key.id() {
        Id::EC => {
            let curve = key.ec_key().ok().and_then(|k| k.group().curve_name());
            match curve {
                Some(Nid::X9_62_PRIME256V1) => "ECDSA P-256".into(),
                Some(Nid::SECP384R1) => "ECDSA P-384".into(),
                Some(Nid::SECP521R1) => "ECDSA P-521".into(),
                Some(nid) => format!("ECDSA {}", nid.short_name().unwrap_or("?")),
                None => "ECDSA".into(),
            }
        }
        Id::RSA => format!("RSA {}", key.bits()),
        Id::ED25519 => "Ed25519".into(),
        other => format!("key type {}", other.as_raw()),
    }
}

#[derive(Debug)]
struct OpenSslDtlsProvider;

impl DtlsProvider for OpenSslDtlsProvider {
    fn generate_certificate(&self) -> Option<DtlsCert> {
        certificate().ok()
    }

    fn new_dtls(
        &self,
        cert: &DtlsCert,
        now: Instant,
        dtls_version: DtlsVersion,
        mtu: Option<usize>,
    ) -> Result<Box<dyn DtlsInstance>, CryptoError> {
        if dtls_version != DtlsVersion::Dtls12 {
            return Err(CryptoError::Other(format!(
                "the lab's DTLS speaks DTLS 1.2 only (as Twilio), not {dtls_version}"
            )));
        }
        let mtu = mtu.unwrap_or(DEFAULT_MTU);
        let dtls = OpenSslDtls::new(cert, now, mtu, SRTP_PROFILE, claim(cert))?;
        Ok(Box::new(dtls))
    }
}
