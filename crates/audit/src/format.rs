//! On-disk formats of the log file and the checkpoints file, and a frame reader for both.
//!
//! Both files start with a header:
//!
//! ```text
//! magic (8 bytes: "VFEDAUDT" for the log, "VFEDCKPT" for checkpoints)
//! version (u16, big-endian, currently 1)
//! origin length (u16, big-endian), origin (UTF-8: the node id)
//! ```
//!
//! then frames, appended and never rewritten:
//!
//! - log: `[u32 BE length][record bytes][32-byte leaf hash = SHA-256(0x00 || record bytes)]`
//!   where the record bytes are [`crate::AuditRecord::to_canonical_bytes`];
//! - checkpoints: `[u32 BE length][signed checkpoint note, UTF-8]`.

use std::io::{self, Read, Write};
use std::path::Path;

use crate::checkpoint::Checkpoint;
use crate::error::{AuditError, Result};
use crate::merkle::Hash;
use crate::record::MAX_RECORD_LEN;

/// Magic of the log file.
pub const LOG_MAGIC: &[u8; 8] = b"VFEDAUDT";
/// Magic of the checkpoints file.
pub const CHECKPOINTS_MAGIC: &[u8; 8] = b"VFEDCKPT";
/// Current format version of both files.
pub const VERSION: u16 = 1;
/// Largest checkpoint note accepted.
pub const MAX_NOTE_LEN: usize = 64 * 1024;

