//! The offline verifier (R18.6): checks a copy of a log against its signed checkpoints and
//! names the first entry that is not what the log committed to.
//!
//! Checks, in log order, so the first failure is the first bad index:
//! 1. every checkpoint is signed by the node's key, names the log's origin, and sizes never
//!    shrink; the same size never carries two roots;
//! 2. each frame's stored leaf hash equals SHA-256(0x00 || record bytes) (a changed byte);
//! 3. each record's index equals its position (a deleted, inserted or swapped entry);
//! 4. at every signed size, the root of the leaves so far equals the signed root (entries
//!    rewritten together with their leaf hashes: named by the first index after the last
//!    checkpoint that still matched, the earliest entry that can have changed);
//! 5. the log holds at least as many entries as the largest signed size (a cut tail).
//!
//! A partial frame after the last signed size is a crash, not tampering: it is reported in
//! [`VerifyReport::torn_tail`] and does not fail verification.

use std::io::BufReader;
use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::error::{AuditError, EntryProblem, Result, VerifyError};
use crate::format::{self, FrameRead, FrameReader, LOG_MAGIC};
use crate::keys::PublicKey;
use crate::merkle::{Hash, MerkleTree, hash_leaf};
use crate::record::AuditRecord;

/// What a successful verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Complete entries in the log.
    pub entries: u64,
    /// Number of signed checkpoints.
    pub checkpoints: u64,
    /// The largest signed tree size (0 without checkpoints).
    pub last_checkpoint_size: u64,
    /// The root over all entries.
    pub root: Hash,
    /// Whether a partial frame (a crash mid-write) follows the last complete entry.
    pub torn_tail: bool,
}

/// Verifies `log_path` against `checkpoints_path`, both signed by `public_key`. Works on a
/// copy, offline; never modifies either file.
pub fn verify_file(
    log_path: &Path,
    checkpoints_path: &Path,
    public_key: &PublicKey,
) -> Result<VerifyReport, VerifyError> {
    let file = format::read_checkpoints(checkpoints_path)?;
    check_checkpoints(&file.checkpoints, &file.origin, public_key)?;
    let scan = scan_log(log_path, &file.origin, &file.checkpoints, RecordCheck::Full)?;
    Ok(VerifyReport {
        entries: scan.tree.size(),
        checkpoints: file.checkpoints.len() as u64,
        last_checkpoint_size: file.checkpoints.last().map_or(0, |c| c.size),
        root: scan.tree.root(),
        torn_tail: scan.torn,
    })
}

/// Checks signatures, origin and ordering of a log's checkpoints.
pub(crate) fn check_checkpoints(
    checkpoints: &[Checkpoint],
    origin: &str,
    key: &PublicKey,
) -> Result<()> {
    let mut previous: Option<&Checkpoint> = None;
    for (number, cp) in checkpoints.iter().enumerate() {
        let fail = |reason: String| AuditError::CheckpointFile {
            number: number as u64,
            reason,
        };
        if cp.origin != origin {
            return Err(fail(format!(
                "origin {:?}, the log is {origin:?}",
                cp.origin
            )));
        }
        cp.verify(key).map_err(|e| fail(e.to_string()))?;
        if let Some(prev) = previous {
            if cp.size < prev.size {
                return Err(fail(format!(
                    "size {} after {} (rolled back)",
                    cp.size, prev.size
                )));
            }
            if cp.size == prev.size && cp.root != prev.root {
                return Err(fail(format!(
                    "second root for size {} (equivocation)",
                    cp.size
                )));
            }
        }
        previous = Some(cp);
    }
    Ok(())
}

/// How thoroughly to check each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordCheck {
    /// Parse the whole record (the offline verifier).
    Full,
    /// Read only the leading index (opening the log: faster, the hash covers the rest).
    IndexOnly,
}

/// The result of reading a log through.
pub(crate) struct Scan {
    /// The tree over all complete entries.
    pub tree: MerkleTree,
    /// Offset just after the last complete frame.
    pub good_len: u64,
    /// Whether a partial frame follows.
    pub torn: bool,
}

/// Reads the log at `path` and checks it against `checkpoints` (sizes non-decreasing).
pub(crate) fn scan_log(
    path: &Path,
    origin: &str,
    checkpoints: &[Checkpoint],
    check: RecordCheck,
) -> Result<Scan> {
    let file = std::fs::File::open(path).map_err(|e| AuditError::io("opening", path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let (log_origin, header_len) = format::read_header(&mut reader, LOG_MAGIC, path)?;
    if log_origin != origin {
        return Err(AuditError::Header {
            path: path.to_owned(),
            reason: format!("origin {log_origin:?}, the checkpoints are for {origin:?}"),
        });
    }
    let mut frames = FrameReader::log(reader, header_len);
    let mut tree = MerkleTree::new();
    let mut pending = checkpoints.iter().peekable();
    let mut matched_up_to = 0u64;
    let torn = loop {
        let index = tree.size();
        // R18.6: the entries so far must hash to every root signed at this size.
        while let Some(cp) = pending.next_if(|cp| cp.size <= index) {
            if cp.size == index {
                if tree.root() != cp.root {
                    return Err(entry(
                        matched_up_to,
                        EntryProblem::RootMismatch { size: cp.size },
                    ));
                }
                matched_up_to = cp.size;
            }
        }
        let entry_err = |problem| entry(index, problem);
        match frames
            .next_frame()
            .map_err(|e| AuditError::io("reading", path, e))?
        {
            FrameRead::End => break false,
            FrameRead::Torn => break true,
            FrameRead::BadLength(len) => return Err(entry_err(EntryProblem::BadFrameLength(len))),
            FrameRead::Frame { payload, leaf } => {
                let computed = hash_leaf(&payload);
                if leaf != Some(computed) {
                    return Err(entry_err(EntryProblem::LeafHashMismatch));
                }
                let found = match check {
                    RecordCheck::Full => AuditRecord::from_bytes(&payload)
                        .map(|r| r.index)
                        .map_err(|e| entry_err(EntryProblem::Unparseable(e.to_string())))?,
                    RecordCheck::IndexOnly => leading_index(&payload).ok_or_else(|| {
                        entry_err(EntryProblem::Unparseable("no leading index".into()))
                    })?,
                };
                if found != index {
                    return Err(entry_err(EntryProblem::IndexMismatch { found }));
                }
                tree.push_leaf_hash(computed);
            }
        }
    };
    let signed = checkpoints.last().map_or(0, |c| c.size);
    if tree.size() < signed {
        // R18.6: a log shorter than what was signed has been cut (a crash never loses
        // entries a checkpoint covers: checkpoints are written after the entries' fsync).
        return Err(entry(
            tree.size(),
            EntryProblem::Missing {
                checkpoint_size: signed,
            },
        ));
    }
    Ok(Scan {
        tree,
        good_len: frames.good_offset,
        torn,
    })
}

fn entry(index: u64, problem: EntryProblem) -> AuditError {
    AuditError::Entry { index, problem }
}

/// The index of canonical record bytes, which always begin `{"index":<digits>,`.
fn leading_index(bytes: &[u8]) -> Option<u64> {
    let rest = bytes.strip_prefix(br#"{"index":"#)?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    if end == 0 || rest[end] != b',' {
        return None;
    }
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::leading_index;

    #[test]
    fn leading_index_reads_canonical_prefix_only() {
        assert_eq!(
            leading_index(br#"{"index":4711,"time_unix_ms":1}"#),
            Some(4711)
        );
        assert_eq!(leading_index(br#"{"index":,"#), None);
        assert_eq!(leading_index(br#"{"time":1,"index":2}"#), None);
    }
}
