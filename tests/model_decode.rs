//! Hostile input: arbitrary bytes and mutated valid encodings decoded as envelopes.
//!
//! Decoding must return an error (or a valid envelope), never panic, and never
//! allocate without bound. This binary runs under a capped global allocator: any
//! decode that tried to allocate more than the cap would abort the test process.

#[path = "model/strategies.rs"]
mod strategies;

use cap::Cap;
use proptest::prelude::*;
use switchboard::model::{CodecError, MAX_ENVELOPE_BYTES, decode, encode};

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, usize::MAX);

/// Headroom each test allows above what the process had allocated when it started.
const HEADROOM: usize = 256 * 1024 * 1024;

fn cap_allocations() {
    // Several tests may race to set it; any of their limits is fine.
    let _ = ALLOCATOR.set_limit(ALLOCATOR.allocated() + HEADROOM);
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: usize,
        bit: u8,
    },
    Set {
        at: usize,
        byte: u8,
    },
    Truncate {
        len: usize,
    },
    /// Writes a MessagePack 32-bit length marker claiming a huge length.
    HugeLength {
        at: usize,
        marker: u8,
    },
    Insert {
        at: usize,
        byte: u8,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip { at, bit }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
        // str32, bin32, array32, map32, ext32
        (
            any::<usize>(),
            prop::sample::select(vec![0xdb_u8, 0xc6, 0xdd, 0xdf, 0xc9])
        )
            .prop_map(|(at, marker)| Mutation::HugeLength { at, marker }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match *m {
            Mutation::Flip { at, bit } => bytes[at % n] ^= 1 << bit,
            Mutation::Set { at, byte } => bytes[at % n] = byte,
            Mutation::Truncate { len } => bytes.truncate(len % n),
            Mutation::HugeLength { at, marker } => {
                let at = at % n;
                bytes.splice(at..(at + 5).min(n), [marker, 0xff, 0xff, 0xff, 0xf0]);
            }
            Mutation::Insert { at, byte } => bytes.insert(at % n, byte),
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        cap_allocations();
        let _ = decode(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(
        env in strategies::envelope(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        cap_allocations();
        let bytes = apply(encode(&env).unwrap(), &mutations);
        if let Ok(decoded) = decode(&bytes) {
            // Whatever survives a mutation must still satisfy the envelope's invariants.
            prop_assert_eq!(decoded.topic.tenant(), &decoded.tenant_id());
        }
    }
}

#[test]
fn huge_length_prefixes_are_rejected_cheaply() {
    cap_allocations();
    // A map claiming 4 billion entries, a string claiming 4 GiB, an array likewise.
    for bytes in [
        vec![0xdf, 0xff, 0xff, 0xff, 0xff],
        vec![0xdb, 0xff, 0xff, 0xff, 0xff, b'a'],
        vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0x00],
        vec![0x81, 0xa1, b'v', 0xdd, 0xff, 0xff, 0xff, 0xff],
    ] {
        assert!(
            matches!(decode(&bytes), Err(CodecError::Malformed(_))),
            "{bytes:02x?}"
        );
    }
}

#[test]
fn deep_nesting_is_rejected_without_overflowing_the_stack() {
    cap_allocations();
    let bytes = vec![0x91_u8; 100_000]; // [[[[...]]]]
    assert!(decode(&bytes).is_err());
}

#[test]
fn oversized_input_is_rejected_before_parsing() {
    let bytes = vec![0u8; MAX_ENVELOPE_BYTES + 1];
    assert!(matches!(decode(&bytes), Err(CodecError::TooLarge { .. })));
}

#[test]
fn version_and_tenant_mismatch_are_named() {
    let env = switchboard::model::Envelope::new(
        "promethean",
        &switchboard::model::TenantId::parse("discord", "duck").unwrap(),
        switchboard::model::Payload::Raw(switchboard::model::RawPayload {
            kind: "x".into(),
            json: "{}".into(),
        }),
    )
    .unwrap();
    let mut future = env.clone();
    future.v = 99;
    let err = decode(&encode(&future).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported envelope version 99 (this build reads version 1)"
    );
    let mut forged = env;
    forged.tenant = switchboard::model::TenantName::new("goose").unwrap();
    let err = decode(&encode(&forged).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "envelope for discord/goose travels on topic promethean.p.discord.t.duck.raw.x of another tenant"
    );
}
