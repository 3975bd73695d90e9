//! Failures: the circuit breaker on a run of 5xx (a stub server), a rejected token
//! failing only its tenant, the vault refusing a worker the token, and a REST actor
//! refusing a vault scope minted for anyone but itself.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post as post_route;
use futures_util::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use serde_json::json;
use switchboard::actors::rest::{BudgetConfig, CircuitState, RestConfig, TenantState};
use switchboard::model::RestErrorKind;
use switchboard::vault::{Capability, TenantId, VaultError};
use tokio_util::sync::CancellationToken;

use crate::support::{
    DUCK_APP, DUCK_TOKEN, GOOSE_APP, LONG, World, channel, eventually, post, sim_config,
};

/// A REST "provider" answering 500 until told to recover.
async fn stub(healthy: Arc<AtomicBool>, hits: Arc<AtomicU64>) -> (String, CancellationToken) {
    let app = Router::new().route(
        "/api/v10/channels/{channel_id}/messages",
        post_route(move || {
            let (healthy, hits) = (Arc::clone(&healthy), Arc::clone(&hits));
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                if healthy.load(Ordering::SeqCst) {
                    (
                        StatusCode::OK,
                        axum::Json(json!({"id": "7", "channel_id": "8"})),
                    )
                } else {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        axum::Json(json!({"message": "boom", "code": 0})),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let done = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(done.cancelled_owned())
            .await;
    });
    (format!("http://{addr}"), stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::many_single_char_names)] // answers a..d, in order
async fn the_circuit_opens_on_5xx_and_recovers() {
    let healthy = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicU64::new(0));
    let (api, stop) = stub(Arc::clone(&healthy), Arc::clone(&hits)).await;
    let mut w = World::new(None, &[("duck", DUCK_TOKEN)], BudgetConfig::default()).await;
    let config = RestConfig {
        max_retries: 1,
        retry_base: Duration::from_millis(5),
        retry_max: Duration::from_millis(20),
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_millis(300),
        ..RestConfig::default()
    };
    w.start("duck", DUCK_APP, &api, config).await;

    // Two attempts (one retry), both 500.
    let a = w.request("duck", post(channel(0), "a")).await;
    assert_eq!(a.error_kind, Some(RestErrorKind::ServerError), "{a:?}");
    assert_eq!(a.status, 500);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // The third failure opens the circuit; the retry is refused.
    let b = w.request("duck", post(channel(0), "b")).await;
    assert_eq!(b.error_kind, Some(RestErrorKind::CircuitOpen), "{b:?}");
    assert_eq!(w.rest("duck").health().circuit, CircuitState::Open);
    // Open: answered at once, nothing sent.
    let sent = hits.load(Ordering::SeqCst);
    let c = w.request("duck", post(channel(0), "c")).await;
    assert_eq!(c.error_kind, Some(RestErrorKind::CircuitOpen));
    assert!(c.retry_after_ms.is_some());
    assert_eq!(hits.load(Ordering::SeqCst), sent);

    // The provider recovers; after the cooldown a trial closes the circuit.
    healthy.store(true, Ordering::SeqCst);
    let rest = w.rest("duck").clone();
    eventually(|| rest.health().circuit == CircuitState::HalfOpen).await;
    let d = w.request("duck", post(channel(0), "d")).await;
    assert!(d.ok, "{d:?}");
    let h = w.rest("duck").health();
    assert_eq!(h.circuit, CircuitState::Closed);
    assert_eq!(h.circuit_opens, 1);
    assert_eq!(h.requests.server_error, 3);
    assert_eq!(h.state, TenantState::Running);
    w.shutdown().await;
    stop.cancel();
}

/// Records why supervised actors ended.
struct Watcher(Arc<Mutex<Vec<String>>>);

impl Actor for Watcher {
    type Msg = ();
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<()>, (): ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _: ActorRef<()>,
        event: SupervisionEvent,
        (): &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let reason = match event {
            SupervisionEvent::ActorTerminated(_, _, reason) => reason.unwrap_or_default(),
            SupervisionEvent::ActorFailed(_, e) => format!("failed: {e}"),
            _ => return Ok(()),
        };
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(reason);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_fails_only_its_tenant() {
    let mut w = World::new(
        Some(sim_config(false)),
        &[("duck", DUCK_TOKEN), ("goose", "not-the-goose-token")],
        BudgetConfig::default(),
    )
    .await;
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let (watcher, watcher_join) = Actor::spawn(None, Watcher(Arc::clone(&reasons)), ())
        .await
        .expect("watcher");
    let api = w.api();
    w.start("duck", DUCK_APP, &api, RestConfig::default()).await;
    w.start_supervised(
        "goose",
        GOOSE_APP,
        &api,
        RestConfig::default(),
        Some(watcher.get_cell()),
    )
    .await;

    let answers =
        join_all((0..5).map(|i| w.request("goose", post(channel(0), &format!("g{i}"))))).await;
    assert!(
        answers
            .iter()
            .any(|r| r.error_kind == Some(RestErrorKind::Unauthorized) && r.status == 401),
        "{answers:?}"
    );
    assert!(answers.iter().all(|r| matches!(
        r.error_kind,
        Some(RestErrorKind::Unauthorized | RestErrorKind::TenantUnavailable)
    )));
    let (goose, join) = w.rest.remove("goose").expect("goose");
    tokio::time::timeout(LONG, join)
        .await
        .expect("goose stops")
        .expect("joined");
    match goose.health().state {
        TenantState::Failed(reason) => assert!(reason.contains("401"), "{reason}"),
        s => panic!("goose is {s:?}"),
    }
    eventually(|| {
        reasons
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|r| r.starts_with("fatal:"))
    })
    .await;
    // At most a handful of 401s reached Discord: twilight remembers the bad token.
    assert!(w.sim().stats().anonymous.invalid_requests <= 5);

    // duck is unaffected.
    let ok = w.request("duck", post(channel(1), "quack")).await;
    assert!(ok.ok, "{ok:?}");
    assert_eq!(w.rest("duck").health().state, TenantState::Running);
    w.shutdown().await;
    watcher.stop(None);
    let _ = watcher_join.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cannot_lease_the_token() {
    let w = World::new(None, &[("duck", DUCK_TOKEN)], BudgetConfig::default()).await;
    let duck = TenantId::parse("discord", "duck").expect("valid");
    let denied = w
        .vault
        .worker_scope(Some(&duck))
        .lease(
            "discord/duck/bot_token".parse().expect("path"),
            Capability::ProviderRest,
            None,
        )
        .await;
    assert!(
        matches!(denied, Err(VaultError::PolicyDenied { .. })),
        "{denied:?}"
    );
    let granted = w
        .vault
        .rest_scope(&duck)
        .lease(
            "discord/duck/bot_token".parse().expect("path"),
            Capability::ProviderRest,
            None,
        )
        .await;
    assert!(granted.is_ok());
    drop(granted);
    w.shutdown().await;
}

/// The supervisor mints the REST actor's scope; an actor handed a scope minted for
/// anyone but its own tenant's REST actor does not start, even under a policy that
/// would let every REST principal lease every token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_actor_refuses_a_scope_minted_for_someone_else() {
    use switchboard::actors::rest::{RestArgs, RestHandle};
    use switchboard::providers::discord::interactions::InteractionTokens;
    use switchboard::vault::{Policy, SecretKind, VaultConfig, VaultHandle};

    let w = World::new(None, &[], BudgetConfig::default()).await;
    let vault = VaultHandle::memory(VaultConfig {
        policy: Policy::default().with("allow rest provider.rest *".parse().expect("rule")),
        ..VaultConfig::default()
    })
    .await
    .expect("vault");
    vault
        .publish_tenant(
            "discord",
            "duck",
            [(
                "bot_token",
                secrecy::SecretString::from(DUCK_TOKEN),
                SecretKind::ProviderCredential,
            )],
        )
        .await
        .expect("publish");
    let duck = TenantId::parse("discord", "duck").expect("valid");
    let goose = TenantId::parse("discord", "goose").expect("valid");
    // The policy really would let goose's REST principal lease duck's token.
    vault
        .rest_scope(&goose)
        .lease(
            "discord/duck/bot_token".parse().expect("path"),
            Capability::ProviderRest,
            None,
        )
        .await
        .expect("the permissive policy allows it");

    let config = Arc::new(crate::support::tenant(
        "duck",
        DUCK_APP,
        "http://127.0.0.1:9",
    ));
    let args = |scope| RestArgs {
        tenant: Arc::clone(&config),
        bus: w.bus.clone(),
        vault: scope,
        tokens: InteractionTokens::new(),
        budget: Arc::clone(&w.budget),
        config: RestConfig::default(),
        commands: None,
        deferrals: switchboard::actors::access::Deferrals::disabled(),
        limits: switchboard::actors::rest::BucketMemory::in_process(),
    };
    for scope in [
        vault.rest_scope(&goose),
        vault.gateway_scope(&duck),
        vault.worker_scope(Some(&duck)),
        vault.admin_scope(),
    ] {
        let who = scope.principal().to_string();
        let err = RestHandle::start(args(scope), None)
            .await
            .expect_err("a scope of another principal is refused");
        let text = format!("{err:#}");
        assert!(text.contains("not minted for"), "{who}: {text}");
        assert!(!text.contains(DUCK_TOKEN), "{text}");
    }
    // Its own scope works.
    let (rest, _join) = RestHandle::start(args(vault.rest_scope(&duck)), None)
        .await
        .expect("duck's own scope");
    assert_eq!(rest.health().state, TenantState::Running);
    rest.stop().await;
    w.shutdown().await;
    vault.stop();
}
