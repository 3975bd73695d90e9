//! Registry loading, interpolation and validation, and the daemon's `check-config`.

#[path = "config/check_config.rs"]
mod check_config;
#[path = "config/load.rs"]
mod load;
