//! "Once per message" handlers: three tenants in one shared guild see one message;
//! the handler runs once across them (in process and on a throwaway Redis).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::handler::{Ctx, Handler, HandlerResult};
use switchboard::model::SocialMessageCreated;

use super::{say, start_registry};
use crate::redis_server::TestRedis;

fn tenants_yaml(runtime: &str, names: &[&str]) -> String {
    let mut yaml =
        format!("namespace: jobs\nruntime:\n  handlers: []\n  workers: 4\n{runtime}providers:\n");
    for name in names {
        let _ = writeln!(
            yaml,
            "  - provider: discord\n    tenant: {name}\n    credentials: {{ bot_token: fake-{name} }}\n    gateway: {{ intents: [guilds, guild_messages, message_content] }}"
        );
    }
    yaml
}

/// Counts the messages it handles, per tenant.
struct Counter {
    name: &'static str,
    once: bool,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Handler for Counter {
    fn name(&self) -> &str {
        self.name
    }

    fn once_per_message(&self) -> bool {
        self.once
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        self.seen
            .lock()
            .unwrap()
            .push((ctx.tenant().tenant.to_string(), msg.message_id.clone()));
        Ok(())
    }
}

/// Three tenants in one shared guild see one message: a "once per message" handler
/// runs once, a normal one three times — in process and on Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_once_per_message_handler_runs_once_across_the_tenants_of_a_shared_guild() {
    let redis = TestRedis::start().await;
    let redis_rt = format!(
        "  bus: {{ backend: redis, url: '{}' }}\n  redis_prefix: {}\n",
        redis.url(),
        redis.prefix()
    );
    for rt in [String::new(), redis_rt] {
        let indexed = Arc::new(Mutex::new(Vec::new()));
        let normal = Arc::new(Mutex::new(Vec::new()));
        let yaml = tenants_yaml(&rt, &["i1", "i2", "i3"]);
        let (sim, runtime) = start_registry(&yaml, |b| {
            b.handler(Counter {
                name: "indexer",
                once: true,
                seen: indexed.clone(),
            })
            .handler(Counter {
                name: "normal",
                once: false,
                seen: normal.clone(),
            })
            .admin_listen(None)
        })
        .await;
        let id = say(&sim, "reader", false, "index me").to_string();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while normal.lock().unwrap().len() < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "normal: {:?}",
                normal.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Every delivery settled: nothing more can run.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while {
            let s = runtime.bus().stats();
            s.acked + s.dead_lettered < s.published
        } {
            assert!(tokio::time::Instant::now() < deadline, "not settled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let normal = normal.lock().unwrap().clone();
        let indexed = indexed.lock().unwrap().clone();
        let tenants: BTreeSet<&str> = normal.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            tenants,
            BTreeSet::from(["i1", "i2", "i3"]),
            "backend {rt:?}"
        );
        assert!(normal.iter().all(|(_, m)| *m == id));
        assert_eq!(indexed.len(), 1, "backend {rt:?}: {indexed:?}");
        assert_eq!(indexed[0].1, id);
        runtime.shutdown(Duration::from_secs(10)).await;
        sim.shutdown().await;
    }
}
