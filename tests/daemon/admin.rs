//! The admin API and `switchboardctl` against a running daemon.

use std::time::Duration;

use crate::support::{Daemon, ctl, eventually, registry, replies, say, sim, wait};

const CANARY: &str = "CANARY-tok-4c1f-never-shown";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_answered_and_ctl_lists_running_tenants() {
    let sim = sim(&[("duck", CANARY), ("goose", "fake-goose")]).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(
        dir.path(),
        &sim,
        &[("duck", "TOK_DUCK"), ("goose", "TOK_GOOSE")],
        "",
    );
    let daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[("TOK_DUCK", CANARY), ("TOK_GOOSE", "fake-goose")],
    );
    let connected = wait(Duration::from_secs(60), || {
        sim.connected_sessions("duck") == 1 && sim.connected_sessions("goose") == 1
    })
    .await;
    assert!(
        connected,
        "not connected; daemon output:\n{}",
        daemon.output()
    );
    say(&sim, "!ping");
    eventually(Duration::from_secs(60), "both bots answered pong", || {
        let mut r = replies(&sim, "pong");
        r.sort();
        r == ["duck", "goose"]
    })
    .await;
    let pong = sim
        .channel_messages(switchboard::sim::DEMO_CHANNELS[0])
        .into_iter()
        .find(|m| m.content == "pong")
        .unwrap();
    assert!(pong.message_reference.is_some(), "pong is a reply");
    let (code, out, err) = ctl(&["--admin", &daemon.admin, "status", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    let states: Vec<(String, String)> = status["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("discord/duck".into(), "running".into()),
            ("discord/goose".into(), "running".into())
        ]
    );
    let (code, table, _) = ctl(&["--admin", &daemon.admin, "status"], &[]);
    assert_eq!(code, 0);
    assert!(
        table.contains("discord/duck") && table.contains("workers"),
        "{table}"
    );
    assert!(
        !daemon.output().contains(CANARY),
        "the token reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_need_the_token_metrics_parse_and_no_body_leaks_a_secret() {
    let sim = sim(&[("duck", CANARY)]).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], "");
    let daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[("TOK_DUCK", CANARY), ("TEST_ADMIN_TOKEN", "admin-secret")],
    );
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", daemon.admin);
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(http.post(url("/v1/reload")).send().await.unwrap()),
        401
    );
    assert_eq!(
        status(
            http.post(url("/v1/reload"))
                .bearer_auth("wrong")
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            http.delete(url("/v1/tenants/discord/duck"))
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(http.post(url("/v1/dlq/replay")).send().await.unwrap()),
        401
    );
    assert_eq!(
        status(
            http.post(url("/v1/reload"))
                .bearer_auth("admin-secret")
                .send()
                .await
                .unwrap()
        ),
        200
    );
    let connected = wait(Duration::from_secs(60), || {
        sim.connected_sessions("duck") == 1
    })
    .await;
    assert!(
        connected,
        "not connected; daemon output:\n{}",
        daemon.output()
    );
    say(&sim, "!ping");
    let answered = wait(Duration::from_secs(60), || {
        !replies(&sim, "pong").is_empty()
    })
    .await;
    assert!(answered, "no pong; daemon output:\n{}", daemon.output());
    let mut bodies = String::new();
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/status",
        "/v1/tenants",
        "/v1/dlq",
        "/v1/leases",
    ] {
        let r = http.get(url(path)).send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        bodies.push_str(&r.text().await.unwrap());
    }
    assert!(!bodies.contains(CANARY), "a response carried the token");
    let metrics = http
        .get(url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut samples = 0;
    for line in metrics
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value.parse::<f64>().is_ok(),
            "not a Prometheus sample: {line}"
        );
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        samples += 1;
    }
    assert!(samples > 0, "no samples in {metrics}");
    prometheus_conventions(&metrics);
    for name in [
        "switchboard_bus_published_total",
        "switchboard_handler_seconds_bucket",
        "switchboard_rest_request_seconds_bucket",
        "switchboard_ingest_to_handler_seconds_bucket",
        "switchboard_tenant_up",
        "switchboard_rest_responses_total",
        "switchboard_gateway_events_total",
        "switchboard_invalid_request_budget_used",
        "switchboard_bus_lag{tenant=\"discord/duck\"}",
        "switchboard_bus_pending{tenant=\"discord/duck\"}",
        "switchboard_bus_acked_total",
        "switchboard_vault_backend_up{backend=\"memory\"} 1",
    ] {
        assert!(metrics.contains(name), "{name} missing from {metrics}");
    }
    let depth = metrics
        .lines()
        .find_map(|l| l.strip_prefix("switchboard_bus_dead_letter_depth "))
        .unwrap_or_else(|| panic!("no dead-letter depth gauge in {metrics}"));
    assert_eq!(depth.trim(), "0", "nothing dead-lettered");
    let (code, _, err) = ctl(&["--admin", "http://127.0.0.1:1", "status"], &[]);
    assert_eq!(code, 3, "an absent daemon is exit code 3");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

/// Reads `/metrics` as a Prometheus scraper does and checks the naming rules: a HELP
/// line for every family, counters and only counters end in `_total`, durations are
/// histograms in seconds (no summaries, no milliseconds).
fn prometheus_conventions(text: &str) {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("/metrics parses");
    assert!(!scrape.samples.is_empty());
    let histograms: std::collections::BTreeSet<&str> = scrape
        .samples
        .iter()
        .filter(|s| matches!(s.value, prometheus_parse::Value::Histogram(_)))
        .map(|s| s.metric.as_str())
        .collect();
    let mut families = std::collections::BTreeSet::new();
    for s in &scrape.samples {
        let mut name = s.metric.as_str();
        assert!(name.starts_with("switchboard_"), "{name}");
        assert!(!name.contains("_ms"), "{name}: durations are in seconds");
        match &s.value {
            prometheus_parse::Value::Counter(_) => {
                assert!(name.ends_with("_total"), "counter {name} without _total");
            }
            prometheus_parse::Value::Gauge(_) => {
                assert!(
                    !name.ends_with("_total"),
                    "gauge {name} named like a counter"
                );
            }
            prometheus_parse::Value::Histogram(_) => {
                assert!(
                    name.ends_with("_seconds"),
                    "histogram {name} not in seconds"
                );
            }
            // The parser reads a histogram's `_sum` and `_count` as separate samples.
            prometheus_parse::Value::Untyped(_)
                if let Some(base) = name
                    .strip_suffix("_sum")
                    .or_else(|| name.strip_suffix("_count"))
                    && histograms.contains(base) =>
            {
                name = base;
            }
            other => panic!("{name}: unexpected kind {other:?} (summaries do not aggregate)"),
        }
        families.insert(name.to_owned());
    }
    for family in &families {
        assert!(
            scrape.docs.get(family).is_some_and(|h| !h.is_empty()),
            "no HELP for {family}"
        );
    }
}
