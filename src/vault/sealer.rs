//! [`TokenSealer`]: AEAD for short-lived provider credentials the access layer keeps
//! outside the vault's store (interaction tokens in Redis, so whichever node serves
//! the tenant's REST requests after a failover can answer an interaction). Its key is
//! derived from the vault key under its own label, so it can open nothing the vault
//! sealed, and the vault nothing it sealed.

use secrecy::{ExposeSecret, SecretString};

use super::crypto::{Cipher, VaultKey};
use super::error::VaultError;

/// Seals and opens short-lived credentials with a key derived from the vault key.
pub struct TokenSealer {
    cipher: Cipher,
}

impl std::fmt::Debug for TokenSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSealer([REDACTED])")
    }
}

impl TokenSealer {
    /// A sealer keyed from `key`.
    #[must_use]
    pub fn new(key: &VaultKey) -> Self {
        Self {
            cipher: Cipher::with_label(key, b"switchboard-vault/v1/access-tokens"),
        }
    }

    /// Seals `value` bound to `context` (e.g. the Redis key it is stored under, so a
    /// ciphertext moved to another key does not open).
    ///
    /// # Errors
    /// [`VaultError::Backend`] if encryption fails.
    pub fn seal(&self, value: &SecretString, context: &str) -> Result<Vec<u8>, VaultError> {
        self.cipher
            .seal(value.expose_secret().as_bytes(), context.as_bytes())
    }

    /// Opens what [`TokenSealer::seal`] sealed with the same `context`; `None` for a
    /// wrong key, context or tampered data (fails closed).
    #[must_use]
    pub fn open(&self, sealed: &[u8], context: &str) -> Option<SecretString> {
        let plain = self.cipher.open(sealed, context.as_bytes())?;
        String::from_utf8(plain).ok().map(SecretString::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_round_trip_and_fail_closed() {
        let key = VaultKey::generate();
        let s = TokenSealer::new(&key);
        let sealed = s.seal(&SecretString::from("tok"), "k1").expect("seal");
        assert!(!sealed.windows(3).any(|w| w == b"tok"), "no plaintext");
        assert_eq!(
            s.open(&sealed, "k1").map(|v| v.expose_secret().to_owned()),
            Some("tok".to_owned())
        );
        assert!(s.open(&sealed, "k2").is_none(), "bound to its context");
        assert!(
            TokenSealer::new(&VaultKey::generate())
                .open(&sealed, "k1")
                .is_none()
        );
        // The vault's own cipher (another label) cannot open it.
        assert!(Cipher::new(&key).open(&sealed, b"k1").is_none());
    }
}
