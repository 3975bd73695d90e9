//! Writes the seed corpus of the `decode` target: the envelopes the gateway makes from
//! every gateway fixture in `tests/fixtures/discord/`, MessagePack-encoded, into
//! `fuzz/seeds/decode/`. Run once when the fixtures or the model change:
//! `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds` (from the repository
//! root). The other targets take their seeds from the fixtures directly
//! (`scripts/fuzz`).

use std::path::Path;

use switchboard::model::{Command, Envelope, Payload, PostMessage, RawPayload, TenantId, encode};
use switchboard::providers::discord::gateway::{WANTED_EVENTS, normalize};
use twilight_model::gateway::event::GatewayEvent;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = root.join("fuzz/seeds/decode");
    std::fs::create_dir_all(&out)?;
    let tenant = TenantId::parse("discord", "duck")?;
    let mut envelopes = Vec::new();
    let mut fixtures: Vec<_> = std::fs::read_dir(root.join("tests/fixtures/discord"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gateway_") && n.ends_with(".json"))
        })
        .collect();
    fixtures.sort();
    for path in fixtures {
        let json = std::fs::read_to_string(&path)?;
        if let Ok(Some(GatewayEvent::Dispatch(_, event))) =
            twilight_gateway::parse(json.clone(), WANTED_EVENTS)
        {
            let kind = event
                .kind()
                .name()
                .unwrap_or("unknown")
                .to_ascii_lowercase();
            let Some(n) = normalize(event, None) else {
                continue;
            };
            envelopes.push(Envelope::new(
                "promethean",
                &tenant,
                Payload::Event(n.event),
            )?);
            envelopes.push(Envelope::new(
                "promethean",
                &tenant,
                Payload::Raw(RawPayload { kind, json }),
            )?);
        }
    }
    let post = Command::PostMessage(PostMessage {
        channel_id: "222222222222222222".into(),
        content: "quack".into(),
        reply_to: None,
        embeds: Vec::new(),
        allowed_mentions: None,
        nonce: None,
    });
    envelopes.push(Envelope::new(
        "promethean",
        &tenant,
        Payload::Command(post),
    )?);
    for (i, envelope) in envelopes.iter().enumerate() {
        std::fs::write(
            out.join(format!("envelope-{i:02}.msgpack")),
            encode(envelope)?,
        )?;
    }
    println!("{} seeds in {}", envelopes.len(), out.display());
    Ok(())
}
