//! `Ctx::fetch` end to end: a runtime against the emulator, a handler that fetches
//! every attachment of a message through the effect and replies with what it got;
//! `runtime.fetch` limits apply.

use std::time::Duration;

use switchboard::config::{LoadOptions, Registry};
use switchboard::handler::{Ctx, CtxError, FetchError, Handler, HandlerResult};
use switchboard::model::SocialMessageCreated;
use switchboard::runtime::Runtime;
use switchboard::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectMessage, Sim, SimAttachment, SimConfig};

use crate::common::eventually;
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
