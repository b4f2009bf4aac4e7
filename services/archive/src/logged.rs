//! Closed recordings against their manifests in the audit log (R18.6,
//! R18.7). [`crate::verify()`] and the start-up scrub ([`crate::scrub`])
//! re-hash media against the sidecar indexes; this check compares the
//! indexes with what was logged when each file closed, without reading
//! media: an index rewritten together with its media (hashes recomputed),
//! and a recording deleted with its index inside retention, are both found.
//!
//! Each start reads the log from where the previous one stopped (a
//! [`Cursor`] in the archive directory: the next index and the log's root
//! hash at that size). If the log's first entries are no longer those the
//! cursor saw (the log was rewritten), that is reported and the whole log
//! is read again.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vfed_audit::AuditRecord;

use crate::index::Index;
use crate::layout;
use crate::verify::Finding;

use vfed_evidence::verify::MANIFEST_ACTIONS;

/// A closed file's manifest as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedFile {
    /// SHA-256 of the init segment.
    pub init_sha256: String,
    /// SHA-256 of each fragment, in order.
    pub fragments: Vec<String>,
    /// Start and end of its video, Unix ms.
    pub start_unix_ms: i64,
    /// End of its video, Unix ms.
    pub end_unix_ms: i64,
}

/// The file (relative to the archive) and manifest a log record carries,
/// if it is a closed file's manifest.
pub fn manifest_of(record: &AuditRecord) -> Option<(String, LoggedFile)> {
    if !MANIFEST_ACTIONS.contains(&record.action.as_str()) {
        return None;
    }
    let d = &record.details;
    let text = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_owned);
    let number = |k: &str| d.get(k).and_then(Value::as_i64).unwrap_or(0);
    let fragments = d
        .get("fragments_sha256")?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()?;
    Some((
        text("file")?,
        LoggedFile {
            init_sha256: text("init_sha256")?,
            fragments,
            start_unix_ms: number("start_unix_ms"),
            end_unix_ms: number("end_unix_ms"),
        },
    ))
}

/// The cursor's file in the archive directory (0600).
pub const CURSOR_FILE: &str = "logged-cursor.json";

/// Where the last start-up check stopped reading the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The first entry not read yet (the log's size then).
    pub next_index: u64,
    /// The log's Merkle root at that size, hex.
    pub root: String,
    /// When the check ran, Unix ms.
    pub checked_unix_ms: i64,
}

