//! A malicious handler cannot reach another tenant's rows: running for `mallory` it
//! asks for `victim`'s message by id and writes a message, an attachment, a cursor
//! and a vector naming ids of `victim`'s — it only ever sees and changes
//! `mallory`'s own store.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard::handler::{Ctx, Handler, HandlerResult};
use switchboard::model::{Attachment, SocialMessageCreated};
use switchboard::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectMessage, SimUser};
use switchboard::store::{MESSAGES_KIND, TenantStore};

use crate::both_backends;
use crate::support::{
    TestDb, message, registry_yaml, settled, start_runtime, start_sim, tenant, until,
};

/// What the malicious handler found when it looked for the victim's message.
type Found = Arc<Mutex<Vec<(String, bool)>>>;

/// Runs for every tenant; for `mallory` it tries to read and overwrite `victim`'s
/// rows (the message id it is given is one of the victim's).
struct Mallory {
    victim_message: String,
    found: Found,
}

impl Handler for Mallory {
    fn name(&self) -> &'static str {
        "mallory"
    }

    async fn on_message(&self, ctx: &Ctx, msg: &SocialMessageCreated) -> HandlerResult {
        if ctx.tenant().tenant.as_str() != "mallory" || msg.content != "attack" {
            return Ok(());
        }
        let store = ctx.store()?;
        assert_eq!(store.tenant(), ctx.tenant());
        // Read the victim's message by its id.
        let seen = store.message(&self.victim_message).await?;
        self.found
            .lock()
            .unwrap()
            .push((store.tenant().to_string(), seen.is_some()));
        // Write rows with the victim's ids: they land in mallory's store.
        let mut forged = message(&self.victim_message, "666", "forged by mallory");
        forged.author.name = "mallory".into();
        store.upsert_message(&forged).await?;
        store
            .upsert_attachment(
                &self.victim_message,
                &Attachment {
                    id: "victim-attachment".into(),
                    filename: "evil.bin".into(),
                    url: "https://cdn.example/evil".into(),
                    size: 1,
                    content_type: None,
                },
            )
            .await?;
        store.set_cursor("backfill:messages:666", "{}").await?;
        store
            .put_embedding(MESSAGES_KIND, &self.victim_message, "m", &[1.0, 0.0])
            .await?;
        Ok(())
    }
}

async fn counts(s: &TenantStore) -> [i64; 3] {
    [
        s.messages_count().await.unwrap(),
        s.attachments_count().await.unwrap(),
        s.embeddings_count().await.unwrap(),
    ]
}

async fn isolation_scenario(db: &TestDb) {
    // The victim's message is in the store before the runtime starts.
    let victim_id = "7000";
    {
        let store = db.connect().await;
        let victim = store
            .register_tenant(&tenant("victim"), "discord__victim")
            .await
            .unwrap();
        victim
            .upsert_message(&message(victim_id, "10", "the victim's secret"))
            .await
            .unwrap();
        store.close().await;
    }
    let yaml = registry_yaml(db, "", &[("victim", None), ("mallory", None)]);
    let sim = start_sim(&yaml, |_| {}).await;
    let found: Found = Arc::default();
    let runtime = start_runtime(&sim, &yaml, |b| {
        b.handler(Mallory {
            victim_message: victim_id.to_owned(),
            found: found.clone(),
        })
    })
    .await;
    let store = runtime.store().unwrap().clone();
    let victim = store.tenant(&tenant("victim"), "discord__victim");
    let mallory = store.tenant(&tenant("mallory"), "discord__mallory");
    let victim_before = counts(&victim).await;
    assert_eq!(victim_before, [1, 0, 0]);
    sim.inject_message(InjectMessage::guild(
        DEMO_GUILD,
        DEMO_CHANNELS[0],
        SimUser {
            id: 31337,
            username: "eve".into(),
            bot: false,
        },
        "attack",
    ))
    .unwrap();
    let timeout = Duration::from_secs(60);
    until(timeout, "mallory ran", || async {
        !found.lock().unwrap().is_empty()
    })
    .await;
    settled(&runtime, timeout).await;
    assert_eq!(
        found.lock().unwrap().clone(),
        [("discord/mallory".to_owned(), false)],
        "mallory's store does not see the victim's message"
    );
    // The victim's rows are untouched, mallory's writes are mallory's.
    assert_eq!(counts(&victim).await, victim_before);
    let v = victim.message(victim_id).await.unwrap().unwrap();
    assert_eq!(v.content, "the victim's secret");
    assert_eq!(victim.cursor("backfill:messages:666").await.unwrap(), None);
    assert_eq!(counts(&mallory).await, [1, 1, 1]);
    let forged = mallory.message(victim_id).await.unwrap().unwrap();
    assert_eq!(forged.content, "forged by mallory");
    assert_eq!(forged.namespace, "discord__mallory");
    let hits = victim
        .similar_to_vector(MESSAGES_KIND, &[1.0, 0.0], 10)
        .await
        .unwrap();
    assert!(hits.is_empty(), "the victim has no vectors: {hits:?}");
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
both_backends!(
    a_malicious_handler_cannot_reach_another_tenants_rows,
    super::isolation_scenario
);
