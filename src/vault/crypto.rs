//! Encryption at rest (XChaCha20-Poly1305) and the audit HMAC (HMAC-SHA-256).
//!
//! # The vault key
//! 32 random bytes, given as 64 hex digits or as base64 (standard alphabet, with or
//! without padding) in `SWITCHBOARD_VAULT_KEY`, or in a key file holding the same text
//! (or the 32 raw bytes). Make one with `openssl rand -hex 32`.
//!
//! Every ciphertext is `nonce (24 random bytes) || ciphertext+tag`, with the secret's
//! path, version and kind bound as associated data: a ciphertext copied to another path
//! or version fails to decrypt. A wrong key fails closed.
//!
//! Two sub-keys are derived from the vault key with HMAC-SHA-256 over fixed labels:
//! one encrypts, one HMACs lease ids in audit records (so records from every vault
//! sharing a store correlate, and nobody can turn a record back into a usable id).

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;

use super::error::VaultError;

/// The environment variable holding the vault key.
pub const VAULT_KEY_ENV: &str = "SWITCHBOARD_VAULT_KEY";

const NONCE_LEN: usize = 24;

type HmacSha256 = Hmac<Sha256>;

/// The 32-byte vault key. Zeroized on drop; `Debug` prints nothing of it.
pub struct VaultKey(SecretBox<[u8; 32]>);

impl VaultKey {
    /// Wraps 32 raw bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// A fresh random key (for tests and the embedded memory vault).
    #[must_use]
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(bytes)
    }

    /// Parses 64 hex digits or base64 of exactly 32 bytes (surrounding whitespace
    /// ignored).
    ///
    /// # Errors
    /// [`VaultError::InvalidKey`] saying which formats were tried; never echoes the input.
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let text = text.trim();
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut bytes = [0u8; 32];
            for (i, byte) in bytes.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| {
                    VaultError::InvalidKey {
                        reason: "bad hex digit".to_owned(),
                    }
                })?;
            }
            return Ok(Self::from_bytes(bytes));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
            .map_err(|_| VaultError::InvalidKey {
                reason: "expected 64 hex digits or base64 of 32 bytes".to_owned(),
            })?;
        let bytes: [u8; 32] = decoded
            .try_into()
            .map_err(|v: Vec<u8>| VaultError::InvalidKey {
                reason: format!("base64 decodes to {} bytes, expected 32", v.len()),
            })?;
        Ok(Self::from_bytes(bytes))
    }

    /// Reads the key from [`VAULT_KEY_ENV`].
    ///
    /// # Errors
    /// [`VaultError::InvalidKey`] if the variable is unset or malformed.
    pub fn from_env() -> Result<Self, VaultError> {
        let text = std::env::var(VAULT_KEY_ENV).map_err(|_| VaultError::InvalidKey {
            reason: format!("{VAULT_KEY_ENV} is not set"),
        })?;
        Self::parse(&text)
    }

    /// Reads the key from a file: hex or base64 text, or exactly 32 raw bytes.
    ///
    /// # Errors
    /// [`VaultError::InvalidKey`] if the file cannot be read or holds no valid key.
    pub fn from_file(path: &Path) -> Result<Self, VaultError> {
        let bytes = std::fs::read(path).map_err(|e| VaultError::InvalidKey {
            reason: format!("cannot read key file {}: {e}", path.display()),
        })?;
        if let Ok(raw) = <[u8; 32]>::try_from(bytes.as_slice())
            && std::str::from_utf8(&raw).map_or(true, |s| Self::parse(s).is_err())
        {
            return Ok(Self::from_bytes(raw));
        }
        let text = std::str::from_utf8(&bytes).map_err(|_| VaultError::InvalidKey {
            reason: format!(
                "key file {} is neither text nor 32 raw bytes",
                path.display()
            ),
        })?;
        Self::parse(text)
    }

    /// The worker key derived from this (access) key: it seals app secrets, so a
    /// worker node given only it opens app secrets and no provider credential
    /// ([`VaultKeys`](super::VaultKeys)). One-way: the worker key does not give the
    /// access key back.
    #[must_use]
    pub fn worker_key(&self) -> Self {
        Self::from_bytes(self.derive(b"switchboard-vault/v1/worker-key"))
    }

    /// The key as 64 lowercase hex digits (what `switchboard vault-key` prints).
    #[must_use]
    pub fn to_hex(&self) -> SecretString {
        let mut out = String::with_capacity(64);
        for b in self.0.expose_secret() {
            use std::fmt::Write as _;
            let _ = write!(out, "{b:02x}");
        }
        SecretString::from(out)
    }

    /// A copy of the key (kept crate-private: keys are not `Clone`).
    pub(crate) fn duplicate(&self) -> Self {
        Self::from_bytes(*self.0.expose_secret())
    }

    fn derive(&self, label: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length; a 32-byte key cannot fail.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(label);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VaultKey([REDACTED])")
    }
}

/// Encrypts and decrypts secret values; the cipher key is derived from the vault key.
pub(crate) struct Cipher {
    aead: XChaCha20Poly1305,
}

impl Cipher {
    pub(crate) fn new(key: &VaultKey) -> Self {
        Self::with_label(key, b"switchboard-vault/v1/encryption")
    }

