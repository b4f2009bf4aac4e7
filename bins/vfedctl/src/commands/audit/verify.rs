//! `vfedctl audit verify`: checks a copy of an audit log offline (R18.6) and names the first
//! bad entry. Exit 4 when the log is not what its signed checkpoints (and any checkpoint
//! given with `--checkpoint`) committed to.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use serde::Serialize;
use vfed_audit::{
    AuditError, CHECKPOINTS_FILE, Checkpoint, LOG_FILE, LogReader, MerkleTree, PublicKey,
    SigningKey, VerifyReport, verify_file,
};

use crate::exit::{TamperedError, usage};
use crate::output::{self, Format};
use crate::render::key_values;

pub const AFTER_HELP: &str = "\
Works on a copy, offline: no node and no connection settings are needed, nothing is \
written. What it proves depends on the key and checkpoints you trust:

  * with the node's verifier key alone, that the log is exactly what the node signed \
    (a changed byte, a deleted, inserted or reordered entry, a cut tail are named by \
    their first bad index);
  * with --checkpoint NOTE --parent-key KEY (the checkpoint the parent countersigned, \
    e.g. from `vfedctl audit children -o json` at the parent), also that the log was \
    not rewritten and re-signed by someone holding the node's key.

Exit codes: 0 the log verifies; 4 it does not (the first bad entry is named); 2 a file \
or key cannot be read.

Examples:
  vfedctl audit verify /backup/naidong/audit
  vfedctl audit verify ./audit.log --verifier-key \"$(cat naidong-verifier.key)\"
  vfedctl audit verify ./audit --verifier-key naidong-verifier.key \\
      --checkpoint countersigned.note --parent-key city-verifier.key
  vfedctl audit verify ./audit -o json";

/// Arguments of `audit verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The audit directory (holding `audit.log` and `checkpoints`), or the log file (its
    /// `checkpoints` file is read from the same directory).
    #[arg(value_name = "LOG_DIR_OR_FILE")]
    pub path: PathBuf,
    /// The node's checkpoint key: verifier key text (`vfed/<node id>+<id>+<key>`), a file
    /// holding it, or the node's signing key file. Default: `verifier.key` next to the log
    /// (which only shows the log matches its own directory). (`--key` is the TLS client
    /// key of the other commands.)
    #[arg(long, visible_alias = "vkey", value_name = "KEY|FILE")]
    pub verifier_key: Option<String>,
    /// A checkpoint note obtained independently of the log (e.g. countersigned by the
    /// parent): the log must hold exactly the entries it signed. Repeatable.
    #[arg(long, value_name = "NOTE_FILE")]
    pub checkpoint: Vec<PathBuf>,
    /// The parent's verifier key (text or file): every --checkpoint must carry its
    /// countersignature.
    #[arg(long, value_name = "KEY|FILE", requires = "checkpoint")]
    pub parent_key: Option<String>,
}

/// What a successful verification prints with `-o json`.
#[derive(Debug, Serialize)]
struct Verified {
    ok: bool,
    log: String,
    entries: u64,
    checkpoints: u64,
    last_checkpoint_size: u64,
    root: String,
    torn_tail: bool,
    key: String,
    key_source: String,
    external_checkpoints: Vec<External>,
}

#[derive(Debug, Serialize)]
struct External {
    file: String,
    size: u64,
    signed_by: Vec<String>,
}

/// What a failed verification prints with `-o json` (the error goes to stderr too).
#[derive(Debug, Serialize)]
struct Failed {
    ok: bool,
    log: String,
    first_bad_index: Option<u64>,
    error: String,
}