impl Cursor {
    /// The cursor of the archive at `root`, if any.
    pub fn read(root: &Path) -> std::io::Result<Option<Self>> {
        match std::fs::read(root.join(CURSOR_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the cursor of the archive at `root` (atomically, 0600).
    pub fn write(&self, root: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        vfed_private_fs::write_atomic(&root.join(CURSOR_FILE), &bytes)
    }
}

/// Compares every closed file under `root` whose manifest is in `logged`
/// (by path relative to `root`) with it. A logged file that is gone is a
/// finding when its video ended after `retained_since_unix_ms` (inside
/// retention nothing may be deleted). Closed files with no manifest in
/// `logged` are returned apart (a crash between closing and logging), but
/// only those ending after `unlogged_since_unix_ms`: older ones had theirs
/// read by an earlier check.
pub fn check(
    root: &Path,
    logged: &HashMap<String, LoggedFile>,
    retained_since_unix_ms: i64,
    unlogged_since_unix_ms: i64,
) -> std::io::Result<(Vec<Finding>, Vec<String>)> {
    let mut findings = Vec::new();
    let mut unlogged = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (device, profile, dir) in layout::streams(root)? {
        for (start, media) in layout::media_files(&dir)? {
            let source = format!("{device}/{profile}/{start}.mp4");
            let index = Index::read(&layout::index_path(&media)).unwrap_or_default();
            if index.closed.is_none() {
                continue;
            }
            seen.insert(source.clone());
            let Some(manifest) = logged.get(&source) else {
                if index.end_unix_ms().unwrap_or(start) >= unlogged_since_unix_ms {
                    unlogged.push(source);
                }
                continue;
            };
            let finding = |time_unix_ms: i64, problem: String| Finding {
                file: media.clone(),
                time_unix_ms,
                problem,
            };
            if index.header.as_ref().map(|h| h.init_sha256.as_str()) != Some(&manifest.init_sha256)
            {
                findings.push(finding(
                    start,
                    "its init segment's hash is not the one logged when it closed (R18.6)".into(),
                ));
            }
            let differs = index
                .fragments
                .iter()
                .zip(&manifest.fragments)
                .position(|(f, logged)| &f.sha256 != logged);
            if let Some(i) = differs {
                findings.push(finding(
                    index.fragments[i].start_unix_ms,
                    format!("fragment {i}'s hash in the index is not the one logged when the file closed (R18.6)"),
                ));
            } else if index.fragments.len() != manifest.fragments.len() {
                findings.push(finding(
                    index.end_unix_ms().unwrap_or(start),
                    format!(
                        "the index lists {} fragments, {} were logged when the file closed (R18.6)",
                        index.fragments.len(),
                        manifest.fragments.len()
                    ),
                ));
            }
        }
    }
    let mut missing: Vec<(&String, &LoggedFile)> = logged
        .iter()
        .filter(|(source, m)| !seen.contains(*source) && m.end_unix_ms > retained_since_unix_ms)
        .collect();
    missing.sort_by_key(|(source, _)| source.as_str());
    for (source, manifest) in missing {
        findings.push(Finding {
            file: root.join(source),
            time_unix_ms: manifest.start_unix_ms,
            problem:
                "the recording (logged when it closed) is missing, inside its retention (R18.7)"
                    .into(),
        });
    }
    Ok((findings, unlogged))
}

impl crate::Archive {
    /// Checks the closed files against `logged` (the manifests read from
    /// the audit log; files closed before `unlogged_since_unix_ms` whose
    /// manifests were read by an earlier check are not expected in it) and
    /// reports each finding ([`crate::scrub`]). Returns the findings.
    pub async fn check_logged(
        &self,
        logged: HashMap<String, LoggedFile>,
        unlogged_since_unix_ms: i64,
    ) -> Vec<Finding> {
        let root = self.dir().to_path_buf();
        let retention = i64::try_from(self.options().retention.as_millis()).unwrap_or(i64::MAX);
        let since = crate::archive::now_unix_ms().saturating_sub(retention);
        let count = logged.len();
        let checked = tokio::task::spawn_blocking(move || {
            check(&root, &logged, since, unlogged_since_unix_ms)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        let (findings, unlogged) = match checked {
            Ok(result) => result,
            Err(e) => {
                tracing::error!(error = %e, "archive: recordings not checked against the audit log");
                return Vec::new();
            }
        };
        for source in &unlogged {
            tracing::warn!(file = %source, "archive: a closed recording has no manifest in the audit log (closed just before a crash?)");
        }
        for finding in &findings {
            self.report_tampered(finding).await;
        }
        if findings.is_empty() {
            tracing::info!(
                manifests = count,
                "archive: closed recordings match their manifests in the audit log"
            );
        }
        findings
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::index::Header;
    use crate::writer::{Fragment, RecordingFile};

    const DEVICE: &str = "54050200001320000001";

    /// One closed file of three fragments under `root`; its logged manifest.
    fn recorded(root: &Path, start: i64) -> (String, LoggedFile) {
        let dir = layout::stream_dir(root, DEVICE, "main");
        let init = b"init".to_vec();
        let header = Header {
            device_id: DEVICE.into(),
            profile: "main".into(),
            codec: "h264".into(),
            width: 1,
            height: 1,
            init_len: init.len() as u64,
            init_sha256: crate::writer::sha256_hex(&init),
        };
        let mut file = RecordingFile::create(&dir, start, header, &init).unwrap();
        for k in 0..3 {
            file.append(&Fragment {
                data: bytes::Bytes::from(format!("fragment {k}")),
                start_unix_ms: start + k * 1000,
                duration: 90_000,
                frames: 25,
                sync: true,
            })
            .unwrap();
        }
        let m = file.close("rotation").unwrap();
        (
            format!("{DEVICE}/main/{start}.mp4"),
            LoggedFile {
                init_sha256: m.init_sha256,
                fragments: m.fragments,
                start_unix_ms: m.start_unix_ms,
                end_unix_ms: m.end_unix_ms,
            },
        )
    }

    #[test]
    fn rewritten_indexes_and_deleted_recordings_are_found() {
        let root = tempfile::tempdir().unwrap();
        let mut logged = HashMap::new();
        for start in [1_000_000, 2_000_000, 3_000_000] {
            let (source, manifest) = recorded(root.path(), start);
            logged.insert(source, manifest);
        }
        let (findings, unlogged) = check(root.path(), &logged, 0, 0).unwrap();
        assert!(findings.is_empty() && unlogged.is_empty(), "{findings:?}");

        // The second file's index rewritten with another hash for fragment 1.
        let idx = root.path().join(DEVICE).join("main").join("2000000.idx");
        let manifest = &logged[&format!("{DEVICE}/main/2000000.mp4")];
        let text = std::fs::read_to_string(&idx)
            .unwrap()
            .replace(&manifest.fragments[1], &"0".repeat(64));
        std::fs::write(&idx, text).unwrap();
        // The third file and its index deleted.
        for ext in ["mp4", "idx"] {
            std::fs::remove_file(
                root.path()
                    .join(DEVICE)
                    .join("main")
                    .join(format!("3000000.{ext}")),
            )
            .unwrap();
        }
        let (findings, _) = check(root.path(), &logged, 0, 0).unwrap();
        assert_eq!(findings.len(), 2, "{findings:?}");
        assert!(findings[0].file.ends_with("2000000.mp4"));
        assert_eq!(findings[0].time_unix_ms, 2_001_000);
        assert!(
            findings[0].problem.contains("fragment 1"),
            "{}",
            findings[0]
        );
        assert!(findings[1].file.ends_with("3000000.mp4"));
        assert!(findings[1].problem.contains("missing"), "{}", findings[1]);
        // Past retention, a missing recording is not a finding.
        let (findings, _) = check(root.path(), &logged, 3_100_000, 0).unwrap();
        assert_eq!(findings.len(), 1, "{findings:?}");
    }
}
