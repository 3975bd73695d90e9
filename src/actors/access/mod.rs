//! What both halves of a tenant's access layer — the gateway and the REST actor —
//! share: the token lease (taken as the capability's principal, its events
//! forwarded), one [`TenantState`], and one typed [`AccessExit`] their supervisor
//! matches on; and the cell through which the runtime hands the tenant's access
//! layer its application commands ([`CommandSync`]); and the interactions the gateway
//! arms and the REST actor defers when their handler is slow ([`Deferrals`]).

mod commands;
mod deferrals;
mod exit;
pub(crate) mod lease;
mod state;

#[cfg(feature = "internals")]
pub use commands::CommandSyncStatus;
pub use commands::{CommandPlan, CommandSync, CommandTarget};
#[cfg(feature = "internals")]
pub use deferrals::DeferTiming;
pub use deferrals::Deferrals;
pub(crate) use deferrals::{DeferKind, Deferred, Phase, Since, Watch};
pub use exit::AccessExit;
pub use state::TenantState;
