//! Worker groups: several independent consumers of every tenant's inbox, on both bus
//! backends (Redis: a throwaway `redis-server` per test), and their configuration.

#[path = "common/mod.rs"]
mod common;
#[path = "groups/config.rs"]
mod config;
#[path = "groups/memory.rs"]
mod memory;
#[path = "groups/redis.rs"]
mod redis;
#[path = "groups/runtime.rs"]
mod runtime;
#[path = "groups/scenarios.rs"]
mod scenarios;
#[path = "groups/support.rs"]
mod support;
