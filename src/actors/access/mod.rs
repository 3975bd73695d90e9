//! What both halves of a tenant's access layer — the gateway and the REST actor —
//! share: the token lease (taken as the capability's principal, its events
//! forwarded), one [`TenantState`], and one typed [`AccessExit`] their supervisor
//! matches on; and the cell through which the runtime hands the tenant's access
//! layer its application commands ([`CommandSync`]).

mod commands;
mod exit;
pub(crate) mod lease;
mod state;

pub use commands::{CommandPlan, CommandSync, CommandSyncStatus, CommandTarget};
pub use exit::AccessExit;
pub use state::TenantState;
