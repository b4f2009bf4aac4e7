//! Byte encodings of the embedded store's table values.
//!
//! - data: `create_rev (i64 BE) | mod_rev (i64 BE) | value`
//! - log: `count (u32 BE)` then per event `tag (u8: 0 put, 1 delete) |
//!   key_len (u32 BE) | key` and, for a put, `create_rev (i64 BE) |
//!   value_len (u32 BE) | value`. Every event's mod revision is the log key.

use crate::{KeyValue, Revision, StoreError, WatchEvent};

/// A stored key's value and revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub value: Vec<u8>,
}

impl Entry {
    pub(crate) fn into_kv(self, key: Vec<u8>) -> KeyValue {
        KeyValue {
            key,
            value: self.value,
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
        }
    }
}

/// Encodes a data table value.
pub(crate) fn encode_entry(
    create_revision: Revision,
    mod_revision: Revision,
    value: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + value.len());
    out.extend_from_slice(&create_revision.to_be_bytes());
    out.extend_from_slice(&mod_revision.to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// Decodes a data table value.
pub(crate) fn decode_entry(bytes: &[u8]) -> Result<Entry, StoreError> {
    let mut r = Reader { bytes, pos: 0 };
    let create_revision = r.i64()?;
    let mod_revision = r.i64()?;
    Ok(Entry {
        create_revision,
        mod_revision,
        value: r.rest().to_vec(),
    })
}

/// Decodes only the revisions of a data table value (compares need no value copy).
pub(crate) fn decode_revisions(bytes: &[u8]) -> Result<(Revision, Revision, &[u8]), StoreError> {
    let mut r = Reader { bytes, pos: 0 };
    let create_revision = r.i64()?;
    let mod_revision = r.i64()?;
    Ok((create_revision, mod_revision, r.rest()))
}

/// Encodes the events of one revision.
pub(crate) fn encode_events(events: &[WatchEvent]) -> Vec<u8> {
    let size: usize = events
        .iter()
        .map(|e| match e {
            WatchEvent::Put(kv) => 17 + kv.key.len() + kv.value.len(),
            WatchEvent::Delete { key, .. } => 5 + key.len(),
        })
        .sum();
    let mut out = Vec::with_capacity(4 + size);
    push_len(&mut out, events.len());
    for event in events {
        match event {
            WatchEvent::Put(kv) => {
                out.push(0);
                push_len(&mut out, kv.key.len());
                out.extend_from_slice(&kv.key);
                out.extend_from_slice(&kv.create_revision.to_be_bytes());
                push_len(&mut out, kv.value.len());
                out.extend_from_slice(&kv.value);
            }
            WatchEvent::Delete { key, .. } => {
                out.push(1);
                push_len(&mut out, key.len());
                out.extend_from_slice(key);
            }
        }
    }
    out
}

/// Decodes the events of revision `revision`, keeping those whose key starts with `prefix`.
pub(crate) fn decode_events(
    bytes: &[u8],
    revision: Revision,
    prefix: &[u8],
    out: &mut Vec<WatchEvent>,
) -> Result<(), StoreError> {
    let mut r = Reader { bytes, pos: 0 };
    let count = r.len()?;
    for _ in 0..count {
        let tag = r.take(1)?[0];
        let key_len = r.len()?;
        let key = r.take(key_len)?;
        match tag {
            0 => {
                let create_revision = r.i64()?;
                let value_len = r.len()?;
                let value = r.take(value_len)?;
                if key.starts_with(prefix) {
                    out.push(WatchEvent::Put(KeyValue {
                        key: key.to_vec(),
                        value: value.to_vec(),
                        create_revision,
                        mod_revision: revision,
                    }));
                }
            }
            1 => {
                if key.starts_with(prefix) {
                    out.push(WatchEvent::Delete {
                        key: key.to_vec(),
                        mod_revision: revision,
                    });
                }
            }
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown event tag {other} at revision {revision}"
                )));
            }
        }
    }
    Ok(())
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Keys and values are far below 4 GiB (a redb value is limited to that anyway).
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(StoreError::Corrupt(format!(
                "truncated record: wanted {n} bytes at offset {} of {}",
                self.pos,
                self.bytes.len()
            ))),
        }
    }

    fn i64(&mut self) -> Result<i64, StoreError> {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(buf))
    }

    fn len(&mut self) -> Result<usize, StoreError> {
        let mut buf = [0u8; 4];
        buf.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(buf) as usize)
    }

    fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos..]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn events_roundtrip_and_filter() {
        let events = vec![
            WatchEvent::Put(KeyValue {
                key: b"a/1".to_vec(),
                value: b"x".to_vec(),
                create_revision: 3,
                mod_revision: 7,
            }),
            WatchEvent::Delete {
                key: b"b/1".to_vec(),
                mod_revision: 7,
            },
            WatchEvent::Delete {
                key: b"a/2".to_vec(),
                mod_revision: 7,
            },
        ];
        let bytes = encode_events(&events);
        let mut all = Vec::new();
        decode_events(&bytes, 7, b"", &mut all).unwrap();
        assert_eq!(all, events);
        let mut some = Vec::new();
        decode_events(&bytes, 7, b"a/", &mut some).unwrap();
        assert_eq!(some, vec![events[0].clone(), events[2].clone()]);
        assert!(decode_events(&bytes[..bytes.len() - 1], 7, b"", &mut Vec::new()).is_err());
    }

    #[test]
    fn entry_roundtrip() {
        let bytes = encode_entry(2, 5, b"hello");
        assert_eq!(
            decode_entry(&bytes).unwrap(),
            Entry {
                create_revision: 2,
                mod_revision: 5,
                value: b"hello".to_vec()
            }
        );
        assert!(decode_entry(&bytes[..10]).is_err());
    }
}
