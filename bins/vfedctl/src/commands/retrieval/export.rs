//! `vfedctl retrieval export ID -o DIR`: receives the evidence package of
//! an approved request (service `vfed.archive.v1.Evidence`) into DIR, then
//! verifies it offline. The package is written into a private temporary
//! directory beside DIR (0700, files 0600) and renamed to DIR only when
//! complete: a refused or broken export leaves nothing behind.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use vfed_proto::archive::v1::ExportRequest;
use vfed_proto::archive::v1::evidence_client::EvidenceClient;

use crate::exit::{ConnectError, usage};
use crate::session::Session;

pub const AFTER_HELP: &str = "\
Run by one of the two officers who signed the request, once the custodian has \
approved it and before it expires (R16); anyone else is refused and the refusal \
is logged (R17). The export is logged with who, when, purpose, destination and \
the package's SHA-256 (R14.5).

DIR must not exist; it is created (0700, files 0600) only when the whole \
package has arrived, then verified as `vfedctl evidence verify DIR` does \
(exit 4 if it does not verify). The package layout: docs/recording.md, \
\"Evidence\".

Example:
  vfedctl retrieval export 1764280000000-3fa2b1c9 -o ./case-0042";

/// The file being received.
struct Receiving {
    path: String,
    file: std::fs::File,
}

/// A temporary directory removed unless kept.
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Writes the chunks of the export of `id` into a temporary directory,
/// renames it to `dir`; returns the package SHA-256 the node logged.
pub async fn run(session: &Session, id: String, dir: &Path) -> anyhow::Result<String> {
    if dir.exists() {
        return Err(usage(format!(
            "-o {}: already exists; the package goes into a new directory",
            dir.display()
        )));
    }
    let name = dir
        .file_name()
        .ok_or_else(|| usage(format!("-o {}: not a directory name", dir.display())))?
        .to_string_lossy()
        .into_owned();
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(usage(format!(
            "-o {}: {} is not a directory",
            dir.display(),
            parent.display()
        )));
    }
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut client = EvidenceClient::new(session.channel().await?);
    let mut stream = session
        .call(client.export(ExportRequest {
            id,
            output_dir: absolute.display().to_string(),
        }))
        .await?;
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    vfed_private_fs::create_dir_all(&tmp)
        .map_err(|e| usage(format!("-o {}: {}: {e}", dir.display(), tmp.display())))?;
    let mut partial = Partial(Some(tmp.clone()));
    let mut current: Option<Receiving> = None;
    let mut package_sha256 = String::new();
    while let Some(chunk) = stream.message().await? {
        if !package_sha256.is_empty() {
            return Err(
                ConnectError("the node sent more after the package's last chunk".into()).into(),
            );
        }
        let receiving = match current.take() {
            Some(r) if r.path == chunk.path => r,
            Some(r) => {
                return Err(ConnectError(format!("the node left {} incomplete", r.path)).into());
            }
            None => open(&tmp, &chunk.path)?,
        };
        let mut receiving = receiving;
        receiving
            .file
            .write_all(&chunk.data)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", receiving.path))?;
        if chunk.last {
            receiving
                .file
                .sync_all()
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", receiving.path))?;
            package_sha256 = chunk.package_sha256;
        } else {
            current = Some(receiving);
        }
    }
    if let Some(r) = current {
        return Err(ConnectError(format!("the stream ended with {} incomplete", r.path)).into());
    }
    if package_sha256.is_empty() {
        return Err(ConnectError("the stream ended before the package's manifest".into()).into());
    }
    std::fs::rename(&tmp, dir)
        .map_err(|e| anyhow::anyhow!("renaming {} to {}: {e}", tmp.display(), dir.display()))?;
    partial.0 = None;
    if let Ok(parent) = std::fs::File::open(&parent) {
        let _ = parent.sync_all();
    }
    Ok(package_sha256)
}

/// Creates the package file `path` (checked: relative, plain) under `root`.
fn open(root: &Path, path: &str) -> anyhow::Result<Receiving> {
    let relative = vfed_evidence::layout::check_relative(path)
        .map_err(|e| ConnectError(format!("the node sent a file outside the package: {e}")))?;
    let full = root.join(relative);
    if let Some(parent) = full.parent() {
        vfed_private_fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("creating {}: {e}", parent.display()))?;
    }
    let file = vfed_private_fs::create_new(&full)
        .map_err(|e| anyhow::anyhow!("creating {} (sent twice?): {e}", full.display()))?;
    Ok(Receiving {
        path: path.to_owned(),
        file,
    })
}
