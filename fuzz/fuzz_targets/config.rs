//! The registry loader on arbitrary YAML text: `Registry::from_yaml_str`, the
//! parse → strict check → `${VAR}` interpolation → per-section deserialization →
//! validation pipeline `check-config` and `run --config` use. It must report
//! problems, never panic.
//!
//! The input's length picks the options (environment resolved or not, strict or
//! not), so seeds work as they are. Inputs naming `tenants_dir` are skipped: the
//! loader would read folders of the fuzzing machine.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use switchboard::config::{LoadOptions, Registry};

/// A deterministic environment: variables starting with A–M are set, others are not.
fn env(name: &str) -> Option<String> {
    name.starts_with(|c: char| ('A'..='M').contains(&c))
        .then(|| format!("value-of-{name}"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.contains("tenants_dir") {
        return;
    }
    let opts = LoadOptions {
        resolve_env: text.len() % 2 == 0,
        strict: text.len() % 4 >= 2,
        env: Arc::new(env),
    };
    if let Ok(registry) = Registry::from_yaml_str(text, "fuzz.yml", &opts) {
        // What the runtime reads first of a loaded registry.
        for tenant in &registry.tenants {
            let _ = tenant.id();
            let _ = tenant.handlers(&registry.runtime);
        }
    }
});
