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

fn verify_file(start: i64, media: &Path, report: &mut Report) -> std::io::Result<()> {
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
            return Ok(());
        }
    };
    let Some(header) = &index.header else {
        report
            .findings
            .push(finding(start, "its index has no header".into()));
        return Ok(());
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
    Ok(())
}
