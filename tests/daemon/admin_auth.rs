//! The admin API's guard rails against a running daemon: every mutating route of
//! the route table × every way to (fail to) authenticate, hostile bodies of every
//! kind (never a 5xx, always a JSON error), `auth_reads`, and no admin API on a
//! non-loopback address without a token.

use std::process::{Command, Stdio};
use std::time::Duration;

use switchboard::admin::{ROUTES, RouteBody, RouteMethod};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{Daemon, ctl, registry, sim, tenant_file, wait};

const TOKEN: &str = "CANARY-admin-9b2e-good";
const WRONG: &str = "CANARY-admin-9b2e-wrong";

/// An answer: status, and the body as text.
struct Answer {
    status: u16,
    body: String,
}

impl Answer {
    /// The `error` of a JSON error body; panics (naming `what`) on anything else.
    fn error(&self, what: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.body).unwrap_or_else(|e| {
            panic!(
                "{what}: {} is not a JSON body ({e}): {:?}",
                self.status, self.body
            )
        });
        v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: {} has no error: {}", self.status, self.body))
            .to_owned()
    }
}

/// One request: `auth` is the whole `Authorization` value.
async fn send(
    http: &reqwest::Client,
    method: &str,
    url: String,
    auth: Option<&str>,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> Answer {
    let mut req = http.request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    let r = req.send().await.unwrap();
    Answer {
        status: r.status().as_u16(),
        body: r.text().await.unwrap(),
    }
}

/// A request whose head declares a `Content-Length` of `length` and sends no body
/// byte: the answer must come from the head alone. Reads until the server closes.
async fn declared_length(addr: &str, method: &str, path: &str, length: usize) -> Answer {
    let host = addr.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out))
        .await
        .expect("the daemon answers a declared oversized body without waiting for it")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Answer { status, body }
}

/// What this test sends to one mutating route, and the status each of the two
/// accepted ways to authenticate gets, in order (`bearer` in lower case first, then
/// `Bearer`): the calls change state, so the second can differ from the first.
struct Sample {
    path: &'static str,
    content_type: Option<&'static str>,
    body: Option<String>,
    expect: [u16; 2],
}

