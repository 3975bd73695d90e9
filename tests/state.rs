//! The state manager (`src/state/`): every operation through one scenario suite, run
//! on the memory backend and on a throwaway `redis-server` (random key prefix).

#![allow(clippy::too_many_lines)]

mod common;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard::model::TenantId;
use switchboard::state::{
    Cooldown, CooldownScope, Coordination, StateError, StateStore, Takeover, TenantState, Turn,
};

use common::eventually;
use common::redis::TestRedis;

fn tenant(name: &str) -> TenantId {
    TenantId::parse("discord", name).expect("tenant")
}

/// Both backends: the memory store, and a Redis store (its server lives as long as
/// the returned guard).
async fn stores() -> (Vec<StateStore>, TestRedis) {
    let redis = TestRedis::start().await;
    let r = StateStore::redis(&redis.url(), redis.prefix())
        .await
        .expect("redis store");
    (vec![StateStore::memory(), r], redis)
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Game {
    round: u32,
    players: Vec<String>,
}

async fn key_values(s: &TenantState, name: &str) {
    assert_eq!(s.get("k").await.unwrap(), None, "{name}");
    s.set("k", b"v1", None).await.unwrap();
    assert_eq!(
        s.get("k").await.unwrap().as_deref(),
        Some(&b"v1"[..]),
        "{name}"
    );
    assert!(!s.set_if_absent("k", b"v2", None).await.unwrap(), "{name}");
    assert!(s.set_if_absent("k2", b"v2", None).await.unwrap(), "{name}");
    // Compare-and-set: only from the expected value; `None` means absent.
    assert!(
        !s.compare_and_set("k", Some(b"nope"), b"v3", None)
            .await
            .unwrap()
    );
    assert!(
        s.compare_and_set("k", Some(b"v1"), b"v3", None)
            .await
            .unwrap()
    );
    assert!(!s.compare_and_set("k", None, b"v4", None).await.unwrap());
    assert!(s.compare_and_set("k3", None, b"new", None).await.unwrap());
    assert_eq!(
        s.get("k").await.unwrap().as_deref(),
        Some(&b"v3"[..]),
        "{name}"
    );
    assert!(s.delete("k").await.unwrap());
    assert!(!s.delete("k").await.unwrap());
    // Counters.
    assert_eq!(s.incr("n", 5, None).await.unwrap(), 5, "{name}");
    assert_eq!(s.incr("n", -2, None).await.unwrap(), 3, "{name}");
    let err = s.incr("k2", 1, None).await.expect_err("not an integer");
    assert!(
        matches!(err, StateError::NotAnInteger { ref key } if key == "k2"),
        "{name}: {err}"
    );
    // Serde values.
    let g = Game {
        round: 3,
        players: vec!["a".into(), "b".into()],
    };
    s.set_as("game", &g, None).await.unwrap();
    assert_eq!(s.get_as::<Game>("game").await.unwrap(), Some(g), "{name}");
    let err = s.get_as::<Game>("k2").await.expect_err("not a game");
    assert!(matches!(err, StateError::Codec { .. }), "{name}: {err}");
    // TTLs.
    s.set("short", b"x", Some(Duration::from_secs(100)))
        .await
        .unwrap();
    let left = s.ttl("short").await.unwrap().expect("expires");
    assert!(
        left <= Duration::from_secs(100) && left > Duration::from_secs(90),
        "{name}: {left:?}"
    );
    assert_eq!(s.ttl("k2").await.unwrap(), None, "{name}");
    s.set("gone", b"x", Some(Duration::from_millis(50)))
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || async {
        s.get("gone").await.unwrap().is_none()
    })
    .await;
    // A counter created with a TTL expires; increments keep the first expiry.
    assert_eq!(
        s.incr("window", 1, Some(Duration::from_secs(60)))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.incr("window", 1, Some(Duration::from_secs(60)))
            .await
            .unwrap(),
        2
    );
    assert!(s.ttl("window").await.unwrap().is_some(), "{name}");
}

