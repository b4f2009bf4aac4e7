//! Checks recordings against their indexes: the init segment and every
//! fragment hashed again (SHA-256), lengths compared, missing files named.
//! A finding names the file and the wall-clock time of the first fragment
//! that differs.

use std::path::{Path, PathBuf};

use crate::index::Index;
use crate::layout;
use crate::writer::sha256_hex;

/// One thing that does not match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The media (or index) file.
    pub file: PathBuf,
    /// Start of the first affected fragment, Unix ms (the file's start if
    /// the whole file is affected).
    pub time_unix_ms: i64,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(self.time_unix_ms) * 1_000_000,
        )
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| self.time_unix_ms.to_string());
        write!(f, "{} at {time}: {}", self.file.display(), self.problem)
    }
}

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Files checked.
    pub files: usize,
    /// Fragments whose hash matched.
    pub fragments: usize,
    /// Everything that did not match.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether everything matched.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Verifies every recording under `root`.
pub fn verify(root: &Path) -> std::io::Result<Report> {
    let mut report = Report::default();
    for (_, _, dir) in layout::streams(root)? {
        verify_stream(&dir, &mut report)?;
    }
    Ok(report)
}

fn verify_stream(dir: &Path, report: &mut Report) -> std::io::Result<()> {
    // Every index must have its media file (a deleted recording is found).
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "idx") {
            let media = path.with_extension("mp4");
            if !media.exists() {
                let start = path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                report.findings.push(Finding {
                    file: media,
                    time_unix_ms: start,
                    problem: "the media file is missing".into(),
                });
            }
        }
    }
    for (start, media) in layout::media_files(dir)? {
        report.files += 1;
        verify_file(start, &media, report)?;
    }
    Ok(())
}

/// The closed recordings under `root`, newest first: `(start, media)`,
/// listed by their indexes (so a deleted media file is listed too).
pub fn closed_files(root: &Path) -> std::io::Result<Vec<(i64, PathBuf)>> {
    let mut out = Vec::new();
    for (_, _, dir) in layout::streams(root)? {
        for (start, idx) in layout::index_files(&dir)? {
            out.push((start, idx.with_extension("mp4")));
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.0));
    Ok(out)
}

/// Re-hashes one closed recording against its index. Returns the first
/// thing wrong (the others counted in its text) and the bytes read. A file
/// still open, or gone with its video past `retained_since_unix_ms` (the
/// retention sweep removes media before index), is not a finding.
pub fn check_closed(
    start: i64,
    media: &Path,
    retained_since_unix_ms: i64,
) -> std::io::Result<(Option<Finding>, u64)> {
    let index = match Index::read(&layout::index_path(media)) {
        Ok(index) => index,
        // Removed since it was listed: the sweep, past retention.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, 0)),
        Err(e) => return Err(e),
    };
    if index.closed.is_none() {
        return Ok((None, 0));
    }
    if !media.exists() {
        let end = index.end_unix_ms().unwrap_or(start);
        let finding = (end > retained_since_unix_ms).then(|| Finding {
            file: media.to_path_buf(),
            time_unix_ms: index.start_unix_ms().unwrap_or(start),
            problem: "the media file is missing, inside its retention (R18.7)".into(),
        });
        return Ok((finding, 0));
    }
    let mut report = Report::default();
    let read = verify_file(start, media, &mut report)?;
    let mut findings = report.findings.into_iter();
    let first = findings.next().map(|mut f| {
        let more = findings.count();
        if more > 0 {
            f.problem = format!("{} (and {more} more problem(s) after it)", f.problem);
        }
        f
    });
    Ok((first, read))
}

