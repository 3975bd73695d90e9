//! [`AccessExit`]: why an access-layer actor (gateway or REST) stopped on its own,
//! as a type its supervisor matches on — no stop-reason strings parsed back.

/// Why a tenant's gateway or REST actor stopped, or could not start, on its own.
///
/// A supervisor reads it from the handle after the actor stopped
/// ([`GatewayHandle::exit`](crate::actors::gateway::GatewayHandle::exit),
/// [`RestHandle::exit`](crate::actors::rest::RestHandle::exit)) or from the start
/// error ([`GatewayError::exit`](crate::actors::gateway::GatewayError::exit));
/// `None` means an ordinary failure: restart within the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessExit {
    /// Retrying cannot help (a rejected token — gateway close 4004, REST 401 —,
    /// disallowed intents, bad configuration): leave the tenant failed.
    Fatal(String),
    /// Another gateway — another node — holds the tenant's exclusive lease: stand by
    /// and take over when it expires. Not a failure; no restart budget is spent.
    HeldElsewhere,
    /// The actor lost its lease (expired while the store was unreachable or the
    /// process was paused, revoked, or overtaken by a newer owner's fence): take it
    /// back if it is free, else stand by.
    LeaseLost(String),
    /// The vault's store could not be reached to take the lease: look again when it
    /// is back (not a failure of the tenant; no restart budget is spent).
    StoreUnavailable(String),
}
