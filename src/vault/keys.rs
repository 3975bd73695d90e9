//! [`VaultKeys`]: which of the vault's two keys a node holds.
//!
//! Secrets are sealed under two keys, so that a worker node can open what handlers
//! need and nothing more:
//! - the **access key** (the vault key, [`VAULT_KEY_ENV`](super::VAULT_KEY_ENV))
//!   seals provider credentials (bot tokens, client secrets) and the interaction
//!   tokens the access layer shares ([`TokenSealer`](super::TokenSealer));
//! - the **worker key** seals app secrets (what `Ctx::secret` returns) and keys the
//!   audit HMAC, so records of every node correlate.
//!
//! The worker key is derived from the access key by default
//! ([`VaultKey::worker_key`], `switchboard vault-key worker` prints it), or given
//! on its own in [`WORKER_KEY_ENV`]. Access nodes hold both; a `--role worker` node
//! holds the worker key only, and a provider credential stays ciphertext to it (as
//! well as out of its Redis user's reach, see `crate::redis_acl`).

use std::fmt;

use secrecy::SecretString;

use super::crypto::{Cipher, VaultKey};
use super::error::VaultError;
use super::path::{SecretKind, SecretPath};

/// The environment variable holding the worker key.
pub const WORKER_KEY_ENV: &str = "SWITCHBOARD_WORKER_KEY";

/// The keys one vault holds: always the worker key, the access key on access nodes.
/// `Debug` prints which keys are held, never their bytes.
pub struct VaultKeys {
    access: Option<VaultKey>,
    worker: VaultKey,
}

impl VaultKeys {
    /// Both keys, the worker key derived from the access key.
    #[must_use]
    pub fn full(access: &VaultKey) -> Self {
        Self {
            worker: access.worker_key(),
            access: Some(access.duplicate()),
        }
    }

    /// Both keys, given separately (a deployment whose worker key is not derived).
    #[must_use]
    pub fn with_worker_key(access: &VaultKey, worker: &VaultKey) -> Self {
        Self {
            access: Some(access.duplicate()),
            worker: worker.duplicate(),
        }
    }

    /// A worker node's: the worker key only. Provider credentials cannot be opened.
    #[must_use]
    pub fn worker_only(worker: &VaultKey) -> Self {
        Self {
            access: None,
            worker: worker.duplicate(),
        }
    }

    /// Fresh random keys (the embedded memory vault, tests).
    #[must_use]
    pub fn generate() -> Self {
        Self::full(&VaultKey::generate())
    }

    /// Whether these keys open provider credentials.
    #[must_use]
    pub fn holds_access_key(&self) -> bool {
        self.access.is_some()
    }

    pub(crate) fn access(&self) -> Option<&VaultKey> {
        self.access.as_ref()
    }

    pub(crate) fn worker(&self) -> &VaultKey {
        &self.worker
    }

    /// Opens a value as the Redis backend stores it (the `cur` field of a secret's
    /// hash, sealed for `path` at `version` as `kind`), for tools that inspect a
    /// store (backups, migrations, audits of what a node could read).
    ///
    /// # Errors
    /// [`VaultError::AccessKeyNotHeld`] for a provider credential without the access
    /// key; [`VaultError::Decrypt`] for a wrong key, path, version, kind or tampered
    /// data (fails closed).
    pub fn open_stored(
        &self,
        sealed: &[u8],
        path: &SecretPath,
        version: u64,
        kind: SecretKind,
    ) -> Result<SecretString, VaultError> {
        Ciphers::new(self).for_kind(kind, path)?.open_secret(
            sealed,
            &path.to_string(),
            version,
            kind.as_str(),
        )
    }
}

impl fmt::Debug for VaultKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultKeys")
            .field("access", &self.access.as_ref().map(|_| "[REDACTED]"))
            .field("worker", &"[REDACTED]")
            .finish()
    }
}

/// The ciphers of [`VaultKeys`]: one per kind of secret.
pub(crate) struct Ciphers {
    access: Option<Cipher>,
    worker: Cipher,
}

impl Ciphers {
    pub(crate) fn new(keys: &VaultKeys) -> Self {
        Self {
            access: keys.access().map(Cipher::new),
            worker: Cipher::new(keys.worker()),
        }
    }

