//! The gateway's life: resume after a restart, fatal closes (4004, 4014) that fail
//! one tenant and no other, the exclusive lease, a revoked lease, the policy.

use std::sync::{Arc, Mutex, PoisonError};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use switchboard::actors::gateway::{
    FATAL_PREFIX, GatewayError, GatewayHandle, SessionStore, ShardStatus, TenantState,
};
use switchboard::config::Shards;
use switchboard::model::TenantId;
use switchboard::providers::discord::interactions::InteractionTokens;
use switchboard::sim::{InjectMessage, SimUser};
use switchboard::vault::{Capability, VaultError};

use crate::support::{
    CHAN_A, Collector, DUCK_BOT, DUCK_TOKEN, GOOSE_TOKEN, GUILD_A, LONG, MESSAGE_INTENTS, args,
    eventually, inject, start_ready, start_sim, tenant, vault, wait_failed,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_gateway_resumes_its_stored_session() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let sessions = SessionStore::memory();
    let tokens = InteractionTokens::new();
    let t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    let first = start_ready(args(t.clone(), &bus.bus, &vault, &tokens, &sessions)).await;
    let mut want = vec![inject(&sim, "one")];
    bus.wait_messages("duck", 1).await;
    first.stop().await;
    let id = TenantId::parse("discord", "duck").expect("id");
    let stored = sessions
        .load(&id, 0)
        .await
        .expect("load")
        .expect("session stored on stop");
    assert_eq!(stored.shard_total, 1);
    assert_eq!(stored.user_id, Some(DUCK_BOT));
    assert!(stored.resume_url.is_some());

    // Missed while no gateway ran: replayed on RESUME.
    want.push(inject(&sim, "while down"));
    let second = start_ready(args(t, &bus.bus, &vault, &tokens, &sessions)).await;
    let me = SimUser {
        id: DUCK_BOT,
        username: "duck-bot".into(),
        bot: true,
    };
    want.push(
        sim.inject_message(InjectMessage::guild(GUILD_A, CHAN_A, me, "mine"))
            .expect("inject")
            .to_string(),
    );
    let got = bus.wait_messages("duck", 3).await;
    assert_eq!(got.iter().map(|m| m.0.clone()).collect::<Vec<_>>(), want);
    assert!(got[2].2, "the bot's own id survives a resume (no READY)");

    let stats = sim.stats().tenant("duck");
    assert_eq!(
        (stats.identifies, stats.resumes),
        (1, 1),
        "RESUME, not IDENTIFY"
    );
    let s = &second.health().shards[0];
    assert_eq!((s.identifies, s.resumes), (0, 1));
    second.stop().await;
    bus.close().await;
    sim.shutdown().await;
}

/// A supervisor that records its children's exit reasons.
struct Recorder(Arc<Mutex<Vec<Option<String>>>>);

impl Actor for Recorder {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        evt: SupervisionEvent,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorTerminated(_, _, reason) = evt {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(reason);
        }
        Ok(())
    }
}