/// Every mutating route, in the order this test calls them. A route in the table
/// and not here (or here and not in the table) fails the test.
fn samples(goose: &str) -> Vec<(RouteMethod, &'static str, Sample)> {
    let yaml = |path, expect| Sample {
        path,
        content_type: Some("application/yaml"),
        body: Some(goose.to_owned()),
        expect,
    };
    let bare = |path, expect| Sample {
        path,
        content_type: None,
        body: None,
        expect,
    };
    vec![
        (
            RouteMethod::Post,
            "/v1/tenants",
            yaml("/v1/tenants", [201, 409]),
        ),
        (
            RouteMethod::Put,
            "/v1/tenants/{provider}/{tenant}",
            yaml("/v1/tenants/discord/goose", [200, 200]),
        ),
        (
            RouteMethod::Delete,
            "/v1/tenants/{provider}/{tenant}",
            bare("/v1/tenants/discord/goose", [200, 404]),
        ),
        (
            RouteMethod::Post,
            "/v1/reload",
            bare("/v1/reload", [200, 200]),
        ),
        (
            RouteMethod::Post,
            "/v1/dlq/replay",
            Sample {
                path: "/v1/dlq/replay",
                content_type: Some("application/json"),
                body: Some(r#"{"id": "0"}"#.to_owned()),
                expect: [404, 404],
            },
        ),
        (
            RouteMethod::Post,
            "/v1/tenants/{provider}/{tenant}/backfills",
            Sample {
                path: "/v1/tenants/discord/duck/backfills",
                content_type: Some("application/json"),
                body: Some(r#"{"channel": "1001"}"#.to_owned()),
                expect: [202, 202],
            },
        ),
    ]
}

/// Hostile bodies for a route that reads `kind`: (content type, body, status).
fn hostile(kind: RouteBody, path: &str) -> Vec<(Option<&'static str>, Vec<u8>, u16)> {
    let json = Some("application/json");
    let yaml = Some("application/yaml");
    match kind {
        RouteBody::TenantEntry => {
            // Aliases that would expand to 9^8 nodes.
            let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
            for i in 1..9 {
                let p = i - 1;
                bomb.push_str(&format!(
                    "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
                ));
            }
            bomb.push_str("provider: discord\ntenant: goose\n");
            vec![
                (yaml, b"provider: [discord\ntenant: goose\n".to_vec(), 400),
                (json, br#"{"provider": "discord", "tenant": "#.to_vec(), 400),
                (Some("image/png"), b"provider: discord\n".to_vec(), 415),
                (
                    Some("application/x-www-form-urlencoded"),
                    b"provider=discord&tenant=goose".to_vec(),
                    415,
                ),
                (yaml, Vec::new(), 400),
                (None, vec![0xff, 0xfe, 0xfd], 400),
                (yaml, b"- just\n- a list\n".to_vec(), 400),
                (
                    json,
                    br#"{"provider": "discord", "tenant": "Not A Name"}"#.to_vec(),
                    400,
                ),
                (yaml, bomb.into_bytes(), 400),
                (yaml, "[".repeat(100_000).into_bytes(), 400),
            ]
        }
        RouteBody::Json if path.ends_with("/backfills") => vec![
            (json, br#"{"channel": "#.to_vec(), 400),
            (Some("text/plain"), br#"{"channel": "1"}"#.to_vec(), 415),
            (None, br#"{"channel": "1"}"#.to_vec(), 415),
            (json, br#"{"channel": 5}"#.to_vec(), 422),
            (json, br#"{"channel": "1", "limit": -1}"#.to_vec(), 422),
            (json, br#"{"channel": "1", "limit": 0}"#.to_vec(), 400),
            (json, b"[]".to_vec(), 422),
            (json, br#"{"channel": "general"}"#.to_vec(), 400),
            (
                json,
                format!(r#"{{"channel": "{}"}}"#, "9".repeat(1_000_000)).into_bytes(),
                400,
            ),
        ],
        RouteBody::Json => vec![
            (json, br#"{"id": "#.to_vec(), 400),
            (Some("text/plain"), br#"{"id": "0"}"#.to_vec(), 415),
            (None, br#"{"id": "0"}"#.to_vec(), 415),
            (json, br#"{"id": 5}"#.to_vec(), 422),
            (json, b"[]".to_vec(), 422),
            (json, br#"{"id": "no-such-entry"}"#.to_vec(), 400),
            (
                json,
                br#"{"id": "99999999999999999999999-0"}"#.to_vec(),
                400,
            ),
            (
                json,
                format!(r#"{{"id": "{}"}}"#, "x".repeat(1_000_000)).into_bytes(),
                400,
            ),
            (json, br#"{"id": "1700000000000-0"}"#.to_vec(), 404),
        ],
        RouteBody::None => Vec::new(),
        other => panic!("{path}: body kind {other:?} has no hostile samples here: add them"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutating_route_needs_the_token_and_no_hostile_request_is_a_5xx() {
    let sim = sim(&[("duck", "fake-duck"), ("goose", "fake-goose")]).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(
        dir.path(),
        &sim,
        &[("duck", "TOK_DUCK")],
        "  tenants_dir: tenants.d\n",
    );
    let daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[
            ("TOK_DUCK", "fake-duck"),
            ("TOK_GOOSE", "fake-goose"),
            ("TEST_ADMIN_TOKEN", TOKEN),
        ],
    );
    let connected = wait(Duration::from_secs(60), || {
        sim.connected_sessions("duck") == 1
    })
    .await;
    assert!(connected, "duck did not connect:\n{}", daemon.output());
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", daemon.admin);
    let goose = tenant_file(&sim, "goose", "TOK_GOOSE");

    // The test covers exactly the table's mutating routes.
    let samples = samples(&goose);
    let mut covered: Vec<_> = samples.iter().map(|(m, p, _)| (m.as_str(), *p)).collect();
    let mut table: Vec<_> = ROUTES
        .iter()
        .filter(|r| r.method.is_mutating())
        .map(|r| (r.method.as_str(), r.path))
        .collect();
    covered.sort_unstable();
    table.sort_unstable();
    assert_eq!(
        covered, table,
        "the mutating routes of switchboard::admin::ROUTES and of `samples` differ: cover the new route here"
    );

    let lower = format!("bearer {TOKEN}");
    let good = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {WRONG}");
    for (method, pattern, s) in &samples {
        let method = method.as_str();
        let body = || s.body.clone().map(String::into_bytes);
        // Refused, whatever the body: nothing reaches the handler.
        for (auth, names) in [
            (None, "missing Authorization"),
            (Some(wrong.as_str()), "wrong bearer token"),
            (Some("Basic YWRtaW46YWRtaW4="), "malformed Authorization"),
            (Some(TOKEN), "malformed Authorization"),
        ] {
            let a = send(&http, method, url(s.path), auth, s.content_type, body()).await;
            let what = format!("{method} {pattern} with {auth:?}");
            assert_eq!(a.status, 401, "{what}: {}", a.body);
            assert!(a.error(&what).contains(names), "{what}: {}", a.body);
            assert!(
                !a.body.contains(TOKEN) && !a.body.contains(WRONG),
                "{what}: a token is echoed: {}",
                a.body
            );
        }
        // Accepted, the scheme in any case.
        for (auth, expect) in [(&lower, s.expect[0]), (&good, s.expect[1])] {
            let a = send(
                &http,
                method,
                url(s.path),
                Some(auth),
                s.content_type,
                body(),
            )
            .await;
            assert_eq!(
                a.status,
                expect,
                "{method} {pattern} with {}: {}",
                auth.split(' ').next().unwrap_or_default(),
                a.body
            );
            if a.status >= 400 {
                a.error(pattern);
            }
        }
    }

    // Hostile requests with the right token: a 4xx naming the problem, never a 5xx.
    for route in ROUTES.iter().filter(|r| r.method.is_mutating()) {
        let (_, _, s) = samples
            .iter()
            .find(|(m, p, _)| *m == route.method && *p == route.path)
            .unwrap();
        let method = route.method.as_str();
        for (ct, body, expect) in hostile(route.body, route.path) {
            let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
            let what = format!("{method} {} with {ct:?} {shown:?}", route.path);
            let a = send(&http, method, url(s.path), Some(&good), ct, Some(body)).await;
            assert_eq!(a.status, expect, "{what}: {}", a.body);
            let error = a.error(&what);
            assert!(
                error.len() < 600,
                "{what}: the error echoes the body: {error}"
            );
        }
        let a = declared_length(&daemon.admin, method, s.path, 1024 * 1024 + 1).await;
        let what = format!("{method} {} with 1 MiB + 1", route.path);
        assert_eq!(a.status, 413, "{what}: {}", a.body);
        assert!(
            a.error(&what).contains("limit of 1048576 bytes"),
            "{}",
            a.body
        );
    }
    let a = send(&http, "PATCH", url("/v1/reload"), Some(&good), None, None).await;
    assert_eq!(a.status, 405, "{}", a.body);
    assert!(a.error("PATCH").contains("allowed: POST"), "{}", a.body);
    let a = send(&http, "POST", url("/v1/nope"), Some(&good), None, None).await;
    assert_eq!(a.status, 404, "{}", a.body);
    a.error("POST /v1/nope");
    let a = send(&http, "GET", url("/v1/dlq?limit=lots"), None, None, None).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.error("dlq").contains("limit"), "{}", a.body);

    // Still serving, and serving normally.
    let a = send(&http, "GET", url("/healthz"), None, None, None).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok\n"));
    let a = send(&http, "GET", url("/v1/status"), None, None, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let status: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    let tenants: Vec<(&str, &str)> = status["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["state"].as_str().unwrap()))
        .collect();
    assert_eq!(tenants, [("discord/duck", "running")], "{}", a.body);
    let (code, _, err) = ctl(&["--admin", &daemon.admin, "status"], &[]);
    assert_eq!(code, 0, "{err}");
    let output = daemon.output();
    assert!(
        !output.contains(TOKEN) && !output.contains(WRONG),
        "a token reached the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_reads_guards_the_v1_reads_and_leaves_probes_open() {
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], "");
    let yaml = std::fs::read_to_string(&reg).unwrap().replace(
        "token_env: TEST_ADMIN_TOKEN }",
        "token_env: TEST_ADMIN_TOKEN, auth_reads: true }",
    );
    assert!(yaml.contains("auth_reads: true"));
    std::fs::write(&reg, yaml).unwrap();
    let daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[("TOK_DUCK", "fake-duck"), ("TEST_ADMIN_TOKEN", TOKEN)],
    );
    let http = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", daemon.admin);
    for route in ROUTES.iter().filter(|r| !r.method.is_mutating()) {
        let path = &route
            .path
            .replace("{provider}", "discord")
            .replace("{tenant}", "duck")
            .replace("{channel}", "1001");
        let open = send(&http, "GET", url(path), None, None, None).await;
        if path.starts_with("/v1/") {
            assert_eq!(open.status, 401, "{path}: {}", open.body);
            assert!(open.error(path).contains("missing Authorization"));
            let lower = format!("bearer {TOKEN}");
            let a = send(&http, "GET", url(path), Some(&lower), None, None).await;
            // `/v1/cluster` is 404 on a node outside a cluster, backfill progress 409
            // on a node without a store.
            let want = match path.as_str() {
                "/v1/cluster" => 404,
                p if p.contains("/backfills/") => 409,
                _ => 200,
            };
            assert_eq!(a.status, want, "{path}: {}", a.body);
        } else {
            // Probes and scrapers: open (readiness may still be settling).
            assert!(
                open.status == 200 || (path == "/readyz" && open.status == 503),
                "{path}: {}",
                open.status
            );
        }
    }
    // switchboardctl sends its token on reads too.
    let (code, _, err) = ctl(&["--admin", &daemon.admin, "status"], &[]);
    assert_eq!(code, 4, "status without the token is refused (exit 4)");
    assert!(err.contains("401"), "{err}");
    let (code, out, err) = ctl(
        &["--admin", &daemon.admin, "status"],
        &[("SWITCHBOARD_ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("discord/duck"), "{out}");
}

/// Runs `switchboard ARGS` (with `env` only) until it exits, at most 60 s; its exit
/// code and everything it printed.
async fn run_to_exit(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    let text = std::fs::read_to_string(out).unwrap() + &std::fs::read_to_string(err).unwrap();
    (code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_admin_api_on_a_non_loopback_address_without_a_token() {
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], "");
    let reg = reg.to_str().unwrap();

    // `--admin` on every interface, the token's variable unset: refused, by name.
    let (code, text) = run_to_exit(
        &["run", "--config", reg, "--admin", "0.0.0.0:0"],
        &[("TOK_DUCK", "fake-duck")],
    )
    .await;
    assert!(code.is_some_and(|c| c != 0), "{code:?}: {text}");
    assert!(
        text.contains("0.0.0.0:0 is not a loopback address and no admin token is set"),
        "{text}"
    );
    assert!(!text.contains("admin http://"), "it served: {text}");
    assert_eq!(sim.connected_sessions("duck"), 0, "nothing started");

    // The same in the file: check-config and run both name the field.
    let exposed = dir.path().join("exposed.yml");
    let yaml = std::fs::read_to_string(reg).unwrap().replace(
        "admin: { listen: '127.0.0.1:0', token_env: TEST_ADMIN_TOKEN }",
        "admin: { listen: '0.0.0.0:0' }",
    );
    assert!(yaml.contains("'0.0.0.0:0'"));
    std::fs::write(&exposed, yaml).unwrap();
    let exposed = exposed.to_str().unwrap();
    let (code, text) = run_to_exit(&["check-config", exposed], &[("TOK_DUCK", "x")]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("runtime.admin.listen: 0.0.0.0:0 is not a loopback address"),
        "{text}"
    );
    let (code, text) =
        run_to_exit(&["run", "--config", exposed], &[("TOK_DUCK", "fake-duck")]).await;
    assert!(code.is_some_and(|c| c != 0), "{code:?}: {text}");
    assert!(text.contains("runtime.admin.listen"), "{text}");

    // With the token set, every interface is allowed, and guarded.
    let daemon = Daemon::start_at(
        "0.0.0.0:0",
        &["--config", reg],
        &[("TOK_DUCK", "fake-duck"), ("TEST_ADMIN_TOKEN", TOKEN)],
    );
    let http = reqwest::Client::new();
    let a = send(
        &http,
        "POST",
        format!("{}/v1/reload", daemon.admin),
        None,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.body);
    let a = send(
        &http,
        "POST",
        format!("{}/v1/reload", daemon.admin),
        Some(&format!("Bearer {TOKEN}")),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dlq_replay_of_a_bad_id_on_the_redis_bus_is_a_400_not_a_500() {
    let redis = crate::redis_server::TestRedis::start().await;
    let sim = sim(&[("duck", "fake-duck")]).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = crate::support::redis_runtime(&redis, "", "");
    let reg = registry(dir.path(), &sim, &[("duck", "TOK_DUCK")], &extra);
    let key = "0000000000000000000000000000000000000000000000000000000000000001";
    let daemon = Daemon::start(
        &["--config", reg.to_str().unwrap()],
        &[
            ("TOK_DUCK", "fake-duck"),
            ("TEST_VAULT_KEY", key),
            ("TEST_ADMIN_TOKEN", TOKEN),
        ],
    );
    let http = reqwest::Client::new();
    let good = format!("Bearer {TOKEN}");
    let huge = "7".repeat(1_000_000);
    for (id, expect) in [
        ("no-such-entry", 400),
        ("99999999999999999999999-0", 400),
        ("1-*", 400),
        (huge.as_str(), 400),
        // Well-formed: no such entry. A bare number is not a stream id: it names
        // nothing on this bus (rather than every entry of that millisecond).
        ("1700000000000-0", 404),
        ("5", 404),
    ] {
        let body = serde_json::json!({ "id": id }).to_string().into_bytes();
        let a = send(
            &http,
            "POST",
            format!("{}/v1/dlq/replay", daemon.admin),
            Some(&good),
            Some("application/json"),
            Some(body),
        )
        .await;
        let shown = &id[..id.len().min(30)];
        assert_eq!(a.status, expect, "{shown}: {}", a.body);
        let error = a.error(shown);
        assert!(error.len() < 300, "the id is echoed whole: {error}");
    }
    let a = send(
        &http,
        "GET",
        format!("{}/v1/dlq", daemon.admin),
        None,
        None,
        None,
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "[]"), "the bus is fine");
}
