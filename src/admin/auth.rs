//! Who may call what: one middleware over the whole router, so a new route cannot
//! forget it.
//!
//! The rule is by method, not by route: anything but `GET` and `HEAD` changes
//! something and needs `Authorization: Bearer <token>` (the scheme in any case,
//! RFC 7235; spaces around the token tolerated). With `auth_reads` the reads under
//! `/v1/` (tenants, status, dead letters, leases, the cluster) need it too;
//! `/healthz`, `/readyz` and `/metrics` stay open for probes and scrapers. Without a
//! configured token every request that needs one is refused.
//!
//! The server keeps only a SHA-256 digest of the token and compares digests in
//! constant time (`subtle`), so neither the bytes nor the length of the token can be
//! learned from timing. No answer or log line carries what the client sent.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::errors::ApiError;

/// The policy and the token's digest.
pub(super) struct Auth {
    digest: Option<[u8; 32]>,
    auth_reads: bool,
}

/// Why a request was refused (401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum Denied {
    #[error("mutations are disabled: no admin token is configured (runtime.admin.token_env)")]
    MutationsDisabled,
    #[error(
        "reads under /v1/ need the admin token (runtime.admin.auth_reads), and none is configured (runtime.admin.token_env)"
    )]
    ReadsDisabled,
    #[error("missing Authorization: Bearer <token>")]
    Missing,
    #[error("malformed Authorization header: expected Bearer <token>")]
    Malformed,
    #[error("wrong bearer token")]
    Wrong,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The token of `Authorization: <scheme> <token>` when the scheme is `Bearer` in
/// any case; leading, trailing and separating spaces or tabs are tolerated.
fn bearer(value: &HeaderValue) -> Option<&[u8]> {
    let v = value.as_bytes().trim_ascii();
    let split = v.iter().position(|b| *b == b' ' || *b == b'\t')?;
    let (scheme, rest) = v.split_at(split);
    let token = rest.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then_some(token)
}

impl Auth {
    pub(super) fn new(token: Option<&SecretString>, auth_reads: bool) -> Self {
        Self {
            digest: token.map(|t| digest(t.expose_secret().as_bytes())),
            auth_reads,
        }
    }

    /// Whether `method path` needs the token.
    fn guards(&self, method: &Method, path: &str) -> bool {
        let read = method == Method::GET || method == Method::HEAD;
        !read || (self.auth_reads && path.starts_with("/v1/"))
    }

    fn check(&self, read: bool, headers: &HeaderMap) -> Result<(), Denied> {
        let Some(expected) = &self.digest else {
            return Err(if read {
                Denied::ReadsDisabled
            } else {
                Denied::MutationsDisabled
            });
        };
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(if headers.contains_key(header::AUTHORIZATION) {
                Denied::Malformed
            } else {
                Denied::Missing
            });
        };
        let given = bearer(value).ok_or(Denied::Malformed)?;
        if bool::from(digest(given).ct_eq(expected)) {
            Ok(())
        } else {
            Err(Denied::Wrong)
        }
    }
}

