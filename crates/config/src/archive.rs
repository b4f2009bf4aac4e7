//! The `[archive]` section: where recordings live, how long they are kept
//! (never under 30 days, R14.6), how files are cut and whether closed files
//! are sealed immutable (R18.7).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, StoreConfig};

/// The shortest retention the regulation allows (R14.6: at least 30 days).
pub const MIN_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Recording settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Record the cameras this node originates.
    pub enabled: bool,
    /// Directory of the recordings; empty: `<store.data_dir>/archive`.
    pub dir: PathBuf,
    /// How long every recording is kept; at least 30 days (R14.6).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Length of one recording file (a new file starts at the first
    /// keyframe after this much video).
    #[serde(with = "humantime_serde")]
    pub file_duration: Duration,
    /// Seal closed files immutable (`FS_IMMUTABLE_FL`, as `chattr +i`)
    /// when the process may (`CAP_LINUX_IMMUTABLE`) and the file system
    /// supports it (R18.7).
    pub seal: bool,
    /// Stream profiles recorded (`main`, `sub`).
    pub profiles: Vec<String>,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: PathBuf::new(),
            retention: MIN_RETENTION,
            file_duration: Duration::from_secs(60),
            seal: true,
            profiles: vec!["main".to_owned()],
        }
    }
}

/// Shortest `archive.file_duration`.
const MIN_FILE: Duration = Duration::from_secs(1);
/// Longest `archive.file_duration`.
const MAX_FILE: Duration = Duration::from_secs(3600);

impl ArchiveConfig {
    /// The effective archive directory.
    pub fn dir_for(&self, store: &StoreConfig) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            store.data_dir.join("archive")
        } else {
            self.dir.clone()
        }
    }

    /// Checks the section; `store` gives the default directory.
    pub(crate) fn validate(&self, store: &StoreConfig) -> Result<(), ConfigError> {
        if self.retention < MIN_RETENTION {
            return Err(ConfigError::new(
                "archive.retention",
                format!(
                    "{} s is under the 30 days (2592000 s) original video must be kept (R14.6)",
                    self.retention.as_secs()
                ),
            ));
        }
        if !(MIN_FILE..=MAX_FILE).contains(&self.file_duration) {
            return Err(ConfigError::new(
                "archive.file_duration",
                format!("must be between {MIN_FILE:?} and {MAX_FILE:?}"),
            ));
        }
        if self.profiles.is_empty() || self.profiles.len() > 2 {
            return Err(ConfigError::new(
                "archive.profiles",
                "must list main, sub or both",
            ));
        }
        for (i, profile) in self.profiles.iter().enumerate() {
            if profile != "main" && profile != "sub" {
                return Err(ConfigError::new(
                    format!("archive.profiles[{i}]"),
                    format!("{profile:?} is not a profile: main or sub"),
                ));
            }
        }
        if self.enabled && self.dir.as_os_str().is_empty() && store.data_dir.as_os_str().is_empty()
        {
            return Err(ConfigError::new(
                "archive.dir",
                "must be set when store.data_dir is empty (R14.6)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_under_30_days_is_refused_naming_r14_6() {
        let store = StoreConfig::default();
        let mut archive = ArchiveConfig {
            dir: "/x".into(),
            ..ArchiveConfig::default()
        };
        assert!(archive.validate(&store).is_ok());
        archive.retention = Duration::from_secs(29 * 24 * 3600);
        let error = archive.validate(&store).err().map(|e| (e.field, e.message));
        let (field, message) = error.unwrap_or_default();
        assert_eq!(field, "archive.retention");
        assert!(message.contains("R14.6"), "{message}");
    }
}
