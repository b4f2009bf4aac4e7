//! Where recordings live and how files are created: one directory per
//! stream (`<dir>/<device id>/<profile>/`), in it one `<start unix ms>.mp4`
//! per file with its sidecar index `<start unix ms>.idx`, and `gaps.jsonl`.
//! Directories are 0700 and files 0600; a new file's directory entry is
//! made durable (the directory is fsynced) before the file is used.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The gaps file of a stream directory.
pub const GAPS_FILE: &str = "gaps.jsonl";

/// The directory of one stream.
pub fn stream_dir(root: &Path, device_id: &str, profile: &str) -> PathBuf {
    root.join(device_id).join(profile)
}

/// The media file started at `start_unix_ms`.
pub fn media_path(stream_dir: &Path, start_unix_ms: i64) -> PathBuf {
    stream_dir.join(format!("{start_unix_ms}.mp4"))
}

/// The sidecar index of `media`.
pub fn index_path(media: &Path) -> PathBuf {
    media.with_extension("idx")
}

/// Creates `dir` and its missing parents, 0700.
pub fn create_dirs(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates a new file (never an existing one), 0600, and fsyncs its directory.
pub fn create_file(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    sync_parent(path)?;
    Ok(file)
}

/// Opens `path` for appending, creating it 0600 if missing.
pub fn open_append(path: &Path) -> io::Result<File> {
    let existed = path.exists();
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    if !existed {
        sync_parent(path)?;
    }
    Ok(file)
}

/// Makes `path`'s directory entry durable.
fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) => File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

/// The stream directories under `root`: `(device id, profile, path)`.
pub fn streams(root: &Path) -> io::Result<Vec<(String, String, PathBuf)>> {
    let mut out = Vec::new();
    let devices = match std::fs::read_dir(root) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for device in devices {
        let device = device?;
        let name = device.file_name().to_string_lossy().into_owned();
        if name.len() != 20 || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        for profile in ["main", "sub"] {
            let dir = device.path().join(profile);
            if dir.is_dir() {
                out.push((name.clone(), profile.to_owned(), dir));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The media files of a stream directory, oldest first, with their start times.
pub fn media_files(stream_dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    files_by_start(stream_dir, "mp4")
}

/// The indexes of a stream directory (a media file's may outlive it),
/// oldest first, with their start times.
pub fn index_files(stream_dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    files_by_start(stream_dir, "idx")
}

/// The `<start>.<extension>` files of a stream directory, oldest first.
fn files_by_start(stream_dir: &Path, extension: &str) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(stream_dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == extension)
            && let Some(start) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<i64>().ok())
        {
            out.push((start, path));
        }
    }
    out.sort();
    Ok(out)
}
