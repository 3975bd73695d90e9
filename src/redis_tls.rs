//! Redis URLs → fred client configurations, TLS included: the one place that decides
//! whether a connection to Redis is encrypted and which certificates it trusts.
//!
//! Every Redis client of the crate (the bus, the cluster registry, the session, token
//! and tenant stores through `bus::connect_redis`, and the vault's Redis backend) is
//! configured here, so they all follow the same rules:
//!
//! - `redis://` (and `valkey://`) is plain text, always.
//! - `rediss://` (and `valkeys://`, `rediss-cluster://`, ...) is TLS (rustls on
//!   `ring`), always: if TLS cannot be set up the URL is refused with the reason; it
//!   is never downgraded to plain text. (fred itself, built without a TLS feature,
//!   would connect to a `rediss://` URL in plain text with only a warning.)
//! - The server certificate is checked against the system's root certificates, or,
//!   with the query parameter `ca_file=PATH` (`rediss://host:6380/0?ca_file=/etc/ssl/redis-ca.pem`),
//!   against the PEM certificates in that file only: the private-deployment and test
//!   case. The parameter is ours; it is removed before fred sees the URL. It lives in
//!   the URL so that every connection path gets it without another setting, and so
//!   that the bus and the vault may use different servers with different CAs.
//!
//! Errors never contain the URL (it may hold a password).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fred::prelude::Config;
use fred::types::config::{TlsConfig, TlsConnector};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// The query parameter naming the CA file of a `rediss://` URL.
pub(crate) const CA_FILE_PARAM: &str = "ca_file";

/// Why a Redis URL cannot be turned into a client configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RedisTlsError {
    /// The URL does not parse.
    #[error("not a valid Redis URL: {0}")]
    BadUrl(String),
    /// fred refused the URL (bad port, database, ...).
    #[error("bad Redis URL: {0}")]
    Fred(String),
    /// `ca_file` on a plain-text URL: the user meant TLS, so refuse rather than
    /// connect unencrypted.
    #[error(
        "`{CA_FILE_PARAM}` is only allowed on a TLS URL (rediss://); this URL is plain text \
         (redis://), which would not be encrypted"
    )]
    CaFileWithoutTls,
    /// `ca_file` given twice, or empty.
    #[error("`{CA_FILE_PARAM}` must be given once, with a path")]
    CaFileParam,
    /// The CA file cannot be read.
    #[error("cannot read the Redis CA file {}: {source}", path.display())]
    CaUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("the Redis CA file {} holds no PEM certificate{}", path.display(), detail(reason.as_deref()))]
    CaEmpty {
        /// The file.
        path: PathBuf,
        /// A PEM or certificate error, if any.
        reason: Option<String>,
    },
    /// No system root certificate could be loaded for a `rediss://` URL without
    /// `ca_file`.
    #[error(
        "no system root certificates for rediss:// ({reason}); name a CA with ?{CA_FILE_PARAM}=PATH"
    )]
    SystemRoots {
        /// What the loader reported.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS could not be set up for rediss://: {0}")]
    Setup(String),
}

impl RedisTlsError {
    /// As a fred error: `Config` for a URL fred would refuse anyway, `Tls` for the
    /// rest, with this error's message.
    pub(crate) fn into_fred(self) -> fred::error::Error {
        let kind = match self {
            Self::BadUrl(_) | Self::Fred(_) => fred::error::ErrorKind::Config,
            _ => fred::error::ErrorKind::Tls,
        };
        fred::error::Error::new(kind, self.to_string())
    }
}

fn detail(reason: Option<&str>) -> String {
    reason.map(|r| format!(" ({r})")).unwrap_or_default()
}

/// What a Redis URL asks for, before anything is read from disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisTarget {
    /// The URL fred is given: our parameter removed, the TLS scheme replaced by its
    /// plain twin (TLS is configured here, not by fred's defaults).
    fred_url: String,
    /// The TLS settings, `None` for plain text.
    tls: Option<TlsTrust>,
}

