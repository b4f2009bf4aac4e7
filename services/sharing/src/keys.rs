//! The sharing service's key layout in the node's store.

/// Prefix of every department: `sharing/departments/<name>`.
pub const DEPARTMENTS: &str = "sharing/departments/";
/// Prefix of every grant: `sharing/grants/<id>` (the grant book watches it).
pub const GRANTS: &str = "sharing/grants/";

/// Key of a department.
pub fn department(name: &str) -> String {
    format!("{DEPARTMENTS}{name}")
}

/// Key of a grant.
pub fn grant(id: &str) -> String {
    format!("{GRANTS}{id}")
}
