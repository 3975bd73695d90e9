//! What an admin server is started with: the bearer token, whether reads of tenant
//! data need it too, and the limits every request is held to. Also the one rule that
//! keeps the API off the network without a token.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use secrecy::SecretString;

/// The largest request body the admin API reads by default (1 MiB; a tenant entry is
/// a few hundred bytes).
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How long a request may take by default, from its first byte to the answer.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How an [`AdminServer`](super::AdminServer) guards its routes.
///
/// ```
/// use std::time::Duration;
/// use switchboard::admin::AdminOptions;
///
/// let options = AdminOptions::new(Some("s3cret".to_owned().into()))
///     .auth_reads(true)
///     .body_limit(64 * 1024)
///     .request_timeout(Duration::from_secs(10));
/// assert!(options.permits("0.0.0.0:7878".parse()?).is_ok());
/// assert!(AdminOptions::new(None).permits("0.0.0.0:7878".parse()?).is_err());
/// assert!(AdminOptions::new(None).permits("127.0.0.1:7878".parse()?).is_ok());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AdminOptions {
    pub(super) token: Option<SecretString>,
    pub(super) auth_reads: bool,
    pub(super) body_limit: usize,
    pub(super) request_timeout: Duration,
}

/// Why an [`AdminServer`](super::AdminServer) did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminStartError {
    /// A non-loopback address without a token: anyone who can reach it could read
    /// tenant data, and the API would be one typo away from accepting changes.
    #[error(
        "{addr} is not a loopback address and no admin token is set \
         (runtime.admin.token_env must name a set, non-empty variable): \
         refusing to serve the admin API there; set the token or listen on 127.0.0.1"
    )]
    Exposed {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The bind error.
        #[source]
        source: std::io::Error,
    },
}

impl AdminOptions {
    /// Mutations need `token` (every mutation is refused without one); reads are
    /// open; default limits.
    #[must_use]
    pub fn new(token: Option<SecretString>) -> Self {
        Self {
            token,
            auth_reads: false,
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Whether the reads under `/v1/` (they name tenants, dead letters and nodes)
    /// need the token too; `/healthz`, `/readyz` and `/metrics` stay open.
    #[must_use]
    pub fn auth_reads(mut self, on: bool) -> Self {
        self.auth_reads = on;
        self
    }

    /// The largest request body read; a larger one is answered 413.
    #[must_use]
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long a request may take; 408 if its body has not arrived by then, 503 if
    /// the answer has not been computed.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Whether these options may serve on `addr`: a non-loopback address needs a
    /// token.
    ///
    /// # Errors
    /// [`AdminStartError::Exposed`].
    pub fn permits(&self, addr: SocketAddr) -> Result<(), AdminStartError> {
        if self.token.is_none() && !is_loopback(addr.ip()) {
            return Err(AdminStartError::Exposed { addr });
        }
        Ok(())
    }
}

/// Whether `ip` is a loopback address (`127.0.0.0/8`, `::1`, or `::ffff:127.x.y.z`).
/// The unspecified address (`0.0.0.0`, `::`) is not: it listens everywhere.
#[must_use]
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_serve_without_a_token() {
        let open = AdminOptions::new(None);
        for ok in [
            "127.0.0.1:1",
            "127.8.9.10:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(open.permits(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        for exposed in ["0.0.0.0:1", "[::]:1", "10.0.0.1:1", "[::ffff:10.0.0.1]:1"] {
            let err = open.permits(exposed.parse().unwrap()).unwrap_err();
            assert!(
                err.to_string().contains("not a loopback address"),
                "{exposed}: {err}"
            );
        }
        let guarded = AdminOptions::new(Some("t".to_owned().into()));
        assert!(guarded.permits("0.0.0.0:1".parse().unwrap()).is_ok());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let o = AdminOptions::new(Some("CANARY-admin-token".to_owned().into()));
        assert!(!format!("{o:?}").contains("CANARY"));
    }
}
