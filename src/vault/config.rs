//! The vault's settings.

use std::time::Duration;

use super::policy::Policy;

/// How the vault behaves. `Default` gives the default policy, a 5-minute default TTL,
/// a 1-hour maximum, 1,000 leases per principal and a 1-second sweep.
#[derive(Debug, Clone)]
pub struct VaultConfig {
    /// The capability policy.
    pub policy: Policy,
    /// TTL of a lease requested without one.
    pub default_ttl: Duration,
    /// No lease lives longer than this after its grant, however often it is renewed
    /// (Vault's `max_ttl`); requested TTLs are capped by it too.
    pub max_ttl: Duration,
    /// Most leases one principal may hold at once.
    pub quota_per_principal: usize,
    /// How often expired leases are swept.
    pub sweep_interval: Duration,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self {
            policy: Policy::default(),
            default_ttl: Duration::from_secs(300),
            max_ttl: Duration::from_secs(3600),
            quota_per_principal: 1000,
            sweep_interval: Duration::from_secs(1),
        }
    }
}
