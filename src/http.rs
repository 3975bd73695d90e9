//! The outbound HTTP client of effects and services: the `http.fetch` effect
//! (`handler::HttpFetcher`) and the embedder (`embed::OpenAiEmbedder`).
//!
//! hyper's pooled client over `http` or `https`; TLS is rustls with the ring
//! provider and the system's root certificates, configured here so that nothing
//! depends on (or changes) the process-wide rustls default. HTTP/1.1 only; no proxy
//! from the environment. Redirects and timeouts are the callers' business (they
//! differ: a fetch follows redirects, an API call does not).

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as Legacy;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A pooled HTTP(S) client; cheap to clone.
pub(crate) type Client = Legacy<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Any error of a request (connecting, sending, reading the body).
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `switchboard/<version>`.
pub(crate) const USER_AGENT: &str = concat!("switchboard/", env!("CARGO_PKG_VERSION"));

/// rustls on ring with the system's root certificates (none found: an empty store,
/// so `https` fails with a certificate error rather than the process at start).
fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A certificate the store rejects is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

/// A new client with its own connection pool.
pub(crate) fn client() -> Result<Client, rustls::Error> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config()?)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Legacy::builder(TokioExecutor::new()).build(connector))
}
