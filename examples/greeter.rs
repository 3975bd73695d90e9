//! A custom handler in a few lines, run against the built-in emulator:
//!
//! ```sh
//! cargo run --example greeter
//! ```
//!
//! It starts the demo (emulator + runtime) with `Greeter` added to every tenant, says
//! `!hello` in the demo channel and prints the bots' answers.

use std::time::Duration;

use switchboard::demo::demo_registry;
use switchboard::handler::{Ctx, Handler, HandlerResult};
use switchboard::model::SocialMessageCreated;
use switchboard::runtime::Runtime;
use switchboard::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectMessage, Sim, SimConfig, SimUser};

struct Greeter;

impl Handler for Greeter {
    fn name(&self) -> &'static str {
        "greeter"
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if msg.author.bot || msg.content != "!hello" {
            return Ok(());
        }
        ctx.reply(
            msg,
            format!("hello, {} (from {})", msg.author.name, ctx.tenant()),
        )
        .await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = demo_registry()?;
    let sim = Sim::start(SimConfig::from_registry(&registry)?, "127.0.0.1:0").await?;
    for t in &mut registry.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    let runtime = Runtime::builder()
        .config(registry)
        .handler(Greeter)
        .admin_listen(None)
        .build()
        .await?;
    while sim.connected_sessions("duck") == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.inject_message(InjectMessage {
        guild_id: Some(DEMO_GUILD),
        channel_id: Some(DEMO_CHANNELS[0]),
        tenant: None,
        author: SimUser {
            id: 900_000_000_000_000_001,
            username: "alice".into(),
            bot: false,
        },
        content: "!hello".into(),
        mentions: vec![],
    })?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for m in sim.channel_messages(DEMO_CHANNELS[0]) {
        println!("{}: {}", m.tenant.unwrap_or_default(), m.content);
    }
    runtime.shutdown(Duration::from_secs(5)).await;
    sim.shutdown().await;
    Ok(())
}
