//! Worker groups in a whole runtime: `runtime.groups` plus
//! `RuntimeBuilder::group_handler`, against the emulator over sockets.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::config::{LoadOptions, Registry};
use switchboard::handler::{Ctx, Handler, HandlerResult};
use switchboard::model::SocialMessageCreated;
use switchboard::runtime::{Runtime, RuntimeError};
use switchboard::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectMessage, Sim, SimConfig, SimUser};

use crate::common::eventually;
use crate::support::WAIT;

const YAML: &str = "runtime:\n  handlers: []\n  workers: 2\n  groups:\n    indexer: { workers: 1 }\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials:\n      bot_token: fake-duck\n    gateway: { intents: [guilds, guild_messages, message_content] }\n";

/// Records the content of every user message it sees.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    fn seen(&self) -> Vec<String> {
        let mut v = self.0.lock().unwrap().clone();
        v.sort();
        v
    }
}

impl Handler for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    async fn on_message(&self, _ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if !msg.author.bot {
            self.0.lock().unwrap().push(msg.content.clone());
        }
        Ok(())
    }
}

fn registry() -> Registry {
    Registry::from_yaml_str(YAML, "groups.yml", &LoadOptions::default()).unwrap()
}

/// The tenants' handlers and the indexer group's code handler (same name) each
/// see every message once; status lists both groups with their pools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_runs_every_group_over_the_emulator() {
    let mut reg = registry();
    let sim = Sim::start(SimConfig::from_registry(&reg).unwrap(), "127.0.0.1:0")
        .await
        .unwrap();
    for t in &mut reg.tenants {
        t.endpoints.api = Some(format!("http://{}", sim.api_host()));
        t.endpoints.gateway = Some(sim.gateway_url());
    }
    let (bot, indexer) = (Recorder::default(), Recorder::default());
    let runtime = Runtime::builder()
        .config(reg)
        .handler(bot.clone())
        .group_handler("indexer", indexer.clone())
        .admin_listen(None)
        .build()
        .await
        .unwrap();
    eventually(WAIT, || {
        let up = sim.connected_sessions("duck") > 0;
        async move { up }
    })
    .await;
    let mut sent = Vec::new();
    for i in 0..5 {
        let content = format!("message {i}");
        sim.inject_message(InjectMessage {
            guild_id: Some(DEMO_GUILD),
            channel_id: Some(DEMO_CHANNELS[0]),
            tenant: None,
            author: SimUser {
                id: 900_000_000_000_000_001,
                username: "alice".into(),
                bot: false,
            },
            content: content.clone(),
            mentions: vec![],
        })
        .unwrap();
        sent.push(content);
    }
    eventually(WAIT, || {
        let done = bot.seen().len() >= 5 && indexer.seen().len() >= 5;
        async move { done }
    })
    .await;
    assert_eq!(bot.seen(), sent, "the tenant's handlers, once each");
    assert_eq!(indexer.seen(), sent, "the indexer group, once each");
    let status = runtime.status().await;
    let groups: Vec<(&str, Option<u64>)> = status
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.workers.as_ref().map(|w| w.workers)))
        .collect();
    assert_eq!(groups, [("default", Some(2)), ("indexer", Some(1))]);
    runtime.shutdown(Duration::from_secs(10)).await;
}

/// A group asked for that does not exist, and a code handler's group with a bad
/// name, fail the build naming the problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_badly_named_groups_fail_the_build() {
    let err = Runtime::builder()
        .config(registry())
        .run_groups(["nope"])
        .group_handler("Bad.Name", Recorder::default())
        .admin_listen(None)
        .build()
        .await
        .expect_err("invalid groups");
    let RuntimeError::Config(problems) = err else {
        panic!("a configuration error, got {err}");
    };
    let all = problems.join("\n");
    assert!(all.contains("--group nope: no such worker group"), "{all}");
    assert!(all.contains("group name \"Bad.Name\""), "{all}");
}
