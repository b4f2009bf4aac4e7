//! The offline verifier of a package: every fragment hash against the
//! manifest, the manifest's files against their logged
//! `recording.file.closed` entries, each entry's inclusion proof against
//! its checkpoint, and the checkpoint's signature (the node's key) and
//! countersignature (the parent's key), with the keys in the package or
//! the keys the caller pins. No node, no network.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::Path;

use serde_json::Value;
use vfed_audit::merkle::{hash_leaf, verify_inclusion};
use vfed_audit::{AuditRecord, PublicKey};

use crate::layout::{self, MANIFEST_FILE, MAX_MANIFEST_LEN, NODE_KEY_FILE, PARENT_KEY_FILE};
use crate::manifest::{FORMAT, FileEntry, Manifest};
use crate::proof::TlogProof;
use crate::sha256_hex;

/// Log actions whose entry is a closed file's manifest.
pub const MANIFEST_ACTIONS: [&str; 2] = ["recording.file.closed", "recording.file.recovered"];

/// Keys the verifier trusts instead of (and checks against) the package's.
#[derive(Clone, Debug, Default)]
pub struct Pins {
    /// The node's checkpoint key.
    pub node_key: Option<PublicKey>,
    /// The parent's checkpoint key.
    pub parent_key: Option<PublicKey>,
}

/// One thing that does not match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The package file.
    pub file: String,
    /// Wall-clock start of the first affected fragment (the file's first
    /// fragment when the whole file is affected), Unix ms; `None` for files
    /// without video (manifest, keys).
    pub time_unix_ms: Option<i64>,
    /// What is wrong.
    pub problem: String,
}

/// RFC 3339 of a Unix ms time.
pub fn rfc3339(unix_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix_ms.to_string())
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.time_unix_ms {
            Some(t) => write!(f, "{} at {}: {}", self.file, rfc3339(t), self.problem),
            None => write!(f, "{}: {}", self.file, self.problem),
        }
    }
}

/// What a verification found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// SHA-256 of `manifest.json`: the package's hash, as the node logged it.
    pub package_sha256: String,
    /// The manifest, when it could be read.
    pub manifest: Option<Manifest>,
    /// Media files checked.
    pub files: usize,
    /// Fragments whose hash matched the manifest and the log.
    pub fragments: usize,
    /// Inclusion proofs that verified.
    pub proofs: usize,
    /// The node's key used.
    pub node_key: String,
    /// The parent's key used.
    pub parent_key: String,
    /// Size of the (largest) checkpoint the proofs lead to.
    pub checkpoint_size: u64,
    /// Everything that did not match, in manifest order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether everything matched.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    fn find(&mut self, file: &str, time_unix_ms: Option<i64>, problem: impl Into<String>) {
        self.findings.push(Finding {
            file: file.to_owned(),
            time_unix_ms,
            problem: problem.into(),
        });
    }
}

/// Reads a package file, `None` (and a finding) when it is missing or unsafe.
fn read(dir: &Path, path: &str, time: Option<i64>, report: &mut Report) -> Option<Vec<u8>> {
    let relative = match layout::check_relative(path) {
        Ok(p) => p,
        Err(e) => {
            report.find(path, time, format!("not a package path: {e}"));
            return None;
        }
    };
    match std::fs::read(dir.join(relative)) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.find(path, time, "the file is missing");
            None
        }
        Err(e) => {
            report.find(path, time, format!("cannot be read: {e}"));
            None
        }
    }
}

fn read_key(
    dir: &Path,
    path: &str,
    pin: Option<&PublicKey>,
    report: &mut Report,
) -> Option<PublicKey> {
    let text = read(dir, path, None, report)?;
    let key = match String::from_utf8_lossy(&text).trim().parse::<PublicKey>() {
        Ok(k) => k,
        Err(e) => {
            report.find(path, None, format!("not a verifier key: {e}"));
            return None;
        }
    };
    match pin {
        Some(pinned) if *pinned != key => {
            report.find(
                path,
                None,
                format!("is {key}, not the key given to trust ({pinned})"),
            );
            Some(pinned.clone())
        }
        Some(pinned) => Some(pinned.clone()),
        None => Some(key),
    }
}

