//! The whole router over a socket, against a stub backend: limits, deadlines and
//! JSON errors as a client sees them.

use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::admin::{AdminError, RouteBody};
use crate::admin::{
    BackfillView, BusStatus, DeadLetterView, Readiness, ReloadReport, RuntimeStatus, TenantView,
    VaultStatus,
};
use crate::store::indexer::{BackfillRequest, BackfillState};

const TOKEN: &str = "CANARY-unit-admin-token";

/// Answers everything at once, except `reload` when `hang_reload` is set; records the
/// bodies it was given.
#[derive(Default)]
struct Stub {
    hang_reload: bool,
    calls: Mutex<Vec<String>>,
}

impl Stub {
    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

impl AdminBackend for Stub {
    fn status(&self) -> BoxFuture<'_, RuntimeStatus> {
        Box::pin(async {
            RuntimeStatus {
                groups: Vec::new(),
                version: "test".into(),
                node: "n".into(),
                role: "all".into(),
                uptime_secs: 0,
                tenants: Vec::new(),
                workers: None,
                bus: BusStatus::default(),
                vault: VaultStatus::default(),
            }
        })
    }
    fn readiness(&self) -> BoxFuture<'_, Readiness> {
        Box::pin(async {
            Readiness {
                ready: true,
                reasons: Vec::new(),
            }
        })
    }
    fn reload(&self) -> BoxFuture<'_, Result<ReloadReport, AdminError>> {
        Box::pin(async {
            self.record("reload".into());
            if self.hang_reload {
                std::future::pending::<()>().await;
            }
            Ok(ReloadReport::default())
        })
    }
    fn tenants(&self) -> BoxFuture<'_, Vec<TenantView>> {
        Box::pin(async { Vec::new() })
    }
    fn put_tenant(
        &self,
        body: String,
        create: bool,
    ) -> BoxFuture<'_, Result<ReloadReport, AdminError>> {
        Box::pin(async move {
            self.record(format!("put {create} {body}"));
            Ok(ReloadReport::default())
        })
    }
    fn delete_tenant(
        &self,
        provider: String,
        tenant: String,
    ) -> BoxFuture<'_, Result<ReloadReport, AdminError>> {
        Box::pin(async move {
            self.record(format!("delete {provider}/{tenant}"));
            Ok(ReloadReport::default())
        })
    }
    fn dead_letters(&self, _: usize) -> BoxFuture<'_, Result<Vec<DeadLetterView>, AdminError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn replay(&self, id: String) -> BoxFuture<'_, Result<bool, AdminError>> {
        Box::pin(async move {
            self.record(format!("replay {id}"));
            Ok(false)
        })
    }
    fn leases(&self) -> BoxFuture<'_, Result<serde_json::Value, AdminError>> {
        Box::pin(async { Ok(serde_json::json!({})) })
    }
    fn start_backfill(
        &self,
        provider: String,
        tenant: String,
        request: BackfillRequest,
    ) -> BoxFuture<'_, Result<BackfillView, AdminError>> {
        Box::pin(async move {
            self.record(format!(
                "backfill {provider}/{tenant} {} {:?}",
                request.channel, request.limit
            ));
            Ok(BackfillView {
                tenant: format!("{provider}/{tenant}"),
                channel: request.channel,
                progress: None,
                state: None,
                run: None,
                stored: None,
                job: Some("job".into()),
            })
        })
    }
    fn backfill(
        &self,
        provider: String,
        tenant: String,
        channel: String,
    ) -> BoxFuture<'_, Result<BackfillView, AdminError>> {
        Box::pin(async move {
            self.record(format!("progress {provider}/{tenant} {channel}"));
            Ok(BackfillView {
                tenant: format!("{provider}/{tenant}"),
                channel,
                progress: None,
                state: Some(BackfillState::Running),
                run: None,
                stored: Some(0),
                job: None,
            })
        })
    }
}

async fn serve(stub: Arc<Stub>, options: AdminOptions) -> AdminServer {
    AdminServer::start("127.0.0.1:0".parse().unwrap(), stub, options)
        .await
        .unwrap()
}

fn guarded() -> AdminOptions {
    AdminOptions::new(Some(TOKEN.to_owned().into()))
}

/// Sends `head` (request line and headers, without the blank line) and `body` raw,
/// with `Connection: close`; reads the answer until the server closes.
/// (status, body).
async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("{head}\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(
        !headers
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "an error body has a length: {headers}"
    );
    (status, body.to_owned())
}

/// The `error` of a JSON error body.
fn error_of(status: u16, body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{status}: not a JSON body ({e}): {body:?}"));
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{status}: no error in {body}"))
        .to_owned()
}

