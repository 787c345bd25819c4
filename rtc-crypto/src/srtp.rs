//! SRTP's ciphers: AES-128 in counter mode (with str0m's HMAC-SHA1-80), AES-GCM 128 and 256,
//! and the AES-ECB rounds of the SRTP key derivation.

use aes::cipher::{BlockCipherEncrypt, KeyIvInit, StreamCipher};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use str0m::crypto::{AeadAes128Gcm, AeadAes128GcmCipher, AeadAes256Gcm, AeadAes256GcmCipher};
use str0m::crypto::{Aes128CmSha1_80Cipher, CryptoError, SrtpProvider};
use str0m::crypto::{SupportedAeadAes128Gcm, SupportedAeadAes256Gcm, SupportedAes128CmSha1_80};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;

#[derive(Debug)]
pub struct RustCryptoSrtp;

impl SrtpProvider for RustCryptoSrtp {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        &Aes128Cm
    }

    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        &Gcm128
    }

    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        &Gcm256
    }

    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        match aes::Aes128::new_from_slice(key) {
            Ok(cipher) => ecb_round(&cipher, input, output),
            Err(_) => output.fill(0),
        }
    }

    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        match aes::Aes256::new_from_slice(key) {
            Ok(cipher) => ecb_round(&cipher, input, output),
            Err(_) => output.fill(0),
        }
    }
}

/// One 16-byte block through AES-ECB with PKCS#7 padding, as str0m's key derivation asks:
/// the block, then a whole block of padding (32 bytes out).
fn ecb_round(
    cipher: &impl BlockCipherEncrypt<BlockSize = aes::cipher::consts::U16>,
    input: &[u8],
    output: &mut [u8],
) {
    let (Ok(block), true) = (<[u8; 16]>::try_from(input), output.len() >= 32) else {
        output.fill(0);
        return;
    };
    for (i, plain) in [block, [0x10; 16]].into_iter().enumerate() {
        let mut block = plain.into();
        cipher.encrypt_block(&mut block);
        output[i * 16..(i + 1) * 16].copy_from_slice(&block);
    }
}

#[derive(Debug)]
struct Aes128Cm;

impl SupportedAes128CmSha1_80 for Aes128Cm {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn Aes128CmSha1_80Cipher> {
        Box::new(Aes128CmCipher { key })
    }
}

struct Aes128CmCipher {
    key: [u8; 16],
}

impl std::fmt::Debug for Aes128CmCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the key.
        f.debug_struct("Aes128CmCipher").finish()
    }
}

impl Aes128CmSha1_80Cipher for Aes128CmCipher {
    fn encrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        let out = output
            .get_mut(..input.len())
            .ok_or_else(|| CryptoError::Other("SRTP output buffer too short".into()))?;
        out.copy_from_slice(input);
        Aes128Ctr::new(&self.key.into(), &(*iv).into()).apply_keystream(out);
        Ok(())
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        // Counter mode is its own inverse.
        self.encrypt(iv, input, output)
    }
}

#[derive(Debug)]
struct Gcm128;

impl SupportedAeadAes128Gcm for Gcm128 {
    fn create_cipher(&self, key: [u8; 16], _encrypt: bool) -> Box<dyn AeadAes128GcmCipher> {
        Box::new(GcmCipher(Aes128Gcm::new(&key.into())))
    }
}

#[derive(Debug)]
struct Gcm256;

impl SupportedAeadAes256Gcm for Gcm256 {
    fn create_cipher(&self, key: [u8; 32], _encrypt: bool) -> Box<dyn AeadAes256GcmCipher> {
        Box::new(GcmCipher(Aes256Gcm::new(&key.into())))
    }
}

/// AES-GCM with a 12-byte nonce, either key size.
struct GcmCipher<C>(C);

impl<C> std::fmt::Debug for GcmCipher<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcmCipher").finish()
    }
}

impl<C: Aead<NonceSize = aes_gcm::aead::consts::U12>> GcmCipher<C> {
    fn seal(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        let sealed = self
            .0
            .encrypt(&(*iv).into(), Payload { msg: input, aad })
            .map_err(|_| CryptoError::Other("AES-GCM encryption failed".into()))?;
        output
            .get_mut(..sealed.len())
            .ok_or_else(|| CryptoError::Other("SRTP output buffer too short".into()))?
            .copy_from_slice(&sealed);
        Ok(())
    }

    fn open(
        &self,
        iv: &[u8; 12],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        let joined;
        let aad = match aads {
            [one] => *one,
            many => {
                joined = many.concat();
                &joined
            }
        };
        let plain = self
            .0
            .decrypt(&(*iv).into(), Payload { msg: input, aad })
            .map_err(|_| CryptoError::Other("AES-GCM authentication failed".into()))?;
        output
            .get_mut(..plain.len())
            .ok_or_else(|| CryptoError::Other("SRTP output buffer too short".into()))?
            .copy_from_slice(&plain);
        Ok(plain.len())
    }
}

impl AeadAes128GcmCipher for GcmCipher<Aes128Gcm> {
    fn encrypt(
        &mut self,
        iv: &[u8; AeadAes128Gcm::IV_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.seal(iv, aad, input, output)
    }

    fn decrypt(
        &mut self,
        iv: &[u8; AeadAes128Gcm::IV_LEN],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.open(iv, aads, input, output)
    }
}

impl AeadAes256GcmCipher for GcmCipher<Aes256Gcm> {
    fn encrypt(
        &mut self,
        iv: &[u8; AeadAes256Gcm::IV_LEN],
        aad: &[u8],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.seal(iv, aad, input, output)
    }

    fn decrypt(
        &mut self,
        iv: &[u8; AeadAes256Gcm::IV_LEN],
        aads: &[&[u8]],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<usize, CryptoError> {
        self.open(iv, aads, input, output)
    }
}
