//! JSON bodies of Discord REST requests, built from the model's provider-neutral types.
//!
//! Bodies are plain `serde_json` values rather than twilight's typed builders: the
//! create-message body needs `enforce_nonce` and a string nonce, which twilight's
//! `CreateMessage` cannot express, and one shape for every route keeps this file the
//! only place that knows Discord's field names.

use serde_json::{Map, Value, json};

use crate::model::{
    AllowedMentions, ChoiceValue, Embed, InteractionResponse, MentionKind, MessageBody,
    PostMessage, TextInput,
};

/// Discord's `EPHEMERAL` message flag.
const EPHEMERAL: u64 = 1 << 6;

fn embed(e: &Embed) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.to_owned(), v);
        }
    };
    put("title", e.title.clone().map(Value::from));
    put("description", e.description.clone().map(Value::from));
    put("url", e.url.clone().map(Value::from));
    put("color", e.color.map(Value::from));
    put("footer", e.footer.as_ref().map(|t| json!({ "text": t })));
    put("image", e.image_url.as_ref().map(|u| json!({ "url": u })));
    put(
        "thumbnail",
        e.thumbnail_url.as_ref().map(|u| json!({ "url": u })),
    );
    if !e.fields.is_empty() {
        let fields = e
            .fields
            .iter()
            .map(|f| json!({ "name": f.name, "value": f.value, "inline": f.inline }))
            .collect();
        o.insert("fields".to_owned(), Value::Array(fields));
    }
    Value::Object(o)
}

fn allowed_mentions(a: &AllowedMentions) -> Value {
    let parse: Vec<&str> = a
        .parse
        .iter()
        .map(|k| match k {
            MentionKind::Users => "users",
            MentionKind::Roles => "roles",
            MentionKind::Everyone => "everyone",
        })
        .collect();
    json!({
        "parse": parse,
        "users": a.users,
        "roles": a.roles,
        "replied_user": a.replied_user,
    })
}

/// Content, embeds and allowed mentions shared by every message-like body.
fn message_fields(
    content: Option<&str>,
    embeds: &[Embed],
    mentions: Option<&AllowedMentions>,
) -> Map<String, Value> {
    let mut o = Map::new();
    if let Some(c) = content {
        o.insert("content".to_owned(), Value::from(c));
    }
    if !embeds.is_empty() {
        o.insert(
            "embeds".to_owned(),
            Value::Array(embeds.iter().map(embed).collect()),
        );
    }
    if let Some(a) = mentions {
        o.insert("allowed_mentions".to_owned(), allowed_mentions(a));
    }
    o
}

/// The body of an interaction message (callback data, followup, edit).
#[must_use]
pub(crate) fn message_body(b: &MessageBody) -> Value {
    let mut o = message_fields(b.content.as_deref(), &b.embeds, b.allowed_mentions.as_ref());
    if b.ephemeral {
        o.insert("flags".to_owned(), Value::from(EPHEMERAL));
    }
    Value::Object(o)
}

/// The body of `POST /channels/{id}/messages`: idempotent through `nonce` and
/// `enforce_nonce`.
#[must_use]
pub(crate) fn create_message(p: &PostMessage, nonce: &str) -> Value {
    let mut o = message_fields(Some(&p.content), &p.embeds, p.allowed_mentions.as_ref());
    o.insert("nonce".to_owned(), Value::from(nonce));
    o.insert("enforce_nonce".to_owned(), Value::Bool(true));
    if let Some(reply) = &p.reply_to {
        o.insert(
            "message_reference".to_owned(),
            json!({ "message_id": reply, "fail_if_not_exists": false }),
        );
    }
    Value::Object(o)
}

/// A direct message: plain content and embeds, idempotent like [`create_message`].
#[must_use]
pub(crate) fn direct_message(content: &str, embeds: &[Embed], nonce: &str) -> Value {
    let mut o = message_fields(Some(content), embeds, None);
    o.insert("nonce".to_owned(), Value::from(nonce));
    o.insert("enforce_nonce".to_owned(), Value::Bool(true));
    Value::Object(o)
}

