//! The admin API client, and the failures that decide `switchboardctl`'s exit code.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | anything else (a file that cannot be read, an unexpected answer, a backfill followed with `--follow` that failed or did not finish in time) |
//! | 2 | usage error (clap) |
//! | 3 | no daemon answered at the admin address |
//! | 4 | the daemon refused the request (an HTTP error: bad input, unauthorised, ...) |

use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use serde_json::Value;

/// No daemon answered: exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Unreachable(String);

/// The daemon answered with an error status: exit code 4.
#[derive(Debug, thiserror::Error)]
#[error("{status} {message}")]
pub(crate) struct Refused {
    status: u16,
    message: String,
}

impl Refused {
    /// Whether the daemon answered 404 Not Found.
    pub(crate) fn is_not_found(&self) -> bool {
        self.status == 404
    }
}

/// A backfill followed with `--follow` failed (its job was dead-lettered): exit
/// code 1, with the reason the daemon recorded.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct BackfillFailed(pub(crate) String);

/// The exit code for a failed command.
pub(crate) fn exit_code(error: &anyhow::Error) -> ExitCode {
    if error.is::<Unreachable>() {
        ExitCode::from(3)
    } else if error.is::<Refused>() {
        ExitCode::from(4)
    } else {
        ExitCode::FAILURE
    }
}

/// The base URL of `--admin`: a URL, or a bare `HOST:PORT` (the form the daemon's
/// `--admin` and `runtime.admin.listen` take).
pub(crate) fn base_url(admin: &str) -> String {
    let admin = admin.trim_end_matches('/');
    if admin.contains("://") {
        admin.to_owned()
    } else {
        format!("http://{admin}")
    }
}

/// A client of one daemon's admin API.
pub(crate) struct Api {
    pub(crate) base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Api {
    pub(crate) fn new(base: String, token: Option<String>) -> anyhow::Result<Self> {
        Ok(Self {
            base,
            token,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()?,
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let resp = req.send().await.map_err(|e| {
            Unreachable(format!(
                "no switchboard daemon at {} ({})",
                self.base,
                if e.is_connect() {
                    "connection refused".to_owned()
                } else {
                    e.to_string()
                }
            ))
        })?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let mut message = body["error"]
            .as_str()
            .unwrap_or("request failed")
            .to_owned();
        for p in body["problems"].as_array().into_iter().flatten() {
            message.push_str("\n  - ");
            message.push_str(p.as_str().unwrap_or_default());
        }
        Err(Refused {
            status: status.as_u16(),
            message,
        }
        .into())
    }

    pub(crate) async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub(crate) async fn post(&self, path: &str, body: Option<String>) -> anyhow::Result<Value> {
        let req = self.http.post(format!("{}{path}", self.base));
        self.send(match body {
            Some(b) => req.body(b),
            None => req,
        })
        .await
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string());
        self.send(req).await
    }

    pub(crate) async fn put(&self, path: &str, body: String) -> anyhow::Result<Value> {
        self.send(self.http.put(format!("{}{path}", self.base)).body(body))
            .await
    }

    pub(crate) async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }
}

/// `provider/tenant` split in two.
pub(crate) fn tenant_path(id: &str) -> anyhow::Result<String> {
    let (p, t) = id
        .split_once('/')
        .filter(|(p, t)| !p.is_empty() && !t.is_empty() && !t.contains('/'))
        .ok_or_else(|| anyhow!("expected provider/tenant, got {id:?}"))?;
    Ok(format!("/v1/tenants/{p}/{t}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_takes_a_url_or_an_address() {
        assert_eq!(base_url("127.0.0.1:7878"), "http://127.0.0.1:7878");
        assert_eq!(base_url("http://127.0.0.1:7878/"), "http://127.0.0.1:7878");
        assert_eq!(base_url("https://sb.example"), "https://sb.example");
    }

    #[test]
    fn exit_codes_tell_unreachable_from_refused() {
        assert_eq!(
            exit_code(&Unreachable("x".into()).into()),
            ExitCode::from(3)
        );
        let refused = Refused {
            status: 401,
            message: "unauthorised".into(),
        };
        assert_eq!(exit_code(&refused.into()), ExitCode::from(4));
        assert_eq!(exit_code(&anyhow!("other")), ExitCode::FAILURE);
    }

    #[test]
    fn tenant_ids_need_both_parts() {
        assert_eq!(
            tenant_path("discord/duck").unwrap(),
            "/v1/tenants/discord/duck"
        );
        for bad in ["duck", "/duck", "discord/", "a/b/c"] {
            assert!(tenant_path(bad).is_err(), "{bad}");
        }
    }
}
