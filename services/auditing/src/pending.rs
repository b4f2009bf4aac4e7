//! Audit records waiting in the store for the pump, and the pump's resume marker.
//!
//! | Key | Value |
//! |---|---|
//! | `audit/pending/<ms, 16 digits>-<process, 16 hex>-<counter, 16 hex>` | the record, JSON ([`vfed_audit::AuditRecord`]) |
//! | `audit/pump` | `{"scan_from": <log size>}`: no record the pump appended before this index can still be pending |
//!
//! A pending key is unique (random per process, counter per key) and sorts by creation time.
//! When the pump appends a record it stamps `details.store_commit = {key, revision}`: the
//! pending key (which makes a crash between append and delete recoverable without a
//! duplicate) and the store revision of the change it describes.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use vfed_audit::AuditRecord;

use crate::AuditingError;

/// Prefix of pending records.
pub const PENDING_PREFIX: &[u8] = b"audit/pending/";
/// The pump's resume marker.
pub const PUMP_MARKER: &[u8] = b"audit/pump";
/// The details field the pump stamps.
pub const COMMIT_FIELD: &str = "store_commit";

/// Generates pending keys: unique across processes and restarts, sorted by time.
#[derive(Debug)]
pub struct PendingKeys {
    process: u64,
    counter: AtomicU64,
}

impl PendingKeys {
    /// A generator with a fresh random process part.
    pub fn new() -> Self {
        PendingKeys {
            process: rand::random(),
            counter: AtomicU64::new(0),
        }
    }

    /// The next key.
    pub fn next(&self) -> Vec<u8> {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut key = PENDING_PREFIX.to_vec();
        key.extend_from_slice(format!("{ms:016}-{:016x}-{n:016x}", self.process).as_bytes());
        key
    }
}

impl Default for PendingKeys {
    fn default() -> Self {
        Self::new()
    }
}

/// The stored form of a pending record.
pub fn encode(record: &AuditRecord) -> Result<Vec<u8>, AuditingError> {
    // Checked here so that a record the log would refuse is refused before the change.
    record.to_canonical_bytes()?;
    serde_json::to_vec(record).map_err(|e| AuditingError::Corrupt(format!("encoding record: {e}")))
}

/// Parses a stored pending record.
pub fn decode(bytes: &[u8]) -> Result<AuditRecord, String> {
    AuditRecord::from_bytes(bytes).map_err(|e| e.to_string())
}

/// Adds `details.store_commit = {key, revision}` (wrapping non-object details in
/// `{"value": ...}`).
pub fn stamp(record: &mut AuditRecord, key: &str, revision: i64) {
    let commit = json!({ "key": key, "revision": revision });
    let mut map = match std::mem::take(&mut record.details) {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            let mut map = Map::new();
            map.insert("value".into(), other);
            map
        }
    };
    map.insert(COMMIT_FIELD.into(), commit);
    record.details = Value::Object(map);
}

/// The pending key a logged record was pumped from, if any.
pub fn pumped_from(record: &AuditRecord) -> Option<&str> {
    record.details.get(COMMIT_FIELD)?.get("key")?.as_str()
}

/// The pump's resume marker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PumpMarker {
    /// Records pumped at or after this log index may still have their pending key.
    pub scan_from: u64,
}

impl PumpMarker {
    /// Stored bytes.
    pub fn encode(&self) -> Vec<u8> {
        // A struct of one integer always serialises.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses stored bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, AuditingError> {
        serde_json::from_slice(bytes)
            .map_err(|e| AuditingError::Corrupt(format!("audit/pump marker: {e}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_are_unique_and_sorted() {
        let keys = PendingKeys::new();
        let a = keys.next();
        let b = keys.next();
        assert!(a < b);
        assert!(a.starts_with(PENDING_PREFIX));
        // The process part differs between generators.
        assert_ne!(PendingKeys::new().next()[31..47], a[31..47]);
    }

    #[test]
    fn stamp_keeps_details_and_is_found_again() {
        let mut r =
            AuditRecord::new("user/a", "device.register", "d1").with_details(json!({"x": 1}));
        stamp(&mut r, "audit/pending/k", 42);
        assert_eq!(r.details["x"], 1);
        assert_eq!(r.details[COMMIT_FIELD]["revision"], 42);
        assert_eq!(pumped_from(&r), Some("audit/pending/k"));
        let mut s = AuditRecord::new("a", "b", "c").with_details(json!("text"));
        stamp(&mut s, "k2", 1);
        assert_eq!(s.details["value"], "text");
        assert_eq!(pumped_from(&s), Some("k2"));
        let back = decode(&encode(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        assert_eq!(pumped_from(&AuditRecord::new("a", "b", "c")), None);
    }
}