fn text_input(i: &TextInput) -> Value {
    let mut input = json!({
        "type": 4,
        "custom_id": i.custom_id,
        "label": i.label,
        "style": if i.paragraph { 2 } else { 1 },
        "required": i.required,
    });
    if let Some(p) = &i.placeholder {
        input["placeholder"] = Value::from(p.as_str());
    }
    json!({ "type": 1, "components": [input] })
}

/// The body of `POST /interactions/{id}/{token}/callback` for the callback types
/// (4–9); `None` for followups and edits, which use the webhook routes.
#[must_use]
pub(crate) fn interaction_callback(r: &InteractionResponse) -> Option<Value> {
    Some(match r {
        InteractionResponse::Message(b) => json!({ "type": 4, "data": message_body(b) }),
        InteractionResponse::DeferredMessage { ephemeral } => {
            let flags = if *ephemeral { EPHEMERAL } else { 0 };
            json!({ "type": 5, "data": { "flags": flags } })
        }
        InteractionResponse::DeferredUpdate => json!({ "type": 6 }),
        InteractionResponse::UpdateMessage(b) => json!({ "type": 7, "data": message_body(b) }),
        InteractionResponse::Autocomplete(choices) => {
            let choices: Vec<Value> = choices
                .iter()
                .map(|c| {
                    let value = match &c.value {
                        ChoiceValue::String(s) => Value::from(s.as_str()),
                        ChoiceValue::Integer(i) => Value::from(*i),
                        ChoiceValue::Number(n) => Value::from(*n),
                    };
                    json!({ "name": c.name, "value": value })
                })
                .collect();
            json!({ "type": 8, "data": { "choices": choices } })
        }
        InteractionResponse::Modal {
            custom_id,
            title,
            inputs,
        } => json!({ "type": 9, "data": {
            "custom_id": custom_id,
            "title": title,
            "components": inputs.iter().map(text_input).collect::<Vec<_>>(),
        }}),
        InteractionResponse::Followup(_) | InteractionResponse::EditOriginal(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Choice, EmbedField};

    #[test]
    fn create_message_is_idempotent_and_replies() {
        let p = PostMessage {
            channel_id: "1".into(),
            content: "hi".into(),
            reply_to: Some("9".into()),
            embeds: vec![Embed {
                title: Some("t".into()),
                fields: vec![EmbedField {
                    name: "n".into(),
                    value: "v".into(),
                    inline: true,
                }],
                ..Embed::default()
            }],
            allowed_mentions: Some(AllowedMentions {
                parse: vec![MentionKind::Users],
                ..AllowedMentions::default()
            }),
            nonce: None,
        };
        let b = create_message(&p, "abc");
        assert_eq!(b["nonce"], "abc");
        assert_eq!(b["enforce_nonce"], true);
        assert_eq!(b["message_reference"]["message_id"], "9");
        assert_eq!(b["embeds"][0]["fields"][0]["inline"], true);
        assert_eq!(b["allowed_mentions"]["parse"][0], "users");
    }

    #[test]
    fn callback_types() {
        let types: Vec<u64> = [
            InteractionResponse::Message(MessageBody::text("x")),
            InteractionResponse::DeferredMessage { ephemeral: true },
            InteractionResponse::DeferredUpdate,
            InteractionResponse::UpdateMessage(MessageBody::text("y")),
            InteractionResponse::Autocomplete(vec![Choice {
                name: "a".into(),
                value: ChoiceValue::Integer(1),
            }]),
            InteractionResponse::Modal {
                custom_id: "m".into(),
                title: "T".into(),
                inputs: vec![],
            },
        ]
        .iter()
        .filter_map(interaction_callback)
        .filter_map(|v| v["type"].as_u64())
        .collect();
        assert_eq!(types, [4, 5, 6, 7, 8, 9]);
        assert!(interaction_callback(&InteractionResponse::DeferredUpdate).is_some());
        assert!(
            interaction_callback(&InteractionResponse::Followup(MessageBody::text("z"))).is_none()
        );
    }
}
