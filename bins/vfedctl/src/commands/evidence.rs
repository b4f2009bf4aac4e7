//! `vfedctl evidence verify DIR`: checks an evidence package OFFLINE (no
//! node): every fragment against the manifest, the manifest against the
//! logged manifests of the recorded files, their inclusion proofs against
//! the checkpoint, its signature and the parent's countersignature.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;
use vfed_evidence::verify::rfc3339;
use vfed_evidence::{Pins, Report};

use crate::exit::{TamperedError, usage};
use crate::output::{self, Format};

pub const VERIFY_HELP: &str = "\
Works on a copy, offline: no node and no connection settings are needed, nothing is \
written. Checks, for every media file of the package: each fragment's SHA-256 against \
manifest.json; the manifest's hashes against the file's `recording.file.closed` entry \
of the node's audit log; that entry's inclusion proof against the checkpoint; the \
checkpoint's signature with the node's key and its countersignature with the parent's \
key. The keys are those in the package unless you give the ones you trust \
(--node-key, --parent-key): a package whose keys were replaced then fails.

Exit codes: 0 the package verifies (a summary is printed, with the package's SHA-256 \
that the node logged with the export); 4 it does not: the first problem is named \
(the file and the wall-clock time of the first changed fragment, a missing file, a \
bad proof or signature), then any others; 2 DIR or a key cannot be read.

Examples:
  vfedctl evidence verify ./case-0042
  vfedctl evidence verify ./case-0042 --parent-key city-verifier.key -o json";

/// Evidence commands (offline).
#[derive(Debug, Subcommand)]
pub enum EvidenceCommand {
    /// Verify an evidence package OFFLINE (from `vfedctl retrieval export`):
    /// exits 0 with a summary, or 4 naming the file and the time of the
    /// first changed fragment (or the missing file, the bad proof).
    #[command(after_help = VERIFY_HELP)]
    Verify(VerifyArgs),
}

/// Arguments of `evidence verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The package directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The node's checkpoint key to trust (text or a file holding it);
    /// default: the package's `keys/node.vkey`.
    #[arg(long, value_name = "KEY|FILE")]
    pub node_key: Option<String>,
    /// The parent's checkpoint key to trust (text or file); default: the
    /// package's `keys/parent.vkey`.
    #[arg(long, value_name = "KEY|FILE")]
    pub parent_key: Option<String>,
}

/// One media file as the summary shows it.
#[derive(Debug, Serialize)]
struct FileView {
    path: String,
    device_id: String,
    profile: String,
    start: String,
    end: String,
    fragments: usize,
}

/// What `-o json` prints.
#[derive(Debug, Serialize)]
struct ReportView {
    ok: bool,
    dir: String,
    package_sha256: String,
    request_id: String,
    exported_by: String,
    files: usize,
    fragments: usize,
    proofs: usize,
    checkpoint_size: u64,
    node_key: String,
    parent_key: String,
    media: Vec<FileView>,
    problems: Vec<String>,
}

fn view(dir: &std::path::Path, report: &Report) -> ReportView {
    let manifest = report.manifest.as_ref();
    ReportView {
        ok: report.is_clean(),
        dir: dir.display().to_string(),
        package_sha256: report.package_sha256.clone(),
        request_id: manifest.map(|m| m.request.id.clone()).unwrap_or_default(),
        exported_by: manifest.map(|m| m.exported_by.clone()).unwrap_or_default(),
        files: report.files,
        fragments: report.fragments,
        proofs: report.proofs,
        checkpoint_size: report.checkpoint_size,
        node_key: report.node_key.clone(),
        parent_key: report.parent_key.clone(),
        media: manifest
            .map(|m| {
                m.files
                    .iter()
                    .map(|f| FileView {
                        path: f.path.clone(),
                        device_id: f.device_id.clone(),
                        profile: f.profile.clone(),
                        start: rfc3339(f.start_unix_ms()),
                        end: rfc3339(f.fragments.last().map_or(0, |x| x.end_unix_ms)),
                        fragments: f.fragments.len(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        problems: report.findings.iter().map(ToString::to_string).collect(),
    }
}

fn summary(v: &ReportView) -> String {
    let mut text = format!(
        "evidence package {} verifies: request {}, exported by {}\n\
         {} media files, {} fragments, {} inclusion proofs against a checkpoint of {} log entries\n\
         package SHA-256 {}\n\
         node key   {}\n\
         parent key {} (countersigned)\n",
        v.dir,
        v.request_id,
        v.exported_by,
        v.files,
        v.fragments,
        v.proofs,
        v.checkpoint_size,
        v.package_sha256,
        v.node_key,
        v.parent_key
    );
    for f in &v.media {
        text.push_str(&format!(
            "  {} {}/{} {} .. {} ({} fragments)\n",
            f.path, f.device_id, f.profile, f.start, f.end, f.fragments
        ));
    }
    text
}

/// Verifies `dir` and reports as `format` says: Ok when it verifies, a
/// [`TamperedError`] (exit 4) naming the first problem when not.
pub fn check(dir: &std::path::Path, pins: &Pins, format: Format) -> anyhow::Result<()> {
    let report =
        vfed_evidence::verify(dir, pins).map_err(|e| usage(format!("{}: {e}", dir.display())))?;
    let v = view(dir, &report);
    if report.is_clean() {
        return output::emit(format, &v, || summary(&v));
    }
    if format == Format::Json {
        output::emit(format, &v, String::new)?;
    }
    let mut message = format!(
        "evidence package {} does not verify: {}",
        dir.display(),
        v.problems.join("; ")
    );
    if message.chars().count() > 4000 {
        message = message.chars().take(4000).collect::<String>() + "...";
    }
    Err(TamperedError(message).into())
}

/// Runs an evidence command.
pub fn run(command: EvidenceCommand, format: Format) -> anyhow::Result<()> {
    match command {
        EvidenceCommand::Verify(args) => {
            let key = |text: &Option<String>, flag: &str| {
                text.as_deref()
                    .map(|t| crate::commands::audit::read_key(t, flag).map(|(k, _)| k))
                    .transpose()
            };
            let pins = Pins {
                node_key: key(&args.node_key, "--node-key")?,
                parent_key: key(&args.parent_key, "--parent-key")?,
            };
            check(&args.dir, &pins, format)
        }
    }
}