/// Verifies the package in `dir`. An error only when `dir` itself cannot
/// be read; everything wrong inside the package is a [`Finding`].
pub fn verify(dir: &Path, pins: &Pins) -> std::io::Result<Report> {
    std::fs::read_dir(dir)?;
    let mut report = Report::default();
    let manifest_path = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::File::open(&manifest_path) {
        Ok(file) => {
            let mut bytes = Vec::new();
            file.take(MAX_MANIFEST_LEN + 1).read_to_end(&mut bytes)?;
            bytes
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.find(
                MANIFEST_FILE,
                None,
                "the file is missing: not an evidence package",
            );
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    report.package_sha256 = sha256_hex(&bytes);
    if bytes.len() as u64 > MAX_MANIFEST_LEN {
        report.find(
            MANIFEST_FILE,
            None,
            format!("larger than {MAX_MANIFEST_LEN} bytes"),
        );
        return Ok(report);
    }
    let manifest: Manifest = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            report.find(MANIFEST_FILE, None, format!("not a package manifest: {e}"));
            return Ok(report);
        }
    };
    if manifest.format != FORMAT {
        report.find(
            MANIFEST_FILE,
            None,
            format!(
                "format {:?}, this verifier reads {FORMAT:?}",
                manifest.format
            ),
        );
        return Ok(report);
    }
    let node_key = read_key(dir, NODE_KEY_FILE, pins.node_key.as_ref(), &mut report);
    let parent_key = read_key(dir, PARENT_KEY_FILE, pins.parent_key.as_ref(), &mut report);
    for (key, id, file) in [
        (&node_key, &manifest.node_id, NODE_KEY_FILE),
        (&parent_key, &manifest.parent_id, PARENT_KEY_FILE),
    ] {
        if let Some(key) = key {
            let expected = format!("vfed/{id}");
            if key.name() != expected {
                report.find(
                    file,
                    None,
                    format!("is the key of {:?}, not of {expected:?}", key.name()),
                );
            }
        }
    }
    report.node_key = node_key
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    report.parent_key = parent_key
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    for other in &manifest.other_files {
        if let Some(bytes) = read(dir, &other.path, None, &mut report)
            && sha256_hex(&bytes) != other.sha256
        {
            report.find(
                &other.path,
                None,
                "differs from its SHA-256 in the manifest",
            );
        }
    }
    let keys = node_key.zip(parent_key);
    for file in &manifest.files {
        report.files += 1;
        check_media(dir, file, &mut report);
        check_log_entry(dir, file, keys.as_ref(), &mut report);
    }
    report.manifest = Some(manifest);
    Ok(report)
}

/// The package file's bytes against the manifest: init segment, each
/// fragment, contiguity, nothing more.
fn check_media(dir: &Path, file: &FileEntry, report: &mut Report) {
    let start = Some(file.start_unix_ms());
    let Some(bytes) = read(dir, &file.path, start, report) else {
        return;
    };
    let range = |offset: u64, len: u64| {
        let a = usize::try_from(offset).ok()?;
        let b = usize::try_from(offset.checked_add(len)?).ok()?;
        bytes.get(a..b)
    };
    if range(0, file.init_len).map(sha256_hex).as_deref() != Some(file.init_sha256.as_str()) {
        report.find(
            &file.path,
            start,
            "the init segment differs from its SHA-256",
        );
    }
    let mut expected_offset = file.init_len;
    let mut changed = 0usize;
    for fragment in &file.fragments {
        if fragment.offset != expected_offset {
            report.find(
                &file.path,
                Some(fragment.start_unix_ms),
                format!("the manifest places fragment {} at byte {}, not right after the previous one (byte {expected_offset})", fragment.index, fragment.offset),
            );
        }
        expected_offset = fragment.offset.saturating_add(fragment.len);
        match range(fragment.offset, fragment.len) {
            Some(data) if sha256_hex(data) == fragment.sha256 => report.fragments += 1,
            found => {
                changed += 1;
                if changed == 1 {
                    let what = if found.is_some() {
                        format!(
                            "fragment {} (byte {}) differs from its SHA-256",
                            fragment.index, fragment.offset
                        )
                    } else {
                        format!(
                            "the file is truncated: fragment {} (byte {}) is missing, {} bytes left",
                            fragment.index,
                            fragment.offset,
                            bytes.len()
                        )
                    };
                    report.find(&file.path, Some(fragment.start_unix_ms), what);
                }
            }
        }
    }
    if changed > 1 {
        report.find(
            &file.path,
            start,
            format!("{changed} fragments differ in all"),
        );
    }
    if bytes.len() as u64 != file.len || file.len != expected_offset {
        report.find(
            &file.path,
            start,
            format!(
                "{} bytes, the manifest says {} ({} in its init segment and fragments)",
                bytes.len(),
                file.len,
                expected_offset
            ),
        );
    } else if changed == 0 && sha256_hex(&bytes) != file.sha256 {
        report.find(
            &file.path,
            start,
            "differs from its SHA-256 in the manifest",
        );
    }
}

