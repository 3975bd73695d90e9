//! The store's operations, directly: idempotent upserts, edit history, soft delete,
//! attachment dedup, cursors, vector search and its tenant isolation, and the
//! namespace guard.

use switchboard::model::{Attachment, SocialMessageDeleted, SocialMessageUpdated};
use switchboard::store::{DeleteOutcome, EditOutcome, MESSAGES_KIND, StoreError, Upsert};

use crate::both_backends;
use crate::support::{TestDb, message, tenant};

fn edit(id: &str, content: &str, at: Option<i64>) -> SocialMessageUpdated {
    SocialMessageUpdated {
        message_id: id.to_owned(),
        channel_id: "10".to_owned(),
        guild_id: Some("1".to_owned()),
        author: None,
        content: Some(content.to_owned()),
        edited_timestamp_ms: at,
    }
}

async fn messages_edits_and_deletes(db: &TestDb) {
    let store = db.connect().await;
    let duck = store
        .register_tenant(&tenant("duck"), "discord__duck")
        .await
        .unwrap();
    let m = message("100", "10", "hello");
    // The same message three times is one row.
    assert_eq!(duck.upsert_message(&m).await.unwrap(), Upsert::Inserted);
    for _ in 0..2 {
        assert_eq!(duck.upsert_message(&m).await.unwrap(), Upsert::Unchanged);
    }
    duck.upsert_message(&message("101", "10", "other"))
        .await
        .unwrap();
    assert_eq!(duck.messages_count().await.unwrap(), 2);

    // An edit, delivered three times: one history row.
    for i in 0..3 {
        let want = if i == 0 {
            EditOutcome::Edited
        } else {
            EditOutcome::Unchanged
        };
        assert_eq!(
            duck.edit_message(&edit("100", "hello, world", Some(5)))
                .await
                .unwrap(),
            want
        );
    }
    // A second edit; then the first one redelivered late changes nothing.
    assert_eq!(
        duck.edit_message(&edit("100", "hello again", Some(9)))
            .await
            .unwrap(),
        EditOutcome::Edited
    );
    assert_eq!(
        duck.edit_message(&edit("100", "hello, world", Some(5)))
            .await
            .unwrap(),
        EditOutcome::Unchanged
    );
    // Without an edit time the content keys the edit.
    for _ in 0..2 {
        duck.edit_message(&edit("101", "other, edited", None))
            .await
            .unwrap();
    }
    assert_eq!(
        duck.edit_message(&edit("404", "nope", Some(1)))
            .await
            .unwrap(),
        EditOutcome::UnknownMessage
    );
    let stored = duck.message("100").await.unwrap().unwrap();
    assert_eq!(
        (stored.content.as_str(), stored.edited_ms),
        ("hello again", Some(9))
    );
    assert_eq!(stored.namespace, "discord__duck");
    let history = duck.edits("100").await.unwrap();
    let olds: Vec<&str> = history.iter().map(|e| e.old_content.as_str()).collect();
    assert_eq!(olds, ["hello", "hello, world"]);
    assert_eq!(duck.edits_count().await.unwrap(), 3);

    // Soft delete: the row stays, marked; twice is once.
    let del = SocialMessageDeleted {
        message_id: "100".to_owned(),
        channel_id: "10".to_owned(),
        guild_id: None,
    };
    assert_eq!(
        duck.delete_message(&del).await.unwrap(),
        DeleteOutcome::Deleted
    );
    assert_eq!(
        duck.delete_message(&del).await.unwrap(),
        DeleteOutcome::AlreadyDeleted
    );
    assert!(duck.message("100").await.unwrap().unwrap().is_deleted());
    assert_eq!(duck.messages_count().await.unwrap(), 2);
    assert_eq!(duck.deleted_count().await.unwrap(), 1);
    // An edit of a deleted message is not applied.
    assert_eq!(
        duck.edit_message(&edit("100", "zombie", Some(99)))
            .await
            .unwrap(),
        EditOutcome::Unchanged
    );
    store.close().await;
}
both_backends!(
    messages_edits_and_deletes_are_idempotent,
    super::messages_edits_and_deletes
);

fn attachment(id: &str, name: &str) -> Attachment {
    Attachment {
        id: id.to_owned(),
        filename: name.to_owned(),
        url: format!("https://cdn.example/{id}/{name}"),
        size: 3,
        content_type: Some("text/plain".to_owned()),
    }
}

