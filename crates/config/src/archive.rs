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
    /// Share of the archive volume used (a fraction or a percent) at which
    /// the node warns: metric, `recordings status`, log, audit record.
    #[serde(with = "crate::fraction")]
    pub disk_warn: f64,
    /// Share of the archive volume used at which new recording stops with
    /// an alarm (nothing inside retention is deleted to make room, R14.6).
    #[serde(with = "crate::fraction")]
    pub disk_critical: f64,
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
            disk_warn: 0.90,
            disk_critical: 0.98,
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
        self.validate_disk()?;
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

impl ArchiveConfig {
    /// `0 < disk_warn < disk_critical <= 1`.
    fn validate_disk(&self) -> Result<(), ConfigError> {
        if !(self.disk_critical > 0.0 && self.disk_critical <= 1.0) {
            return Err(ConfigError::new(
                "archive.disk_critical",
                format!(
                    "{} is not a share of the volume: must be over 0 and at most 1 (100%)",
                    self.disk_critical
                ),
            ));
        }
        if !(self.disk_warn > 0.0 && self.disk_warn < self.disk_critical) {
            return Err(ConfigError::new(
                "archive.disk_warn",
                format!(
                    "{} must be over 0 and under archive.disk_critical ({})",
                    self.disk_warn, self.disk_critical
                ),
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

    #[test]
    fn disk_thresholds_are_shares_of_the_volume_in_order() {
        let store = StoreConfig::default();
        let base = ArchiveConfig {
            dir: "/x".into(),
            ..ArchiveConfig::default()
        };
        let field = |a: ArchiveConfig| a.validate(&store).err().map(|e| e.field);
        let with = |warn: f64, critical: f64| ArchiveConfig {
            disk_warn: warn,
            disk_critical: critical,
            ..base.clone()
        };
        assert_eq!(field(with(0.8, 1.0)), None);
        assert_eq!(
            field(with(0.8, 1.5)).as_deref(),
            Some("archive.disk_critical")
        );
        assert_eq!(field(with(0.95, 0.9)).as_deref(), Some("archive.disk_warn"));
        assert_eq!(field(with(0.0, 0.9)).as_deref(), Some("archive.disk_warn"));
        use figment::providers::Format as _;
        let parsed: Result<ArchiveConfig, _> = figment::Figment::from(
            figment::providers::Toml::string("disk_warn = \"85%\"\ndisk_critical = 0.95"),
        )
        .extract();
        let archive = parsed.map(|a| (a.disk_warn, a.disk_critical));
        assert_eq!(archive.ok(), Some((0.85, 0.95)));
    }
}
