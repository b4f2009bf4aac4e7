//! The start-time check that a node's data and keys are private to the user
//! it runs as, as ssh checks its keys: a store, audit log or key that group
//! or others can read lets any local user forge tokens or read accounts, so
//! such a node refuses to start, naming the path and the `chmod` that fixes it.

use std::path::{Path, PathBuf};

use vfed_config::{Config, StoreBackend};

use crate::NodeError;

/// A path that group or others may use.
#[derive(Debug, thiserror::Error)]
#[error(
    "{field}: {} is accessible by group or others (mode {mode:04o}); a node's data and keys must be private to the user it runs as: chmod {fix} {}{advice}",
    path.display(),
    path.display()
)]
pub struct Exposed {
    /// The config field the path comes from.
    pub field: &'static str,
    /// The path.
    pub path: PathBuf,
    /// Its mode.
    pub mode: u32,
    /// `700` or `600`.
    pub fix: &'static str,
    /// What else to do.
    pub advice: &'static str,
}

const KEY_ADVICE: &str = " (and, since others could read it, replace the key)";

/// Refuses `path` (a directory) if it exists and group or others hold any
/// permission on it; files directly inside it are checked too.
pub fn check_private_dir(field: &'static str, path: &Path) -> Result<(), NodeError> {
    check(field, path, "700", "")?;
    let Ok(entries) = std::fs::read_dir(path) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let child = entry.path();
        let fix = if child.is_dir() { "700" } else { "600" };
        check(field, &child, fix, "")?;
    }
    Ok(())
}

fn check(
    field: &'static str,
    path: &Path,
    fix: &'static str,
    advice: &'static str,
) -> Result<(), NodeError> {
    let io = |e: std::io::Error| NodeError::Config(format!("{field}: {}: {e}", path.display()));
    match vfed_private_fs::exposed_bits(path).map_err(io)? {
        None | Some(0) => Ok(()),
        Some(_) => Err(NodeError::Exposed(Exposed {
            field,
            path: path.to_path_buf(),
            mode: vfed_private_fs::mode_of(path).map_err(io)?,
            fix,
            advice,
        })),
    }
}

/// Every directory and secret file of the node `config` describes (the
/// key files first, so that the message names the setting they come from).
pub fn check_node(config: &Config) -> Result<(), NodeError> {
    let store = &config.store;
    check("tls.key", &config.tls.key, "600", KEY_ADVICE)?;
    check(
        "auth.token_key",
        &config.auth.token_key_for(store),
        "600",
        KEY_ADVICE,
    )?;
    check("audit.key", &config.audit.key_for(store), "600", KEY_ADVICE)?;
    if !store.data_dir.as_os_str().is_empty() {
        if store.backend == StoreBackend::Embedded {
            let file = store.data_dir.join(vfed_store::embedded::DEFAULT_FILE_NAME);
            check("store.data_dir", &file, "600", "")?;
        }
        check_private_dir("store.data_dir", &store.data_dir)?;
    }
    check_private_dir("audit.dir", &config.audit.dir_for(store))
}
