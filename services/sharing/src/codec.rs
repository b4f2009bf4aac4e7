//! Encoding of records in the store (JSON: readable with `etcdctl get`).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::SharingError;

/// Encodes a record.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing plain data structs with string keys cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes a record, naming the key on failure.
pub fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, SharingError> {
    serde_json::from_slice(bytes).map_err(|e| SharingError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: e.to_string(),
    })
}