/// Checks one file into `report`; returns the bytes read.
fn verify_file(start: i64, media: &Path, report: &mut Report) -> std::io::Result<u64> {
    let finding = |time_unix_ms: i64, problem: String| Finding {
        file: media.to_path_buf(),
        time_unix_ms,
        problem,
    };
    let index = match Index::read(&layout::index_path(media)) {
        Ok(i) => i,
        Err(e) => {
            report
                .findings
                .push(finding(start, format!("its index cannot be read: {e}")));
            return Ok(0);
        }
    };
    let Some(header) = &index.header else {
        report
            .findings
            .push(finding(start, "its index has no header".into()));
        return Ok(0);
    };
    let bytes = std::fs::read(media)?;
    let init_len = usize::try_from(header.init_len).unwrap_or(usize::MAX);
    if bytes.get(..init_len).map(sha256_hex).as_deref() != Some(header.init_sha256.as_str()) {
        report.findings.push(finding(
            start,
            "the init segment differs from its hash".into(),
        ));
    }
    for fragment in &index.fragments {
        let range = usize::try_from(fragment.offset).unwrap_or(usize::MAX)
            ..usize::try_from(fragment.offset + fragment.len).unwrap_or(usize::MAX);
        match bytes.get(range) {
            Some(data) if sha256_hex(data) == fragment.sha256 => report.fragments += 1,
            Some(_) => report.findings.push(finding(
                fragment.start_unix_ms,
                format!(
                    "fragment at byte {} differs from its SHA-256",
                    fragment.offset
                ),
            )),
            None => report.findings.push(finding(
                fragment.start_unix_ms,
                format!(
                    "the file is truncated: fragment at byte {} is missing ({} bytes left)",
                    fragment.offset,
                    bytes.len()
                ),
            )),
        }
    }
    let expected = index.closed.as_ref().map_or(index.media_len(), |c| c.len);
    if bytes.len() as u64 > expected {
        report.findings.push(finding(
            index.end_unix_ms().unwrap_or(start),
            format!(
                "{} bytes after the last indexed fragment",
                bytes.len() as u64 - expected
            ),
        ));
    }
    Ok(bytes.len() as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::index::Header;
    use crate::writer::{Fragment, RecordingFile};

    /// A closed file of three fragments of 1000 bytes under `root`.
    fn recorded(root: &Path, start: i64) -> PathBuf {
        let dir = layout::stream_dir(root, "54050200001320000001", "main");
        let init = b"init".to_vec();
        let header = Header {
            device_id: "54050200001320000001".into(),
            profile: "main".into(),
            codec: "h264".into(),
            width: 1,
            height: 1,
            init_len: init.len() as u64,
            init_sha256: sha256_hex(&init),
        };
        let mut file = RecordingFile::create(&dir, start, header, &init).unwrap();
        for k in 0..3u8 {
            file.append(&Fragment {
                data: bytes::Bytes::from(vec![k; 1000]),
                start_unix_ms: start + i64::from(k) * 1000,
                duration: 90_000,
                frames: 25,
                sync: true,
            })
            .unwrap();
        }
        file.close("rotation").unwrap().path
    }

    #[test]
    fn each_changed_truncated_or_deleted_file_is_one_finding_at_its_first_bad_fragment() {
        let root = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (1..=4)
            .map(|k| recorded(root.path(), k * 1_000_000))
            .collect();
        assert_eq!(closed_files(root.path()).unwrap()[0].1, files[3]);
        for (k, media) in files.iter().enumerate() {
            let start = (k as i64 + 1) * 1_000_000;
            let (finding, read) = check_closed(start, media, 0).unwrap();
            assert!(finding.is_none(), "{finding:?}");
            assert_eq!(read, 3004);
        }
        // One byte of fragment 1 flipped; truncated inside fragment 1; deleted.
        let mut bytes = std::fs::read(&files[0]).unwrap();
        bytes[4 + 1500] ^= 1;
        std::fs::write(&files[0], bytes).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&files[1])
            .unwrap()
            .set_len(1500)
            .unwrap();
        std::fs::remove_file(&files[2]).unwrap();
        let check = |k: usize| check_closed((k as i64 + 1) * 1_000_000, &files[k], 0).unwrap();
        let flipped = check(0).0.unwrap();
        assert_eq!(flipped.time_unix_ms, 1_001_000);
        assert!(flipped.problem.contains("differs"), "{flipped}");
        let truncated = check(1).0.unwrap();
        assert_eq!(truncated.time_unix_ms, 2_001_000);
        assert!(
            truncated.problem.contains("truncated") && truncated.problem.contains("1 more"),
            "{truncated}"
        );
        let deleted = check(2).0.unwrap();
        assert_eq!(deleted.time_unix_ms, 3_000_000);
        assert!(deleted.problem.contains("missing"), "{deleted}");
        assert!(check(3).0.is_none());
        // Gone past retention (the sweep removes media before index): not a finding.
        assert!(
            check_closed(3_000_000, &files[2], 4_000_000)
                .unwrap()
                .0
                .is_none()
        );
    }
}
