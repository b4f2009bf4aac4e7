//! At start: every file a crash left open is cut back to its last whole,
//! indexed fragment whose hash matches, closed with reason `node down`, and
//! its manifest handed back to be logged; empty leftovers (no fragment) are
//! removed; closed files not yet sealed are sealed. Also finds where each
//! stream's recording ended, so the downtime becomes a gap.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::index::{self, Closed, Index, IndexLine};
use crate::layout;
use crate::writer::{Manifest, sha256_hex};

/// The reason given to files closed by recovery and to the gap of a crash.
pub const NODE_DOWN: &str = "node down";

/// What recovery did.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Files that were open, now cut back and closed.
    pub closed: Vec<(Manifest, u64)>,
    /// Where each stream (`<device>/<profile>`) last had video, Unix ms.
    pub last_end: HashMap<String, i64>,
    /// Files sealed now (closed before, not sealed yet).
    pub sealed: usize,
}

/// Recovers every stream under `root`; `seal`: seal closed files.
pub fn recover(root: &Path, seal: bool) -> std::io::Result<Recovered> {
    let mut out = Recovered::default();
    for (device, profile, dir) in layout::streams(root)? {
        let key = format!("{device}/{profile}");
        for (_, media) in layout::media_files(&dir)? {
            let idx = layout::index_path(&media);
            let mut index = Index::read(&idx).unwrap_or_default();
            if index.closed.is_none() {
                match cut_back(&media, &idx, &index)? {
                    Some((manifest, cut)) => {
                        index = Index::read(&idx)?;
                        out.closed.push((manifest, cut));
                    }
                    None => continue,
                }
            }
            if seal {
                for path in [&media, &idx] {
                    if !crate::seal::is_sealed(path).unwrap_or(true) {
                        crate::seal::seal(path)?;
                        out.sealed += 1;
                    }
                }
            }
            if let Some(end) = index.end_unix_ms() {
                let last = out.last_end.entry(key.clone()).or_insert(end);
                *last = (*last).max(end);
            }
        }
    }
    Ok(out)
}

/// Cuts an open file back to its last good fragment and closes it; an
/// open file with no whole fragment is removed (`None`). Returns the
/// manifest and the bytes cut.
fn cut_back(media: &Path, idx: &Path, index: &Index) -> std::io::Result<Option<(Manifest, u64)>> {
    let bytes = std::fs::read(media)?;
    let mut good = Vec::new();
    let init_ok = index.header.as_ref().is_some_and(|h| {
        usize::try_from(h.init_len)
            .ok()
            .and_then(|n| bytes.get(..n))
            .is_some_and(|b| sha256_hex(b) == h.init_sha256)
    });
    if init_ok {
        for fragment in &index.fragments {
            let data = usize::try_from(fragment.offset)
                .ok()
                .zip(usize::try_from(fragment.offset + fragment.len).ok())
                .and_then(|(a, b)| bytes.get(a..b));
            if data.is_none_or(|d| sha256_hex(d) != fragment.sha256) {
                break;
            }
            good.push(fragment.clone());
        }
    }
    let (Some(header), false) = (&index.header, good.is_empty()) else {
        // Nothing recorded survives: no video was lost, only an empty shell.
        std::fs::remove_file(media)?;
        std::fs::remove_file(idx)?;
        tracing::info!(file = %media.display(), "archive: removed an empty file left by a crash");
        return Ok(None);
    };
    let len = good.last().map_or(header.init_len, |f| f.offset + f.len);
    let cut = (bytes.len() as u64).saturating_sub(len);
    OpenOptions::new().write(true).open(media)?.set_len(len)?;
    OpenOptions::new().write(true).open(media)?.sync_all()?;
    // Rewrite the index as its whole lines for the good fragments, then close it.
    let mut text = Vec::new();
    index::append(&mut text, &IndexLine::Header(header.clone()))?;
    for fragment in &good {
        index::append(&mut text, &IndexLine::Fragment(fragment.clone()))?;
    }
    index::append(
        &mut text,
        &IndexLine::Closed(Closed {
            reason: NODE_DOWN.to_owned(),
            len,
        }),
    )?;
    let mut file = OpenOptions::new().write(true).truncate(true).open(idx)?;
    file.write_all(&text)?;
    file.sync_all()?;
    tracing::warn!(file = %media.display(), cut_bytes = cut, fragments = good.len(), "archive: file left open by a crash cut back to its last whole fragment");
    let manifest = Manifest {
        path: media.to_path_buf(),
        device_id: header.device_id.clone(),
        profile: header.profile.clone(),
        start_unix_ms: good.first().map_or(0, |f| f.start_unix_ms),
        end_unix_ms: good
            .last()
            .map_or(0, crate::index::FragmentEntry::end_unix_ms),
        init_sha256: header.init_sha256.clone(),
        fragments: good.iter().map(|f| f.sha256.clone()).collect(),
        len,
        reason: NODE_DOWN.to_owned(),
    };
    Ok(Some((manifest, cut)))
}
