//! One audit record (R14.5: who, when, what, purpose, where it went) and its canonical
//! encoding, which is the Merkle leaf data.
//!
//! # Canonical encoding
//!
//! A record is encoded as compact JSON (no whitespace) with the fields in exactly this order:
//! `index, time_unix_ms, actor, action, target, purpose, destination, outcome, details`.
//! `outcome` is `{"kind":"allowed"}` or `{"kind":"refused","reason":..,"requirement":..}`.
//! Object keys inside `details` are sorted (byte order of their UTF-8), recursively, so
//! the same logical record always yields the same bytes whichever way `details` was built.
//! The order is fixed by [`CanonicalRecord`]'s field order, not by a map.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{AuditError, Result};

/// Largest encoded record the log accepts (the frame length field allows more).
pub const MAX_RECORD_LEN: usize = 1 << 20;

/// Whether the action was allowed or refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The action was carried out.
    Allowed,
    /// The action was refused (R17: refusals are logged too).
    Refused {
        /// Why, in words.
        reason: String,
        /// The requirement that refused it, e.g. `R16`.
        requirement: String,
    },
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, assigned by [`crate::AuditLog::append`].
    pub index: u64,
    /// When it happened, milliseconds since the Unix epoch.
    pub time_unix_ms: i64,
    /// Who: `user/alice`, `tool/vfedctl`, `node/<id>`.
    pub actor: String,
    /// What: `device.register`, `live.view.start`, `retrieval.approve`, ...
    pub action: String,
    /// On what: a device, stream, retrieval or config id.
    pub target: String,
    /// Why (R14.5: purpose); empty when not applicable.
    pub purpose: String,
    /// Where it went (R14.5); empty when nothing left the node.
    pub destination: String,
    /// Allowed or refused.
    pub outcome: Outcome,
    /// Anything else worth keeping, as JSON.
    pub details: Value,
}

/// The borrowed, field-ordered form that defines the canonical encoding.
#[derive(Serialize)]
struct CanonicalRecord<'a> {
    index: u64,
    time_unix_ms: i64,
    actor: &'a str,
    action: &'a str,
    target: &'a str,
    purpose: &'a str,
    destination: &'a str,
    outcome: &'a Outcome,
    details: Value,
}

impl AuditRecord {
    /// A record of an allowed action happening now; index 0 until appended.
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        AuditRecord {
            index: 0,
            time_unix_ms: now,
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            purpose: String::new(),
            destination: String::new(),
            outcome: Outcome::Allowed,
            details: Value::Null,
        }
    }

    /// Sets the purpose.
    pub fn with_purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = purpose.into();
        self
    }

    /// Sets the destination.
    pub fn with_destination(mut self, destination: impl Into<String>) -> Self {
        self.destination = destination.into();
        self
    }

    /// Marks the action refused.
    pub fn refused(mut self, reason: impl Into<String>, requirement: impl Into<String>) -> Self {
        self.outcome = Outcome::Refused {
            reason: reason.into(),
            requirement: requirement.into(),
        };
        self
    }

    /// Sets the details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// The canonical bytes (see the module docs): the Merkle leaf data.
    pub fn to_canonical_bytes(&self) -> Result<Vec<u8>> {
        let canonical = CanonicalRecord {
            index: self.index,
            time_unix_ms: self.time_unix_ms,
            actor: &self.actor,
            action: &self.action,
            target: &self.target,
            purpose: &self.purpose,
            destination: &self.destination,
            outcome: &self.outcome,
            details: sorted(&self.details),
        };
        let bytes = serde_json::to_vec(&canonical)
            .map_err(|e| AuditError::RecordRejected(format!("not encodable: {e}")))?;
        if bytes.len() > MAX_RECORD_LEN {
            return Err(AuditError::RecordRejected(format!(
                "{} bytes encoded, at most {MAX_RECORD_LEN} allowed",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Parses record bytes as stored in the log.
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// A copy of `value` with every object's keys inserted in sorted order, so the encoding does
/// not depend on whether serde_json keeps insertion order (its `preserve_order` feature).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::with_capacity(map.len());
            for key in keys {
                if let Some(v) = map.get(key) {
                    out.insert(key.clone(), sorted(v));
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn encoding_is_field_ordered_and_key_sorted() {
        let mut r = AuditRecord::new("user/alice", "live.view.start", "dev-1")
            .with_purpose("incident 42")
            .refused("no second officer", "R16")
            .with_details(json!({"z": 1, "a": {"y": 2, "b": 3}}));
        r.time_unix_ms = 7;
        r.index = 3;
        let bytes = r.to_canonical_bytes().unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            r#"{"index":3,"time_unix_ms":7,"actor":"user/alice","action":"live.view.start","target":"dev-1","purpose":"incident 42","destination":"","outcome":{"kind":"refused","reason":"no second officer","requirement":"R16"},"details":{"a":{"b":3,"y":2},"z":1}}"#
        );
        let back = AuditRecord::from_bytes(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.to_canonical_bytes().unwrap(), bytes);
    }

    #[test]
    fn oversized_records_are_rejected() {
        let r =
            AuditRecord::new("a", "b", "c").with_details(Value::String("x".repeat(MAX_RECORD_LEN)));
        assert!(matches!(
            r.to_canonical_bytes(),
            Err(AuditError::RecordRejected(_))
        ));
    }
}
