//! `RestActor`: one per tenant; the only caller of the provider's REST API.
//!
//! It leases the tenant's bot token (`provider.rest`) with the scope its supervisor
//! minted for it (`rest(<provider>/<tenant>)`, never a principal of its choosing),
//! builds a twilight-http client (twilight's rate limiter on), takes commands from the tenant's
//! `rest.request` queue, maps them to Discord routes and answers each with a
//! `RestResponse`. Around every send:
//!
//! - its own **bucket gate** from the `X-RateLimit-*` headers of every response, so it
//!   waits *before* sending whether or not Discord sends `X-RateLimit-Scope` (twilight
//!   learns buckets only from responses that carry it), and a global per-token gate;
//! - the process-wide **invalid-request budget**, refusing sends before Discord's IP
//!   ban; twilight's hidden 429 retries are counted (and cut off) in its pre-flight hook;
//! - a **circuit breaker**, retries of 5xx and timeouts with backoff and jitter, and an
//!   outer timeout per attempt and per command.
//!
//! A 401 on a bot-token request fails the tenant: health says why, pending commands are
//! answered `TenantUnavailable`, and the actor stops with a reason starting `fatal:`.
//!
//! # Layout
//! - `start.rs`: [`RestHandle`], [`RestArgs`]; `config.rs`: [`RestConfig`].
//! - `actor.rs`: the actor, the lease and rotation, the request pump.
//! - `serve.rs`: one command end to end; `exec.rs`: one call through the gates.
//! - `clock.rs`: the interaction clock — defers interactions the gateway armed when
//!   their handler is slow (`runtime.interactions.defer_after_ms`), and answers with
//!   an ephemeral error when it never answers or failed; `answer.rs`: a handler's
//!   answer through its interaction's watch (as sent, or translated after a
//!   deferral into an edit of `@original` or a followup).
//! - `buckets.rs`, `global.rs`, `budget.rs`, `breaker.rs`: the gates.
//! - `memory.rs`: [`BucketMemory`], the bucket gate kept for the tenant's next
//!   holder (a restart, another node), so a hand-over meets no spent window.
//! - `core.rs`: what tasks share; `health.rs`: [`RestHealth`].
//! - `register.rs`: the tenant's application commands (GET, compare, bulk overwrite
//!   only when they differ), following the plan in [`RestArgs::commands`].
//!
//! # Invariants
//! - The token is read from the lease only to build the client; it is never logged,
//!   and interaction tokens never leave the request path (rate-limit keys use ids).
//! - Every command taken off the bus is answered exactly once.
//! - At most one first answer per interaction leaves this actor: the handler's and
//!   the clock's are sent under the same per-interaction lock.

mod actor;
mod answer;
mod breaker;
mod buckets;
mod budget;
mod clock;
mod config;
mod core;
mod exec;
mod global;
mod health;
mod memory;
mod register;
mod serve;
mod start;

pub use budget::{BudgetConfig, InvalidRequestBudget};
pub use config::RestConfig;
pub use memory::BucketMemory;
pub use start::{RestArgs, RestHandle};
// The rest of the REST actor's surface, for the `internals` build.
#[cfg(feature = "internals")]
pub use actor::RestError;
#[cfg(feature = "internals")]
pub use breaker::CircuitState;
#[cfg(feature = "internals")]
pub use buckets::BucketInfo;
#[cfg(feature = "internals")]
pub use budget::{BudgetExhausted, BudgetSnapshot, BudgetTicket};
#[cfg(feature = "internals")]
pub use health::{RestHealth, StatusCounts, TenantState};
