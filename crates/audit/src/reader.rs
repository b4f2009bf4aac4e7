//! Random access to the entries of a log file, for tailing and for the checks that read
//! records back (the node's `Tail` RPC, the pump's crash recovery, offline tools).
//!
//! The file is append-only, so the byte offset of an entry never changes once written. The
//! reader remembers the offset of every [`STRIDE`]th entry it has passed and skips frames by
//! their length fields, so reading the last entries of a large log touches only the frames
//! after the nearest remembered offset. It never reads past the `end` the caller gives
//! (the committed size), so frames the writer is still appending are never seen.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::{AuditError, EntryProblem, Result};
use crate::format::{self, LOG_MAGIC};
use crate::merkle::{Hash, hash_leaf};
use crate::record::MAX_RECORD_LEN;

/// Entries between two remembered offsets.
pub const STRIDE: u64 = 1024;

/// One entry as stored: its index, the record bytes (canonical JSON) and the stored leaf
/// hash, checked against the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// Position in the log.
    pub index: u64,
    /// The record's canonical bytes (the Merkle leaf data).
    pub record: Vec<u8>,
    /// SHA-256(0x00 || record), as stored and as recomputed.
    pub leaf_hash: Hash,
}

/// A reader of one log file.
#[derive(Debug)]
pub struct LogReader {
    path: PathBuf,
    origin: String,
    /// `offsets[k]` is the byte offset of entry `k * STRIDE`.
    offsets: Vec<u64>,
}

impl LogReader {
    /// Opens the log file at `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| AuditError::io("opening", path, e))?;
        let (origin, header_len) = format::read_header(&mut file, LOG_MAGIC, path)?;
        Ok(LogReader {
            path: path.to_owned(),
            origin,
            offsets: vec![header_len],
        })
    }

    /// The origin named in the header.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Reads up to `max` entries from index `from`, never at or beyond `end`. Each frame's
    /// leaf hash is checked against its bytes; a frame that does not match, or a file that
    /// ends before `end`, names the entry.
    pub fn read(&mut self, from: u64, max: usize, end: u64) -> Result<Vec<StoredEntry>> {
        if from >= end || max == 0 {
            return Ok(Vec::new());
        }
        let file = File::open(&self.path).map_err(|e| AuditError::io("opening", &self.path, e))?;
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let mut index = self.seek_near(&mut reader, from)?;
        let mut out = Vec::with_capacity(max.min(4096));
        while index < end && out.len() < max {
            let len = self.frame_len(&mut reader, index)?;
            if index < from {
                reader
                    .seek_relative(i64::from(len) + 32)
                    .map_err(|e| AuditError::io("reading", &self.path, e))?;
            } else {
                let mut record = vec![0u8; len as usize];
                let mut leaf = [0u8; 32];
                reader
                    .read_exact(&mut record)
                    .and_then(|()| reader.read_exact(&mut leaf))
                    .map_err(|_| missing(index, end))?;
                if hash_leaf(&record) != leaf {
                    return Err(AuditError::Entry {
                        index,
                        problem: EntryProblem::LeafHashMismatch,
                    });
                }
                out.push(StoredEntry {
                    index,
                    record,
                    leaf_hash: leaf,
                });
            }
            index += 1;
            self.remember(&mut reader, index)?;
        }
        Ok(out)
    }

    /// Positions `reader` at the remembered entry nearest below `target`, walking forward
    /// (and remembering) from the last known offset when needed; returns that entry's index.
    fn seek_near(&mut self, reader: &mut BufReader<File>, target: u64) -> Result<u64> {
        let wanted = (target / STRIDE) as usize;
        let known = self.offsets.len() - 1;
        let slot = wanted.min(known);
        let offset = self.offsets[slot];
        reader
            .seek(SeekFrom::Start(offset))
            .map_err(|e| AuditError::io("reading", &self.path, e))?;
        let mut index = slot as u64 * STRIDE;
        while (index / STRIDE) < wanted as u64 {
            let len = self.frame_len(reader, index)?;
            reader
                .seek_relative(i64::from(len) + 32)
                .map_err(|e| AuditError::io("reading", &self.path, e))?;
            index += 1;
            self.remember(reader, index)?;
        }
        Ok(index)
    }

    /// Reads the length field of entry `index`.
    fn frame_len(&self, reader: &mut BufReader<File>, index: u64) -> Result<u32> {
        let mut len = [0u8; 4];
        reader
            .read_exact(&mut len)
            .map_err(|_| missing(index, index + 1))?;
        let len = u32::from_be_bytes(len);
        if len == 0 || len as usize > MAX_RECORD_LEN {
            return Err(AuditError::Entry {
                index,
                problem: EntryProblem::BadFrameLength(len),
            });
        }
        Ok(len)
    }

    /// Records the current position as the offset of entry `index` when it starts a stride.
    fn remember(&mut self, reader: &mut BufReader<File>, index: u64) -> Result<()> {
        if index.is_multiple_of(STRIDE) && index / STRIDE == self.offsets.len() as u64 {
            let pos = reader
                .stream_position()
                .map_err(|e| AuditError::io("reading", &self.path, e))?;
            self.offsets.push(pos);
        }
        Ok(())
    }
}

fn missing(index: u64, end: u64) -> AuditError {
    AuditError::Entry {
        index,
        problem: EntryProblem::Missing {
            checkpoint_size: end,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{AuditLog, AuditRecord, SigningKey};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_any_range_and_names_a_changed_entry() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), SigningKey::generate("n").unwrap()).unwrap();
        let n = 2 * STRIDE + 10;
        let mut tasks = Vec::new();
        for t in 0..8 {
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = t;
                while i < n {
                    log.append(AuditRecord::new("a", "b", format!("t{i}")))
                        .await
                        .unwrap();
                    i += 8;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let mut reader = LogReader::open(&log.log_path()).unwrap();
        assert_eq!(reader.origin(), "n");
        // Tail first (walks the whole file once), then ranges before and across strides.
        let tail = reader.read(n - 3, 10, n).unwrap();
        assert_eq!(
            tail.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![n - 3, n - 2, n - 1]
        );
        for (from, max) in [(0, 5), (STRIDE - 2, 4), (STRIDE + 7, 1), (2 * STRIDE, 100)] {
            let got = reader.read(from, max, n).unwrap();
            assert_eq!(got.len() as u64, (n - from).min(max as u64));
            for (k, entry) in got.iter().enumerate() {
                assert_eq!(entry.index, from + k as u64);
                assert_eq!(Some(entry.leaf_hash), log.leaf_hash(entry.index));
                let record = AuditRecord::from_bytes(&entry.record).unwrap();
                assert_eq!(record.index, entry.index);
            }
        }
        assert!(reader.read(n, 5, n).unwrap().is_empty());
        // Asking beyond the file names the first missing entry.
        let err = reader.read(n - 1, 5, n + 2).unwrap_err();
        assert_eq!(err.first_bad_index(), Some(n));
        log.close().await.unwrap();

        // A changed byte inside entry 5 is named.
        let path = dir.path().join(crate::LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let first = LogReader::open(&path).unwrap().read(5, 1, n).unwrap();
        let needle = &first[0].record[..];
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        bytes[at + needle.len() - 3] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let err = LogReader::open(&path).unwrap().read(0, 10, n).unwrap_err();
        assert_eq!(err.first_bad_index(), Some(5), "{err}");
    }
}