/// The file's log entry against the manifest, and its inclusion proof
/// against a checkpoint signed by the node and countersigned by the parent.
fn check_log_entry(
    dir: &Path,
    file: &FileEntry,
    keys: Option<&(PublicKey, PublicKey)>,
    report: &mut Report,
) {
    let start = Some(file.start_unix_ms());
    let Some(entry) = read(dir, &file.entry, start, report) else {
        return;
    };
    let mut bad = |problem: String| {
        report.find(&file.path, start, problem);
    };
    match AuditRecord::from_bytes(&entry) {
        Ok(record) => {
            for problem in entry_problems(&record, file) {
                bad(problem);
            }
        }
        Err(e) => bad(format!(
            "its log entry {} is not an audit record: {e}",
            file.entry
        )),
    }
    let Some(text) = read(dir, &file.proof, start, report) else {
        return;
    };
    let proof = match TlogProof::parse(&String::from_utf8_lossy(&text)) {
        Ok(p) => p,
        Err(e) => {
            report.find(&file.proof, start, format!("not a tlog-proof: {e}"));
            return;
        }
    };
    let checkpoint = &proof.checkpoint;
    let mut problems = Vec::new();
    if proof.index != file.log_index {
        problems.push(format!(
            "proves entry {}, the manifest names entry {}",
            proof.index, file.log_index
        ));
    }
    if let Err(e) = verify_inclusion(
        &hash_leaf(&entry),
        proof.index,
        checkpoint.size,
        &proof.hashes,
        &checkpoint.root,
    ) {
        problems.push(format!("the log entry is not in the checkpoint: {e}"));
    }
    match keys {
        Some((node, parent)) => {
            if checkpoint.origin != node.name() {
                problems.push(format!(
                    "the checkpoint is of log {:?}, not {:?}",
                    checkpoint.origin,
                    node.name()
                ));
            }
            if checkpoint.verify(node).is_err() {
                problems.push(format!(
                    "the checkpoint is not signed by the node's key {node}"
                ));
            }
            if checkpoint.verify(parent).is_err() {
                problems.push(format!(
                    "the checkpoint is not countersigned by the parent's key {parent}"
                ));
            }
        }
        None => problems.push("no keys to check the checkpoint's signatures with".to_owned()),
    }
    if problems.is_empty() {
        report.proofs += 1;
        report.checkpoint_size = report.checkpoint_size.max(checkpoint.size);
    }
    for problem in problems {
        report.find(&file.proof, start, problem);
    }
}

/// What in a logged manifest `record` contradicts the package's `file`.
fn entry_problems(record: &AuditRecord, file: &FileEntry) -> Vec<String> {
    let mut out = Vec::new();
    let details = &record.details;
    let text = |key: &str| details.get(key).and_then(Value::as_str).unwrap_or_default();
    if !MANIFEST_ACTIONS.contains(&record.action.as_str()) {
        out.push(format!(
            "its log entry is a {:?}, not a closed file's manifest",
            record.action
        ));
        return out;
    }
    if record.index != file.log_index {
        out.push(format!(
            "its log entry has index {}, the manifest says {}",
            record.index, file.log_index
        ));
    }
    if text("file") != file.source {
        out.push(format!(
            "its log entry is about {:?}, not {:?}",
            text("file"),
            file.source
        ));
    }
    if record.target != format!("{}/{}", file.device_id, file.profile) {
        out.push(format!(
            "its log entry is about stream {:?}, not {}/{}",
            record.target, file.device_id, file.profile
        ));
    }
    if text("init_sha256") != file.init_sha256 {
        out.push("its init segment's SHA-256 is not the one logged".to_owned());
    }
    let logged: Vec<&str> = details
        .get("fragments_sha256")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().unwrap_or_default()).collect())
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    if let Some(f) = file
        .fragments
        .iter()
        .find(|f| !seen.insert(f.index) || logged.get(f.index).copied() != Some(f.sha256.as_str()))
    {
        out.push(format!(
            "fragment {} at {}: its SHA-256 is not the one logged for that fragment",
            f.index,
            rfc3339(f.start_unix_ms)
        ));
    }
    out
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