// One table of cases, read top to bottom.
#[allow(clippy::too_many_lines)]
#[tokio::test]
async fn every_error_is_json_and_names_the_problem() {
    let stub = Arc::new(Stub::default());
    let server = serve(stub.clone(), guarded()).await;
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();
    let bearer = format!("Bearer {TOKEN}");
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            http.get(format!("{base}/nope")),
            404,
            "no such route: GET \"/nope\"",
        ),
        (
            http.patch(format!("{base}/v1/reload"))
                .header("authorization", &bearer),
            405,
            "method PATCH is not allowed on \"/v1/reload\" (allowed: POST)",
        ),
        (
            http.get(format!("{base}/v1/reload")),
            405,
            "method GET is not allowed",
        ),
        (
            http.post(format!("{base}/v1/dlq/replay"))
                .header("authorization", &bearer)
                .header("content-type", "text/plain")
                .body(r#"{"id":"1-0"}"#),
            415,
            "Content-Type: application/json",
        ),
        (
            http.post(format!("{base}/v1/dlq/replay"))
                .header("authorization", &bearer)
                .header("content-type", "application/json")
                .body(r#"{"id": "#),
            400,
            "expected a JSON body {\"id\"",
        ),
        (
            http.post(format!("{base}/v1/dlq/replay"))
                .header("authorization", &bearer)
                .header("content-type", "application/json")
                .body(r#"{"ids": ["1-0"]}"#),
            422,
            "missing field `id`",
        ),
        (
            http.post(format!("{base}/v1/dlq/replay"))
                .header("authorization", &bearer)
                .json(&serde_json::json!({ "id": "no-such-entry" })),
            400,
            "\"no-such-entry\" is not a dead-letter id",
        ),
        (
            http.post(format!("{base}/v1/dlq/replay"))
                .header("authorization", &bearer)
                .json(&serde_json::json!({ "id": "1700000000000-0" })),
            404,
            "no replayable dead letter 1700000000000-0",
        ),
        (http.get(format!("{base}/v1/dlq?limit=many")), 400, "limit"),
        (
            http.post(format!("{base}/v1/tenants"))
                .header("authorization", &bearer)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("provider=discord"),
            415,
            "is not a tenant entry",
        ),
        (
            http.put(format!("{base}/v1/tenants/discord/duck"))
                .header("authorization", &bearer)
                .header("content-type", "application/yaml")
                .body("provider: [discord"),
            400,
            "not a YAML or JSON tenant entry",
        ),
        (
            http.put(format!("{base}/v1/tenants/discord/duck"))
                .header("authorization", &bearer)
                .body("provider: discord\ntenant: goose\n"),
            400,
            "provider: \"discord\" and tenant: \"duck\"",
        ),
        (
            http.post(format!("{base}/v1/tenants"))
                .header("authorization", &bearer)
                .body(vec![0xff, 0xfe, 0x00]),
            400,
            "not UTF-8",
        ),
    ];
    for (req, want, names) in cases {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, want, "{body}");
        let error = error_of(status, &body);
        assert!(
            error.contains(names),
            "{status}: {error:?} does not name {names:?}"
        );
        assert!(!body.contains(TOKEN), "the token is echoed: {body}");
    }
    // A refused or malformed request never reached the backend; the well-formed
    // replay did.
    assert_eq!(
        *stub.calls.lock().unwrap(),
        ["replay 1700000000000-0".to_owned()]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_declared_or_streamed() {
    let stub = Arc::new(Stub::default());
    let server = serve(stub.clone(), guarded().body_limit(1024)).await;
    let addr = server.addr();
    let auth = format!("Authorization: Bearer {TOKEN}");
    for route in crate::admin::ROUTES
        .iter()
        .filter(|r| r.method.is_mutating())
    {
        let path = route
            .path
            .replace("{provider}", "discord")
            .replace("{tenant}", "duck")
            .replace("{channel}", "1001");
        // Declared: answered before a byte of the body is read.
        let head = format!(
            "{} {path} HTTP/1.1\r\n{auth}\r\nContent-Type: application/json\r\nContent-Length: 1025",
            route.method.as_str()
        );
        let (status, body) = raw(addr, &head, b"").await;
        assert_eq!(status, 413, "{path}: {body}");
        assert!(
            error_of(status, &body).contains("limit of 1024 bytes"),
            "{body}"
        );
        // Streamed (chunked, no length): cut off once it passes the limit.
        let head = format!(
            "{} {path} HTTP/1.1\r\n{auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked",
            route.method.as_str()
        );
        let chunk = format!("400\r\n{}\r\n", "x".repeat(1024));
        let body_bytes = format!("{chunk}{chunk}0\r\n\r\n");
        let (status, body) = raw(addr, &head, body_bytes.as_bytes()).await;
        assert_eq!(status, 413, "{path} (chunked): {body}");
        error_of(status, &body);
    }
    // At the limit is fine.
    let yaml = format!(
        "provider: discord\ntenant: duck\n#{}\n",
        "x".repeat(1024 - 33)
    );
    assert_eq!(yaml.len(), 1024);
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v1/tenants"))
        .bearer_auth(TOKEN)
        .body(yaml)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(
        stub.calls.lock().unwrap().len(),
        1,
        "only the last one got through"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_body_is_408_and_a_stuck_handler_503_within_the_deadline() {
    let stub = Arc::new(Stub {
        hang_reload: true,
        ..Stub::default()
    });
    let timeout = Duration::from_millis(300);
    let server = serve(stub.clone(), guarded().request_timeout(timeout)).await;
    let addr = server.addr();
    let started = std::time::Instant::now();
    let head = format!(
        "POST /v1/tenants HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100"
    );
    // Two bytes of a hundred, then nothing.
    let (status, body) = raw(addr, &head, b"pr").await;
    assert_eq!(status, 408, "{body}");
    assert!(error_of(status, &body).contains("did not arrive within 300 ms"));
    let head =
        format!("POST /v1/reload HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0");
    let (status, body) = raw(addr, &head, b"").await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(status, &body).contains("no answer within 300 ms"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(*stub.calls.lock().unwrap(), ["reload".to_owned()]);
    // A read's body is never waited for (a 408 would say it was).
    let (status, body) = raw(addr, "GET /healthz HTTP/1.1\r\nContent-Length: 100", b"pr").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    // The server still answers.
    let r = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn every_route_of_the_table_is_served() {
    let stub = Arc::new(Stub::default());
    let server = serve(stub, guarded()).await;
    let http = reqwest::Client::new();
    for route in crate::admin::ROUTES {
        let path = route
            .path
            .replace("{provider}", "discord")
            .replace("{tenant}", "duck")
            .replace("{channel}", "1001");
        let method = reqwest::Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let mut req = http
            .request(method, format!("http://{}{path}", server.addr()))
            .bearer_auth(TOKEN);
        req = match route.body {
            RouteBody::Json if path.ends_with("/backfills") => {
                req.json(&serde_json::json!({ "channel": "1001" }))
            }
            RouteBody::Json => req.json(&serde_json::json!({ "id": "1-0" })),
            RouteBody::TenantEntry => req.body("provider: discord\ntenant: duck\n"),
            _ => req,
        };
        let status = req.send().await.unwrap().status().as_u16();
        // 404 only where the stub says so (no replayable letter, no cluster).
        let not_found_ok = path == "/v1/dlq/replay" || path == "/v1/cluster";
        assert!(
            (200..300).contains(&status) || (status == 404 && not_found_ok),
            "{} {path}: {status}",
            route.method.as_str()
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_non_loopback_address_needs_a_token() {
    let err = AdminServer::start(
        "0.0.0.0:0".parse().unwrap(),
        Arc::new(Stub::default()),
        AdminOptions::new(None),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AdminStartError::Exposed { .. }), "{err}");
}

/// The backfill routes check what the client sent before the backend sees it: a
/// channel that is not a snowflake (body or path), a zero limit, an unknown field,
/// a missing token.
#[tokio::test]
async fn backfill_routes_check_channel_limit_and_token() {
    let stub = Arc::new(Stub::default());
    let server = serve(stub.clone(), guarded()).await;
    let base = format!("http://{}/v1/tenants/discord/duck", server.addr());
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        http.post(format!("{base}/backfills"))
            .bearer_auth(TOKEN)
            .json(&body)
    };
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            http.post(format!("{base}/backfills"))
                .json(&serde_json::json!({ "channel": "1001" })),
            401,
            "missing Authorization",
        ),
        (
            post(serde_json::json!({ "channel": "general" })),
            400,
            "channel \"general\" is not a channel id",
        ),
        (
            post(serde_json::json!({ "channel": "0" })),
            400,
            "not a channel id",
        ),
        (
            post(serde_json::json!({ "channel": "1001", "limit": 0 })),
            400,
            "limit 0",
        ),
        (
            post(serde_json::json!({ "channel": "1001", "limt": 5 })),
            422,
            "unknown field `limt`",
        ),
        (
            post(serde_json::json!({ "limit": 5 })),
            422,
            "expected a JSON body {\"channel\"",
        ),
        (
            http.get(format!("{base}/backfills/not-a-channel")),
            400,
            "\"not-a-channel\" is not a channel id",
        ),
    ];
    for (req, want, names) in cases {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, want, "{body}");
        let error = error_of(status, &body);
        assert!(
            error.contains(names),
            "{status}: {error:?} does not name {names:?}"
        );
    }
    assert!(
        stub.calls.lock().unwrap().is_empty(),
        "a refused request reached the backend"
    );
    // Well-formed: 202 with the backend's view; a read needs no token.
    let r = post(serde_json::json!({ "channel": "1001", "limit": 120 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let view: BackfillView = r.json().await.unwrap();
    assert_eq!(view.job.as_deref(), Some("job"));
    let r = http
        .get(format!("{base}/backfills/1001"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        *stub.calls.lock().unwrap(),
        [
            "backfill discord/duck 1001 Some(120)".to_owned(),
            "progress discord/duck 1001".to_owned()
        ]
    );
    server.shutdown().await;
}
