//! What both halves of a tenant's access layer — the gateway and the REST actor —
//! share: the token lease (taken as the capability's principal, its events
//! forwarded), one [`TenantState`], and one typed [`AccessExit`] their supervisor
//! matches on.

mod exit;
pub(crate) mod lease;
mod state;

pub use exit::AccessExit;
pub use state::TenantState;
