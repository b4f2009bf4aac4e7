//! Departments and grants as JSON (`-o json`: every time as RFC 3339 next
//! to its raw `*_unix`, the grant's state as a word) and as text.

use serde::Serialize;
use vfed_proto::sharing::v1 as pb;

use crate::render::key_values;
use crate::table::Table;
use crate::timefmt::{instant, now_ms, rfc3339};

fn time(unix: i64) -> Option<String> {
    rfc3339(unix.saturating_mul(1000))
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

/// A department.
#[derive(Debug, Serialize)]
pub struct DepartmentView {
    pub name: String,
    pub display_name: String,
    pub created: Option<String>,
    pub created_unix: i64,
    pub created_by: String,
}

impl From<&pb::Department> for DepartmentView {
    fn from(d: &pb::Department) -> Self {
        DepartmentView {
            name: d.name.clone(),
            display_name: d.display_name.clone(),
            created: time(d.created_unix),
            created_unix: d.created_unix,
            created_by: d.created_by.clone(),
        }
    }
}

/// Every department.
#[derive(Debug, Serialize)]
pub struct DepartmentListView {
    pub departments: Vec<DepartmentView>,
}

impl From<&pb::ListDepartmentsResponse> for DepartmentListView {
    fn from(r: &pb::ListDepartmentsResponse) -> Self {
        DepartmentListView {
            departments: r.departments.iter().map(DepartmentView::from).collect(),
        }
    }
}

impl DepartmentListView {
    /// One row per department.
    pub fn table(&self) -> String {
        if self.departments.is_empty() {
            return "no departments\n".to_owned();
        }
        let mut t = Table::new(&["NAME", "DISPLAY NAME", "CREATED", "BY"]);
        for d in &self.departments {
            t.row([
                d.name.clone(),
                d.display_name.clone(),
                d.created.clone().unwrap_or_else(|| "-".to_owned()),
                d.created_by.clone(),
            ]);
        }
        t.render()
    }
}

/// Where a grant stands now.
fn state(g: &pb::Grant, now_unix: i64) -> &'static str {
    if g.revoked {
        "revoked"
    } else if now_unix < g.valid_from_unix {
        "not-yet"
    } else if now_unix >= g.valid_to_unix {
        "expired"
    } else {
        "active"
    }
}

/// A grant.
#[derive(Debug, Serialize)]
pub struct GrantView {
    pub id: String,
    pub department: String,
    pub state: &'static str,
    pub device_ids: Vec<String>,
    pub subtree: String,
    pub purpose: String,
    pub live: bool,
    pub recorded: bool,
    pub valid_from: Option<String>,
    pub valid_from_unix: i64,
    pub valid_to: Option<String>,
    pub valid_to_unix: i64,
    pub created_by: String,
    pub created: Option<String>,
    pub created_unix: i64,
    pub revoked_by: String,
    pub revoked: Option<String>,
    pub revoked_unix: i64,
    pub revoked_reason: String,
}

impl From<&pb::Grant> for GrantView {
    fn from(g: &pb::Grant) -> Self {
        GrantView {
            id: g.id.clone(),
            department: g.department.clone(),
            state: state(g, now_ms() / 1000),
            device_ids: g.device_ids.clone(),
            subtree: g.subtree.clone(),
            purpose: g.purpose.clone(),
            live: g.live,
            recorded: g.recorded,
            valid_from: time(g.valid_from_unix),
            valid_from_unix: g.valid_from_unix,
            valid_to: time(g.valid_to_unix),
            valid_to_unix: g.valid_to_unix,
            created_by: g.created_by.clone(),
            created: time(g.created_unix),
            created_unix: g.created_unix,
            revoked_by: g.revoked_by.clone(),
            revoked: time(g.revoked_unix),
            revoked_unix: g.revoked_unix,
            revoked_reason: g.revoked_reason.clone(),
        }
    }
}

