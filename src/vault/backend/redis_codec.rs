//! Encoding and decoding of Redis values for the Redis backend: error mapping, reply
//! fields, lease records and audit stream entries.

use std::collections::HashMap;

use fred::prelude::*;

use crate::vault::audit::{AuditEvent, AuditRecord};
use crate::vault::backend::LeaseRecord;
use crate::vault::error::VaultError;
use crate::vault::path::SecretPath;
use crate::vault::principal::Capability;

pub(super) fn unavailable(e: &Error) -> VaultError {
    match e.kind() {
        ErrorKind::IO
        | ErrorKind::Timeout
        | ErrorKind::Canceled
        | ErrorKind::Backpressure
        | ErrorKind::Routing
        | ErrorKind::Cluster
        | ErrorKind::Sentinel => VaultError::Unavailable {
            backend: "redis",
            reason: e.to_string(),
        },
        _ => VaultError::Backend {
            reason: e.to_string(),
        },
    }
}

pub(super) fn corrupt(what: &str) -> VaultError {
    VaultError::Backend {
        reason: format!("unexpected reply from Redis: {what}"),
    }
}

pub(super) fn text(v: Option<&Value>) -> String {
    v.and_then(Value::as_str)
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_default()
}

pub(super) fn number(v: Option<&Value>) -> Option<u64> {
    v.and_then(Value::as_u64)
}

pub(super) fn flag(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

pub(super) fn lease_from_fields(
    id: &str,
    path: SecretPath,
    fields: &[Value],
) -> Result<LeaseRecord, VaultError> {
    let mut get = HashMap::new();
    for pair in fields.chunks(2) {
        if let [k, v] = pair {
            get.insert(text(Some(k)), v);
        }
    }
    let num = |f: &str| number(get.get(f).copied()).ok_or_else(|| corrupt(f));
    let capability: Capability = text(get.get("capability").copied())
        .parse()
        .map_err(|_| corrupt("capability"))?;
    let fence = text(get.get("fence").copied());
    Ok(LeaseRecord {
        id: id.to_owned(),
        path,
        principal_key: text(get.get("pkey").copied()),
        principal: text(get.get("principal").copied()),
        capability,
        version: num("version")?,
        issued_ms: num("issued")?,
        expires_ms: num("expires")?,
        max_expires_ms: num("max")?,
        renewable: text(get.get("renewable").copied()) == "1",
        fence: if fence.is_empty() {
            None
        } else {
            Some(fence.parse().map_err(|_| corrupt("fence"))?)
        },
    })
}

/// The XADD field/value pairs of an audit record.
pub(super) fn audit_fields(record: AuditRecord) -> Vec<Value> {
    [
        "at".to_owned(),
        record.at_ms.to_string(),
        "event".to_owned(),
        record.event.as_str().to_owned(),
        "principal".to_owned(),
        record.principal,
        "capability".to_owned(),
        record.capability.unwrap_or_default(),
        "path".to_owned(),
        record.path,
        "lease".to_owned(),
        record.lease.unwrap_or_default(),
        "detail".to_owned(),
        record.detail.unwrap_or_default(),
    ]
    .into_iter()
    .map(Value::from)
    .collect()
}

/// Decodes an XRANGE/XREVRANGE entry (`[id, [field, value, ...]]`); `None` if it is not
/// an audit record.
pub(super) fn audit_record(entry: Value) -> Option<AuditRecord> {
    let entry = entry.into_array();
    let fields = entry
        .get(1)
        .cloned()
        .map(Value::into_array)
        .unwrap_or_default();
    let mut get = HashMap::new();
    for pair in fields.chunks(2) {
        get.insert(text(pair.first()), text(pair.get(1)));
    }
    let opt = |f: &str| get.get(f).filter(|s| !s.is_empty()).cloned();
    let event = get.get("event").and_then(|e| AuditEvent::from_name(e))?;
    Some(AuditRecord {
        at_ms: get.get("at").and_then(|s| s.parse().ok()).unwrap_or(0),
        event,
        principal: opt("principal").unwrap_or_default(),
        capability: opt("capability"),
        path: opt("path").unwrap_or_default(),
        lease: opt("lease"),
        detail: opt("detail"),
    })
}
