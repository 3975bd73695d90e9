//! Building the twilight-http client of one tenant.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use twilight_http::Client;
use twilight_http_ratelimiting::RateLimiter;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// `endpoints.api` is not `http(s)://host[:port]` (the URL as configured: the
    /// check is ours, no other error caused it).
    #[error("endpoints.api must be http://host[:port] or https://host[:port], got {0:?}")]
    BadEndpoint(String),
}

/// Installs the process-wide rustls crypto provider (ring) that twilight needs;
/// a provider installed earlier (by us or anyone) is fine.
pub fn install_crypto_provider() {
    // `Err` only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The host and scheme of an `endpoints.api` URL: `http://127.0.0.1:9000` →
/// `("127.0.0.1:9000", true)` (plain HTTP).
///
/// # Errors
/// [`ClientError::BadEndpoint`] for anything but `http(s)://host[:port][/]`.
pub fn proxy_host(api: &str) -> Result<(String, bool), ClientError> {
    let bad = || ClientError::BadEndpoint(api.to_owned());
    let (rest, use_http) = if let Some(r) = api.strip_prefix("http://") {
        (r, true)
    } else if let Some(r) = api.strip_prefix("https://") {
        (r, false)
    } else {
        return Err(bad());
    };
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad());
    }
    Ok((host.to_owned(), use_http))
}

/// A twilight-http client for `token`, with twilight's own rate limiter on (global
/// limit `global_limit` per second) and a per-attempt `timeout`; `api` points it at an
/// emulator or proxy instead of Discord.
///
/// # Errors
/// [`ClientError::BadEndpoint`] for a malformed `api`.
pub fn build_client(
    token: &SecretString,
    api: Option<&str>,
    global_limit: u16,
    timeout: Duration,
) -> Result<Client, ClientError> {
    install_crypto_provider();
    let mut b = Client::builder()
        .token(token.expose_secret().to_owned())
        .ratelimiter(Some(RateLimiter::new(global_limit.max(1))))
        .timeout(timeout);
    if let Some(api) = api {
        let (host, use_http) = proxy_host(api)?;
        b = b.proxy(host, use_http);
    }
    Ok(b.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            proxy_host("http://127.0.0.1:9000/").expect("valid"),
            ("127.0.0.1:9000".to_owned(), true)
        );
        assert_eq!(
            proxy_host("https://proxy.internal").expect("valid"),
            ("proxy.internal".to_owned(), false)
        );
        assert!(proxy_host("127.0.0.1:9000").is_err());
        assert!(proxy_host("http://h/api").is_err());
        assert!(proxy_host("http://").is_err());
    }
}
