//! Normalization throughput of a Discord `MESSAGE_CREATE` frame, next to its baselines.
//!
//! Input: Discord's documented guild `MESSAGE_CREATE` gateway frame
//! (`tests/fixtures/discord/gateway_message_create_guild.json`, ~1.3 KB). Each
//! iteration gets its own copy of the text, made in criterion's setup outside the timed
//! part (the shard hands the gateway an owned `String`). Timed, in one group:
//!
//! - `serde_json_value`: `serde_json::from_slice::<serde_json::Value>` of the bytes —
//!   the cost of merely reading the JSON;
//! - `twilight_parse`: `twilight_gateway::parse` into twilight-model types — what any
//!   twilight bot pays;
//! - `normalize_to_envelope`: `twilight_gateway::parse`, then
//!   `providers::discord::gateway::normalize`, then `Envelope::new` (topic, ULID,
//!   timestamp) — what the `GatewayActor` does per dispatch before publishing.
//!
//! Run: `cargo bench --bench normalize`.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use switchboard::model::{Envelope, Payload, TenantId};
use switchboard::providers::discord::gateway::{WANTED_EVENTS, normalize};
use twilight_gateway::EventTypeFlags;
use twilight_model::gateway::event::GatewayEvent;

const FRAME: &str = include_str!("../tests/fixtures/discord/gateway_message_create_guild.json");

fn bench(c: &mut Criterion) {
    // The fixture is pretty-printed; the gateway sends compact JSON.
    let value: serde_json::Value = serde_json::from_str(FRAME).expect("fixture is JSON");
    let text = serde_json::to_string(&value).expect("serialize");
    let bytes = text.as_bytes().to_vec();
    let tenant = TenantId::parse("discord", "duck").expect("tenant");

    let mut g = c.benchmark_group("message_create");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&bytes)).expect("json"));
    });
    g.bench_function("twilight_parse", |b| {
        b.iter_batched(
            || text.clone(),
            |t| twilight_gateway::parse(t, EventTypeFlags::MESSAGE_CREATE).expect("parse"),
            BatchSize::SmallInput,
        );
    });
    g.bench_function("normalize_to_envelope", |b| {
        b.iter_batched(
            || text.clone(),
            |t| {
                let Ok(Some(GatewayEvent::Dispatch(_, event))) =
                    twilight_gateway::parse(t, WANTED_EVENTS)
                else {
                    unreachable!("a MESSAGE_CREATE dispatch")
                };
                let n = normalize(event, None).expect("normalized");
                Envelope::new("promethean", &tenant, Payload::Event(n.event)).expect("envelope")
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