/// Middleware: refuses (401, `WWW-Authenticate: Bearer`) a request that needs the
/// token and does not carry it.
pub(super) async fn require_token(
    State(auth): State<Arc<Auth>>,
    req: Request,
    next: Next,
) -> Response {
    if auth.guards(req.method(), req.uri().path()) {
        let read = req.method() == Method::GET || req.method() == Method::HEAD;
        if let Err(denied) = auth.check(read, req.headers()) {
            tracing::info!(method = %req.method(), path = req.uri().path(), reason = %denied, "admin request refused");
            let mut response =
                ApiError::new(StatusCode::UNAUTHORIZED, denied.to_string()).into_response();
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::Router;
    use axum::routing::get;

    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_spaces_are_tolerated() {
        let t = |v: &str| bearer(&HeaderValue::from_str(v).unwrap()).map(<[u8]>::to_vec);
        for ok in [
            "Bearer tok",
            "bearer tok",
            "BEARER tok",
            "bEaReR tok",
            "Bearer   tok  ",
            "  Bearer\ttok",
        ] {
            assert_eq!(t(ok).as_deref(), Some(&b"tok"[..]), "{ok:?}");
        }
        for bad in ["Bearer", "Bearer ", "Basic tok", "Bearertok", "tok", ""] {
            assert_eq!(t(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_are_guarded_only_under_v1_and_only_when_asked() {
        let open = Auth::new(Some(&"t".to_owned().into()), false);
        let closed = Auth::new(Some(&"t".to_owned().into()), true);
        for m in [
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ] {
            assert!(open.guards(&m, "/healthz"), "{m}");
            assert!(open.guards(&m, "/anything"), "{m}");
        }
        assert!(!open.guards(&Method::GET, "/v1/tenants"));
        assert!(closed.guards(&Method::GET, "/v1/tenants"));
        assert!(closed.guards(&Method::HEAD, "/v1/dlq"));
        for open_path in ["/healthz", "/readyz", "/metrics"] {
            assert!(!closed.guards(&Method::GET, open_path), "{open_path}");
        }
    }

    /// A tiny router behind the middleware, served on a free port.
    async fn serve(auth: Auth) -> (SocketAddr, tokio::task::JoinHandle<()>) {
        let app = Router::new()
            .route(
                "/v1/thing",
                get(|| async { "read" }).post(|| async { "wrote" }),
            )
            .route("/healthz", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(auth),
                require_token,
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (addr, task)
    }

    async fn call(
        http: &reqwest::Client,
        method: reqwest::Method,
        url: String,
        authorization: Option<&str>,
    ) -> (u16, String) {
        let mut req = http.request(method, url);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        if status == 401 {
            assert_eq!(
                r.headers().get("www-authenticate").unwrap(),
                "Bearer",
                "a 401 names the scheme"
            );
        }
        (status, r.text().await.unwrap())
    }

    #[tokio::test]
    async fn the_middleware_guards_mutations_and_optionally_reads() {
        let secret = "CANARY-auth-token-9f3";
        let (addr, task) = serve(Auth::new(Some(&secret.to_owned().into()), false)).await;
        let http = reqwest::Client::new();
        let url = |p: &str| format!("http://{addr}{p}");
        let post = reqwest::Method::POST;
        let good = format!("Bearer {secret}");
        let lower = format!("bearer {secret}");
        let spaced = format!("  Bearer   {secret} ");
        let wrong = format!("Bearer {secret}x");
        let short = "Bearer C".to_owned();
        for (auth, want) in [
            (None, 401),
            (Some(wrong.as_str()), 401),
            (Some(short.as_str()), 401),
            (Some("Basic dXNlcjpwYXNz"), 401),
            (Some(secret), 401),
            (Some(good.as_str()), 200),
            (Some(lower.as_str()), 200),
            (Some(spaced.as_str()), 200),
        ] {
            let (status, body) = call(&http, post.clone(), url("/v1/thing"), auth).await;
            assert_eq!(status, want, "{auth:?}: {body}");
            if want == 401 {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                assert!(v["error"].is_string(), "{body}");
                assert!(!body.contains("CANARY"), "the token is echoed: {body}");
            } else {
                assert_eq!(body, "wrote");
            }
        }
        // Reads are open by default, whatever the header says.
        assert_eq!(
            call(&http, reqwest::Method::GET, url("/v1/thing"), Some(&wrong)).await,
            (200, "read".to_owned())
        );
        // A method no route takes is still refused first: unknown routes do not leak.
        assert_eq!(
            call(&http, reqwest::Method::DELETE, url("/nope"), None)
                .await
                .0,
            401
        );
        task.abort();

        let (addr, task) = serve(Auth::new(Some(&secret.to_owned().into()), true)).await;
        let url = |p: &str| format!("http://{addr}{p}");
        assert_eq!(
            call(&http, reqwest::Method::GET, url("/v1/thing"), None)
                .await
                .0,
            401
        );
        assert_eq!(
            call(&http, reqwest::Method::GET, url("/v1/thing"), Some(&lower))
                .await
                .0,
            200
        );
        assert_eq!(
            call(&http, reqwest::Method::GET, url("/healthz"), None)
                .await
                .0,
            200
        );
        task.abort();

        let (addr, task) = serve(Auth::new(None, false)).await;
        let (status, body) = call(
            &http,
            post,
            format!("http://{addr}/v1/thing"),
            Some(good.as_str()),
        )
        .await;
        assert_eq!(status, 401);
        assert!(body.contains("mutations are disabled"), "{body}");
        task.abort();
    }

    #[test]
    fn two_authorization_headers_are_malformed() {
        let auth = Auth::new(Some(&"t".to_owned().into()), false);
        let mut headers = HeaderMap::new();
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        assert_eq!(auth.check(false, &headers), Ok(()));
        headers.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"));
        assert_eq!(auth.check(false, &headers), Err(Denied::Malformed));
    }
}
