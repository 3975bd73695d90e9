//! Interaction load harness (ignored; `scripts/interaction-load`): N interactions
//! injected at once across T tenants of one runtime, against the emulator. Every
//! interaction must get its initial response within Discord's 3 s; prints p50, p99
//! and max of the time from creation to initial response (the emulator's clock),
//! how many were deferred, and how long the slow handlers' answers took.
//!
//! Timed: from `inject_interaction` (the emulator stamps creation) to the accepted
//! initial callback. Not timed: start-up and command registration.
//!
//! Knobs: `LOAD_INTERACTIONS` (200), `LOAD_TENANTS` (10), `LOAD_SLOW_EVERY` (every
//! n-th interaction's handler sleeps 2 s, so it is deferred; 0 = none; default 4),
//! `LOAD_WORKERS` (16; also the per-tenant in-flight cap).

use std::fmt::Write as _;
use std::time::Duration;

use switchboard::commands::AppCommand;
use switchboard::handler::{Ctx, Handler, HandlerResult};
use switchboard::model::{InteractionCreated, InteractionResponse, MessageBody};
use switchboard::sim::{DEMO_CHANNELS, DEMO_GUILD, InjectInteraction, InteractionKind, SimUser};

const APP_BASE: u64 = 455_555_555_555_555_000;

/// `/quick` answers at once, `/slow` after 2 s.
struct Answerer;

impl Handler for Answerer {
    fn name(&self) -> &'static str {
        "answerer"
    }

    fn commands(&self) -> Vec<AppCommand> {
        vec![
            AppCommand::slash("quick", "Answers at once"),
            AppCommand::slash("slow", "Answers after two seconds"),
        ]
    }

    async fn on_interaction(&self, ctx: &Ctx, i: &InteractionCreated) -> HandlerResult {
        if i.command_name.as_deref() == Some("slow") {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let text = format!("answer {}", i.interaction_id);
        ctx.respond_interaction(i, InteractionResponse::Message(MessageBody::text(text)))
            .await?;
        Ok(())
    }
}

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )] // an index into a short list
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load harness: scripts/interaction-load"]
async fn interaction_load() {
    let n = knob("LOAD_INTERACTIONS", 200);
    let tenants = knob("LOAD_TENANTS", 10).max(1);
    let slow_every = knob("LOAD_SLOW_EVERY", 4);
    let workers = knob("LOAD_WORKERS", 16);
    let mut yaml = format!(
        "runtime:\n  workers: {workers}\n  max_in_flight_per_tenant: {workers}\nproviders:\n"
    );
    for t in 0..tenants {
        let app = APP_BASE + t;
        let _ = write!(
            yaml,
            "  - provider: discord\n    tenant: t{t}\n    credentials:\n      bot_token: token-{t}\n      app_id: '{app}'\n    gateway: {{ intents: [guilds] }}\n"
        );
    }
    let (sim, runtime) =
        super::start_registry(&yaml, |b| b.handler(Answerer).admin_listen(None)).await;
    sim.wait_until(Duration::from_secs(120), |s| {
        (0..tenants).all(|t| s.command_names(APP_BASE + t, None).len() >= 2)
    })
    .await
    .expect("commands registered");

    let user = SimUser {
        id: 42,
        username: "alice".into(),
        bot: false,
    };
    let mut ids = Vec::new();
    for k in 0..n {
        let slow = slow_every > 0 && k % slow_every == 0;
        let i = sim
            .inject_interaction(&InjectInteraction {
                tenant: format!("t{}", k % tenants),
                guild_id: Some(DEMO_GUILD),
                channel_id: Some(DEMO_CHANNELS[0]),
                user: user.clone(),
                kind: InteractionKind::SlashCommand {
                    name: if slow { "slow" } else { "quick" }.into(),
                    options: Vec::new(),
                },
            })
            .expect("injected");
        ids.push((i.id, slow));
    }
    let answered = |s: &switchboard::sim::SimHandle| {
        ids.iter().all(|(id, slow)| {
            s.interaction(*id).is_some_and(|l| {
                l.late_callbacks > 0
                    || (l.initial_type.is_some() && (!slow || l.original_edits > 0))
            })
        })
    };
    sim.wait_until(Duration::from_secs(120), answered)
        .await
        .expect("every interaction answered");

    let logs: Vec<_> = ids
        .iter()
        .filter_map(|(id, _)| sim.interaction(*id))
        .collect();
    let mut initial: Vec<u64> = logs.iter().filter_map(|l| l.initial_after_ms).collect();
    initial.sort_unstable();
    let mut edits: Vec<u64> = logs.iter().filter_map(|l| l.first_edit_after_ms).collect();
    edits.sort_unstable();
    let deferred = logs.iter().filter(|l| l.initial_type == Some(5)).count();
    let late = logs.iter().filter(|l| l.late_callbacks > 0).count();
    let dup: u32 = logs.iter().map(|l| l.duplicate_callbacks).sum();
    println!(
        "load interactions={n} tenants={tenants} workers={workers} slow_every={slow_every}: initial response p50 {} ms, p99 {} ms, max {} ms; deferred {deferred}; slow answers (edit of @original) p50 {} ms, max {} ms; late (10062) {late}; duplicate callbacks {dup}",
        percentile(&initial, 0.50),
        percentile(&initial, 0.99),
        initial.last().copied().unwrap_or(0),
        percentile(&edits, 0.50),
        edits.last().copied().unwrap_or(0),
    );
    assert_eq!(late, 0, "every interaction answered within the window");
    assert_eq!(initial.len(), ids.len());
    assert!(initial.iter().all(|ms| *ms < 3_000));
    assert_eq!(dup, 0);
    runtime.shutdown(Duration::from_secs(10)).await;
    sim.shutdown().await;
}
