//! The daemon and the CLI as processes, against the emulator over real sockets.

// Scenario tests read best as one function each, building YAML as they go.
#![allow(
    clippy::too_many_lines,
    clippy::similar_names,
    clippy::format_push_string
)]

#[path = "daemon/admin.rs"]
mod admin;
#[path = "daemon/admin_auth.rs"]
mod admin_auth;
#[path = "daemon/backfill.rs"]
mod backfill;
#[path = "daemon/cluster.rs"]
mod cluster;
#[path = "daemon/demo.rs"]
mod demo;
#[path = "daemon/failures.rs"]
mod failures;
#[path = "daemon/indexer.rs"]
mod indexer;
#[path = "daemon/jobs.rs"]
mod jobs;
#[path = "daemon/lifecycle.rs"]
mod lifecycle;
#[path = "daemon/load.rs"]
mod load;
#[path = "daemon/redis_faults.rs"]
mod redis_faults;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "daemon/roles.rs"]
mod roles;
#[path = "daemon/service.rs"]
mod service;
#[path = "store/support.rs"]
#[allow(dead_code)]
mod store_support;
#[path = "daemon/support.rs"]
mod support;
