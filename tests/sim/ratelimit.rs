//! REST rate limits: per-route buckets and their headers, the global limit, the
//! invalid-request ban, and how the real twilight-http client fares with and without
//! `X-RateLimit-Scope` on 2xx responses.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};
use switchboard::sim::{RouteLimit, SimConfig, SimHandle};
use twilight_model::id::Id;

use crate::util::{CHAN_A, DUCK_TOKEN, LONG, config, http, start, twilight_http, within};

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn post(sim: &SimHandle, token: &str) -> reqwest::Response {
    http()
        .post(format!("{}/channels/{CHAN_A}/messages", sim.api_base()))
        .header("authorization", format!("Bot {token}"))
        .json(&json!({"content": "x"}))
        .send()
        .await
        .expect("post")
}

fn with_route_limit(limit: u32, window: Duration) -> SimConfig {
    let mut c = config();
    c.rate_limits.route = RouteLimit {
        limit,
        window,
        shared: false,
    };
    c
}

#[tokio::test]
async fn a_client_ignoring_headers_gets_429s_with_a_correct_retry_after() {
    let sim = start(with_route_limit(5, Duration::from_secs(1))).await;
    let mut remaining = Vec::new();
    let mut bucket = None;
    for _ in 0..5 {
        let r = post(&sim, DUCK_TOKEN).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "x-ratelimit-limit").as_deref(), Some("5"));
        assert!(
            header(&r, "x-ratelimit-scope").is_none(),
            "Scope only on 429s by default"
        );
        assert!(header(&r, "x-ratelimit-reset").is_some());
        let after: f64 = header(&r, "x-ratelimit-reset-after")
            .and_then(|v| v.parse().ok())
            .expect("reset-after");
        assert!(after > 0.0 && after <= 1.0, "reset-after {after}");
        bucket = header(&r, "x-ratelimit-bucket");
        remaining.push(header(&r, "x-ratelimit-remaining").unwrap_or_default());
    }
    assert_eq!(remaining, ["4", "3", "2", "1", "0"]);
    let limited = post(&sim, DUCK_TOKEN).await;
    let sent = Instant::now();
    assert_eq!(limited.status(), 429);
    assert_eq!(
        header(&limited, "x-ratelimit-scope").as_deref(),
        Some("user")
    );
    assert_eq!(
        header(&limited, "x-ratelimit-remaining").as_deref(),
        Some("0")
    );
    assert_eq!(header(&limited, "x-ratelimit-bucket"), bucket);
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("1"));
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["global"], false);
    let retry_after = body["retry_after"].as_f64().expect("retry_after");
    assert!(
        retry_after > 0.0 && retry_after <= 1.0,
        "retry_after {retry_after}"
    );
    // Waiting exactly what the server advised is enough.
    tokio::time::sleep_until((sent + Duration::from_secs_f64(retry_after)).into()).await;
    assert_eq!(post(&sim, DUCK_TOKEN).await.status(), 200);
    let stats = sim.stats().tenant("duck");
    assert_eq!((stats.ratelimited_bucket, stats.invalid_requests), (1, 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_global_limit_applies_per_token() {
    let mut cfg = with_route_limit(1000, Duration::from_secs(1));
    cfg.rate_limits.global_limit = 3;
    cfg.rate_limits.global_window = Duration::from_secs(5);
    let sim = start(cfg).await;
    for _ in 0..3 {
        assert_eq!(post(&sim, DUCK_TOKEN).await.status(), 200);
    }
    let r = post(&sim, DUCK_TOKEN).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "x-ratelimit-global").as_deref(), Some("true"));
    assert_eq!(header(&r, "x-ratelimit-scope").as_deref(), Some("global"));
    assert_eq!(r.json::<Value>().await.expect("json")["global"], true);
    // Another token has its own global budget.
    assert_eq!(post(&sim, crate::util::GOOSE_TOKEN).await.status(), 200);
    assert_eq!(sim.stats().tenant("duck").ratelimited_global, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_requests_ban_the_ip_at_the_threshold_then_the_ban_lifts() {
    let mut cfg = config();
    cfg.rate_limits.invalid_threshold = 5;
    cfg.rate_limits.invalid_window = Duration::from_secs(60);
    cfg.rate_limits.ban_duration = Duration::from_secs(1);
    let sim = start(cfg).await;
    for _ in 0..4 {
        assert_eq!(post(&sim, "bad").await.status(), 401);
    }
    assert_eq!(
        post(&sim, DUCK_TOKEN).await.status(),
        200,
        "below the threshold"
    );
    assert_eq!(
        post(&sim, "bad").await.status(),
        401,
        "the 5th invalid request"
    );
    let banned_at = Instant::now();
    let r = post(&sim, DUCK_TOKEN).await;
    assert_eq!(r.status(), 429, "banned even with a valid token");
    assert!(
        header(&r, "x-ratelimit-bucket").is_none(),
        "a ban carries no X-RateLimit headers"
    );
    assert!(header(&r, "retry-after").is_some());
    let stats = sim.stats();
    assert_eq!(stats.bans, 1);
    assert_eq!(stats.anonymous.invalid_requests, 5);
    assert_eq!(stats.tenant("duck").banned_requests, 1);
    // Poll until the ban lifts; it must last about its period.
    let lifted = within(LONG, async {
        loop {
            if post(&sim, DUCK_TOKEN).await.status() == 200 {
                return banned_at.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(
        lifted >= Duration::from_millis(900),
        "ban lifted after {lifted:?}"
    );
    sim.shutdown().await;
}

/// Posts 200 messages to one channel with twilight-http (all at once); returns the
/// 429s the emulator answered.
async fn twilight_posts_200(scope_on_2xx: bool) -> u64 {
    let mut cfg = with_route_limit(20, Duration::from_millis(500));
    cfg.rate_limits.scope_on_2xx = scope_on_2xx;
    let sim = start(cfg).await;
    let client = twilight_http(&sim, DUCK_TOKEN);
    let sends = (0..200).map(|i| {
        let client = &client;
        async move {
            client
                .create_message(Id::new(CHAN_A))
                .content(&format!("m{i}"))
                .await
                .map(|_| ())
        }
    });
    let results = within(Duration::from_secs(120), join_all(sends)).await;
    assert!(
        results.iter().all(Result::is_ok),
        "every message is eventually sent"
    );
    assert_eq!(sim.channel_messages(CHAN_A).len(), 200);
    let n = sim.stats().tenant("duck").ratelimited();
    sim.shutdown().await;
    n
}

#[tokio::test]
async fn twilight_http_takes_no_429s_when_scope_is_sent_on_2xx() {
    assert_eq!(twilight_posts_200(true).await, 0);
}

#[tokio::test]
async fn twilight_http_alone_with_docs_literal_headers() {
    let n = twilight_posts_200(false).await;
    // Recorded, not asserted: the access layer must do better than this.
    println!("twilight-http alone, X-RateLimit-Scope only on 429s: {n} 429s for 200 messages");
    assert!(
        n > 0,
        "without Scope on 2xx twilight cannot learn the bucket"
    );
}
