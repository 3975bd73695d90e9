//! The emulator's attachments: Discord-shaped objects in `MESSAGE_CREATE` (parsed by
//! twilight and normalised into the model, as the gateway actor does), in REST
//! message objects and history pages, injected over the control API too, and their
//! bytes served at the URLs the objects carry.

use serde_json::{Value, json};
use switchboard::handler::{FetchError, FetchLimits, HttpFetcher};
use switchboard::model::Event;
use switchboard::providers::discord::gateway::{WANTED_EVENTS, normalize};
use switchboard::sim::{InjectMessage, SimAttachment};
use twilight_model::gateway::event::GatewayEvent;

use crate::support::{BOT, CHANNEL, GUILD, TOKEN, alice, next_dispatch_text, shard, sim};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\nnot really a png";

#[tokio::test]
async fn message_create_attachments_parse_with_twilight_and_reach_the_model() {
    let sim = sim().await;
    let mut shard = shard(&sim);
    next_dispatch_text(&mut shard, "GUILD_CREATE").await;
    let id = sim
        .inject_message_with_attachments(
            InjectMessage::guild(GUILD, CHANNEL, alice(), "two files"),
            vec![
                SimAttachment::new("cat picture.png", "image/png", PNG.to_vec()),
                SimAttachment {
                    filename: "notes.txt".into(),
                    content_type: None,
                    bytes: b"hello".to_vec(),
                },
            ],
        )
        .unwrap();
    let frame = next_dispatch_text(&mut shard, "MESSAGE_CREATE").await;

    // The gateway actor's path: twilight's parser, then the normaliser.
    let Ok(Some(GatewayEvent::Dispatch(_, dispatch))) =
        twilight_gateway::parse(frame, WANTED_EVENTS)
    else {
        panic!("MESSAGE_CREATE does not parse with twilight");
    };
    let normalized = normalize(dispatch, Some(twilight_model::id::Id::new(BOT))).unwrap();
    let Event::SocialMessageCreated(m) = normalized.event else {
        panic!("not a message: {:?}", normalized.event);
    };
    assert_eq!(m.message_id, id.to_string());
    assert_eq!(m.attachments.len(), 2);
    let (png, txt) = (&m.attachments[0], &m.attachments[1]);
    assert_eq!(png.filename, "cat_picture.png", "Discord's file-name rules");
    assert_eq!(png.size, PNG.len() as u64);
    assert_eq!(png.content_type.as_deref(), Some("image/png"));
    assert_eq!(
        png.url,
        format!(
            "http://{}/attachments/{CHANNEL}/{}/cat_picture.png",
            sim.addr(),
            png.id
        )
    );
    assert_ne!(png.id, txt.id);
    assert_eq!((txt.size, txt.content_type.as_deref()), (5, None));

    // The bytes are at the URL, without authentication.
    let fetcher = HttpFetcher::new(FetchLimits::default()).unwrap();
    let got = fetcher.fetch(&png.url).await.unwrap();
    assert_eq!(got.bytes, PNG);
    assert_eq!(got.content_type.as_deref(), Some("image/png"));
    assert_eq!(got.status, 200);
    let got = fetcher.fetch(&txt.url).await.unwrap();
    assert_eq!(got.bytes, b"hello");
    assert_eq!(
        got.content_type.as_deref(),
        Some("application/octet-stream")
    );

    // A wrong file name, channel or id is a 404, not someone else's file.
    for wrong in [
        png.url.replace("cat_picture.png", "notes.txt"),
        png.url.replace(&CHANNEL.to_string(), "1"),
        png.url.replace(&png.id, &txt.id),
    ] {
        let err = fetcher.fetch(&wrong).await.unwrap_err();
        assert!(
            matches!(err, FetchError::Status { status: 404, .. }),
            "{wrong}: {err}"
        );
    }
    drop(shard);
    sim.shutdown().await;
}

#[tokio::test]
async fn rest_messages_and_history_pages_carry_the_attachments() {
    let sim = sim().await;
    let id = sim
        .inject_message_with_attachments(
            InjectMessage::guild(GUILD, CHANNEL, alice(), "a file"),
            vec![SimAttachment::new("a.txt", "text/plain", b"abc".to_vec())],
        )
        .unwrap();
    let client = reqwest::Client::new();
    let get = |path: String| {
        client
            .get(format!("{}{path}", sim.api_base()))
            .header("authorization", format!("Bot {TOKEN}"))
            .send()
    };
    let one: Value = get(format!("/channels/{CHANNEL}/messages/{id}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page: Value = get(format!("/channels/{CHANNEL}/messages?limit=10"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for m in [&one, &page[0]] {
        let a = &m["attachments"][0];
        assert_eq!(a["filename"], "a.txt");
        assert_eq!(a["size"], 3);
        assert_eq!(a["content_type"], "text/plain");
        assert_eq!(a["url"], a["proxy_url"]);
        // twilight-model (the REST actor's `FetchHistory` parser) accepts it.
        let parsed: twilight_model::channel::Message =
            serde_json::from_value(m.clone()).expect("twilight parses the message");
        assert_eq!(parsed.attachments[0].size, 3);
        let event = switchboard::providers::discord::rest::message_to_event(&parsed, None);
        assert_eq!(event.attachments[0].filename, "a.txt");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_control_api_injects_base64_attachments_and_refuses_too_many() {
    let sim = sim().await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/__sim/messages", sim.addr());
    let body = json!({
        "guild_id": GUILD.to_string(), "channel_id": CHANNEL.to_string(),
        "author": {"id": "42", "username": "alice"}, "content": "see",
        "attachments": [{"filename": "b.bin", "content_type": "application/x-test", "data": "AAEC"}],
    });
    let r = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let posted = sim.all_channel_messages(CHANNEL);
    let a = &posted[0].message["attachments"][0];
    assert_eq!(a["size"], 3);
    let fetched = HttpFetcher::new(FetchLimits::default())
        .unwrap()
        .fetch(a["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(fetched.bytes, [0, 1, 2]);

    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"filename": format!("f{i}"), "data": ""}))
        .collect();
    let mut body = body;
    body["attachments"] = Value::Array(eleven);
    let r = client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 400, "at most 10 attachments");
    sim.shutdown().await;
}
