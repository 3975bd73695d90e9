//! The daemon and the CLI as processes, against the emulator over real sockets.

#[path = "daemon/admin.rs"]
mod admin;
#[path = "daemon/demo.rs"]
mod demo;
#[path = "daemon/lifecycle.rs"]
mod lifecycle;
#[path = "common/redis.rs"]
mod redis_server;
#[path = "daemon/roles.rs"]
mod roles;
#[path = "daemon/support.rs"]
mod support;