    /// Whether provider credentials can be sealed and opened.
    pub(crate) fn holds_access(&self) -> bool {
        self.access.is_some()
    }

    /// The cipher sealing `kind`.
    pub(crate) fn for_kind(
        &self,
        kind: SecretKind,
        path: &SecretPath,
    ) -> Result<&Cipher, VaultError> {
        match kind {
            SecretKind::AppSecret => Ok(&self.worker),
            SecretKind::ProviderCredential => {
                self.access
                    .as_ref()
                    .ok_or_else(|| VaultError::AccessKeyNotHeld {
                        path: path.to_string(),
                    })
            }
        }
    }

    /// The worker cipher (app secrets, the worker key check).
    pub(crate) fn worker(&self) -> &Cipher {
        &self.worker
    }

    /// The access cipher, if held (provider credentials, the access key check).
    pub(crate) fn access(&self) -> Option<&Cipher> {
        self.access.as_ref()
    }
}

/// Seals `value` for `path` at `version` as `kind` with the cipher of its kind.
pub(crate) fn seal_stored(
    ciphers: &Ciphers,
    value: &SecretString,
    path: &SecretPath,
    version: u64,
    kind: SecretKind,
) -> Result<Vec<u8>, VaultError> {
    ciphers
        .for_kind(kind, path)?
        .seal_secret(value, &path.to_string(), version, kind.as_str())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn path() -> SecretPath {
        SecretPath::new("discord", "duck", "bot_token").expect("path")
    }

    #[test]
    fn the_worker_key_cannot_open_a_credential() {
        let master = VaultKey::generate();
        let full = VaultKeys::full(&master);
        let worker = VaultKeys::worker_only(&master.worker_key());
        let token = SecretString::from("canary-token".to_owned());
        let sealed = seal_stored(
            &Ciphers::new(&full),
            &token,
            &path(),
            1,
            SecretKind::ProviderCredential,
        )
        .expect("seal");
        let opened = full
            .open_stored(&sealed, &path(), 1, SecretKind::ProviderCredential)
            .expect("the access key opens it");
        assert_eq!(opened.expose_secret(), "canary-token");
        assert!(matches!(
            worker.open_stored(&sealed, &path(), 1, SecretKind::ProviderCredential),
            Err(VaultError::AccessKeyNotHeld { .. })
        ));
        // Even read as an app secret, the worker key does not open it; nor would the
        // access key (the kind is bound), so try the worker cipher with the
        // credential's own associated data: only the key differs.
        let as_app = Ciphers::new(&worker).worker().open_secret(
            &sealed,
            "discord/duck/bot_token",
            1,
            SecretKind::ProviderCredential.as_str(),
        );
        assert!(matches!(as_app, Err(VaultError::Decrypt { .. })));
    }

    #[test]
    fn app_secrets_open_with_either_holder_of_the_worker_key() {
        let master = VaultKey::generate();
        let full = VaultKeys::full(&master);
        let worker = VaultKeys::worker_only(&master.worker_key());
        let p = SecretPath::new("discord", "duck", "api_key").expect("path");
        let sealed = seal_stored(
            &Ciphers::new(&full),
            &SecretString::from("v".to_owned()),
            &p,
            3,
            SecretKind::AppSecret,
        )
        .expect("seal");
        for keys in [&full, &worker] {
            let v = keys
                .open_stored(&sealed, &p, 3, SecretKind::AppSecret)
                .expect("open");
            assert_eq!(v.expose_secret(), "v");
        }
        let other = VaultKeys::worker_only(&VaultKey::generate());
        assert!(
            other
                .open_stored(&sealed, &p, 3, SecretKind::AppSecret)
                .is_err()
        );
    }

    #[test]
    fn debug_shows_which_keys_not_their_bytes() {
        let worker = VaultKeys::worker_only(&VaultKey::generate());
        assert_eq!(
            format!("{worker:?}"),
            "VaultKeys { access: None, worker: \"[REDACTED]\" }"
        );
        assert!(VaultKeys::generate().holds_access_key());
        assert!(!worker.holds_access_key());
    }
}