async fn sets_and_maps(s: &TenantState, name: &str) {
    assert!(s.set_add("seen", b"b", None).await.unwrap());
    assert!(s.set_add("seen", b"a", None).await.unwrap());
    assert!(!s.set_add("seen", b"a", None).await.unwrap(), "{name}");
    assert_eq!(
        s.set_members("seen").await.unwrap(),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    assert!(s.set_remove("seen", b"a").await.unwrap());
    assert!(!s.set_remove("seen", b"a").await.unwrap(), "{name}");
    s.map_set("prefs", "lang", b"de", None).await.unwrap();
    s.map_set("prefs", "tz", b"UTC", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(
        s.map_get("prefs", "lang").await.unwrap().as_deref(),
        Some(&b"de"[..])
    );
    assert_eq!(
        s.map_all("prefs").await.unwrap(),
        vec![
            ("lang".to_owned(), b"de".to_vec()),
            ("tz".to_owned(), b"UTC".to_vec())
        ],
        "{name}"
    );
    assert!(s.map_remove("prefs", "lang").await.unwrap());
    assert_eq!(s.map_get("prefs", "lang").await.unwrap(), None, "{name}");
    // Spaces are separate: a set named like a key is another thing.
    assert_eq!(s.get("seen").await.unwrap(), None, "{name}");
}

async fn cooldowns(s: &TenantState, name: &str) {
    let rate = Cooldown::new(3, Duration::from_secs(60));
    let mut allowed = 0;
    for _ in 0..5 {
        if s.cooldown(CooldownScope::User, "u1", "roll", rate)
            .await
            .unwrap()
            .is_allowed()
        {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 3, "{name}: a burst of the rate, then refused");
    let d = s
        .cooldown(CooldownScope::User, "u1", "roll", rate)
        .await
        .unwrap();
    let msg = d.message().expect("refused");
    assert!(msg.starts_with("try again in "), "{name}: {msg}");
    assert!(
        s.cooldown(CooldownScope::User, "u2", "roll", rate)
            .await
            .unwrap()
            .is_allowed(),
        "{name}: per user"
    );
    assert!(
        s.cooldown(CooldownScope::Tenant, "ignored", "roll", rate)
            .await
            .unwrap()
            .is_allowed(),
        "{name}: tenant scope is its own counter"
    );
    let err = s
        .cooldown(
            CooldownScope::User,
            "u1",
            "roll",
            Cooldown::new(0, Duration::from_secs(1)),
        )
        .await
        .expect_err("zero rate");
    assert!(matches!(err, StateError::Invalid(_)), "{name}");
}

async fn sessions(s: &TenantState, name: &str) {
    let ttl = Duration::from_secs(60);
    let started = s
        .session_start("game", "g1", "alice", ttl, b"d1", Takeover::Never)
        .await
        .unwrap();
    assert_eq!(
        (started.owner.as_str(), started.scope.as_str()),
        ("alice", "g1")
    );
    // At most one per scope: bob is refused, and told who holds it.
    let err = s
        .session_start("game", "g1", "bob", ttl, b"", Takeover::Never)
        .await
        .expect_err("held");
    match err {
        StateError::SessionHeld { owner, left, .. } => {
            assert_eq!(owner, "alice", "{name}");
            assert!(left > Duration::from_secs(50), "{name}: {left:?}");
        }
        other => panic!("{name}: {other}"),
    }
    // The owner restarting refreshes it, keeping the start time.
    let again = s
        .session_start("game", "g1", "alice", ttl, b"d2", Takeover::Never)
        .await
        .unwrap();
    assert_eq!(again.started_ms, started.started_ms, "{name}");
    assert_eq!(
        s.session_info("game", "g1")
            .await
            .unwrap()
            .expect("live")
            .data,
        b"d2"
    );
    s.session_start("game", "g2", "carol", ttl, b"", Takeover::Never)
        .await
        .unwrap();
    let list: Vec<String> = s
        .session_list("game")
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.scope)
        .collect();
    assert_eq!(list, ["g1", "g2"], "{name}");
    // Renew and stop only by the owner; an admin (None) stops any.
    assert!(
        s.session_renew("game", "g1", "bob", ttl)
            .await
            .unwrap()
            .is_none(),
        "{name}"
    );
    assert!(
        s.session_renew("game", "g1", "alice", ttl)
            .await
            .unwrap()
            .is_some(),
        "{name}"
    );
    assert!(
        !s.session_stop("game", "g1", Some("bob")).await.unwrap(),
        "{name}"
    );
    // A forced takeover.
    let taken = s
        .session_start("game", "g1", "bob", ttl, b"", Takeover::Force)
        .await
        .unwrap();
    assert_eq!(taken.owner, "bob", "{name}");
    assert!(s.session_stop("game", "g1", Some("bob")).await.unwrap());
    assert!(s.session_stop("game", "g2", None).await.unwrap());
    assert!(s.session_list("game").await.unwrap().is_empty(), "{name}");
    // An abandoned session (not renewed) frees its scope on its own.
    s.session_start(
        "game",
        "g3",
        "dave",
        Duration::from_millis(100),
        b"",
        Takeover::Never,
    )
    .await
    .unwrap();
    eventually(Duration::from_secs(10), || async {
        s.session_start("game", "g3", "erin", ttl, b"", Takeover::Never)
            .await
            .is_ok()
    })
    .await;
    assert_eq!(s.session_list("game").await.unwrap().len(), 1, "{name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_behaves_the_same_on_both_backends() {
    let (stores, _redis) = stores().await;
    for store in &stores {
        let name = store.backend_name();
        let s = store.for_tenant(&tenant("duck"));
        key_values(&s, name).await;
        sets_and_maps(&s, name).await;
        cooldowns(&s, name).await;
        sessions(&s, name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_never_see_each_others_state() {
    let (stores, _redis) = stores().await;
    for store in &stores {
        let name = store.backend_name();
        let duck = store.for_tenant(&tenant("duck"));
        let goose = store.for_tenant(&tenant("goose"));
        duck.set("shared-name", b"duck's", None).await.unwrap();
        duck.set_add("s", b"m", None).await.unwrap();
        duck.session_start(
            "game",
            "g",
            "alice",
            Duration::from_secs(60),
            b"",
            Takeover::Never,
        )
        .await
        .unwrap();
        assert_eq!(goose.get("shared-name").await.unwrap(), None, "{name}");
        assert!(goose.set_members("s").await.unwrap().is_empty(), "{name}");
        assert!(
            goose.session_list("game").await.unwrap().is_empty(),
            "{name}"
        );
        // Keys that look like paths into another tenant are just names here.
        for k in [
            "../goose/shared-name",
            "{discord:goose}:state:kv:shared-name",
            "*",
        ] {
            assert_eq!(duck.get(k).await.unwrap(), None, "{name}: {k}");
            goose.set(k, b"x", None).await.unwrap();
            assert_eq!(duck.get(k).await.unwrap(), None, "{name}: {k}");
        }
        assert!(
            goose
                .set_if_absent("shared-name", b"goose's", None)
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(
            duck.get("shared-name").await.unwrap().as_deref(),
            Some(&b"duck's"[..])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_get_a_clear_error() {
    let (stores, _redis) = stores().await;
    for store in &stores {
        let s = store.for_tenant(&tenant("duck"));
        for bad in ["", "a\nb", &"x".repeat(513)] {
            let err = s.set(bad, b"v", None).await.expect_err("invalid");
            assert!(matches!(err, StateError::InvalidKey { .. }), "{err}");
            assert!(err.to_string().starts_with("invalid state key"), "{err}");
        }
        assert!(s.map_set("m", "", b"v", None).await.is_err());
        assert!(
            s.session_start("", "g", "o", Duration::from_secs(1), b"", Takeover::Never)
                .await
                .is_err()
        );
    }
}

/// Many tasks (as many workers on many nodes would) increment one counter, take one
/// session and compete for one key: the counts are exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_operations_are_atomic() {
    let (stores, redis) = stores().await;
    // A second Redis store: another node's connection to the same Redis.
    let other = StateStore::redis(&redis.url(), redis.prefix())
        .await
        .unwrap();
    for (store, peer) in [(&stores[0], &stores[0]), (&stores[1], &other)] {
        let name = store.backend_name();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let s = if i % 2 == 0 { store } else { peer }.for_tenant(&tenant("duck"));
            tasks.push(tokio::spawn(async move {
                let mut won = 0u32;
                for _ in 0..20 {
                    s.incr("hits", 1, None).await.unwrap();
                }
                if s.set_if_absent("first", format!("{i}").as_bytes(), None)
                    .await
                    .unwrap()
                {
                    won += 1;
                }
                if s.session_start(
                    "game",
                    "g",
                    &format!("p{i}"),
                    Duration::from_secs(60),
                    b"",
                    Takeover::Never,
                )
                .await
                .is_ok()
                {
                    won += 10;
                }
                let allowed = s
                    .cooldown(
                        CooldownScope::Guild,
                        "g",
                        "x",
                        Cooldown::new(7, Duration::from_secs(600)),
                    )
                    .await
                    .unwrap()
                    .is_allowed();
                (won, allowed)
            }));
        }
        let mut firsts = 0;
        let mut sessions = 0;
        let mut allowed = 0;
        for t in tasks {
            let (won, ok) = t.await.unwrap();
            firsts += won % 10;
            sessions += won / 10;
            allowed += u32::from(ok);
        }
        let s = store.for_tenant(&tenant("duck"));
        assert_eq!(
            s.incr("hits", 0, None).await.unwrap(),
            1000,
            "{name}: 50 × 20 increments"
        );
        assert_eq!(firsts, 1, "{name}: one set-if-absent wins");
        assert_eq!(sessions, 1, "{name}: one session per scope");
        assert_eq!(
            allowed, 7,
            "{name}: the cooldown lets exactly its rate through"
        );
    }
}

/// Turn claims among the bots of a namespace, on both backends: first come first
/// served up to the policy's maximum, a retried claimant keeps its turn, a pile-on
/// cooldown hands the next turn to others, and the channel's activity names who
/// answered; 50 concurrent claimants over two connections give exactly `max` turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_take_turns_in_shared_channels() {
    let (stores, redis) = stores().await;
    let other = StateStore::redis(&redis.url(), redis.prefix())
        .await
        .unwrap();
    let one = Coordination::default();
    let two = Coordination {
        max_bots_per_message: 2,
        ..Coordination::default()
    };
    let polite = Coordination {
        pile_on_cooldown_secs: 60,
        ..Coordination::default()
    };
    for (store, peer) in [(&stores[0], &stores[0]), (&stores[1], &other)] {
        let name = store.backend_name();
        let ch = store.channels("promethean");
        assert_eq!(
            ch.claim_turn("c1", "m1", "discord/b1", &one).await.unwrap(),
            Turn::Mine
        );
        assert_eq!(
            ch.claim_turn("c1", "m1", "discord/b2", &one).await.unwrap(),
            Turn::Taken {
                by: vec!["discord/b1".to_owned()]
            },
            "{name}"
        );
        assert!(
            ch.claim_turn("c1", "m1", "discord/b1", &one)
                .await
                .unwrap()
                .is_mine(),
            "{name}: a retry keeps its turn"
        );
        assert!(
            ch.claim_turn("c1", "m2", "discord/b1", &two)
                .await
                .unwrap()
                .is_mine()
        );
        assert!(
            ch.claim_turn("c1", "m2", "discord/b2", &two)
                .await
                .unwrap()
                .is_mine(),
            "{name}"
        );
        assert!(
            !ch.claim_turn("c1", "m2", "discord/b3", &two)
                .await
                .unwrap()
                .is_mine(),
            "{name}"
        );
        // Another namespace is another world.
        assert!(
            store
                .channels("other")
                .claim_turn("c1", "m1", "discord/b2", &one)
                .await
                .unwrap()
                .is_mine()
        );
        // A pile-on cooldown: b4 answered in c2, so b5 takes the next message there.
        assert!(
            ch.claim_turn("c2", "m1", "discord/b4", &polite)
                .await
                .unwrap()
                .is_mine()
        );
        assert_eq!(
            ch.claim_turn("c2", "m2", "discord/b4", &polite)
                .await
                .unwrap(),
            Turn::Cooldown,
            "{name}"
        );
        assert!(
            ch.claim_turn("c2", "m2", "discord/b5", &polite)
                .await
                .unwrap()
                .is_mine(),
            "{name}"
        );
        let bots: Vec<String> = ch
            .activity("c2")
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.bot)
            .collect();
        let mut sorted = bots.clone();
        sorted.sort();
        assert_eq!(sorted, ["discord/b4", "discord/b5"], "{name}");
        assert!(ch.activity("nobody-here").await.unwrap().is_empty());
        let err = ch
            .claim_turn(
                "c1",
                "m9",
                "discord/b1",
                &Coordination {
                    max_bots_per_message: 0,
                    ..one
                },
            )
            .await
            .expect_err("zero");
        assert!(matches!(err, StateError::Invalid(_)), "{name}");

        let mut tasks = Vec::new();
        for i in 0..50 {
            let ch = if i % 2 == 0 { store } else { peer }.channels("promethean");
            tasks.push(tokio::spawn(async move {
                ch.claim_turn("c3", "m1", &format!("discord/b{i}"), &two)
                    .await
                    .unwrap()
                    .is_mine()
            }));
        }
        let mut mine = 0;
        for t in tasks {
            mine += usize::from(t.await.unwrap());
        }
        assert_eq!(mine, 2, "{name}: exactly max_bots_per_message turns");
    }
}
