//! `vfed demo --reset`: the demo's data directory removed, sealed
//! recordings included.

use std::path::Path;

use anyhow::Context as _;

/// Removes `data_dir`. The demo's nodes seal their closed recordings
/// (immutable, when run as root), which nothing may delete inside retention;
/// `--reset` is the demo's owner throwing the whole demo away, so the seals
/// are cleared first, as `chattr -R -i` would.
pub fn remove_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    unseal_tree(data_dir).with_context(|| format!("unsealing {}", data_dir.display()))?;
    std::fs::remove_dir_all(data_dir).with_context(|| format!("removing {}", data_dir.display()))
}

/// Clears the seal of every regular file under `dir` that has one
/// (symbolic links are not followed).
fn unseal_tree(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            unseal_tree(&entry.path())?;
        } else if kind.is_file() {
            // Best effort: a file system without the flag (tmpfs) or a
            // process without the capability cannot have sealed it; what
            // stays sealed makes the removal fail, naming it.
            let _ = vfed_archive::seal::unseal(&entry.path());
        }
    }
    Ok(())
}
