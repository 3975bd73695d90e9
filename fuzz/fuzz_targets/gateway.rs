//! The gateway normalizer on arbitrary text frames, the way the gateway actor handles
//! them (`src/actors/gateway/runner.rs`): `twilight_gateway::parse` with the events it
//! wants, then `providers::discord::gateway::normalize`, the stable envelope id
//! (`event_id`), the envelope (event and raw payload) and the codec. Nothing may
//! panic, and every envelope made from a frame must survive the codec unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::model::{Envelope, Payload, RawPayload, TenantId, decode, encode};
use switchboard::providers::discord::gateway::{GatewayOrigin, WANTED_EVENTS, event_id, normalize};
use twilight_gateway::EventTypeFlags;
use twilight_model::gateway::event::{DispatchEvent, GatewayEvent};
use twilight_model::id::Id;

/// The bot's own user id, as READY would have given it.
const SELF_ID: u64 = 111_111_111_111_111_111;

fn round_trip(envelope: &Envelope) {
    let bytes =
        encode(envelope).unwrap_or_else(|e| panic!("a gateway envelope does not encode: {e}"));
    let again =
        decode(&bytes).unwrap_or_else(|e| panic!("a gateway envelope does not decode: {e}"));
    assert_eq!(&again, envelope, "the codec changed a gateway envelope");
}

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(Some(GatewayEvent::Dispatch(sequence, event))) = twilight_gateway::parse(
        json.to_owned(),
        WANTED_EVENTS | EventTypeFlags::GATEWAY_HELLO,
    ) else {
        return;
    };
    if matches!(event, DispatchEvent::Ready(_) | DispatchEvent::Resumed) {
        return;
    }
    let raw_kind = match &event {
        DispatchEvent::InteractionCreate(_) => None,
        e => e.kind().name().map(str::to_ascii_lowercase),
    };
    let Some(normalized) = normalize(event, Id::new_checked(SELF_ID)) else {
        return;
    };
    let tenant = TenantId::parse("discord", "fuzz").expect("a valid tenant");
    let origin = Some(GatewayOrigin {
        session_id: "fuzz-session",
        sequence,
    });
    let id = event_id(&tenant, &normalized.event, false, origin);
    let raw_id = event_id(&tenant, &normalized.event, true, origin);
    let mut payloads = vec![(Payload::Event(normalized.event), id)];
    if let Some(kind) = raw_kind {
        payloads.push((
            Payload::Raw(RawPayload {
                kind,
                json: json.to_owned(),
            }),
            raw_id,
        ));
    }
    for (payload, id) in payloads {
        let envelope = Envelope::new("promethean", &tenant, payload).expect("valid names");
        let envelope = match id {
            Some(id) => envelope.with_id(id),
            None => envelope,
        };
        round_trip(&envelope);
    }
});