async fn attachments_dedup_and_cursors(db: &TestDb) {
    let store = db.connect().await;
    let duck = store
        .register_tenant(&tenant("duck"), "discord__duck")
        .await
        .unwrap();
    let goose = store
        .register_tenant(&tenant("goose"), "discord__goose")
        .await
        .unwrap();
    for _ in 0..3 {
        duck.upsert_attachment("100", &attachment("a1", "x.txt"))
            .await
            .unwrap();
    }
    duck.upsert_attachment("100", &attachment("a2", "copy.txt"))
        .await
        .unwrap();
    duck.upsert_attachment("101", &attachment("a3", "y.txt"))
        .await
        .unwrap();
    goose
        .upsert_attachment("100", &attachment("a1", "x.txt"))
        .await
        .unwrap();
    assert_eq!(duck.attachments_count().await.unwrap(), 3);
    assert_eq!(
        duck.distinct_blobs().await.unwrap(),
        0,
        "nothing hashed yet"
    );
    let (same, other) = ("aa".repeat(32), "bb".repeat(32));
    // a1 and a2 carry the same bytes; hashing twice counts once.
    for _ in 0..2 {
        assert!(duck.set_attachment_hash("a1", &same, 3).await.unwrap());
    }
    assert!(duck.set_attachment_hash("a2", &same, 3).await.unwrap());
    assert!(duck.set_attachment_hash("a3", &other, 4).await.unwrap());
    assert!(!duck.set_attachment_hash("nope", &other, 4).await.unwrap());
    assert_eq!(duck.distinct_blobs().await.unwrap(), 2);
    // Re-hashing a3 to the shared bytes leaves one blob.
    duck.set_attachment_hash("a3", &same, 3).await.unwrap();
    assert_eq!(duck.distinct_blobs().await.unwrap(), 1);
    let a3 = duck.attachment("a3").await.unwrap().unwrap();
    assert_eq!(
        (a3.sha256.as_deref(), a3.message_id.as_str()),
        (Some(same.as_str()), "101")
    );
    // Goose's blobs are its own.
    assert_eq!(goose.distinct_blobs().await.unwrap(), 0);
    assert_eq!(goose.attachments_count().await.unwrap(), 1);

    // Cursors, per tenant.
    assert_eq!(duck.cursor("backfill").await.unwrap(), None);
    duck.set_cursor("backfill", "1").await.unwrap();
    duck.set_cursor("backfill", "2").await.unwrap();
    assert_eq!(duck.cursor("backfill").await.unwrap().as_deref(), Some("2"));
    assert_eq!(goose.cursor("backfill").await.unwrap(), None);
    store.close().await;
}
both_backends!(
    attachments_dedup_and_cursors_are_per_tenant,
    super::attachments_dedup_and_cursors
);

