//! The bus and the worker pool, end to end with real handlers, on every backend
//! (Redis: a throwaway `redis-server` per test).

#[path = "bus/memory.rs"]
mod memory;
#[path = "bus/outage.rs"]
mod outage;
#[path = "bus/redis.rs"]
mod redis;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "bus/scenarios.rs"]
mod scenarios;
#[path = "bus/secrets.rs"]
mod secrets;
#[path = "bus/support.rs"]
mod support;
