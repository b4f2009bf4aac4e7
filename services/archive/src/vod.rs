//! What a playback of `[start, end)` serves, planned from the sidecar
//! indexes, as a virtual file: pieces that are either bytes made here (a
//! progressive MP4's `moov`) or byte ranges of the recorded files
//! themselves. Nothing is copied or re-encoded; a `Range` request reads
//! only the pieces it covers.
//!
//! - [`fragmented`]: each recorded file's init segment followed by its
//!   fragments overlapping the range, verbatim. The HLS VOD playlist
//!   ([`playlist`]) addresses its segments as byte ranges of it.
//! - [`progressive`]: one MP4 (`ftyp`, `moov`, `mdat`) whose `mdat` is the
//!   recorded samples from the keyframe before `start` to `end`, with an
//!   edit list so that the first frame shown is the one on screen at
//!   `start`. It ends early where the codec parameters change.

use std::fmt::Write as _;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use vfed_media::progressive::{Chunk, Presentation, moof_samples, progressive_head};

use crate::index::{FragmentEntry, Header, Index};
use crate::layout;

/// Largest `moof` read from a recorded fragment.
const MAX_MOOF: u64 = 16 << 20;

/// One piece of a virtual file.
#[derive(Clone, Debug)]
pub enum Piece {
    /// Bytes made for this playback.
    Made(Bytes),
    /// `len` bytes of a recorded file from `offset`.
    Recorded {
        /// The recorded file.
        path: PathBuf,
        /// Where the bytes start.
        offset: u64,
        /// How many.
        len: u64,
    },
}

impl Piece {
    /// Bytes of the piece.
    pub fn len(&self) -> u64 {
        match self {
            Piece::Made(b) => b.len() as u64,
            Piece::Recorded { len, .. } => *len,
        }
    }

    /// Whether the piece is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A virtual file: its pieces in order.
#[derive(Clone, Debug, Default)]
pub struct VirtualFile {
    /// The pieces.
    pub pieces: Arc<[Piece]>,
    /// Total bytes.
    pub len: u64,
    /// Frames shown.
    pub frames: u64,
}

impl VirtualFile {
    fn new(pieces: Vec<Piece>, frames: u64) -> Self {
        let len = pieces.iter().map(Piece::len).sum();
        VirtualFile {
            pieces: pieces.into(),
            len,
            frames,
        }
    }

    /// Reads `[first, first + len)` into memory (for ranges the caller has
    /// bounded).
    pub fn read(&self, first: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        let end = first.saturating_add(len).min(self.len);
        let mut at = 0u64;
        for piece in self.pieces.iter() {
            let (p_start, p_end) = (at, at + piece.len());
            at = p_end;
            if p_end <= first || p_start >= end {
                continue;
            }
            let from = first.max(p_start) - p_start;
            let to = end.min(p_end) - p_start;
            match piece {
                Piece::Made(b) => out.extend_from_slice(
                    b.get(
                        usize::try_from(from).unwrap_or(usize::MAX)
                            ..usize::try_from(to).unwrap_or(usize::MAX),
                    )
                    .ok_or_else(|| io::Error::other("piece out of range"))?,
                ),
                Piece::Recorded { path, offset, .. } => {
                    let mut f = std::fs::File::open(path)?;
                    f.seek(SeekFrom::Start(offset + from))?;
                    let n = usize::try_from(to - from).map_err(io::Error::other)?;
                    let old = out.len();
                    out.resize(old + n, 0);
                    f.read_exact(&mut out[old..])?;
                }
            }
        }
        Ok(out)
    }
}

/// One recorded file and its fragments overlapping the range.
#[derive(Clone, Debug)]
pub struct Selected {
    /// The media file.
    pub media: PathBuf,
    /// Its header.
    pub header: Header,
    /// The fragments overlapping the range, in order.
    pub fragments: Vec<FragmentEntry>,
}

/// The fragments of `stream_dir` overlapping `[start, end)`, by file.
pub fn select(stream_dir: &Path, start: i64, end: i64) -> io::Result<Vec<Selected>> {
    let mut out = Vec::new();
    for (file_start, media) in layout::media_files(stream_dir)? {
        if file_start >= end {
            break;
        }
        let index = Index::read(&layout::index_path(&media))?;
        let Some(header) = index.header.clone() else {
            continue;
        };
        let range = index.overlapping(start, end);
        let fragments = index.fragments[range].to_vec();
        if !fragments.is_empty() {
            out.push(Selected {
                media,
                header,
                fragments,
            });
        }
    }
    Ok(out)
}

/// The init segments and fragments of `selected`, verbatim, one after the
/// other, and for each file `(offset of its init, offsets of its fragments)`.
pub fn fragmented(selected: &[Selected]) -> (VirtualFile, Vec<(u64, Vec<u64>)>) {
    let mut pieces = Vec::new();
    let mut offsets = Vec::new();
    let mut at = 0u64;
    let mut frames = 0;
    for file in selected {
        let init_at = at;
        pieces.push(Piece::Recorded {
            path: file.media.clone(),
            offset: 0,
            len: file.header.init_len,
        });
        at += file.header.init_len;
        let mut fragment_offsets = Vec::new();
        for f in &file.fragments {
            fragment_offsets.push(at);
            pieces.push(Piece::Recorded {
                path: file.media.clone(),
                offset: f.offset,
                len: f.len,
            });
            at += f.len;
            frames += f.frames;
        }
        offsets.push((init_at, fragment_offsets));
    }
    (VirtualFile::new(pieces, frames), offsets)
}

/// The HLS VOD playlist of `selected`: segments are byte ranges of the
/// [`fragmented`] file at `uri`; players are asked to start precisely at
/// `start` (`EXT-X-START ... PRECISE=YES`).
pub fn playlist(selected: &[Selected], start: i64, uri: &str) -> String {
    let (_, offsets) = fragmented(selected);
    let mut segments = String::new();
    let mut target = 1u64;
    for (i, (file, (init_at, fragment_offsets))) in selected.iter().zip(&offsets).enumerate() {
        if i > 0 {
            segments.push_str("#EXT-X-DISCONTINUITY\n");
        }
        let _ = writeln!(
            segments,
            "#EXT-X-MAP:URI=\"{uri}\",BYTERANGE=\"{}@{init_at}\"",
            file.header.init_len
        );
        // A segment is a fragment beginning with a keyframe and the
        // fragments of the same GOP after it (contiguous in the file).
        let mut segment: Option<(u64, u64, u64)> = None;
        let mut flush = |segment: Option<(u64, u64, u64)>, segments: &mut String| {
            if let Some((duration, len, at)) = segment {
                target = target.max(duration.div_ceil(90_000));
                let _ = writeln!(segments, "#EXTINF:{:.3},", duration as f64 / 90_000.0);
                let _ = writeln!(segments, "#EXT-X-BYTERANGE:{len}@{at}");
                let _ = writeln!(segments, "{uri}");
            }
        };
        for (f, &at) in file.fragments.iter().zip(fragment_offsets) {
            match &mut segment {
                Some((duration, len, _)) if !f.sync => {
                    *duration += f.duration;
                    *len += f.len;
                }
                _ => flush(segment.replace((f.duration, f.len, at)), &mut segments),
            }
        }
        flush(segment, &mut segments);
    }
    let offset = selected
        .first()
        .and_then(|f| f.fragments.first())
        .map_or(0, |f| (start - f.start_unix_ms).max(0));
    format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{target}\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-START:TIME-OFFSET={}.{:03},PRECISE=YES\n{segments}#EXT-X-ENDLIST\n",
        offset / 1000,
        offset % 1000
    )
}

