//! The sidecar index of a recording file, one JSON object per line: a
//! header (what the file holds, where its init segment ends), one line per
//! fragment (byte range, times, SHA-256) and a closing line. A line is
//! written only after the bytes it describes are durable, so the index
//! never names bytes a crash lost; a torn last line is ignored.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One line of an index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IndexLine {
    /// The first line.
    Header(Header),
    /// One fragment (`moof` + `mdat`).
    Fragment(FragmentEntry),
    /// The file is complete.
    Closed(Closed),
}

/// What a file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The device.
    pub device_id: String,
    /// `main` or `sub`.
    pub profile: String,
    /// `h264` or `hevc`.
    pub codec: String,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Bytes of the init segment at the start of the file.
    pub init_len: u64,
    /// SHA-256 of the init segment, hex.
    pub init_sha256: String,
}

/// One fragment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FragmentEntry {
    /// Byte offset in the media file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Wall-clock start, Unix ms.
    pub start_unix_ms: i64,
    /// Duration, 90 kHz ticks.
    pub duration: u64,
    /// Access units.
    pub frames: u64,
    /// SHA-256 of the fragment's bytes, hex.
    pub sha256: String,
    /// Whether it begins with a keyframe (a GOP longer than a fragment is
    /// cut into several; only the first begins with its keyframe). Written
    /// only when false: indexes from before every fragment began a GOP.
    #[serde(default = "starts_a_gop", skip_serializing_if = "is_sync")]
    pub sync: bool,
}

fn starts_a_gop() -> bool {
    true
}

fn is_sync(sync: &bool) -> bool {
    *sync
}

impl FragmentEntry {
    /// Wall-clock end, Unix ms.
    pub fn end_unix_ms(&self) -> i64 {
        self.start_unix_ms
            .saturating_add(i64::try_from(self.duration / 90).unwrap_or(i64::MAX))
    }
}

/// The closing line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// Why the file closed: `rotation`, `camera offline`, `node down`
    /// (cut back at start after a crash), `stream error: ...`.
    pub reason: String,
    /// The media file's length.
    pub len: u64,
}

/// An index as read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Index {
    /// The header, if the first line was whole.
    pub header: Option<Header>,
    /// The fragments, in file order.
    pub fragments: Vec<FragmentEntry>,
    /// The closing line, if the file was closed.
    pub closed: Option<Closed>,
    /// Bytes of whole lines (a torn tail beyond this is ignored).
    pub whole_len: u64,
}

impl Index {
    /// Reads `path`, stopping at the first line that is not whole.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        Ok(Self::parse(&bytes))
    }

    /// Parses index bytes.
    pub fn parse(bytes: &[u8]) -> Self {
        let mut index = Index::default();
        let mut pos = 0usize;
        while let Some(end) = bytes[pos..].iter().position(|&b| b == b'\n') {
            let line = &bytes[pos..pos + end];
            let Ok(parsed) = serde_json::from_slice::<IndexLine>(line) else {
                break;
            };
            match parsed {
                IndexLine::Header(h) if index.header.is_none() => index.header = Some(h),
                IndexLine::Fragment(f) if index.header.is_some() && index.closed.is_none() => {
                    index.fragments.push(f);
                }
                IndexLine::Closed(c) if index.header.is_some() && index.closed.is_none() => {
                    index.closed = Some(c);
                }
                _ => break,
            }
            pos += end + 1;
            index.whole_len = pos as u64;
        }
        index
    }

    /// Wall-clock start of the first fragment.
    pub fn start_unix_ms(&self) -> Option<i64> {
        self.fragments.first().map(|f| f.start_unix_ms)
    }

    /// Wall-clock end of the last fragment.
    pub fn end_unix_ms(&self) -> Option<i64> {
        self.fragments.last().map(FragmentEntry::end_unix_ms)
    }

    /// The fragments overlapping `[start, end)` (Unix ms), widened back to
    /// the keyframe they need: the first begins with one.
    pub fn overlapping(&self, start: i64, end: i64) -> std::ops::Range<usize> {
        let first = self
            .fragments
            .iter()
            .position(|f| f.end_unix_ms() > start && f.start_unix_ms < end);
        let Some(first) = first else {
            return 0..0;
        };
        let last = self.fragments[first..]
            .iter()
            .position(|f| f.start_unix_ms >= end)
            .map_or(self.fragments.len(), |n| first + n);
        let sync = self.fragments[..=first]
            .iter()
            .rposition(|f| f.sync)
            .unwrap_or(0);
        sync..last
    }

    /// Bytes of media covered by whole fragments (init included).
    pub fn media_len(&self) -> u64 {
        self.fragments.last().map_or_else(
            || self.header.as_ref().map_or(0, |h| h.init_len),
            |f| f.offset + f.len,
        )
    }
}

/// Appends `line` and its newline to `out` in one write.
pub fn append(out: &mut impl Write, line: &IndexLine) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(line).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    out.write_all(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_ignored() {
        let header = IndexLine::Header(Header {
            device_id: "d".into(),
            profile: "main".into(),
            codec: "h264".into(),
            width: 1,
            height: 1,
            init_len: 10,
            init_sha256: String::new(),
        });
        let fragment = IndexLine::Fragment(FragmentEntry {
            offset: 10,
            len: 5,
            start_unix_ms: 1000,
            duration: 90_000,
            frames: 25,
            sha256: "ab".into(),
            sync: true,
        });
        let mut bytes = Vec::new();
        append(&mut bytes, &header).ok();
        append(&mut bytes, &fragment).ok();
        let whole = bytes.len() as u64;
        bytes.extend_from_slice(b"{\"kind\":\"fragm");
        let index = Index::parse(&bytes);
        assert_eq!(index.fragments.len(), 1);
        assert_eq!(index.whole_len, whole);
        assert_eq!(index.end_unix_ms(), Some(2000));
        assert_eq!(index.media_len(), 15);
    }

    #[test]
    fn overlapping_fragments_start_at_the_keyframe_they_need() {
        let fragment = |k: i64, sync: bool| FragmentEntry {
            offset: 10 + 5 * k as u64,
            len: 5,
            start_unix_ms: 1000 + 500 * k,
            duration: 45_000,
            frames: 12,
            sha256: String::new(),
            sync,
        };
        // Two GOPs of 1.5 s, three fragments each.
        let index = Index {
            fragments: (0..6).map(|k| fragment(k, k % 3 == 0)).collect(),
            ..Index::default()
        };
        assert_eq!(
            index.overlapping(2100, 2200),
            0..3,
            "from the first GOP's keyframe"
        );
        assert_eq!(index.overlapping(2600, 3600), 3..6);
        assert_eq!(index.overlapping(1000, 1500), 0..1);
        assert_eq!(index.overlapping(9000, 9500), 0..0);
        // The sync flag is written only when false.
        let mut line = Vec::new();
        append(&mut line, &IndexLine::Fragment(fragment(1, false))).ok();
        append(&mut line, &IndexLine::Fragment(fragment(0, true))).ok();
        let text = String::from_utf8(line).unwrap_or_default();
        assert_eq!(text.matches("\"sync\":false").count(), 1, "{text}");
        assert!(!text.contains("true"), "{text}");
    }
}
