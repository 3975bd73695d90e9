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

/// `attachment-indexer` beside `message-indexer`: a message with two attachments,
/// delivered three times, is one message row and two attachment rows; hashing them
/// to the same bytes makes one blob.
async fn attachment_scenario(db: &TestDb) {
    use switchboard::model::Attachment;
    let yaml = registry_yaml(
        db,
        "",
        &[("att", Some("[message-indexer, attachment-indexer]"))],
    );
    let sim = start_sim(&yaml, |_| {}).await;
    let runtime = start_runtime(&sim, &yaml, |b| b).await;
    let att = tenant("att");
    let mut msg = message("900", "10", "two files");
    msg.attachments = ["a", "b"]
        .iter()
        .map(|n| Attachment {
            id: format!("att-{n}"),
            filename: format!("{n}.png"),
            url: format!("https://cdn.example/{n}.png"),
            size: 10,
            content_type: Some("image/png".into()),
        })
        .collect();
    for _ in 0..3 {
        publish(&runtime, &att, Event::SocialMessageCreated(msg.clone())).await;
    }
    settled(&runtime, Duration::from_secs(60)).await;
    let s = runtime.store().unwrap().tenant(&att, "discord__att");
    assert_eq!(s.messages_count().await.unwrap(), 1);
    assert_eq!(s.attachments_count().await.unwrap(), 2);
    let a = s.attachment("att-a").await.unwrap().unwrap();
    assert_eq!((a.message_id.as_str(), a.sha256), ("900", None));
    // The fetch hook: identical bytes are one blob.
    let sha = "cd".repeat(32);
    s.set_attachment_hash("att-a", &sha, 10).await.unwrap();
    s.set_attachment_hash("att-b", &sha, 10).await.unwrap();
    assert_eq!(s.distinct_blobs().await.unwrap(), 1);
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
both_backends!(
    the_attachment_indexer_records_metadata_once,
    super::attachment_scenario
);
