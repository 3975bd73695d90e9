//! End to end, a runtime against the emulator: `Ctx::fetch` (a handler fetches every
//! attachment of a message through the effect; `runtime.fetch` limits apply) and
//! `embed_for` (each tenant's handler embeds with that tenant's key from the
//! registry's `secrets`, through the vault).

use std::sync::Arc;
use std::time::Duration;

use switchboard::config::{LoadOptions, Registry};
use switchboard::handler::{Ctx, CtxError, FetchError, Handler, HandlerResult};
use switchboard::model::SocialMessageCreated;
use switchboard::runtime::Runtime;
use switchboard::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectMessage, Sim, SimAttachment, SimConfig};

use switchboard::embed::{Embedder, OpenAiEmbedder, embed_for};

use crate::common::embed_server::{DIM, EmbedServer};
use crate::common::{capture_logs, eventually};
use crate::support::alice;

/// Replies `<filename>:<bytes>:<content type>` or `<filename>:<error kind>` per
/// attachment.
struct Fetcher;

impl Handler for Fetcher {
    fn name(&self) -> &'static str {
        "fetcher"
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if msg.author.bot || msg.attachments.is_empty() {
            return Ok(());
        }
        let mut parts = Vec::new();
        for a in &msg.attachments {
            parts.push(match ctx.fetch(&a.url).await {
                Ok(f) => format!(
                    "{}:{}:{}",
                    a.filename,
                    f.bytes.len(),
                    f.content_type.unwrap_or_default()
                ),
                Err(CtxError::Fetch(FetchError::TooLarge { .. })) => {
                    format!("{}:too_large", a.filename)
                }
                Err(e) => format!("{}:error {e}", a.filename),
            });
        }
        ctx.reply(msg, parts.join(" ")).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_fetches_attachments_within_the_configured_limits() {
    let yaml = "runtime:\n  fetch: { max_bytes: 1000, timeout_ms: 10000 }\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: fake-duck\n    gateway: { intents: [guilds, guild_messages, message_content] }\n";
    let mut reg = Registry::from_yaml_str(yaml, "t.yml", &LoadOptions::default()).unwrap();
    let sim = Sim::start(SimConfig::from_registry(&reg).unwrap(), "127.0.0.1:0")
        .await
        .unwrap();
    for t in &mut reg.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    let runtime = Runtime::builder()
        .config(reg)
        .handler(Fetcher)
        .admin_listen(None)
        .build()
        .await
        .unwrap();
    eventually(Duration::from_secs(60), || async {
        sim.connected_sessions("duck") > 0
    })
    .await;

    sim.inject_message_with_attachments(
        InjectMessage::guild(DEMO_GUILD, DEMO_CHANNELS[0], alice(), "files"),
        vec![
            SimAttachment::new("small.txt", "text/plain", b"hello".to_vec()),
            SimAttachment::new("big.bin", "application/octet-stream", vec![0u8; 1001]),
        ],
    )
    .unwrap();
    let reply = crate::common::eventually_some(Duration::from_secs(60), || async {
        sim.channel_messages(DEMO_CHANNELS[0])
            .into_iter()
            .find(|m| m.tenant.as_deref() == Some("duck"))
            .map(|m| m.content)
    })
    .await;
    assert_eq!(reply, "small.txt:5:text/plain big.bin:too_large");
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}

/// Replies `<tenant> embedded <n> dims` for `!embed <text>`.
struct Embeds {
    embedder: Arc<OpenAiEmbedder>,
}

impl Handler for Embeds {
    fn name(&self) -> &'static str {
        "embeds"
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        let Some(text) = msg.content.strip_prefix("!embed ") else {
            return Ok(());
        };
        let e = &*self.embedder;
        let tenant = &ctx.tenant().tenant;
        let v = embed_for(ctx, e, e.secret_name(), &[format!("{tenant}: {text}")]).await?;
        let reply = format!("{tenant} embedded {} dims", v[0].len());
        ctx.reply(msg, reply).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_embeds_with_its_own_key_from_the_vault() {
    const DUCK_KEY: &str = "sk-duck-canary-41c9";
    const GOOSE_KEY: &str = "sk-goose-canary-0be3";
    let logs = capture_logs();
    let server = EmbedServer::start().await;
    let tenant = |name: &str, key: &str| {
        format!(
            "  - provider: discord\n    tenant: {name}\n    credentials:\n      bot_token: fake-{name}\n    gateway: {{ intents: [guilds, guild_messages, message_content] }}\n    secrets:\n      openai_key: {key}\n"
        )
    };
    let yaml = format!(
        "runtime:\n  embeddings: {{ url: \"{}\", model: test-embed-1, secret: openai_key, dimension: {DIM} }}\nproviders:\n{}{}",
        server.url(),
        tenant("duck", DUCK_KEY),
        tenant("goose", GOOSE_KEY),
    );
    let mut reg = Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).unwrap();
    let embedder = Arc::new(OpenAiEmbedder::new(reg.runtime.embeddings.as_ref().unwrap()).unwrap());
    assert_eq!(embedder.dimension(), Some(DIM));
    let sim = Sim::start(SimConfig::from_registry(&reg).unwrap(), "127.0.0.1:0")
        .await
        .unwrap();
    for t in &mut reg.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    let runtime = Runtime::builder()
        .config(reg)
        .handler(Embeds {
            embedder: Arc::clone(&embedder),
        })
        .admin_listen(None)
        .build()
        .await
        .unwrap();
    eventually(Duration::from_secs(60), || async {
        sim.connected_sessions("duck") > 0 && sim.connected_sessions("goose") > 0
    })
    .await;

    // Both bots see the message; each embeds it for its own tenant.
    sim.inject_message(InjectMessage::guild(
        DEMO_GUILD,
        DEMO_CHANNELS[0],
        alice(),
        "!embed ducks and geese",
    ))
    .unwrap();
    let replies = crate::common::eventually_some(Duration::from_secs(60), || async {
        let mut r: Vec<String> = sim
            .channel_messages(DEMO_CHANNELS[0])
            .into_iter()
            .map(|m| m.content)
            .collect();
        r.sort();
        (r.len() == 2).then_some(r)
    })
    .await;
    assert_eq!(
        replies,
        [
            format!("duck embedded {DIM} dims"),
            format!("goose embedded {DIM} dims")
        ]
    );
    let mut seen = server.seen();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                format!("Bearer {DUCK_KEY}"),
                vec!["duck: ducks and geese".to_owned()]
            ),
            (
                format!("Bearer {GOOSE_KEY}"),
                vec!["goose: ducks and geese".to_owned()]
            ),
        ],
        "one request per tenant, each with its own key"
    );
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
    let captured = logs.contents();
    assert!(!captured.is_empty(), "the runtime logged");
    for key in [DUCK_KEY, GOOSE_KEY] {
        assert!(!captured.contains(key), "{key} leaked into the logs");
    }
}
