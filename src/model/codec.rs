//! MessagePack encoding of envelopes for the Redis bus.
//!
//! Envelopes are encoded with field names (`rmp_serde::to_vec_named`): a little larger
//! than the positional form, but a reader of another contract version can skip fields
//! it does not know and default the ones it lacks, and optional fields can never shift
//! the others. Decoding is defensive: it bounds the input size and nesting depth,
//! never panics on arbitrary bytes, and checks the envelope's invariants (version,
//! topic matching provider and tenant) before anyone sees it.

use super::envelope::{CONTRACT_VERSION, Envelope};

/// The largest encoded envelope accepted (8 MiB, room for a raw guild payload).
pub const MAX_ENVELOPE_BYTES: usize = 8 * 1024 * 1024;

/// The deepest nesting accepted; real envelopes stay far below it, and a bound keeps a
/// hostile input from exhausting the stack.
const MAX_DEPTH: usize = 32;

/// Why an envelope could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The input is larger than [`MAX_ENVELOPE_BYTES`].
    #[error("envelope is {len} bytes, more than the {MAX_ENVELOPE_BYTES}-byte limit")]
    TooLarge {
        /// The input length.
        len: usize,
    },
    /// The bytes are not a MessagePack envelope.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// The envelope was written by an unsupported contract version.
    #[error("unsupported envelope version {found} (this build reads version {CONTRACT_VERSION})")]
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// The topic names another provider or tenant than the envelope's fields.
    #[error("envelope for {provider}/{tenant} travels on topic {topic} of another tenant")]
    TenantMismatch {
        /// The envelope's provider.
        provider: String,
        /// The envelope's tenant.
        tenant: String,
        /// Its topic.
        topic: String,
    },
    /// Encoding failed (only on a bug in a `Serialize` impl).
    #[error("could not encode envelope: {0}")]
    Encode(String),
}

/// Encodes an envelope as named MessagePack.
///
/// # Errors
/// [`CodecError::Encode`] if serialization fails, [`CodecError::TooLarge`] if the
/// result exceeds [`MAX_ENVELOPE_BYTES`].
pub fn encode(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    let bytes = rmp_serde::to_vec_named(envelope).map_err(|e| CodecError::Encode(e.to_string()))?;
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(CodecError::TooLarge { len: bytes.len() });
    }
    Ok(bytes)
}

/// Decodes and checks an envelope.
///
/// # Errors
/// A [`CodecError`] saying what is wrong; never panics, whatever the bytes.
pub fn decode(bytes: &[u8]) -> Result<Envelope, CodecError> {
    if bytes.len() > MAX_ENVELOPE_BYTES {
        return Err(CodecError::TooLarge { len: bytes.len() });
    }
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
    de.set_max_depth(MAX_DEPTH);
    let envelope: Envelope = serde::Deserialize::deserialize(&mut de)
        .map_err(|e| CodecError::Malformed(e.to_string()))?;
    if envelope.v != CONTRACT_VERSION {
        return Err(CodecError::UnsupportedVersion { found: envelope.v });
    }
    let topic_tenant = envelope.topic.tenant();
    if topic_tenant.provider != envelope.provider || topic_tenant.tenant != envelope.tenant {
        return Err(CodecError::TenantMismatch {
            provider: envelope.provider.to_string(),
            tenant: envelope.tenant.to_string(),
            topic: envelope.topic.to_string(),
        });
    }
    Ok(envelope)
}