impl GrantView {
    /// What is granted: devices and/or the subtree, shortly.
    fn what(&self) -> String {
        let mut parts = Vec::new();
        match self.device_ids.as_slice() {
            [] => {}
            [one] => parts.push(one.clone()),
            many => parts.push(format!("{} devices", many.len())),
        }
        if !self.subtree.is_empty() {
            parts.push(format!("area {}", self.subtree));
        }
        parts.join(" + ")
    }

    fn kind(&self) -> &'static str {
        match (self.live, self.recorded) {
            (true, true) => "live+recorded",
            (true, false) => "live",
            (false, true) => "recorded",
            (false, false) => "-",
        }
    }

    /// `key  value` lines.
    pub fn detail(&self) -> String {
        let now = now_ms();
        let mut lines = vec![
            ("ID", self.id.clone()),
            ("Department", self.department.clone()),
            ("State", self.state.to_owned()),
            ("Devices", or_dash(&self.device_ids.join(", "))),
            ("Subtree", or_dash(&self.subtree)),
            ("Purpose", self.purpose.clone()),
            ("Video", self.kind().to_owned()),
            (
                "Valid from",
                instant(self.valid_from_unix.saturating_mul(1000), now),
            ),
            (
                "Valid to",
                instant(self.valid_to_unix.saturating_mul(1000), now),
            ),
            (
                "Created",
                format!(
                    "{} by {}",
                    instant(self.created_unix.saturating_mul(1000), now),
                    self.created_by
                ),
            ),
        ];
        if self.revoked_unix != 0 {
            lines.push((
                "Revoked",
                format!(
                    "{} by {}: {}",
                    instant(self.revoked_unix.saturating_mul(1000), now),
                    self.revoked_by,
                    self.revoked_reason
                ),
            ));
        }
        key_values(&lines)
    }
}

/// A listing of grants.
#[derive(Debug, Serialize)]
pub struct GrantListView {
    pub grants: Vec<GrantView>,
}

impl From<&pb::ListGrantsResponse> for GrantListView {
    fn from(r: &pb::ListGrantsResponse) -> Self {
        GrantListView {
            grants: r.grants.iter().map(GrantView::from).collect(),
        }
    }
}

impl GrantListView {
    /// One row per grant.
    pub fn table(&self) -> String {
        if self.grants.is_empty() {
            return "no grants\n".to_owned();
        }
        let mut t = Table::new(&[
            "ID",
            "DEPARTMENT",
            "STATE",
            "GRANTS",
            "VIDEO",
            "FROM",
            "TO",
            "PURPOSE",
        ]);
        for g in &self.grants {
            t.row([
                g.id.clone(),
                g.department.clone(),
                g.state.to_owned(),
                g.what(),
                g.kind().to_owned(),
                g.valid_from.clone().unwrap_or_else(|| "-".to_owned()),
                g.valid_to.clone().unwrap_or_else(|| "-".to_owned()),
                g.purpose.clone(),
            ]);
        }
        t.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_rows_and_states() {
        let g = pb::Grant {
            id: "g-3fa2b1c94d5e".into(),
            department: "traffic".into(),
            device_ids: vec!["54050200001310000003".into()],
            subtree: "540521".into(),
            purpose: "junction".into(),
            live: true,
            valid_from_unix: 1_700_000_000,
            valid_to_unix: 1_700_003_600,
            ..pb::Grant::default()
        };
        assert_eq!(state(&g, 1_700_000_000), "active");
        assert_eq!(state(&g, 1_700_003_600), "expired");
        assert_eq!(state(&g, 1_699_999_999), "not-yet");
        let view = GrantListView {
            grants: vec![GrantView::from(&g)],
        };
        let text = view.table();
        let row = text.lines().nth(1).unwrap_or_default();
        assert!(
            row.starts_with("g-3fa2b1c94d5e  traffic     expired"),
            "{row}"
        );
        assert!(
            row.contains("54050200001310000003 + area 540521  live   2023-11-14T22:13:20Z"),
            "{row}"
        );
    }
}