async fn vector_search(db: &TestDb) {
    let store = db.connect().await;
    let duck = store
        .register_tenant(&tenant("duck"), "discord__duck")
        .await
        .unwrap();
    let goose = store
        .register_tenant(&tenant("goose"), "discord__goose")
        .await
        .unwrap();
    let vectors: [(&str, [f32; 3]); 4] = [
        ("1", [1.0, 0.0, 0.0]),
        ("2", [0.8, 0.6, 0.0]),
        ("3", [0.0, 1.0, 0.0]),
        ("4", [-1.0, 0.0, 0.0]),
    ];
    for (id, v) in &vectors {
        duck.upsert_message(&message(id, "10", &format!("m{id}")))
            .await
            .unwrap();
        duck.put_embedding(MESSAGES_KIND, id, "test-model", v)
            .await
            .unwrap();
    }
    // Goose has a message whose vector equals the query exactly.
    goose
        .upsert_message(&message("9", "10", "goose's"))
        .await
        .unwrap();
    goose
        .put_embedding(MESSAGES_KIND, "9", "test-model", &[1.0, 0.0, 0.0])
        .await
        .unwrap();
    // A vector of another dimension is not compared.
    duck.upsert_message(&message("5", "10", "m5"))
        .await
        .unwrap();
    duck.put_embedding(MESSAGES_KIND, "5", "other", &[1.0, 0.0])
        .await
        .unwrap();

    let hits = duck
        .similar_to_vector(MESSAGES_KIND, &[1.0, 0.1, 0.0], 3)
        .await
        .unwrap();
    let ids: Vec<&str> = hits.iter().map(|(m, _)| m.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3"]);
    assert!(hits[0].1 > hits[1].1 && hits[1].1 > hits[2].1, "{hits:?}");
    let all = duck
        .similar_to_vector(MESSAGES_KIND, &[1.0, 0.0, 0.0], 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 4, "duck's 3-dimensional vectors only: {all:?}");
    assert!(all.iter().all(|(m, _)| m.id != "9"), "never goose's");
    // Replacing a vector; deleting a message hides it.
    duck.put_embedding(MESSAGES_KIND, "4", "test-model", &[1.0, 0.0, 0.0])
        .await
        .unwrap();
    assert_eq!(duck.embeddings_count().await.unwrap(), 5);
    duck.delete_message(&SocialMessageDeleted {
        message_id: "1".to_owned(),
        channel_id: "10".to_owned(),
        guild_id: None,
    })
    .await
    .unwrap();
    let top = duck
        .similar_to_vector(MESSAGES_KIND, &[1.0, 0.0, 0.0], 1)
        .await
        .unwrap();
    assert_eq!(top[0].0.id, "4");
    assert!(matches!(
        duck.similar_to_vector(MESSAGES_KIND, &[0.0, 0.0, 0.0], 1)
            .await,
        Err(StoreError::Vector(_))
    ));
    let g = goose
        .similar_to_vector(MESSAGES_KIND, &[1.0, 0.0, 0.0], 10)
        .await
        .unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!(g[0].0.content, "goose's");
    store.close().await;
}
both_backends!(
    similar_to_vector_ranks_by_cosine_within_the_tenant,
    super::vector_search
);

async fn namespace_guard(db: &TestDb) {
    let store = db.connect().await;
    let duck = tenant("duck");
    // Without rows a namespace may change freely.
    store.register_tenant(&duck, "first").await.unwrap();
    let s = store.register_tenant(&duck, "discord__duck").await.unwrap();
    s.upsert_message(&message("1", "10", "kept")).await.unwrap();
    s.upsert_attachment("1", &attachment("a", "f"))
        .await
        .unwrap();
    store.close().await;

    // A restart with another namespace is refused while rows exist…
    let store = db.connect().await;
    let err = store.register_tenant(&duck, "renamed").await.unwrap_err();
    match &err {
        StoreError::NamespaceChanged {
            stored,
            configured,
            rows,
            ..
        } => {
            assert_eq!(
                (stored.as_str(), configured.as_str(), *rows),
                ("discord__duck", "renamed", 2)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("move them first"), "{err}");
    // …until they are moved.
    assert_eq!(store.move_namespace(&duck, "renamed").await.unwrap(), 2);
    let s = store.register_tenant(&duck, "renamed").await.unwrap();
    assert_eq!(s.message("1").await.unwrap().unwrap().namespace, "renamed");
    assert_eq!(s.messages_count().await.unwrap(), 1);
    store.close().await;
}
both_backends!(
    a_namespace_rename_is_refused_while_rows_exist,
    super::namespace_guard
);

/// A runtime whose registry renames a tenant's namespace over stored rows does not
/// start, and says why.
async fn runtime_refuses_renamed_namespace(db: &TestDb) {
    use switchboard::config::{LoadOptions, Registry};
    let store = db.connect().await;
    let s = store
        .register_tenant(&tenant("duck"), "discord__duck")
        .await
        .unwrap();
    s.upsert_message(&message("1", "10", "kept")).await.unwrap();
    store.close().await;
    let yaml = format!(
        "runtime:\n  handlers: []\n  store: {}\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials: {{ bot_token: fake-duck }}\n    storage: {{ namespace: elsewhere }}\n",
        db.yaml()
    );
    let reg = Registry::from_yaml_str(&yaml, "t.yml", &LoadOptions::default()).unwrap();
    let err = switchboard::Runtime::builder()
        .config(reg)
        .admin_listen(None)
        .build()
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("discord/duck") && text.contains("elsewhere"),
        "{text}"
    );
}
both_backends!(
    a_runtime_with_a_renamed_namespace_does_not_start,
    super::runtime_refuses_renamed_namespace
);

/// `switchboard store move-namespace` moves a tenant's rows to the namespace its
/// registry entry names now; then a runtime with the renamed namespace starts.
async fn move_namespace_command(db: &TestDb) {
    let store = db.connect().await;
    let s = store
        .register_tenant(&tenant("duck"), "discord__duck")
        .await
        .unwrap();
    s.upsert_message(&message("1", "10", "kept")).await.unwrap();
    store.close().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.yml");
    std::fs::write(
        &file,
        format!(
            "runtime:\n  handlers: []\n  store: {}\nproviders:\n  - provider: discord\n    tenant: duck\n    credentials: {{ bot_token: fake-duck }}\n    storage: {{ namespace: renamed }}\n",
            db.yaml()
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["store", "move-namespace", "--config"])
            .arg(&file)
            .arg("discord/duck")
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 rows moved to namespace \"renamed\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains("postgres@"),
        "no credentials shown: {stdout}"
    );
    let store = db.connect().await;
    let s = store
        .register_tenant(&tenant("duck"), "renamed")
        .await
        .unwrap();
    assert_eq!(s.message("1").await.unwrap().unwrap().namespace, "renamed");
    store.close().await;
}
both_backends!(
    the_move_namespace_command_moves_the_rows,
    super::move_namespace_command
);

/// `path: ":memory:"` (the demo's store): a working store that lives as long as
/// its pool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_sqlite_store_works() {
    let store =
        switchboard::store::Store::connect(&switchboard::store::StoreConfig::sqlite(":memory:"))
            .await
            .unwrap();
    let s = store.tenant(&tenant("duck"), "discord__duck");
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.upsert_message(&message(&i.to_string(), "10", "x")).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(s.messages_count().await.unwrap(), 4);
    assert_eq!(store.target(), "sqlite::memory:");
    store.close().await;
}
