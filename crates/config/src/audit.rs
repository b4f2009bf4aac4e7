//! The `[audit]` section: where the node's audit log and checkpoint key live, and how often
//! checkpoints are signed and sent to the parent (R14.5, R18.6).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, StoreConfig};

/// Audit log settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Directory of the audit log; empty: `<store.data_dir>/audit`.
    pub dir: PathBuf,
    /// The ed25519 checkpoint signing key; empty: `<audit dir>/signing.key`, created on
    /// first start.
    pub key: PathBuf,
    /// How often a checkpoint covering every entry is signed and (at a child) sent to the
    /// parent for countersigning.
    #[serde(with = "humantime_serde")]
    pub checkpoint_interval: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::new(),
            key: PathBuf::new(),
            checkpoint_interval: Duration::from_secs(10),
        }
    }
}

/// Shortest `audit.checkpoint_interval`.
const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Longest `audit.checkpoint_interval`.
const MAX_INTERVAL: Duration = Duration::from_secs(3600);

impl AuditConfig {
    /// The effective audit directory.
    pub fn dir_for(&self, store: &StoreConfig) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            store.data_dir.join("audit")
        } else {
            self.dir.clone()
        }
    }

    /// The effective signing key file.
    pub fn key_for(&self, store: &StoreConfig) -> PathBuf {
        if self.key.as_os_str().is_empty() {
            self.dir_for(store).join("signing.key")
        } else {
            self.key.clone()
        }
    }

    /// Checks the section; `store` gives the default directory.
    pub(crate) fn validate(&self, store: &StoreConfig) -> Result<(), ConfigError> {
        if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&self.checkpoint_interval) {
            return Err(ConfigError::new(
                "audit.checkpoint_interval",
                format!("must be between {MIN_INTERVAL:?} and {MAX_INTERVAL:?} (R18.6)"),
            ));
        }
        if self.dir.as_os_str().is_empty() && store.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new(
                "audit.dir",
                "must be set when store.data_dir is empty (R14.5)",
            ));
        }
        if !self.key.as_os_str().is_empty() && self.key.file_name().is_none() {
            return Err(ConfigError::new(
                "audit.key",
                format!("{} is not a file path", self.key.display()),
            ));
        }
        Ok(())
    }
}