fn read_at(file: &mut std::fs::File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; usize::try_from(len).map_err(io::Error::other)?];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}

/// The progressive MP4 of `[start, end)` over `selected` (see the module
/// documentation); `None` when no frame falls in the range.
pub fn progressive(selected: &[Selected], start: i64, end: i64) -> io::Result<Option<VirtualFile>> {
    let Some(first) = selected.first() else {
        return Ok(None);
    };
    let init = read_at(
        &mut std::fs::File::open(&first.media)?,
        0,
        first.header.init_len,
    )?;
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut pieces = Vec::new();
    let mut start_ticks: Option<u64> = None;
    let mut ticks = 0u64;
    let mut frames = 0u64;
    'files: for file in selected {
        if file.header.init_sha256 != first.header.init_sha256 {
            // New codec parameters: one sample description per file here.
            break;
        }
        let mut media = std::fs::File::open(&file.media)?;
        for f in &file.fragments {
            let size = read_at(&mut media, f.offset, 4)?;
            let moof_len = u64::from(u32::from_be_bytes([size[0], size[1], size[2], size[3]]));
            if moof_len < 8 || moof_len > MAX_MOOF.min(f.len) {
                return Err(io::Error::other(format!(
                    "{}: fragment at {} has no readable moof",
                    file.media.display(),
                    f.offset
                )));
            }
            let moof = read_at(&mut media, f.offset, moof_len)?;
            let parsed = moof_samples(&moof)
                .map_err(|e| io::Error::other(format!("{}: {e}", file.media.display())))?;
            if parsed.data_offset + parsed.data_len() > f.len {
                return Err(io::Error::other(format!(
                    "{}: fragment at {} names bytes beyond it",
                    file.media.display(),
                    f.offset
                )));
            }
            let mut kept = Chunk::default();
            let mut fragment_ticks = 0u64;
            for s in &parsed.samples {
                let at_ms = f.start_unix_ms + i64::try_from(fragment_ticks / 90).unwrap_or(0);
                if at_ms >= end {
                    break;
                }
                let end_ms = at_ms + i64::from(s.duration / 90);
                // The first frame shown is the one on screen at `start`.
                if start_ticks.is_none() && end_ms > start {
                    let pts = i64::try_from(ticks).unwrap_or(0) + i64::from(s.cts);
                    start_ticks = Some(u64::try_from(pts).unwrap_or(0));
                }
                if start_ticks.is_some() {
                    frames += 1;
                }
                fragment_ticks += u64::from(s.duration);
                ticks += u64::from(s.duration);
                kept.samples.push(*s);
            }
            if kept.is_empty() {
                break 'files;
            }
            pieces.push(Piece::Recorded {
                path: file.media.clone(),
                offset: f.offset + parsed.data_offset,
                len: kept.len(),
            });
            chunks.push(kept);
        }
    }
    let Some(start_ticks) = start_ticks else {
        return Ok(None);
    };
    let head = progressive_head(
        &init,
        &chunks,
        Presentation {
            width: first.header.width,
            height: first.header.height,
            start_ticks,
        },
    )
    .map_err(|e| io::Error::other(e.to_string()))?;
    pieces.insert(0, Piece::Made(head));
    Ok(Some(VirtualFile::new(pieces, frames)))
}