/// Runs `audit verify`.
pub fn run(args: &VerifyArgs, format: Format) -> anyhow::Result<()> {
    let (log, checkpoints) = files(&args.path)?;
    let (key, key_source) = node_key(args.verifier_key.as_deref(), &log)?;
    let parent_key = match &args.parent_key {
        Some(text) => Some(read_key(text, "--parent-key")?.0),
        None => None,
    };
    let notes = args
        .checkpoint
        .iter()
        .map(|path| read_note(path))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let outcome = verify_file(&log, &checkpoints, &key)
        .map_err(|e| failure(&e))
        .and_then(|report| {
            let external = notes
                .iter()
                .map(|(path, note)| {
                    check_external(&log, &report, path, note, &key, parent_key.as_ref())
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok((report, external))
        });
    match outcome {
        Ok((report, external)) => {
            let view = Verified {
                ok: true,
                log: log.display().to_string(),
                entries: report.entries,
                checkpoints: report.checkpoints,
                last_checkpoint_size: report.last_checkpoint_size,
                root: B64.encode(report.root),
                torn_tail: report.torn_tail,
                key: key.to_string(),
                key_source,
                external_checkpoints: external,
            };
            output::emit(format, &view, || verified_text(&view, &report))
        }
        Err((index, message)) => {
            if format == Format::Json {
                let view = Failed {
                    ok: false,
                    log: log.display().to_string(),
                    first_bad_index: index,
                    error: message.clone(),
                };
                output::emit(format, &view, String::new)?;
            }
            Err(TamperedError(format!("{}: {message}", log.display())).into())
        }
    }
}

/// The log and checkpoints files named by `path`.
fn files(path: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (log, dir) = if path.is_dir() {
        (path.join(LOG_FILE), path.to_owned())
    } else {
        let dir = path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_owned);
        (path.to_owned(), dir)
    };
    let checkpoints = dir.join(CHECKPOINTS_FILE);
    for file in [&log, &checkpoints] {
        if !file.is_file() {
            return Err(usage(format!(
                "{}: no such file (give the audit directory or its {LOG_FILE}; \
                 {CHECKPOINTS_FILE} must sit next to it)",
                file.display()
            )));
        }
    }
    Ok((log, checkpoints))
}

/// The node's key and where it came from.
fn node_key(arg: Option<&str>, log: &Path) -> anyhow::Result<(PublicKey, String)> {
    if let Some(text) = arg {
        return read_key(text, "--verifier-key");
    }
    let dir = log.parent().unwrap_or(Path::new("."));
    for name in ["verifier.key", "signing.key"] {
        let path = dir.join(name);
        if path.is_file() {
            let (key, _) = read_key(&path.display().to_string(), "--verifier-key")?;
            eprintln!(
                "note: key taken from {} (next to the log); for an independent check pass --verifier-key with the node's key",
                path.display()
            );
            return Ok((key, path.display().to_string()));
        }
    }
    Err(usage(
        "--verifier-key: no verifier.key next to the log; pass the node's verifier key (text or file)",
    ))
}

/// A public key from text, a file holding one, or a signing key file.
pub(crate) fn read_key(text: &str, flag: &str) -> anyhow::Result<(PublicKey, String)> {
    let path = Path::new(text);
    let (content, source) = if path.is_file() {
        let content = std::fs::read_to_string(path)
            .map_err(|e| usage(format!("{flag}: {}: {e}", path.display())))?;
        (content, path.display().to_string())
    } else {
        (text.to_owned(), flag.to_owned())
    };
    let content = content.trim();
    let key = if content.starts_with("PRIVATE+KEY+") {
        SigningKey::parse_private(content).map(|k| k.public_key())
    } else {
        content.parse::<PublicKey>()
    };
    let key = key.map_err(|e| {
        usage(format!(
            "{flag}: {e} (expected <name>+<key id>+<base64 key>, or a file holding it)"
        ))
    })?;
    Ok((key, source))
}

/// A checkpoint note file.
fn read_note(path: &Path) -> anyhow::Result<(PathBuf, Checkpoint)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("--checkpoint: {}: {e}", path.display())))?;
    // A note ends with its last signature line's newline; `jq -r` and `echo`
    // add one more, which is not part of what was signed.
    let text = match text.strip_suffix('\n') {
        Some(rest) if rest.ends_with('\n') => rest,
        _ => text.as_str(),
    };
    let note = Checkpoint::parse(text)
        .map_err(|e| usage(format!("--checkpoint: {}: {e}", path.display())))?;
    Ok((path.to_owned(), note))
}

