//! The admin API's route table: every route the server serves, in one place.
//!
//! The router is built from [`ROUTES`] and nothing else, and the tests walk the same
//! table (every mutating route × every way to authenticate or to send a bad body), so
//! a route cannot be added without being listed — and tested. Which routes need the
//! token is decided by method in `auth.rs`, not here, so the table cannot get that
//! wrong either.

use axum::routing::{MethodFilter, MethodRouter, on};

use super::handlers::{self, AppState};

/// An HTTP method a route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteMethod {
    /// `GET` (and `HEAD`): reads.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `DELETE`.
    Delete,
}

impl RouteMethod {
    /// The method's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }

    /// Whether the method changes something (and so always needs the token).
    #[must_use]
    pub fn is_mutating(self) -> bool {
        self != Self::Get
    }

    fn filter(self) -> MethodFilter {
        match self {
            Self::Get => MethodFilter::GET,
            Self::Post => MethodFilter::POST,
            Self::Put => MethodFilter::PUT,
            Self::Delete => MethodFilter::DELETE,
        }
    }
}

/// What a route reads from the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteBody {
    /// Nothing (a body is ignored).
    None,
    /// A JSON object (`Content-Type: application/json`).
    Json,
    /// A tenant entry as YAML or JSON (`application/yaml`, `application/json`,
    /// `text/yaml`, `text/plain`, or no content type).
    TenantEntry,
}

/// The handler behind a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Healthz,
    Readyz,
    Metrics,
    Status,
    Tenants,
    CreateTenant,
    ReplaceTenant,
    DeleteTenant,
    Reload,
    Dlq,
    Replay,
    Leases,
    Cluster,
    StartBackfill,
    Backfill,
}

/// One route of the admin API.
#[derive(Debug, Clone, Copy)]
pub struct AdminRoute {
    /// Its method.
    pub method: RouteMethod,
    /// Its path, with `{name}` for a path parameter.
    pub path: &'static str,
    /// What it reads from the body.
    pub body: RouteBody,
    endpoint: Endpoint,
}

const fn route(
    method: RouteMethod,
    path: &'static str,
    body: RouteBody,
    endpoint: Endpoint,
) -> AdminRoute {
    AdminRoute {
        method,
        path,
        body,
        endpoint,
    }
}

/// Every route the admin API serves.
pub const ROUTES: &[AdminRoute] = {
    use Endpoint as E;
    use RouteBody as B;
    use RouteMethod::{Delete, Get, Post, Put};
    &[
        route(Get, "/healthz", B::None, E::Healthz),
        route(Get, "/readyz", B::None, E::Readyz),
        route(Get, "/metrics", B::None, E::Metrics),
        route(Get, "/v1/status", B::None, E::Status),
        route(Get, "/v1/tenants", B::None, E::Tenants),
        route(Post, "/v1/tenants", B::TenantEntry, E::CreateTenant),
        route(
            Put,
            "/v1/tenants/{provider}/{tenant}",
            B::TenantEntry,
            E::ReplaceTenant,
        ),
        route(
            Delete,
            "/v1/tenants/{provider}/{tenant}",
            B::None,
            E::DeleteTenant,
        ),
        route(Post, "/v1/reload", B::None, E::Reload),
        route(Get, "/v1/dlq", B::None, E::Dlq),
        route(Post, "/v1/dlq/replay", B::Json, E::Replay),
        route(Get, "/v1/leases", B::None, E::Leases),
        route(Get, "/v1/cluster", B::None, E::Cluster),
        route(
            Post,
            "/v1/tenants/{provider}/{tenant}/backfills",
            B::Json,
            E::StartBackfill,
        ),
        route(
            Get,
            "/v1/tenants/{provider}/{tenant}/backfills/{channel}",
            B::None,
            E::Backfill,
        ),
    ]
};

impl AdminRoute {
    /// The route's handler, answering the route's method only.
    pub(super) fn method_router(&self) -> MethodRouter<AppState> {
        let f = self.method.filter();
        match self.endpoint {
            Endpoint::Healthz => on(f, handlers::healthz),
            Endpoint::Readyz => on(f, handlers::readyz),
            Endpoint::Metrics => on(f, handlers::metrics_text),
            Endpoint::Status => on(f, handlers::status),
            Endpoint::Tenants => on(f, handlers::tenants),
            Endpoint::CreateTenant => on(f, handlers::create_tenant),
            Endpoint::ReplaceTenant => on(f, handlers::replace_tenant),
            Endpoint::DeleteTenant => on(f, handlers::delete_tenant),
            Endpoint::Reload => on(f, handlers::reload),
            Endpoint::Dlq => on(f, handlers::dlq),
            Endpoint::Replay => on(f, handlers::replay),
            Endpoint::Leases => on(f, handlers::leases),
            Endpoint::Cluster => on(f, handlers::cluster),
            Endpoint::StartBackfill => on(f, handlers::start_backfill),
            Endpoint::Backfill => on(f, handlers::backfill),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_no_duplicate_and_bodies_only_on_mutations() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(
                seen.insert((r.method, r.path)),
                "{} {} twice",
                r.method.as_str(),
                r.path
            );
            assert!(
                r.method.is_mutating() || r.body == RouteBody::None,
                "{} {} reads a body",
                r.method.as_str(),
                r.path
            );
        }
    }
}