/// Which certificates a TLS connection trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsTrust {
    /// The system's root certificates.
    System,
    /// Only the certificates in this PEM file.
    CaFile(PathBuf),
}

impl RedisTarget {
    /// Parses `url` without touching the disk or the network.
    pub(crate) fn parse(url: &str) -> Result<Self, RedisTlsError> {
        let mut parsed = url::Url::parse(url).map_err(|e| RedisTlsError::BadUrl(e.to_string()))?;
        let scheme = parsed.scheme().to_owned();
        let plain_scheme = plain_twin(&scheme);
        let mut ca_file = None;
        let mut others = Vec::new();
        for (k, v) in parsed.query_pairs() {
            if k == CA_FILE_PARAM {
                if ca_file.is_some() || v.is_empty() {
                    return Err(RedisTlsError::CaFileParam);
                }
                ca_file = Some(PathBuf::from(v.into_owned()));
            } else {
                others.push((k.into_owned(), v.into_owned()));
            }
        }
        let tls = match (&plain_scheme, ca_file) {
            (None, None) => None,
            (None, Some(_)) => return Err(RedisTlsError::CaFileWithoutTls),
            (Some(_), None) => Some(TlsTrust::System),
            (Some(_), Some(path)) => Some(TlsTrust::CaFile(path)),
        };
        if let Some(plain) = &plain_scheme {
            parsed
                .set_scheme(plain)
                .map_err(|()| RedisTlsError::BadUrl(format!("cannot use scheme {plain}")))?;
        }
        if others.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(others);
        }
        Ok(Self {
            fred_url: parsed.into(),
            tls,
        })
    }

    /// Whether the connection is encrypted.
    pub(crate) fn uses_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Reads the CA file (if any) and builds fred's configuration.
    pub(crate) fn fred_config(&self) -> Result<Config, RedisTlsError> {
        let mut config =
            Config::from_url(&self.fred_url).map_err(|e| RedisTlsError::Fred(e.to_string()))?;
        if let Some(trust) = &self.tls {
            config.tls = Some(tls_config(trust)?);
        }
        // The guarantee this module exists for, checked rather than assumed.
        if self.uses_tls() != config.tls.is_some() {
            return Err(RedisTlsError::Setup(
                "the client configuration does not match the URL's scheme".to_owned(),
            ));
        }
        Ok(config)
    }
}

/// The plain scheme of a TLS scheme (`rediss` → `redis`, `valkeys-cluster` →
/// `valkey-cluster`), `None` for a scheme without TLS. Mirrors fred's rule (a scheme
/// starting with `rediss` or `valkeys` is TLS).
fn plain_twin(scheme: &str) -> Option<String> {
    for (tls, plain) in [("rediss", "redis"), ("valkeys", "valkey")] {
        if let Some(rest) = scheme.strip_prefix(tls) {
            return Some(format!("{plain}{rest}"));
        }
    }
    None
}

/// The fred configuration of a Redis URL, TLS set up as the URL says.
pub(crate) fn fred_config(url: &str) -> Result<Config, RedisTlsError> {
    RedisTarget::parse(url)?.fred_config()
}

/// Checks a URL as `check-config` does: its TLS parameters, and (with `read_files`)
/// that the CA file holds certificates.
pub(crate) fn check_url(url: &str, read_files: bool) -> Result<(), RedisTlsError> {
    let target = RedisTarget::parse(url)?;
    if read_files && let Some(TlsTrust::CaFile(path)) = &target.tls {
        ca_roots(path)?;
    }
    Ok(())
}

fn tls_config(trust: &TlsTrust) -> Result<TlsConfig, RedisTlsError> {
    let roots = match trust {
        TlsTrust::System => system_roots()?,
        TlsTrust::CaFile(path) => ca_roots(path)?,
    };
    // The provider is named rather than taken from the process default, so this works
    // whether or not something installed one (twilight needs that, we do not).
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| RedisTlsError::Setup(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(config).into())
}

