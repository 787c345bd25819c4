//! `offhook-rtc-crypto`: the crypto str0m needs (DTLS, SRTP, the STUN HMAC, fingerprints),
//! all from RustCrypto, so that no aws-lc C library is built for the handset. `ring` (for
//! rustls) is then the only other crypto in the build.
//!
//! str0m 0.25 names a `rust-crypto` backend crate that the registry does not have; this is
//! that backend (after str0m's MIT-licensed `str0m-rust-crypto` 0.6), brought to str0m 0.25.
//!
//! Module map:
//! - [`dtls`] — DTLS 1.2/1.3 through dimpl on RustCrypto; self-signed ECDSA P-256 certificates.
//! - [`srtp`] — SRTP `AES128_CM_SHA1_80`, `AEAD_AES_128_GCM`, `AEAD_AES_256_GCM`.
//! - [`hash`] — SHA-1, SHA-256 and the STUN message-integrity HMAC-SHA1.
//!
//! Every `str0m::Rtc` of the workspace is built with [`provider`]:
//! `RtcConfig::set_crypto_provider(offhook_rtc_crypto::provider())`. str0m itself is built
//! without a backend, so an `Rtc` made without it fails loudly instead of quietly using
//! another library.

pub mod dtls;
pub mod hash;
pub mod srtp;

use std::sync::{Arc, OnceLock};

use str0m::crypto::CryptoProvider;

/// The provider for every `Rtc`: DTLS, SRTP, hashes and HMAC from RustCrypto.
pub fn provider() -> Arc<CryptoProvider> {
    static SRTP: srtp::RustCryptoSrtp = srtp::RustCryptoSrtp;
    static SHA1_HMAC: hash::RustCryptoSha1Hmac = hash::RustCryptoSha1Hmac;
    static SHA1: hash::RustCryptoSha1 = hash::RustCryptoSha1;
    static SHA256: hash::RustCryptoSha256 = hash::RustCryptoSha256;
    static DTLS: dtls::RustCryptoDtls = dtls::RustCryptoDtls;
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            Arc::new(CryptoProvider {
                srtp_provider: &SRTP,
                sha1_hmac_provider: &SHA1_HMAC,
                sha1_provider: &SHA1,
                sha256_provider: &SHA256,
                dtls_provider: &DTLS,
            })
        })
        .clone()
}

#[cfg(test)]
mod tests;
