//! One recording file being written: the init segment, then fragments
//! (`moof` + `mdat`, at most half a second each), each hashed (SHA-256). Every
//! fragment is written in one `write` and made durable (`fdatasync`) before
//! its index line is written and made durable: the index only ever names
//! bytes that survive a crash. Blocking: callers run it off the async
//! threads.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::index::{self, Closed, FragmentEntry, Header, IndexLine};
use crate::layout;

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A fragment ready to be written.
#[derive(Clone, Debug)]
pub struct Fragment {
    /// `moof` + `mdat`.
    pub data: bytes::Bytes,
    /// Wall-clock start, Unix ms.
    pub start_unix_ms: i64,
    /// Duration, 90 kHz ticks.
    pub duration: u64,
    /// Access units.
    pub frames: u64,
    /// Whether it begins with a keyframe.
    pub sync: bool,
}

/// What a closed file holds: the manifest appended to the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The media file.
    pub path: PathBuf,
    /// The device.
    pub device_id: String,
    /// The profile.
    pub profile: String,
    /// First fragment's start, Unix ms.
    pub start_unix_ms: i64,
    /// Last fragment's end, Unix ms.
    pub end_unix_ms: i64,
    /// SHA-256 of the init segment.
    pub init_sha256: String,
    /// SHA-256 of each fragment, in order.
    pub fragments: Vec<String>,
    /// File length.
    pub len: u64,
    /// Why it closed.
    pub reason: String,
}

/// A file open for recording.
pub struct RecordingFile {
    media_path: PathBuf,
    media: File,
    index: File,
    header: Header,
    len: u64,
    start_unix_ms: Option<i64>,
    end_unix_ms: i64,
    hashes: Vec<String>,
}

impl RecordingFile {
    /// Creates `<stream dir>/<start>.mp4` and its index, writing `init`.
    pub fn create(
        stream_dir: &Path,
        start_unix_ms: i64,
        header: Header,
        init: &[u8],
    ) -> std::io::Result<Self> {
        layout::create_dirs(stream_dir)?;
        let media_path = layout::media_path(stream_dir, start_unix_ms);
        let mut media = layout::create_file(&media_path)?;
        let index_path = layout::index_path(&media_path);
        let mut index = match layout::create_file(&index_path) {
            Ok(index) => index,
            Err(e) => {
                let _ = std::fs::remove_file(&media_path);
                return Err(e);
            }
        };
        let written = media
            .write_all(init)
            .and_then(|()| media.sync_data())
            .and_then(|()| index::append(&mut index, &IndexLine::Header(header.clone())))
            .and_then(|()| index.sync_data());
        if let Err(e) = written {
            // No empty shell left behind (a full disk fails here at every GOP).
            let _ = std::fs::remove_file(&index_path);
            let _ = std::fs::remove_file(&media_path);
            return Err(e);
        }
        Ok(Self {
            media_path,
            media,
            index,
            len: header.init_len,
            header,
            start_unix_ms: None,
            end_unix_ms: start_unix_ms,
            hashes: Vec::new(),
        })
    }

    /// The media file's path.
    pub fn path(&self) -> &Path {
        &self.media_path
    }

    /// Fragments written.
    pub fn fragments(&self) -> usize {
        self.hashes.len()
    }

    /// End of the last fragment, Unix ms.
    pub fn end_unix_ms(&self) -> i64 {
        self.end_unix_ms
    }

    /// Appends one fragment durably; returns its index entry.
    pub fn append(&mut self, fragment: &Fragment) -> std::io::Result<FragmentEntry> {
        let entry = FragmentEntry {
            offset: self.len,
            len: fragment.data.len() as u64,
            start_unix_ms: fragment.start_unix_ms,
            duration: fragment.duration,
            frames: fragment.frames,
            sha256: sha256_hex(&fragment.data),
            sync: fragment.sync,
        };
        if let Err(e) = self
            .media
            .write_all(&fragment.data)
            .and_then(|()| self.media.sync_data())
        {
            // Leave no partial fragment behind: the file ends at its last whole one.
            let _ = self.media.set_len(self.len);
            return Err(e);
        }
        index::append(&mut self.index, &IndexLine::Fragment(entry.clone()))?;
        self.index.sync_data()?;
        self.len += entry.len;
        self.start_unix_ms.get_or_insert(entry.start_unix_ms);
        self.end_unix_ms = entry.end_unix_ms();
        self.hashes.push(entry.sha256.clone());
        Ok(entry)
    }

    /// Removes a file that holds no fragment yet (no video is lost).
    pub fn discard(self) -> std::io::Result<()> {
        let index = layout::index_path(&self.media_path);
        drop(self.media);
        drop(self.index);
        std::fs::remove_file(&self.media_path)?;
        std::fs::remove_file(index)
    }

    /// Writes the closing line; returns the manifest.
    pub fn close(mut self, reason: &str) -> std::io::Result<Manifest> {
        index::append(
            &mut self.index,
            &IndexLine::Closed(Closed {
                reason: reason.to_owned(),
                len: self.len,
            }),
        )?;
        self.index.sync_data()?;
        Ok(Manifest {
            path: self.media_path,
            device_id: self.header.device_id.clone(),
            profile: self.header.profile.clone(),
            start_unix_ms: self.start_unix_ms.unwrap_or(self.end_unix_ms),
            end_unix_ms: self.end_unix_ms,
            init_sha256: self.header.init_sha256.clone(),
            fragments: self.hashes,
            len: self.len,
            reason: reason.to_owned(),
        })
    }
}
