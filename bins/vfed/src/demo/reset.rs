//! `vfed demo --reset`: the demo's data directory removed, sealed
//! recordings included.

use std::path::Path;

use anyhow::Context as _;

/// Removes `data_dir`. The demo's nodes seal their closed recordings
/// (immutable, when run as root), which nothing may delete inside retention;
/// `--reset` is the demo's owner throwing the whole demo away, so the seals
/// are cleared first, as `chattr -R -i` would.
pub fn remove_data_dir(data_dir: &Path) -> anyhow::Result<()> {
    vfed_archive::seal::unseal_tree(data_dir)
        .with_context(|| format!("unsealing {}", data_dir.display()))?;
    std::fs::remove_dir_all(data_dir).with_context(|| format!("removing {}", data_dir.display()))
}
