//! Shared helpers: an emulator with one tenant, a twilight shard on it, a user.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::Value;
use switchboard::sim::{GuildConfig, Sim, SimConfig, SimHandle, SimUser, TenantConfig};
use twilight_gateway::{ConfigBuilder, Intents, Shard, ShardId};

pub(crate) const GUILD: u64 = 2 << 22;
pub(crate) const CHANNEL: u64 = 900_000_000_000_000_001;
pub(crate) const TOKEN: &str = "duck-token.secret";
pub(crate) const APP: u64 = 500_000_000_000_000_001;
pub(crate) const BOT: u64 = 600_000_000_000_000_001;

/// Generous bound for anything on two loaded cores.
pub(crate) const LONG: Duration = Duration::from_secs(30);

/// An emulator with `duck` in one guild with one channel.
pub(crate) async fn sim() -> SimHandle {
    let mut config = SimConfig::default().tenant(
        TenantConfig::new("duck", TOKEN, APP, BOT).guild(GuildConfig::new(
            GUILD,
            "pond",
            &[(CHANNEL, "general")],
        )),
    );
    config.rate_limits.global_limit = 10_000;
    Sim::start(config, "127.0.0.1:0")
        .await
        .expect("emulator starts")
}

/// A user for injected messages.
pub(crate) fn alice() -> SimUser {
    SimUser {
        id: 42,
        username: "alice".into(),
        bot: false,
    }
}

/// A twilight shard (the client the gateway actor runs) on the emulator.
pub(crate) fn shard(sim: &SimHandle) -> Shard {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let intents = Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT;
    let config = ConfigBuilder::new(TOKEN.to_owned(), intents)
        .proxy_url(sim.gateway_url())
        .build();
    Shard::with_config(ShardId::new(0, 1), config)
}

/// Awaits `fut` at most `timeout`, failing the test otherwise.
pub(crate) async fn within<T>(timeout: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(timeout, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {timeout:?}"))
}

/// The raw text of the next dispatch of type `t` on the shard.
pub(crate) async fn next_dispatch_text(shard: &mut Shard, t: &str) -> String {
    within(LONG, async {
        loop {
            match shard.next().await {
                Some(Ok(twilight_gateway::Message::Text(text))) => {
                    let v: Value = serde_json::from_str(&text).expect("gateway JSON");
                    if v["op"] == 0 && v["t"] == t {
                        return text;
                    }
                }
                Some(_) => {}
                None => panic!("the shard stopped"),
            }
        }
    })
    .await
}