    /// A cipher whose key is derived from `key` under `label` (key separation).
    pub(crate) fn with_label(key: &VaultKey, label: &[u8]) -> Self {
        let mut k = key.derive(label);
        let aead = XChaCha20Poly1305::new((&k).into());
        zeroize_array(&mut k);
        Self { aead }
    }

    /// Seals `plain` with `aad` bound; the output is `nonce || ciphertext`.
    pub(crate) fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad })
            .map_err(|_| VaultError::Backend {
                reason: "encryption failed".to_owned(),
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a sealed value; `None` if the key, the data or the `aad` do not match.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.aead
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad })
            .ok()
    }

    /// Seals a secret value for `path` at `version`.
    pub(crate) fn seal_secret(
        &self,
        value: &SecretString,
        path: &str,
        version: u64,
        kind: &str,
    ) -> Result<Vec<u8>, VaultError> {
        self.seal(
            value.expose_secret().as_bytes(),
            &secret_aad(path, version, kind),
        )
    }

    /// Opens a secret value sealed by [`Cipher::seal_secret`]; fails closed.
    pub(crate) fn open_secret(
        &self,
        sealed: &[u8],
        path: &str,
        version: u64,
        kind: &str,
    ) -> Result<SecretString, VaultError> {
        let decrypt = || VaultError::Decrypt {
            path: path.to_owned(),
        };
        let plain = self
            .open(sealed, &secret_aad(path, version, kind))
            .ok_or_else(decrypt)?;
        let text = String::from_utf8(plain).map_err(|e| {
            let mut bytes = e.into_bytes();
            bytes.fill(0);
            decrypt()
        })?;
        Ok(SecretString::from(text))
    }
}

fn secret_aad(path: &str, version: u64, kind: &str) -> Vec<u8> {
    format!("switchboard-vault/v1\0{path}\0{version}\0{kind}").into_bytes()
}

fn zeroize_array(a: &mut [u8; 32]) {
    // `fill` on a local that is about to go out of scope may be optimized away in
    // theory; the derived key also lives inside the cipher for the process lifetime,
    // so this is hygiene, not a guarantee.
    a.fill(0);
}

/// HMACs lease ids for audit records.
#[derive(Clone)]
pub(crate) struct AuditHasher {
    key: [u8; 32],
}

impl AuditHasher {
    pub(crate) fn new(key: &VaultKey) -> Self {
        Self {
            key: key.derive(b"switchboard-vault/v1/audit-hmac"),
        }
    }

    /// `hmac-sha256:<first 16 bytes, hex>` of `id`.
    pub(crate) fn hash(&self, id: &str) -> String {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(id.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(12 + 32);
        out.push_str("hmac-sha256:");
        for b in &digest[..16] {
            use std::fmt::Write as _;
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

impl fmt::Debug for AuditHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditHasher([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_base64() {
        let hex = "00".repeat(31) + "ff";
        assert!(VaultKey::parse(&hex).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert!(VaultKey::parse(&b64).is_ok());
        assert!(VaultKey::parse(b64.trim_end_matches('=')).is_ok());
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        let err = VaultKey::parse(&short).expect_err("too short");
        assert!(err.to_string().contains("16 bytes"), "{err}");
        assert!(VaultKey::parse("not a key").is_err());
        assert_eq!(
            format!("{:?}", VaultKey::generate()),
            "VaultKey([REDACTED])"
        );
    }

    #[test]
    fn reads_key_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = dir.path().join("hex");
        std::fs::write(&text, format!("{}\n", "ab".repeat(32))).expect("write");
        assert!(VaultKey::from_file(&text).is_ok());
        let raw = dir.path().join("raw");
        std::fs::write(&raw, [9u8; 32]).expect("write");
        assert!(VaultKey::from_file(&raw).is_ok());
        assert!(VaultKey::from_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn seals_and_binds_the_path() {
        let c = Cipher::new(&VaultKey::generate());
        let v = SecretString::from("canary-123");
        let sealed = c
            .seal_secret(&v, "discord/duck/bot_token", 1, "k")
            .expect("seal");
        assert!(!sealed.windows(10).any(|w| w == b"canary-123"));
        let back = c
            .open_secret(&sealed, "discord/duck/bot_token", 1, "k")
            .expect("open");
        assert_eq!(back.expose_secret(), "canary-123");
        for (path, version) in [
            ("discord/goose/bot_token", 1),
            ("discord/duck/bot_token", 2),
        ] {
            let err = c
                .open_secret(&sealed, path, version, "k")
                .expect_err("bound");
            assert!(matches!(err, VaultError::Decrypt { .. }));
        }
        let other = Cipher::new(&VaultKey::generate());
        assert!(
            other
                .open_secret(&sealed, "discord/duck/bot_token", 1, "k")
                .is_err()
        );
    }

    #[test]
    fn audit_hash_is_keyed_and_stable() {
        let key = VaultKey::from_bytes([1; 32]);
        let a = AuditHasher::new(&key).hash("discord/duck/bot_token/01ABC");
        assert_eq!(
            a,
            AuditHasher::new(&key).hash("discord/duck/bot_token/01ABC")
        );
        assert_ne!(
            a,
            AuditHasher::new(&VaultKey::from_bytes([2; 32])).hash("discord/duck/bot_token/01ABC")
        );
        assert!(a.starts_with("hmac-sha256:") && a.len() == 12 + 32);
    }
}
