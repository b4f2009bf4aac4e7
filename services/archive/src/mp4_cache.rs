//! The progressive MP4s' plans, kept between requests: a player asks for
//! one range many times (`Range` requests while it plays and seeks), and
//! each plan's `moov` is built from every fragment's `moof`. A plan is
//! kept per (stream, start, end) with the stamps (length, modification
//! time) of the index files its range covers; a request whose stamps differ
//! (a file of the range still being recorded, a file added or removed)
//! builds the plan again. Bounded by bytes, least recently used first out.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::layout;
use crate::vod::{Piece, VirtualFile};

/// Bytes of plans kept at most.
pub const MAX_BYTES: usize = 64 << 20;

/// One index file as last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStamp {
    /// The file's start, Unix ms (its name).
    pub start_unix_ms: i64,
    /// The index's length.
    pub len: u64,
    /// The index's modification time.
    pub modified: Option<SystemTime>,
}

/// The stamps of the index files of `stream_dir` that can hold video of
/// `[start, end)`: the last file starting at or before `start` (files of a
/// stream do not overlap) and every file starting before `end`.
pub fn stamps(stream_dir: &Path, start: i64, end: i64) -> io::Result<Vec<FileStamp>> {
    let files = layout::media_files(stream_dir)?;
    let first = files
        .iter()
        .rposition(|(file_start, _)| *file_start <= start)
        .unwrap_or(0);
    let mut out = Vec::new();
    for (file_start, media) in files.into_iter().skip(first) {
        if file_start >= end {
            break;
        }
        let (len, modified) = match std::fs::metadata(layout::index_path(&media)) {
            Ok(m) => (m.len(), m.modified().ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (0, None),
            Err(e) => return Err(e),
        };
        out.push(FileStamp {
            start_unix_ms: file_start,
            len,
            modified,
        });
    }
    Ok(out)
}

/// A plan's key: the stream's directory and the range.
type Key = (PathBuf, i64, i64);

struct Entry {
    stamps: Vec<FileStamp>,
    file: VirtualFile,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    bytes: usize,
    clock: u64,
}

/// The kept plans (one per archive).
#[derive(Default)]
pub struct Mp4Cache {
    state: Mutex<State>,
}

/// Memory a plan takes: its made bytes (the `moov`) and its pieces.
fn weight(file: &VirtualFile) -> usize {
    file.pieces
        .iter()
        .map(|p| {
            std::mem::size_of::<Piece>()
                + match p {
                    Piece::Made(b) => b.len(),
                    Piece::Recorded { path, .. } => path.as_os_str().len(),
                }
        })
        .sum()
}

impl Mp4Cache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The plan kept for `(dir, start, end)` if its files are as `stamps` says.
    pub fn get(
        &self,
        dir: &Path,
        start: i64,
        end: i64,
        stamps: &[FileStamp],
    ) -> Option<VirtualFile> {
        let mut state = self.state();
        state.clock += 1;
        let clock = state.clock;
        let key = (dir.to_path_buf(), start, end);
        let entry = state.entries.get_mut(&key)?;
        if entry.stamps != stamps {
            let bytes = entry.bytes;
            state.entries.remove(&key);
            state.bytes -= bytes;
            return None;
        }
        entry.used = clock;
        Some(entry.file.clone())
    }

    /// Keeps `file`, the plan of `(dir, start, end)` made when its files
    /// were as `stamps` says; the least recently used plans go to make room.
    pub fn put(&self, dir: &Path, start: i64, end: i64, stamps: Vec<FileStamp>, file: VirtualFile) {
        let bytes = weight(&file) + stamps.len() * std::mem::size_of::<FileStamp>();
        if bytes > MAX_BYTES {
            return;
        }
        let mut state = self.state();
        state.clock += 1;
        let used = state.clock;
        let key = (dir.to_path_buf(), start, end);
        if let Some(old) = state.entries.remove(&key) {
            state.bytes -= old.bytes;
        }
        while state.bytes + bytes > MAX_BYTES {
            let Some(oldest) = state
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = state.entries.remove(&oldest) {
                state.bytes -= gone.bytes;
            }
        }
        state.bytes += bytes;
        state.entries.insert(
            key,
            Entry {
                stamps,
                file,
                bytes,
                used,
            },
        );
    }

    /// Bytes kept now.
    pub fn bytes(&self) -> usize {
        self.state().bytes
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn plan(made: usize) -> VirtualFile {
        VirtualFile {
            pieces: vec![Piece::Made(Bytes::from(vec![0u8; made]))].into(),
            len: made as u64,
            frames: 1,
        }
    }

    fn stamp(len: u64) -> Vec<FileStamp> {
        vec![FileStamp {
            start_unix_ms: 1,
            len,
            modified: None,
        }]
    }

    #[test]
    fn a_changed_file_is_a_miss_and_the_oldest_plan_goes_first() {
        let cache = Mp4Cache::default();
        let dir = Path::new("/a");
        cache.put(dir, 0, 10, stamp(5), plan(100));
        assert_eq!(cache.get(dir, 0, 10, &stamp(5)).unwrap().len, 100);
        assert!(cache.get(dir, 0, 11, &stamp(5)).is_none(), "another range");
        // The range is still being recorded: its index grew.
        assert!(cache.get(dir, 0, 10, &stamp(6)).is_none());
        assert_eq!(cache.bytes(), 0, "a stale plan is dropped");

        let third = MAX_BYTES / 3;
        cache.put(dir, 0, 1, stamp(1), plan(third));
        cache.put(dir, 0, 2, stamp(1), plan(third));
        assert!(cache.get(dir, 0, 1, &stamp(1)).is_some(), "used again");
        cache.put(dir, 0, 3, stamp(1), plan(third));
        assert!(cache.bytes() <= MAX_BYTES);
        assert!(
            cache.get(dir, 0, 2, &stamp(1)).is_none(),
            "least recently used"
        );
        assert!(cache.get(dir, 0, 1, &stamp(1)).is_some());
        assert!(cache.get(dir, 0, 3, &stamp(1)).is_some());
        // Larger than the whole cache: not kept.
        cache.put(dir, 0, 4, stamp(1), plan(MAX_BYTES + 1));
        assert!(cache.get(dir, 0, 4, &stamp(1)).is_none());
    }

    #[test]
    fn stamps_cover_the_files_of_the_range() {
        let dir = tempfile::tempdir().unwrap();
        for start in [1_000, 61_000, 121_000] {
            std::fs::write(dir.path().join(format!("{start}.mp4")), b"").unwrap();
            std::fs::write(dir.path().join(format!("{start}.idx")), b"x").unwrap();
        }
        let starts = |a, b| {
            stamps(dir.path(), a, b)
                .unwrap()
                .iter()
                .map(|s| s.start_unix_ms)
                .collect::<Vec<_>>()
        };
        assert_eq!(starts(70_000, 100_000), [61_000]);
        assert_eq!(starts(70_000, 130_000), [61_000, 121_000]);
        assert_eq!(starts(0, 2_000), [1_000]);
        let before = stamps(dir.path(), 70_000, 100_000).unwrap();
        std::fs::write(dir.path().join("61000.idx"), b"xy").unwrap();
        assert_ne!(stamps(dir.path(), 70_000, 100_000).unwrap(), before);
    }
}
