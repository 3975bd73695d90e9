//! Planning a tenant's shards: the shard count (`auto` asks `GET /gateway/bot`), the
//! identify queue (`max_concurrency` per 5 seconds), and each shard's twilight
//! `Config` (gateway URL, intents, a persisted session to resume).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use twilight_gateway::queue::InMemoryQueue;
use twilight_gateway::{Config, ConfigBuilder, Intents, Session, ShardId};
use twilight_http::error::ErrorType;

use super::error::GatewayError;
use super::session::StoredSession;
use crate::config::{Shards, TenantConfig};

/// How long `GET /gateway/bot` may take.
const GATEWAY_INFO_TIMEOUT: Duration = Duration::from_secs(10);

/// The shards this actor runs and how fast they may identify.
#[derive(Debug, Clone)]
pub(super) struct ShardPlan {
    pub(super) ids: Vec<ShardId>,
    pub(super) total: u32,
    pub(super) queue: InMemoryQueue,
}

/// A REST endpoint override as twilight's `proxy(host, use_http)`.
fn api_proxy(api: &str) -> Result<(String, bool), GatewayError> {
    let bad = |reason| GatewayError::Endpoint {
        url: api.to_owned(),
        reason,
    };
    let (rest, use_http) = if let Some(r) = api.strip_prefix("http://") {
        (r, true)
    } else if let Some(r) = api.strip_prefix("https://") {
        (r, false)
    } else {
        return Err(bad("expected an http:// or https:// URL"));
    };
    // twilight appends `/api/v10/...` itself: keep the host (and port) only.
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("no host"));
    }
    Ok((host.to_owned(), use_http))
}

/// Checks an `endpoints.gateway` override.
pub(super) fn gateway_url(tenant: &TenantConfig) -> Result<Option<String>, GatewayError> {
    let Some(url) = tenant.endpoints.gateway.as_deref() else {
        return Ok(None);
    };
    if !(url.starts_with("ws://") || url.starts_with("wss://")) {
        return Err(GatewayError::Endpoint {
            url: url.to_owned(),
            reason: "expected a ws:// or wss:// URL",
        });
    }
    Ok(Some(url.trim_end_matches('/').to_owned()))
}

fn http_client(
    tenant: &TenantConfig,
    token: &SecretString,
) -> Result<twilight_http::Client, GatewayError> {
    let mut builder = twilight_http::Client::builder().token(token.expose_secret().to_owned());
    if let Some(api) = tenant.endpoints.api.as_deref() {
        let (host, use_http) = api_proxy(api)?;
        builder = builder.proxy(host, use_http);
    }
    Ok(builder.build())
}

/// `GET /gateway/bot`: the recommended shard count and the session start limit.
async fn gateway_info(
    tenant: &TenantConfig,
    token: &SecretString,
) -> Result<twilight_model::gateway::connection_info::BotConnectionInfo, GatewayError> {
    let client = http_client(tenant, token)?;
    let fetch = async {
        let response = client
            .gateway()
            .authed()
            .await
            .map_err(|e| match e.kind() {
                ErrorType::Unauthorized => GatewayError::Unauthorized,
                ErrorType::Response { status, .. } if status.get() == 401 => {
                    GatewayError::Unauthorized
                }
                _ => GatewayError::GatewayInfo(Box::new(e)),
            })?;
        response
            .model()
            .await
            .map_err(|e| GatewayError::GatewayInfo(Box::new(e)))
    };
    tokio::time::timeout(GATEWAY_INFO_TIMEOUT, fetch)
        .await
        .map_err(|elapsed| GatewayError::GatewayInfo(Box::new(elapsed)))?
}

/// Plans the shards. With `shards: auto` a failing `GET /gateway/bot` is an error
/// (401: the token is rejected); with a fixed count it only costs the identify
/// concurrency (1 is always safe), and the gateway itself judges the token.
pub(super) async fn plan(
    tenant: &TenantConfig,
    token: &SecretString,
) -> Result<ShardPlan, GatewayError> {
    let info = gateway_info(tenant, token).await;
    let (total, limit) = match (tenant.gateway.shards, info) {
        (Shards::Auto, Err(e)) => return Err(e),
        (Shards::Auto, Ok(info)) => (info.shards.max(1), Some(info.session_start_limit)),
        (Shards::Fixed(n), Ok(info)) => (n, Some(info.session_start_limit)),
        (Shards::Fixed(n), Err(e)) => {
            tracing::warn!(
                error = %crate::Report(&e),
                "GET /gateway/bot failed; identifying one shard at a time"
            );
            (n, None)
        }
    };
    let queue = match limit {
        Some(l) => InMemoryQueue::new(
            l.max_concurrency.max(1),
            l.remaining,
            Duration::from_millis(l.reset_after),
            l.total,
        ),
        None => InMemoryQueue::default(),
    };
    Ok(ShardPlan {
        ids: twilight_gateway::bucket(0, 1, total).collect(),
        total,
        queue,
    })
}

/// One shard's twilight configuration; resumes `stored` if it belongs to this layout.
pub(super) fn shard_config(
    token: &SecretString,
    intents: Intents,
    gateway_url: Option<&str>,
    queue: &InMemoryQueue,
    stored: Option<&StoredSession>,
    total: u32,
) -> Config<InMemoryQueue> {
    let mut builder =
        ConfigBuilder::new(token.expose_secret().to_owned(), intents).queue(queue.clone());
    if let Some(url) = gateway_url {
        builder = builder.proxy_url(url.to_owned());
    }
    if let Some(s) = stored.filter(|s| s.shard_total == total) {
        builder = builder.session(Session::new(s.sequence, s.session_id.clone()));
        if let Some(url) = &s.resume_url {
            builder = builder.resume_url(url.clone());
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_endpoints_become_twilight_proxies() {
        assert_eq!(
            api_proxy("http://127.0.0.1:9000").ok(),
            Some(("127.0.0.1:9000".to_owned(), true))
        );
        assert_eq!(
            api_proxy("https://proxy.example/api/v10").ok(),
            Some(("proxy.example".to_owned(), false))
        );
        assert!(api_proxy("ftp://x").is_err());
        assert!(api_proxy("http://").is_err());
    }
}
