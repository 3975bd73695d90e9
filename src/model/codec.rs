//! MessagePack encoding of envelopes for the Redis bus.
//!
//! Envelopes are encoded with field names (`rmp_serde::to_vec_named`): a little larger
//! than the positional form, but a reader of another contract version can skip fields
//! it does not know and default the ones it lacks, and optional fields can never shift
//! the others. Decoding is defensive: it bounds the input size and nesting depth,
//! never panics on arbitrary bytes, and checks the envelope's invariants (version,
//! topic matching provider and tenant) before anyone sees it. A decoding or encoding
//! failure keeps rmp-serde's error as the [`source`](std::error::Error::source)
//! (render it with [`Report`](crate::Report) to see both).

use super::envelope::{CONTRACT_VERSION, Envelope};

/// The largest encoded envelope accepted (8 MiB, room for a raw guild payload).
pub const MAX_ENVELOPE_BYTES: usize = 8 * 1024 * 1024;

/// The deepest nesting accepted; real envelopes stay far below it, and a bound keeps a
/// hostile input from exhausting the stack.
const MAX_DEPTH: usize = 32;

/// An error from rmp-serde, kept as a [`CodecError`]'s source (boxed, so the
/// dependency's types stay out of the API).
type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
    /// The bytes are not a MessagePack envelope (the source: rmp-serde's decoding
    /// error, e.g. a missing field or a wrong type).
    #[error("malformed envelope")]
    Malformed(#[source] BoxError),
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
    /// Encoding failed, only on a bug in a `Serialize` impl (the source: rmp-serde's
    /// encoding error).
    #[error("could not encode envelope")]
    Encode(#[source] BoxError),
}

/// Encodes an envelope as named MessagePack.
///
/// # Errors
/// [`CodecError::Encode`] if serialization fails, [`CodecError::TooLarge`] if the
/// result exceeds [`MAX_ENVELOPE_BYTES`].
pub fn encode(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    let bytes = rmp_serde::to_vec_named(envelope).map_err(|e| CodecError::Encode(e.into()))?;
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
    let envelope: Envelope =
        serde::Deserialize::deserialize(&mut de).map_err(|e| CodecError::Malformed(e.into()))?;
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::{CodecError, decode};

    /// A MessagePack map that is not an envelope: `{"v": 1}`.
    fn not_an_envelope() -> Vec<u8> {
        rmp_serde::to_vec_named(&serde_json::json!({ "v": 1 })).expect("encodes")
    }

    #[test]
    fn a_malformed_frame_keeps_rmp_serdes_error_as_its_source() {
        let e = decode(&not_an_envelope()).expect_err("not an envelope");
        assert!(matches!(e, CodecError::Malformed(_)), "{e:?}");
        assert_eq!(e.to_string(), "malformed envelope");
        let source = e.source().expect("rmp-serde's error").to_string();
        assert!(source.contains("missing field"), "{source}");
    }

    #[test]
    fn a_report_shows_the_chain() {
        let e = decode(&[0xc1]).expect_err("0xc1 is never used in MessagePack");
        let report = crate::Report(&e).to_string();
        let source = e.source().expect("rmp-serde's error").to_string();
        assert_eq!(report, format!("malformed envelope: {source}"));
        assert!(!source.is_empty());
    }
}
