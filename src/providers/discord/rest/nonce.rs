//! Idempotency keys for create-message requests.
//!
//! Discord deduplicates a create-message carrying `enforce_nonce: true` with a nonce it
//! has seen from the same author in the same channel for a few minutes. A handler that
//! is retried (its event redelivered) publishes a *new* request envelope with the same
//! `causation` (the event) and the same content, so the nonce is derived from the
//! causation (or, without one, the request's own id) plus what is being sent: a retry
//! maps to the same nonce, two different messages caused by one event do not.

use sha2::{Digest, Sha256};

/// The longest nonce Discord accepts.
pub const MAX_NONCE_LEN: usize = 25;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A deterministic nonce of [`MAX_NONCE_LEN`] lowercase hex digits for a message with
/// `parts` (e.g. channel and content) caused by `origin` (an envelope id).
#[must_use]
pub fn derive_nonce(origin: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(origin.as_bytes());
    for p in parts {
        // Length-prefixed so that ("ab", "c") and ("a", "bc") differ.
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut out = String::with_capacity(MAX_NONCE_LEN + 1);
    for b in digest.iter().take(MAX_NONCE_LEN.div_ceil(2)) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out.truncate(MAX_NONCE_LEN);
    out
}

/// The nonce to send: the command's own (if it fits Discord's limit), else derived.
#[must_use]
pub fn nonce_for(explicit: Option<&str>, origin: &str, parts: &[&str]) -> String {
    match explicit {
        Some(n) if !n.is_empty() && n.chars().count() <= MAX_NONCE_LEN => n.to_owned(),
        // Too long: derive from it, so the same long key still maps to one nonce.
        Some(n) if !n.is_empty() => derive_nonce(n, &[]),
        _ => derive_nonce(origin, parts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_bounded_and_distinct() {
        let a = derive_nonce("01H", &["1", "hi"]);
        assert_eq!(a, derive_nonce("01H", &["1", "hi"]));
        assert_eq!(a.len(), MAX_NONCE_LEN);
        assert_ne!(a, derive_nonce("01H", &["1", "ho"]));
        assert_ne!(
            derive_nonce("x", &["ab", "c"]),
            derive_nonce("x", &["a", "bc"])
        );
        assert_eq!(nonce_for(Some("mine"), "o", &[]), "mine");
        assert_eq!(nonce_for(Some(&"x".repeat(40)), "o", &[]).len(), 25);
        assert_eq!(nonce_for(None, "o", &["p"]), derive_nonce("o", &["p"]));
    }
}
