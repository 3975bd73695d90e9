//! Message attachments and the CDN that serves their bytes.
//!
//! An injected message may carry files ([`SimAttachment`]). Each becomes a
//! Discord-shaped attachment object in the message (`id`, `filename`, `size`, `url`,
//! `proxy_url`, `content_type`) — in `MESSAGE_CREATE`, REST message objects and
//! history pages alike — whose `url` points at the emulator itself:
//! `http://ADDR/attachments/<channel>/<attachment>/<filename>`, served without
//! authentication and outside the REST rate limits, as Discord's CDN is. The bytes
//! stay served after the message is deleted (a CDN keeps them for a while too).

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, json};

use super::error::SimError;
use super::server::App;
use super::state::State;

/// Attachments per message, as Discord allows.
pub(crate) const MAX_ATTACHMENTS: usize = 10;

/// A file attached to an injected message. In the control API's JSON the bytes are
/// base64 (`"data"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimAttachment {
    /// The file name (characters other than `[A-Za-z0-9._-]` become `_`, as Discord
    /// does).
    pub filename: String,
    /// The MIME type, if known (served as the response's `Content-Type`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// The file's bytes.
    #[serde(rename = "data", with = "b64")]
    pub bytes: Vec<u8>,
}

impl SimAttachment {
    /// A file with a MIME type.
    #[must_use]
    pub fn new(filename: &str, content_type: &str, bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            filename: filename.to_owned(),
            content_type: Some(content_type.to_owned()),
            bytes: bytes.into(),
        }
    }
}

/// Base64 (standard alphabet, padded) for [`SimAttachment::bytes`].
mod b64 {
    use base64::Engine as _;

    use super::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// An attachment of a stored message: the object Discord sends.
#[derive(Debug, Clone)]
pub(crate) struct StoredAttachment {
    pub(crate) id: u64,
    pub(crate) filename: String,
    pub(crate) content_type: Option<String>,
    pub(crate) size: u64,
    pub(crate) url: String,
}

impl StoredAttachment {
    /// Discord's attachment object.
    pub(crate) fn to_json(&self) -> Value {
        let mut a = json!({
            "id": self.id.to_string(),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
        });
        if let Some(ct) = &self.content_type {
            a["content_type"] = json!(ct);
        }
        a
    }
}

/// The bytes the CDN serves for one attachment.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    channel: u64,
    filename: String,
    content_type: Option<String>,
    bytes: Bytes,
}

/// A file name as Discord keeps it: `[A-Za-z0-9._-]`, other characters as `_` (and
/// never a dot segment such as `..`, which a URL would resolve away).
fn sanitize(filename: &str) -> String {
    if filename.chars().all(|c| c == '.') {
        return format!("_{filename}");
    }
    filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl State {
    /// Stores the bytes of a message's attachments and returns their objects (ids
    /// are new snowflakes; URLs point at this emulator).
    pub(crate) fn store_attachments(
        &self,
        channel: u64,
        files: Vec<SimAttachment>,
    ) -> Result<Vec<StoredAttachment>, SimError> {
        if files.len() > MAX_ATTACHMENTS {
            return Err(SimError::Invalid(format!(
                "{} attachments: at most {MAX_ATTACHMENTS} per message",
                files.len()
            )));
        }
        if files.iter().any(|f| f.filename.trim().is_empty()) {
            return Err(SimError::Invalid("an attachment needs a filename".into()));
        }
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            let id = self.snowflake();
            let filename = sanitize(&f.filename);
            let url = format!("http://{}/attachments/{channel}/{id}/{filename}", self.addr);
            let blob = Blob {
                channel,
                filename: filename.clone(),
                content_type: f.content_type.clone(),
                bytes: Bytes::from(f.bytes),
            };
            out.push(StoredAttachment {
                id,
                filename,
                content_type: f.content_type,
                size: blob.bytes.len() as u64,
                url,
            });
            self.world().blobs.insert(id, blob);
        }
        Ok(out)
    }

    /// The bytes of an attachment, if channel, id and file name match.
    fn blob(&self, channel: u64, id: u64, filename: &str) -> Option<Blob> {
        self.world()
            .blobs
            .get(&id)
            .filter(|b| b.channel == channel && b.filename == filename)
            .cloned()
    }
}

/// `GET /attachments/{channel}/{attachment}/{filename}`: the file, with its
/// `Content-Type` and `Content-Length`; 404 for anything else.
pub(crate) async fn serve(
    AxState(app): AxState<App>,
    Path((channel, id, filename)): Path<(String, String, String)>,
) -> Response {
    let found = match (channel.parse(), id.parse()) {
        (Ok(channel), Ok(id)) => app.state.blob(channel, id, &filename),
        _ => None,
    };
    let Some(blob) = found else {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    };
    let ct = blob
        .content_type
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    ([(header::CONTENT_TYPE, ct)], blob.bytes).into_response()
}

/// A message's attachments as Discord's JSON array.
pub(crate) fn to_json(attachments: &[StoredAttachment]) -> Value {
    Value::Array(attachments.iter().map(StoredAttachment::to_json).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(sanitize("my cat (1).png"), "my_cat__1_.png");
        assert_eq!(sanitize("a-b_c.TXT"), "a-b_c.TXT");
        assert_eq!(sanitize("../x"), ".._x");
        assert_eq!(sanitize(".."), "_..");
    }

    #[test]
    fn control_json_carries_base64_bytes() {
        let a = SimAttachment::new("a.txt", "text/plain", b"hi".to_vec());
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["data"], "aGk=");
        let back: SimAttachment = serde_json::from_value(v).unwrap();
        assert_eq!(back, a);
    }
}
