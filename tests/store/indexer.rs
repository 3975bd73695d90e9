//! `message-indexer` through whole runtimes and the emulator: three tenants see the
//! same messages, edits and deletes; each ends with exactly one row per message,
//! one history row per edit and soft deletes — and a 3× redelivery storm changes no
//! count.

use std::time::Duration;

use switchboard::model::{Event, SocialMessageDeleted, SocialMessageUpdated};
use switchboard::runtime::Runtime;
use switchboard::sim::{
    DEMO_CHANNELS, DEMO_GUILD, InjectMessage, MessageDeletion, MessageEdit, SimUser,
};
use switchboard::store::TenantStore;

use crate::both_backends;
use crate::support::{
    TestDb, message, publish, registry_yaml, settled, start_runtime, start_sim, tenant, until,
};

const TENANTS: [&str; 3] = ["i1", "i2", "i3"];
const MESSAGES: i64 = 6;

/// (messages, edits, deleted) of a tenant.
async fn counts(store: &TenantStore) -> (i64, i64, i64) {
    (
        store.messages_count().await.unwrap(),
        store.edits_count().await.unwrap(),
        store.deleted_count().await.unwrap(),
    )
}

/// Publishes every message's creation, the edit of `ids[0]` and the deletion of
/// `ids[1]` three more times per tenant, as fresh envelopes.
async fn redeliver(runtime: &Runtime, stores: &[TenantStore], ids: &[u64]) {
    for (t, s) in TENANTS.iter().zip(stores) {
        let id = tenant(t);
        let edited = s.message(&ids[0].to_string()).await.unwrap().unwrap();
        for _ in 0..3 {
            for (i, m) in ids.iter().enumerate() {
                let mut msg = message(
                    &m.to_string(),
                    &DEMO_CHANNELS[0].to_string(),
                    &format!("message {i}"),
                );
                msg.guild_id = Some(DEMO_GUILD.to_string());
                publish(runtime, &id, Event::SocialMessageCreated(msg)).await;
            }
            let update = SocialMessageUpdated {
                message_id: edited.id.clone(),
                channel_id: edited.channel_id.clone(),
                guild_id: edited.guild_id.clone(),
                author: None,
                content: Some(edited.content.clone()),
                edited_timestamp_ms: edited.edited_ms,
            };
            publish(runtime, &id, Event::SocialMessageUpdated(update)).await;
            let deletion = SocialMessageDeleted {
                message_id: ids[1].to_string(),
                channel_id: DEMO_CHANNELS[0].to_string(),
                guild_id: Some(DEMO_GUILD.to_string()),
            };
            publish(runtime, &id, Event::SocialMessageDeleted(deletion)).await;
        }
    }
}

