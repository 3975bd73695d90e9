//! The tenant registry: YAML loading, `${VAR}` interpolation and validation.
//!
//! A registry file names the runtime's settings and every tenant (`providers`),
//! optionally merged with one file per tenant from `runtime.tenants_dir`. Loading
//! reports *every* problem with its file, field path and what was expected; secrets
//! become [`secrecy::SecretString`] as they are read. `config/README.md` documents
//! every field.

mod error;
mod interpolate;
mod load;
mod registry;
mod validate;

pub use error::{ConfigError, ConfigIssue};
pub use load::{EnvLookup, LoadOptions};
pub use registry::{
    AdminConfig, AllowConfig, BackendKind, BusBackendConfig, CommandScope, CommandsConfig,
    Credentials, Endpoints, GatewayConfig, GroupConfig, InteractionsConfig, Registry,
    RestartConfig, RuntimeConfig, ScheduleConfig, Shards, StorageConfig, StoreBackend, StoreConfig,
    TenantConfig, TenantsStore, VaultBackendConfig,
};
pub use registry::{EmbeddingsConfig, FetchConfig};
pub use validate::{DISCORD_INTENTS, SUPPORTED_PROVIDERS, is_snowflake};
