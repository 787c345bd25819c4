//! SHA-1, SHA-256 (certificate fingerprints) and HMAC-SHA1 (STUN message integrity).

use hmac::{Hmac, KeyInit, Mac};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use str0m::crypto::{Sha1HmacProvider, Sha1Provider, Sha256Provider};

#[derive(Debug)]
pub struct RustCryptoSha1Hmac;

impl Sha1HmacProvider for RustCryptoSha1Hmac {
    fn sha1_hmac(&self, key: &[u8], payloads: &[&[u8]]) -> [u8; 20] {
        // HMAC takes a key of any length: the error case cannot happen.
        let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(key) else {
            return [0; 20];
        };
        for payload in payloads {
            mac.update(payload);
        }
        mac.finalize().into_bytes().into()
    }
}

#[derive(Debug)]
pub struct RustCryptoSha1;

impl Sha1Provider for RustCryptoSha1 {
    fn sha1(&self, data: &[u8]) -> [u8; 20] {
        Sha1::digest(data).into()
    }
}

#[derive(Debug)]
pub struct RustCryptoSha256;

impl Sha256Provider for RustCryptoSha256 {
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }
}