/// The first bad index and the message of a verification error.
fn failure(error: &AuditError) -> (Option<u64>, String) {
    let message = match error {
        AuditError::Entry { index, problem } => format!("first bad entry {index}: {problem}"),
        other => match other.first_bad_index() {
            Some(i) => format!("first bad entry {i}: {other}"),
            None => other.to_string(),
        },
    };
    (error.first_bad_index(), message)
}

/// Checks the log against a checkpoint obtained elsewhere.
fn check_external(
    log: &Path,
    report: &VerifyReport,
    path: &Path,
    note: &Checkpoint,
    key: &PublicKey,
    parent_key: Option<&PublicKey>,
) -> Result<External, (Option<u64>, String)> {
    let name = path.display();
    let fail = |index: Option<u64>, why: String| (index, format!("--checkpoint {name}: {why}"));
    if note.origin != key.name() {
        return Err(fail(
            None,
            format!("is for log {:?}, the key for {:?}", note.origin, key.name()),
        ));
    }
    note.verify(key)
        .map_err(|e| fail(None, format!("{e} (not this node's checkpoint)")))?;
    if let Some(parent) = parent_key {
        note.verify(parent).map_err(|e| {
            fail(
                None,
                format!("{e}: not countersigned by the parent key given"),
            )
        })?;
    }
    if note.size > report.entries {
        return Err(fail(
            Some(report.entries),
            format!(
                "first bad entry {}: missing: the log ends here but this checkpoint covers {} entries (log truncated)",
                report.entries, note.size
            ),
        ));
    }
    let root = root_at(log, note.size).map_err(|e| failure(&e))?;
    if root != note.root {
        // The log is self-consistent (verified above) yet differs from what was signed
        // independently: rewritten and re-signed. Which entry changed cannot be known
        // without the original; it lies below the checkpoint's size.
        return Err(fail(
            None,
            format!(
                "the first {} entries hash to {}, this checkpoint signed {}: the log was rewritten and re-signed since (the first changed entry is below {})",
                note.size,
                B64.encode(root),
                B64.encode(note.root),
                note.size
            ),
        ));
    }
    Ok(External {
        file: name.to_string(),
        size: note.size,
        signed_by: note.signatures.iter().map(|s| s.name.clone()).collect(),
    })
}

/// The Merkle root of the first `size` entries of the log at `path`.
fn root_at(path: &Path, size: u64) -> Result<vfed_audit::Hash, AuditError> {
    let mut reader = LogReader::open(path)?;
    let mut tree = MerkleTree::new();
    while tree.size() < size {
        let entries = reader.read(tree.size(), 65_536, size)?;
        if entries.is_empty() {
            break;
        }
        for entry in entries {
            tree.push_leaf_hash(entry.leaf_hash);
        }
    }
    tree.root_at(size)
}

fn verified_text(view: &Verified, report: &VerifyReport) -> String {
    let mut rows = vec![
        ("Log", format!("{} (verifies)", view.log)),
        ("Entries", report.entries.to_string()),
        (
            "Checkpoints",
            format!(
                "{} signed, the last covers {} entries",
                report.checkpoints, report.last_checkpoint_size
            ),
        ),
        ("Root", view.root.clone()),
        ("Key", format!("{} (from {})", view.key, view.key_source)),
    ];
    if report.torn_tail {
        rows.push((
            "Tail",
            "a partial entry after the last checkpoint (a crash mid-write, not tampering)"
                .to_owned(),
        ));
    }
    for e in &view.external_checkpoints {
        rows.push((
            "Checkpoint",
            format!(
                "{}: size {} matches, signed by {}",
                e.file,
                e.size,
                e.signed_by.join(", ")
            ),
        ));
    }
    key_values(&rows)
}
