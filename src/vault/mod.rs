//! Secrets vault: leases with a TTL, a capability policy, memory and Redis backends.
