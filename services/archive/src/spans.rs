//! Spans (continuous video) and gaps (no video, with a cause) of a stream,
//! read from its indexes and its `gaps.jsonl`.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::index::Index;
use crate::layout;

/// Fragments closer than this join into one span.
pub const JOIN_MS: i64 = 1000;

/// Continuous video.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// Start, Unix ms.
    pub start_unix_ms: i64,
    /// End, Unix ms.
    pub end_unix_ms: i64,
    /// Fragments in it.
    pub fragments: u64,
    /// Media bytes in it.
    pub bytes: u64,
}

/// No video, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Start, Unix ms.
    pub start_unix_ms: i64,
    /// End, Unix ms.
    pub end_unix_ms: i64,
    /// `camera offline`, `stream error: ...`, `node down`, `disk full`.
    pub cause: String,
}

/// Appends `gap` durably to the stream's gaps file.
pub fn record_gap(stream_dir: &Path, gap: &Gap) -> std::io::Result<()> {
    layout::create_dirs(stream_dir)?;
    let mut file = layout::open_append(&stream_dir.join(layout::GAPS_FILE))?;
    let mut line = serde_json::to_vec(gap).map_err(std::io::Error::other)?;
    line.push(b'\n');
    file.write_all(&line)?;
    file.sync_data()
}

/// The gaps of a stream overlapping `[from, to]`.
pub fn gaps(stream_dir: &Path, from: i64, to: i64) -> std::io::Result<Vec<Gap>> {
    let text = match std::fs::read(stream_dir.join(layout::GAPS_FILE)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(text
        .split(|&b| b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Gap>(line).ok())
        .filter(|g| g.end_unix_ms >= from && g.start_unix_ms <= to)
        .collect())
}

/// The spans of a stream overlapping `[from, to]`.
pub fn spans(stream_dir: &Path, from: i64, to: i64) -> std::io::Result<Vec<Span>> {
    let mut out: Vec<Span> = Vec::new();
    for (start, media) in layout::media_files(stream_dir)? {
        if start > to.saturating_add(JOIN_MS) {
            break;
        }
        let index = Index::read(&layout::index_path(&media)).unwrap_or_default();
        for f in &index.fragments {
            let (s, e) = (f.start_unix_ms, f.end_unix_ms());
            if e < from || s > to {
                continue;
            }
            match out.last_mut() {
                Some(last) if s - last.end_unix_ms <= JOIN_MS => {
                    last.end_unix_ms = last.end_unix_ms.max(e);
                    last.fragments += 1;
                    last.bytes += f.len;
                }
                _ => out.push(Span {
                    start_unix_ms: s,
                    end_unix_ms: e,
                    fragments: 1,
                    bytes: f.len,
                }),
            }
        }
    }
    Ok(out)
}