/// Encodes a file header.
pub fn encode_header(magic: &[u8; 8], origin: &str) -> Result<Vec<u8>> {
    let len = u16::try_from(origin.len()).map_err(|_| {
        AuditError::RecordRejected(format!("origin of {} bytes is too long", origin.len()))
    })?;
    let mut out = Vec::with_capacity(12 + origin.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(origin.as_bytes());
    Ok(out)
}

/// Reads and checks a file header; returns the origin and the header's length in bytes.
pub fn read_header(reader: &mut impl Read, magic: &[u8; 8], path: &Path) -> Result<(String, u64)> {
    let bad = |reason: String| AuditError::Header {
        path: path.to_owned(),
        reason,
    };
    let mut fixed = [0u8; 12];
    let got =
        read_full(reader, &mut fixed).map_err(|e| AuditError::io("reading header of", path, e))?;
    if got < fixed.len() {
        return Err(bad(format!("file too short ({got} bytes)")));
    }
    if &fixed[..8] != magic {
        return Err(bad("wrong magic".into()));
    }
    let version = u16::from_be_bytes([fixed[8], fixed[9]]);
    if version != VERSION {
        return Err(bad(format!("unsupported version {version}")));
    }
    let len = usize::from(u16::from_be_bytes([fixed[10], fixed[11]]));
    let mut origin = vec![0u8; len];
    if read_full(reader, &mut origin).map_err(|e| AuditError::io("reading header of", path, e))?
        < len
    {
        return Err(bad("origin cut short".into()));
    }
    let origin = String::from_utf8(origin).map_err(|_| bad("origin is not UTF-8".into()))?;
    Ok((origin, 12 + len as u64))
}

/// Appends one log frame for `record` with its `leaf` hash to `out`.
pub fn encode_log_frame(record: &[u8], leaf: &Hash, out: &mut Vec<u8>) {
    // Records are capped at MAX_RECORD_LEN, far below u32::MAX.
    out.extend_from_slice(&(record.len() as u32).to_be_bytes());
    out.extend_from_slice(record);
    out.extend_from_slice(leaf);
}

/// Appends one checkpoints-file frame for `note` to `out`.
pub fn encode_note_frame(note: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(note.len() as u32).to_be_bytes());
    out.extend_from_slice(note.as_bytes());
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// What the next frame of a file is.
#[derive(Debug)]
pub enum FrameRead {
    /// A complete frame: the payload and, in the log, the stored leaf hash.
    Frame {
        /// Record bytes or note bytes.
        payload: Vec<u8>,
        /// The stored leaf hash (log frames only).
        leaf: Option<Hash>,
    },
    /// The file ends cleanly after the previous frame.
    End,
    /// The file ends inside a frame (a crash mid-write, or a cut).
    Torn,
    /// The length field is zero or larger than allowed.
    BadLength(u32),
}

/// Reads frames one by one, tracking the byte offset after the last complete frame.
pub struct FrameReader<R> {
    reader: R,
    with_leaf: bool,
    max_len: usize,
    /// Offset just after the last complete frame.
    pub good_offset: u64,
}

impl<R: Read> FrameReader<R> {
    /// A reader for log frames, positioned after a header of `header_len` bytes.
    pub fn log(reader: R, header_len: u64) -> Self {
        FrameReader {
            reader,
            with_leaf: true,
            max_len: MAX_RECORD_LEN,
            good_offset: header_len,
        }
    }

    /// A reader for checkpoints-file frames, positioned after the header.
    pub fn checkpoints(reader: R, header_len: u64) -> Self {
        FrameReader {
            reader,
            with_leaf: false,
            max_len: MAX_NOTE_LEN,
            good_offset: header_len,
        }
    }

    /// Reads the next frame.
    pub fn next_frame(&mut self) -> io::Result<FrameRead> {
        let mut len = [0u8; 4];
        match read_full(&mut self.reader, &mut len)? {
            0 => return Ok(FrameRead::End),
            4 => {}
            _ => return Ok(FrameRead::Torn),
        }
        let len = u32::from_be_bytes(len);
        if len == 0 || len as usize > self.max_len {
            return Ok(FrameRead::BadLength(len));
        }
        let mut payload = vec![0u8; len as usize];
        if read_full(&mut self.reader, &mut payload)? < payload.len() {
            return Ok(FrameRead::Torn);
        }
        let leaf = if self.with_leaf {
            let mut leaf = [0u8; 32];
            if read_full(&mut self.reader, &mut leaf)? < leaf.len() {
                return Ok(FrameRead::Torn);
            }
            Some(leaf)
        } else {
            None
        };
        self.good_offset += 4 + u64::from(len) + if self.with_leaf { 32 } else { 0 };
        Ok(FrameRead::Frame { payload, leaf })
    }
}

/// The checkpoints file as read: every checkpoint in order, where the complete frames end,
/// and whether a partial frame follows them.
#[derive(Debug)]
pub struct CheckpointsFile {
    /// The origin in the header.
    pub origin: String,
    /// The checkpoints, oldest first (signatures not yet verified).
    pub checkpoints: Vec<Checkpoint>,
    /// Offset just after the last complete frame.
    pub good_len: u64,
    /// Whether a partial frame follows (a crash mid-write).
    pub torn: bool,
}

/// Reads the whole checkpoints file.
pub fn read_checkpoints(path: &Path) -> Result<CheckpointsFile> {
    let file = std::fs::File::open(path).map_err(|e| AuditError::io("opening", path, e))?;
    let mut reader = io::BufReader::new(file);
    let (origin, header_len) = read_header(&mut reader, CHECKPOINTS_MAGIC, path)?;
    let mut frames = FrameReader::checkpoints(reader, header_len);
    let mut checkpoints = Vec::new();
    let torn = loop {
        let number = checkpoints.len() as u64;
        match frames
            .next_frame()
            .map_err(|e| AuditError::io("reading", path, e))?
        {
            FrameRead::End => break false,
            FrameRead::Torn => break true,
            FrameRead::BadLength(len) => {
                return Err(AuditError::CheckpointFile {
                    number,
                    reason: format!("frame length {len} out of range"),
                });
            }
            FrameRead::Frame { payload, .. } => {
                let note = String::from_utf8(payload).map_err(|_| AuditError::CheckpointFile {
                    number,
                    reason: "note is not UTF-8".into(),
                })?;
                let checkpoint =
                    Checkpoint::parse(&note).map_err(|e| AuditError::CheckpointFile {
                        number,
                        reason: e.to_string(),
                    })?;
                checkpoints.push(checkpoint);
            }
        }
    };
    Ok(CheckpointsFile {
        origin,
        checkpoints,
        good_len: frames.good_offset,
        torn,
    })
}

/// Writes `bytes` at the end of `file` and makes them durable (one fdatasync).
pub fn append_durably(file: &mut std::fs::File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.sync_data()
}
