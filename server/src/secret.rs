//! Device secrets: generated at random, stored only as Argon2id hashes (PHC strings).
//!
//! Verification runs the full hash even for an unknown device (against a dummy hash with
//! the same cost), so the time an answer takes says nothing about which part was wrong.
//! The final comparison inside `argon2` is constant-time.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Version};

/// Argon2 cost parameters (memory KiB, passes, lanes), for [`hash_with`].
pub use argon2::Params;
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::Error;

/// Length of secrets made by [`generate`]: 32 × log2(62) ≈ 190 bits.
pub const GENERATED_SECRET_LEN: usize = 32;
/// Refuse hashes that would make each login allocate more than this (KiB).
pub const MAX_MEMORY_KIB: u32 = 256 * 1024;
/// Refuse hashes with more passes than this: each costs a login its time.
pub const MAX_PASSES: u32 = 16;

/// A new random secret of letters and digits.
pub fn generate() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(GENERATED_SECRET_LEN)
        .map(char::from)
        .collect()
}

/// Hashes `secret` with Argon2id at the crate's recommended cost and a random salt.
pub fn hash(secret: &str) -> Result<String, Error> {
    hash_with(secret, Params::DEFAULT)
}

/// Hashes with explicit Argon2 cost parameters (tests use cheap ones).
pub fn hash_with(secret: &str, params: Params) -> Result<String, Error> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Hash(e.to_string()))
}

/// A stored hash, parsed and checked once when the handsets file is loaded.
#[derive(Debug, Clone)]
pub struct StoredHash {
    phc: PasswordHash,
}

impl StoredHash {
    /// Parses a PHC string; only Argon2 hashes with bounded cost are accepted.
    pub fn parse(text: &str) -> Result<StoredHash, String> {
        let phc = PasswordHash::new(text.trim()).map_err(|e| {
            format!("not a PHC hash string ({e}); make one with `offhook-server hash-secret`")
        })?;
        let algorithm = phc.algorithm.as_str();
        if !matches!(algorithm, "argon2id" | "argon2i" | "argon2d") {
            return Err(format!("hash algorithm {algorithm} is not Argon2"));
        }
        let params = Params::try_from(&phc).map_err(|e| format!("Argon2 parameters: {e}"))?;
        if params.m_cost() > MAX_MEMORY_KIB || params.t_cost() > MAX_PASSES {
            return Err(
                "Argon2 cost is too high for a login (at most 256 MiB and 16 passes)".into(),
            );
        }
        if phc.salt.is_none() || phc.hash.is_none() {
            return Err("the hash has no salt or no output".into());
        }
        Ok(StoredHash { phc })
    }

    /// Whether `secret` hashes to this value.
    pub fn matches(&self, secret: &str) -> bool {
        Argon2::default()
            .verify_password(secret.as_bytes(), &self.phc)
            .is_ok()
    }

    /// A hash of a random secret with the same cost as this one, to verify unknown device
    /// ids against.
    pub fn dummy_like(&self) -> Result<StoredHash, Error> {
        let params = Params::try_from(&self.phc).map_err(|e| Error::Hash(e.to_string()))?;
        let text = hash_with(&generate(), params)?;
        StoredHash::parse(&text).map_err(Error::Hash)
    }

    /// A hash of a random secret at the default cost (what [`hash`] makes), for a server
    /// with no handset to take the cost from.
    pub fn dummy_default() -> Result<StoredHash, Error> {
        StoredHash::parse(&hash(&generate())?).map_err(Error::Hash)
    }

    pub fn as_phc_string(&self) -> String {
        self.phc.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Argon2's minimum cost: fast enough for tests, same code path.
    pub(crate) fn cheap() -> Params {
        Params::new(8, 1, 1, None).unwrap()
    }

    #[test]
    fn hash_and_verify() {
        let text = hash_with("open sesame", cheap()).unwrap();
        assert!(text.starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        let stored = StoredHash::parse(&text).unwrap();
        assert!(stored.matches("open sesame"));
        assert!(!stored.matches("open sesamE"));
        assert!(!stored.matches(""));
        // A second hash of the same secret has a different salt.
        assert_ne!(text, hash_with("open sesame", cheap()).unwrap());
    }

    #[test]
    fn default_cost_is_argon2id_recommended() {
        let text = hash("x").unwrap();
        assert!(
            text.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{text}"
        );
    }

    #[test]
    fn dummy_has_the_same_cost() {
        let stored = StoredHash::parse(&hash_with("a", cheap()).unwrap()).unwrap();
        let dummy = stored.dummy_like().unwrap();
        assert!(
            dummy
                .as_phc_string()
                .starts_with("$argon2id$v=19$m=8,t=1,p=1$")
        );
        assert!(!dummy.matches("a"));
    }

    #[test]
    fn refuses_bad_hashes() {
        assert!(StoredHash::parse("plaintext").is_err());
        let scrypt = "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E";
        let err = StoredHash::parse(scrypt).unwrap_err();
        assert!(err.contains("not Argon2"), "{err}");
        let greedy = "$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
        assert!(StoredHash::parse(greedy).unwrap_err().contains("too high"));
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate();
        assert_eq!(a.len(), GENERATED_SECRET_LEN);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, generate());
    }
}
