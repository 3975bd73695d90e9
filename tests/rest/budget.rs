//! The invalid-request budget refuses a burst of 403s before the emulator's IP ban.

use std::time::Duration;

use futures_util::future::join_all;
use switchboard::actors::rest::{BudgetConfig, RestConfig};
use switchboard::model::{Command, RestErrorKind, RoleChange};

use crate::support::{DUCK_APP, DUCK_TOKEN, GOOSE_GUILD, ROLE, World, sim_config};

const BAN_AT: u32 = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_invalid_requests_is_refused_before_the_ban() {
    let mut c = sim_config(false);
    c.rate_limits.invalid_threshold = BAN_AT;
    c.rate_limits.invalid_window = Duration::from_secs(60);
    let budget = BudgetConfig {
        limit: BAN_AT,
        window: Duration::from_secs(60),
        margin: 5,
    };
    let mut w = World::new(Some(c), &[("duck", DUCK_TOKEN)], budget).await;
    let api = w.api();
    w.start("duck", DUCK_APP, &api, RestConfig::default()).await;

    // duck is not in goose's guild: every role change is a 403.
    let answers = join_all((0..2 * BAN_AT).map(|i| {
        let w = &w;
        async move {
            let change = RoleChange {
                guild_id: GOOSE_GUILD.to_string(),
                user_id: (100 + u64::from(i)).to_string(),
                role_id: ROLE.to_string(),
                reason: None,
            };
            w.request("duck", Command::AssignRole(change)).await
        }
    }))
    .await;
    let count = |k| answers.iter().filter(|r| r.error_kind == Some(k)).count();
    let forbidden = count(RestErrorKind::Forbidden);
    let refused = count(RestErrorKind::BudgetExhausted);
    assert_eq!(forbidden + refused, answers.len(), "{answers:?}");
    assert_eq!(forbidden, (BAN_AT - 5) as usize, "sent up to the threshold");
    let stats = w.sim().stats();
    assert_eq!(stats.bans, 0, "no ban");
    assert_eq!(stats.tenant("duck").invalid_requests, u64::from(BAN_AT - 5));
    let health = w.rest("duck").health();
    assert_eq!(health.budget.used, BAN_AT - 5);
    assert!(health.budget.refused >= refused as u64);

    // The IP is not banned: a plain request still gets through.
    let me = reqwest::Client::new()
        .get(format!("{}/users/@me", w.sim().api_base()))
        .header("authorization", format!("Bot {DUCK_TOKEN}"))
        .send()
        .await
        .expect("request");
    assert_eq!(me.status(), 200);
    w.shutdown().await;
}
