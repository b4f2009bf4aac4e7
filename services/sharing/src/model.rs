//! Departments and grants as stored (JSON under `sharing/`).

use serde::{Deserialize, Serialize};
use vfed_gbcode::AreaCode;

/// A city department that may be granted feeds (traffic, urban management...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    /// `[a-z0-9._-]{1,64}`, e.g. `traffic`.
    pub name: String,
    /// Human-readable name.
    pub display_name: String,
    /// When it was created (Unix seconds).
    pub created_unix: i64,
    /// Who created it (`user/<name>`).
    pub created_by: String,
}

/// Who ended a grant early, when and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// `user/<name>`.
    pub by: String,
    /// Unix seconds.
    pub at_unix: i64,
    /// Why (required).
    pub reason: String,
}

/// A department's right to watch devices for a purpose, for a time (R13).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// `g-` and 12 hex digits.
    pub id: String,
    /// The department granted.
    pub department: String,
    /// Devices granted by ID.
    pub device_ids: Vec<String>,
    /// An area prefix (2, 4 or 6 digits): every device of that area.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<String>,
    /// Why.
    pub purpose: String,
    /// Live viewing.
    pub live: bool,
    /// Recorded video.
    pub recorded: bool,
    /// Start, Unix seconds, inclusive.
    pub valid_from_unix: i64,
    /// End, Unix seconds, exclusive.
    pub valid_to_unix: i64,
    /// `user/<name>` of the creator.
    pub created_by: String,
    /// Unix seconds.
    pub created_unix: i64,
    /// Set when revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Revocation>,
}

/// Where a grant stands at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantState {
    /// Valid now.
    Active,
    /// Starts later.
    NotYet,
    /// Ended at `valid_to`.
    Expired,
    /// Ended by a revocation.
    Revoked,
}

impl Grant {
    /// The grant's state at `now_ms` (Unix milliseconds).
    pub fn state_at(&self, now_ms: i64) -> GrantState {
        if self.revoked.is_some() {
            GrantState::Revoked
        } else if now_ms < self.valid_from_unix.saturating_mul(1000) {
            GrantState::NotYet
        } else if now_ms >= self.valid_to_unix.saturating_mul(1000) {
            GrantState::Expired
        } else {
            GrantState::Active
        }
    }

    /// The area of [`Grant::subtree`], padded to 6 digits (`5405` -> `540500`).
    pub fn subtree_area(&self) -> Option<AreaCode> {
        self.subtree.as_deref().and_then(subtree_area)
    }

    /// Whether the grant names `device_id`, directly or through its subtree.
    pub fn covers(&self, device_id: &str) -> bool {
        self.device_ids.iter().any(|d| d == device_id)
            || self
                .subtree_area()
                .is_some_and(|area| device_area(device_id).is_some_and(|d| area.contains(&d)))
    }
}

/// A subtree prefix (2, 4 or 6 digits) as an area code.
pub fn subtree_area(prefix: &str) -> Option<AreaCode> {
    if !matches!(prefix.len(), 2 | 4 | 6) {
        return None;
    }
    AreaCode::parse(&format!("{prefix:0<6}"))
}

/// The area code of a device ID (its first 6 digits).
pub fn device_area(device_id: &str) -> Option<AreaCode> {
    device_id.get(..6).and_then(AreaCode::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(devices: &[&str], subtree: Option<&str>) -> Grant {
        Grant {
            id: "g-000000000001".into(),
            department: "traffic".into(),
            device_ids: devices.iter().map(|d| (*d).to_owned()).collect(),
            subtree: subtree.map(str::to_owned),
            purpose: "junction monitoring".into(),
            live: true,
            recorded: false,
            valid_from_unix: 100,
            valid_to_unix: 200,
            created_by: "user/admin".into(),
            created_unix: 90,
            revoked: None,
        }
    }

    #[test]
    fn coverage_by_id_and_subtree() {
        let g = grant(&["54050200001320000001"], None);
        assert!(g.covers("54050200001320000001"));
        assert!(!g.covers("54050200001320000002"));
        let county = grant(&[], Some("540502"));
        assert!(county.covers("54050200001320000002"));
        assert!(!county.covers("54052100001320000001"));
        let city = grant(&[], Some("5405"));
        assert!(city.covers("54052100001320000001"));
        let city6 = grant(&[], Some("540500"));
        assert!(city6.covers("54052100001320000001"));
        assert!(!city6.covers("54060200001320000001"));
        assert!(!county.covers("5405"));
    }

    #[test]
    fn states_follow_the_clock_and_revocation() {
        let mut g = grant(&[], Some("540502"));
        assert_eq!(g.state_at(99_999), GrantState::NotYet);
        assert_eq!(g.state_at(100_000), GrantState::Active);
        assert_eq!(g.state_at(199_999), GrantState::Active);
        assert_eq!(g.state_at(200_000), GrantState::Expired);
        g.revoked = Some(Revocation {
            by: "user/admin".into(),
            at_unix: 150,
            reason: "done".into(),
        });
        assert_eq!(g.state_at(150_000), GrantState::Revoked);
    }
}