async fn indexer_scenario(db: &TestDb) {
    let tenants: Vec<(&str, Option<&str>)> = TENANTS
        .iter()
        .map(|t| (*t, Some("[message-indexer]")))
        .collect();
    let yaml = registry_yaml(db, "", &tenants);
    let sim = start_sim(&yaml, |_| {}).await;
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    let store = runtime
        .store()
        .expect("runtime.store is configured")
        .clone();
    let stores: Vec<TenantStore> = TENANTS
        .iter()
        .map(|t| store.tenant(&tenant(t), &format!("discord__{t}")))
        .collect();
    let author = SimUser {
        id: 4242,
        username: "reader".into(),
        bot: false,
    };
    let ids: Vec<u64> = (0..MESSAGES)
        .map(|i| {
            sim.inject_message(InjectMessage::guild(
                DEMO_GUILD,
                DEMO_CHANNELS[0],
                author.clone(),
                &format!("message {i}"),
            ))
            .unwrap()
        })
        .collect();
    let timeout = Duration::from_secs(60);
    for s in &stores {
        until(timeout, "every message indexed", || async {
            s.messages_count().await.unwrap() == MESSAGES
        })
        .await;
    }
    sim.edit_message(&MessageEdit {
        channel_id: DEMO_CHANNELS[0],
        message_id: ids[0],
        content: "message 0, edited".into(),
    })
    .unwrap();
    sim.delete_message(&MessageDeletion {
        channel_id: DEMO_CHANNELS[0],
        message_id: ids[1],
    })
    .unwrap();
    for s in &stores {
        until(timeout, "edit and delete indexed", || async {
            counts(s).await == (MESSAGES, 1, 1)
        })
        .await;
        let m = s.message(&ids[0].to_string()).await.unwrap().unwrap();
        assert_eq!(m.content, "message 0, edited");
        assert_eq!(
            s.edits(&ids[0].to_string()).await.unwrap()[0].old_content,
            "message 0"
        );
        assert!(
            s.message(&ids[1].to_string())
                .await
                .unwrap()
                .unwrap()
                .is_deleted()
        );
    }

    // A redelivery storm: every event three more times, as fresh envelopes.
    redeliver(&runtime, &stores, &ids).await;
    settled(&runtime, timeout).await;
    assert_eq!(runtime.bus().stats().dead_lettered, 0);
    for (t, s) in TENANTS.iter().zip(&stores) {
        assert_eq!(counts(s).await, (MESSAGES, 1, 1), "tenant {t}");
        let m = s.message(&ids[0].to_string()).await.unwrap().unwrap();
        assert_eq!(m.content, "message 0, edited", "tenant {t}");
    }
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
both_backends!(
    the_message_indexer_keeps_one_row_per_message_per_tenant,
    super::indexer_scenario
);

/// `attachment-indexer` beside `message-indexer`, on the emulator's real
/// attachments: a message with three files, two of them the same bytes, delivered
/// three more times, is one message row, three attachment rows, each hashed
/// (SHA-256 of the bytes the emulator serves), and two blobs.
async fn attachment_scenario(db: &TestDb) {
    use sha2::{Digest, Sha256};
    use switchboard::sim::SimAttachment;
    let yaml = registry_yaml(
        db,
        "",
        &[("att", Some("[message-indexer, attachment-indexer]"))],
    );
    let sim = start_sim(&yaml, |_| {}).await;
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    let att = tenant("att");
    let author = SimUser {
        id: 4242,
        username: "reader".into(),
        bot: false,
    };
    let id = sim
        .inject_message_with_attachments(
            InjectMessage::guild(DEMO_GUILD, DEMO_CHANNELS[0], author, "three files"),
            vec![
                SimAttachment::new("a.png", "image/png", b"same bytes".to_vec()),
                SimAttachment::new("b.png", "image/png", b"same bytes".to_vec()),
                SimAttachment::new("c.txt", "text/plain", b"other bytes".to_vec()),
            ],
        )
        .unwrap();
    let s = runtime.store().unwrap().tenant(&att, "discord__att");
    let hashed = || async {
        let mut n = 0;
        for a in s.attachments_of(&id.to_string()).await.unwrap() {
            n += usize::from(a.sha256.is_some());
        }
        n
    };
    until(
        Duration::from_secs(60),
        "every attachment hashed",
        || async { hashed().await == 3 },
    )
    .await;
    // Redelivered three times: no new row, nothing downloaded again.
    let stored = s.message(&id.to_string()).await.unwrap().unwrap();
    let mut msg = message(&stored.id, &stored.channel_id, &stored.content);
    msg.guild_id = stored.guild_id.clone();
    msg.attachments = s
        .attachments_of(&id.to_string())
        .await
        .unwrap()
        .into_iter()
        .map(|a| switchboard::model::Attachment {
            id: a.id,
            filename: a.filename,
            url: a.url,
            size: a.size,
            content_type: a.content_type,
        })
        .collect();
    for _ in 0..3 {
        publish(&runtime, &att, Event::SocialMessageCreated(msg.clone())).await;
    }
    settled(&runtime, Duration::from_secs(60)).await;
    assert_eq!(runtime.bus().stats().dead_lettered, 0);
    assert_eq!(s.messages_count().await.unwrap(), 1);
    assert_eq!(s.attachments_count().await.unwrap(), 3);
    assert_eq!(s.distinct_blobs().await.unwrap(), 2);
    let hex = |b: &[u8]| {
        use std::fmt::Write as _;
        Sha256::digest(b).iter().fold(String::new(), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
    };
    let by_name = |name: &'static str| {
        let s = s.clone();
        async move {
            s.attachments_of(&id.to_string())
                .await
                .unwrap()
                .into_iter()
                .find(|a| a.filename == name)
                .and_then(|a| a.sha256)
        }
    };
    assert_eq!(by_name("a.png").await, Some(hex(b"same bytes")));
    assert_eq!(by_name("b.png").await, Some(hex(b"same bytes")));
    assert_eq!(by_name("c.txt").await, Some(hex(b"other bytes")));
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
both_backends!(
    the_attachment_indexer_hashes_each_file_once,
    super::attachment_scenario
);

/// `embedding-indexer` with the local embeddings server: each tenant's messages are
/// embedded with that tenant's own key, and `TenantStore::similar` finds the
/// nearest of the tenant's own messages only.
async fn embedding_scenario(db: &TestDb) {
    use crate::common::embed_server::{DIM, EmbedServer};
    let server = EmbedServer::start().await;
    let extra = format!(
        "  embeddings: {{ url: \"{}\", model: test-embed-1, secret: openai_key, dimension: {DIM} }}\n",
        server.url()
    );
    let handlers = Some("[message-indexer, embedding-indexer]");
    let mut yaml = registry_yaml(db, &extra, &[("e1", handlers), ("e2", handlers)]);
    for t in ["e1", "e2"] {
        yaml = yaml.replace(
            &format!("    tenant: {t}\n"),
            &format!("    tenant: {t}\n    secrets: {{ openai_key: key-of-{t} }}\n"),
        );
    }
    let sim = start_sim(&yaml, |_| {}).await;
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    let texts = [
        ("e1", "1", "the duck swims across the pond"),
        ("e1", "2", "taxes are due in april"),
        ("e1", "3", "bring bread for the ducks"),
        ("e2", "4", "the duck swims across the pond again"),
        ("e2", "5", "a meeting about the budget"),
    ];
    for (t, id, text) in texts {
        let mut msg = message(id, &DEMO_CHANNELS[0].to_string(), text);
        msg.guild_id = Some(DEMO_GUILD.to_string());
        publish(&runtime, &tenant(t), Event::SocialMessageCreated(msg)).await;
    }
    settled(&runtime, Duration::from_secs(60)).await;
    assert_eq!(runtime.bus().stats().dead_lettered, 0);
    // Through a handler's view of the store (as `ctx.store()` builds it).
    let e1 = runtime.store_for(&tenant("e1")).unwrap();
    let e2 = runtime.store_for(&tenant("e2")).unwrap();
    assert_eq!(e1.embeddings_count().await.unwrap(), 3);
    assert_eq!(e2.embeddings_count().await.unwrap(), 2);
    let found = e1.similar("duck swims pond", 2).await.unwrap();
    let ids: Vec<&str> = found.iter().map(|(m, _)| m.id.as_str()).collect();
    assert_eq!(ids[0], "1", "nearest first: {ids:?}");
    assert!(
        ids.iter().all(|id| ["1", "2", "3"].contains(id)),
        "e1's own only: {ids:?}"
    );
    assert!(found[0].1 > found[1].1);
    let found = e2.similar("duck swims pond", 5).await.unwrap();
    let ids: Vec<&str> = found.iter().map(|(m, _)| m.id.as_str()).collect();
    assert_eq!(ids, ["4", "5"], "e2's own only");
    // Every request carried the key of the tenant whose text it embedded.
    for (auth, inputs) in server.seen() {
        let owner = if auth.ends_with("key-of-e1") {
            "e1"
        } else {
            "e2"
        };
        for input in inputs {
            let known = texts
                .iter()
                .any(|(t, _, text)| *t == owner && *text == input);
            assert!(
                known || input == "duck swims pond",
                "{input:?} sent with {owner}'s key"
            );
        }
    }
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
both_backends!(
    the_embedding_indexer_embeds_with_each_tenants_key,
    super::embedding_scenario
);