/// A CA bundle larger than this is refused (the system's whole bundle is ~220 KiB).
const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a CA file: a regular file (not a device or a pipe, which could block or never
/// end) of at most [`MAX_CA_FILE_BYTES`].
fn read_ca_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut pem)?;
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_CA_FILE_BYTES} bytes"),
        ));
    }
    Ok(pem)
}

fn ca_roots(path: &Path) -> Result<RootCertStore, RedisTlsError> {
    let pem = read_ca_file(path).map_err(|source| RedisTlsError::CaUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let empty = |reason: Option<String>| RedisTlsError::CaEmpty {
        path: path.to_owned(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| empty(Some(e.to_string())))?;
        roots.add(cert).map_err(|e| empty(Some(e.to_string())))?;
    }
    if roots.is_empty() {
        return Err(empty(None));
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, RedisTlsError> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    // A bad file among the system's certificates does not void the good ones.
    let (_added, _ignored) = roots.add_parsable_certificates(loaded.certs);
    if roots.is_empty() {
        let reason = loaded
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(RedisTlsError::SystemRoots { reason });
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> RedisTarget {
        RedisTarget::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn plain_urls_stay_plain() {
        let t = target("redis://127.0.0.1:6379/2");
        assert!(!t.uses_tls());
        assert_eq!(t.fred_url, "redis://127.0.0.1:6379/2");
        let config = t.fred_config().expect("config");
        assert!(config.tls.is_none());
    }

    #[test]
    fn tls_urls_get_tls_and_lose_the_ca_parameter() {
        let t = target("rediss://:pw@127.0.0.1:6380/1?ca_file=%2Ftmp%2Fca.pem&node=h%3A1");
        assert_eq!(t.tls, Some(TlsTrust::CaFile(PathBuf::from("/tmp/ca.pem"))));
        assert_eq!(t.fred_url, "redis://:pw@127.0.0.1:6380/1?node=h%3A1");
        let t = target("rediss://127.0.0.1:6380/?ca_file=/tmp/ca.pem");
        assert_eq!(t.fred_url, "redis://127.0.0.1:6380/");
        let t = target("valkeys-cluster://h:1");
        assert_eq!(t.tls, Some(TlsTrust::System));
        assert_eq!(t.fred_url, "valkey-cluster://h:1");
    }

    #[test]
    fn a_ca_file_on_a_plain_url_is_refused() {
        let e = RedisTarget::parse("redis://127.0.0.1:6379/?ca_file=/tmp/ca.pem").unwrap_err();
        assert!(matches!(e, RedisTlsError::CaFileWithoutTls), "{e}");
        let e = RedisTarget::parse("rediss://h:1/?ca_file=").unwrap_err();
        assert!(matches!(e, RedisTlsError::CaFileParam), "{e}");
        let e = RedisTarget::parse("rediss://h:1/?ca_file=a&ca_file=b").unwrap_err();
        assert!(matches!(e, RedisTlsError::CaFileParam), "{e}");
    }

    #[test]
    fn an_unreadable_or_empty_ca_file_is_an_error_naming_the_file() {
        let e = fred_config("rediss://:secretpw@127.0.0.1:6380/?ca_file=/nonexistent/ca.pem")
            .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, RedisTlsError::CaUnreadable { .. }), "{msg}");
        assert!(msg.contains("/nonexistent/ca.pem"), "{msg}");
        assert!(!msg.contains("secretpw"), "{msg}");

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let url = format!("rediss://127.0.0.1:6380/?ca_file={}", path.display());
        let e = fred_config(&url).unwrap_err();
        assert!(matches!(e, RedisTlsError::CaEmpty { .. }), "{e}");
        assert!(check_url(&url, false).is_ok());
        assert!(check_url(&url, true).is_err());

        // A device is not read (`/dev/zero` would never end).
        let e = fred_config("rediss://127.0.0.1:6380/?ca_file=/dev/zero").unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