/// A dispatch replayed by RESUME (the stored session was older than what the bus
/// already had, as after a `kill -9` between two saves) is the same envelope: same id,
/// so idempotency marks and reply nonces match the first delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_replayed_by_resume_keeps_its_envelope_id() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let sessions = SessionStore::memory();
    let tokens = InteractionTokens::new();
    let t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    let first = start_ready(args(t.clone(), &bus.bus, &vault, &tokens, &sessions)).await;
    let one = inject(&sim, "one");
    let two = inject(&sim, "two");
    bus.wait_messages("duck", 2).await;
    first.stop().await;
    let ids = |message: &str| -> Vec<String> {
        bus.all()
            .into_iter()
            .filter(|e| match &e.payload {
                switchboard::model::Payload::Event(
                    switchboard::model::Event::SocialMessageCreated(m),
                ) => m.message_id == message,
                _ => false,
            })
            .map(|e| e.id.to_string())
            .collect()
    };
    let (id_one, id_two) = (ids(&one), ids(&two));
    assert_eq!((id_one.len(), id_two.len()), (1, 1));
    assert_ne!(id_one, id_two);

    // Pretend the last save happened before both messages: RESUME replays them.
    let id = TenantId::parse("discord", "duck").expect("id");
    let mut stored = sessions.load(&id, 0).await.expect("load").expect("stored");
    stored.sequence -= 2;
    sessions.save(&id, 0, &stored).await.expect("save");
    let second = start_ready(args(t, &bus.bus, &vault, &tokens, &sessions)).await;
    eventually(LONG, || async { ids(&two).len() == 2 }).await;
    let (again_one, again_two) = (ids(&one), ids(&two));
    assert_eq!(again_one, vec![id_one[0].clone(), id_one[0].clone()]);
    assert_eq!(again_two, vec![id_two[0].clone(), id_two[0].clone()]);
    assert_eq!(sim.stats().tenant("duck").resumes, 1, "replayed by RESUME");
    second.stop().await;
    bus.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_token_fails_its_tenant_with_4004_and_no_other() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", "not-the-duck-token"), ("goose", GOOSE_TOKEN)]).await;
    let exits = Arc::new(Mutex::new(Vec::new()));
    let (sup, sup_join) = Actor::spawn(None, Recorder(Arc::clone(&exits)), ())
        .await
        .expect("sup");

    let goose = start_ready(args(
        tenant(
            &sim,
            "goose",
            &["guilds", "guild_messages"],
            Shards::Fixed(1),
        ),
        &bus.bus,
        &vault,
        &InteractionTokens::new(),
        &SessionStore::memory(),
    ))
    .await;
    let (duck, duck_join) = GatewayHandle::start(
        args(
            tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1)),
            &bus.bus,
            &vault,
            &InteractionTokens::new(),
            &SessionStore::memory(),
        ),
        Some(sup.get_cell()),
    )
    .await
    .expect("starts (the gateway judges the token)");

    let reason = wait_failed(&duck).await;
    assert_eq!(reason, "4004 authentication failed (token rejected)");
    tokio::time::timeout(LONG, duck_join)
        .await
        .expect("stops")
        .expect("joins");
    assert_eq!(duck.health().shards[0].status, ShardStatus::Failed);
    assert_eq!(duck.health().shards[0].last_close_code, Some(4004));
    eventually(LONG, || async {
        !exits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    })
    .await;
    let exit = exits.lock().unwrap_or_else(PoisonError::into_inner)[0].clone();
    assert!(
        exit.as_deref()
            .is_some_and(|r| r.starts_with(FATAL_PREFIX) && r.contains("4004")),
        "{exit:?}"
    );
    // No retry loop: one IDENTIFY attempt, refused.
    assert_eq!(sim.stats().tenant("duck").identifies, 0);
    assert_eq!(sim.connected_sessions("duck"), 0);

    // The other tenant never noticed.
    let id = inject(&sim, "still here");
    let got = bus.wait_messages("goose", 1).await;
    assert_eq!(got[0].0, id);
    assert_eq!(goose.state(), TenantState::Running);
    goose.stop().await;
    sup.stop(None);
    let _ = sup_join.await;
    bus.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disallowed_intents_fail_with_the_privileged_intents_listed() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("goose", GOOSE_TOKEN)]).await;
    // goose has no privileged intent enabled at the emulator.
    let t = tenant(
        &sim,
        "goose",
        &["guilds", "guild_members", "message_content"],
        Shards::Fixed(1),
    );
    let (gw, join) = GatewayHandle::start(
        args(
            t,
            &bus.bus,
            &vault,
            &InteractionTokens::new(),
            &SessionStore::memory(),
        ),
        None,
    )
    .await
    .expect("starts");
    let reason = wait_failed(&gw).await;
    assert!(reason.starts_with("4014"), "{reason}");
    assert!(
        reason.contains("[guild_members, message_content]"),
        "{reason}"
    );
    tokio::time::timeout(LONG, join)
        .await
        .expect("stops")
        .expect("joins");
    bus.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_one_gateway_holds_a_tenant_lease() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    let tokens = InteractionTokens::new();
    let sessions = SessionStore::memory();
    let first = start_ready(args(t.clone(), &bus.bus, &vault, &tokens, &sessions)).await;
    let second =
        GatewayHandle::start(args(t.clone(), &bus.bus, &vault, &tokens, &sessions), None).await;
    assert!(
        matches!(
            second,
            Err(GatewayError::Lease(VaultError::AlreadyHeld { .. }))
        ),
        "{second:?}"
    );
    assert_eq!(sim.connected_sessions("duck"), 1);
    // Stopping releases the lease at once: a successor starts (and resumes).
    first.stop().await;
    let successor = start_ready(args(t, &bus.bus, &vault, &tokens, &sessions)).await;
    assert_eq!(sim.stats().tenant("duck").resumes, 1);
    successor.stop().await;
    bus.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_lease_closes_the_shards() {
    let sim = start_sim().await;
    let bus = Collector::new();
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    let (gw, join) = GatewayHandle::start(
        args(
            t,
            &bus.bus,
            &vault,
            &InteractionTokens::new(),
            &SessionStore::memory(),
        ),
        None,
    )
    .await
    .expect("starts");
    crate::support::wait_ready(&gw).await;
    let duck = TenantId::parse("discord", "duck").expect("tenant");
    let principal = vault.gateway_scope(&duck).principal().clone();
    assert_eq!(vault.revoke_principal(&principal).await.expect("revoke"), 1);
    assert_eq!(wait_failed(&gw).await, "lease lost: revoked");
    tokio::time::timeout(LONG, join)
        .await
        .expect("stops")
        .expect("joins");
    sim.wait_until(LONG, |s| s.connected_sessions("duck") == 0)
        .await
        .expect("closed");
    assert_eq!(gw.health().shards[0].status, ShardStatus::Stopped);
    bus.close().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_and_other_tenants_cannot_lease_a_bot_token() {
    let vault = vault(&[("duck", DUCK_TOKEN)]).await;
    let path = || "discord/duck/bot_token".parse().expect("path");
    let duck = TenantId::parse("discord", "duck").expect("p");
    let goose = TenantId::parse("discord", "goose").expect("p");
    for principal in [
        vault.worker_scope(Some(&duck)),
        vault.worker_scope(None),
        vault.gateway_scope(&goose),
    ] {
        for cap in [Capability::ProviderGateway, Capability::ProviderRest] {
            let r = principal.lease(path(), cap, None).await;
            assert!(
                matches!(r, Err(VaultError::PolicyDenied { .. })),
                "{} {cap}: {r:?}",
                principal.principal()
            );
        }
    }
    vault.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lease_rolls_over_before_the_vaults_maximum_lifetime() {
    use std::time::Duration;
    use switchboard::vault::{AuditEvent, VaultConfig};

    let sim = start_sim().await;
    let bus = Collector::new();
    let config = VaultConfig {
        max_ttl: Duration::from_millis(1_500),
        sweep_interval: Duration::from_millis(50),
        ..VaultConfig::default()
    };
    let vault = crate::support::vault_with(config, &[("duck", DUCK_TOKEN)]).await;
    let t = tenant(&sim, "duck", MESSAGE_INTENTS, Shards::Fixed(1));
    let mut a = args(
        t,
        &bus.bus,
        &vault,
        &InteractionTokens::new(),
        &SessionStore::memory(),
    );
    a.lease_ttl = Some(Duration::from_millis(600));
    let gw = start_ready(a).await;
    // Three grants: the gateway outlived two maximum lifetimes of a lease.
    eventually(LONG, || async {
        let audit = vault.audit(1_000).await.expect("audit");
        audit
            .iter()
            .filter(|r| r.event == AuditEvent::Grant && r.principal == "gateway(discord/duck)")
            .count()
            >= 3
    })
    .await;
    assert_eq!(gw.state(), TenantState::Running);
    assert_eq!(
        gw.health().shards[0].reconnects,
        0,
        "the shard never noticed"
    );
    let id = inject(&sim, "still here");
    assert_eq!(bus.wait_messages("duck", 1).await[0].0, id);
    gw.stop().await;
    bus.close().await;
    sim.shutdown().await;
}
