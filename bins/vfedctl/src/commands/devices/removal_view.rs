//! Removal and relocation requests as JSON and text (R18.11).

use serde::Serialize;
use vfed_proto::registry::v1 as reg;

use vfed_proto::registry::v1::{LocationType, RemovalKind, RemovalStage};

use crate::enums::kebab_number;
use crate::render::key_values;
use crate::table::Table;
use crate::timefmt::rfc3339;

/// A place.
#[derive(Debug, Serialize)]
pub struct PlaceView {
    pub location_type: String,
    pub address: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// Who did a step, when.
#[derive(Debug, Serialize)]
pub struct StepView {
    pub by: String,
    pub at: Option<String>,
    pub at_unix_ms: i64,
}

/// The report to the filing police office.
#[derive(Debug, Serialize)]
pub struct ReportView {
    pub office: String,
    pub reference: String,
    pub reported: Option<String>,
    pub reported_unix_ms: i64,
    pub recorded: Option<StepView>,
}

/// One request.
#[derive(Debug, Serialize)]
pub struct RemovalView {
    pub id: String,
    pub device_id: String,
    pub unit: String,
    pub kind: String,
    pub stage: String,
    pub reason: String,
    pub old_location: Option<PlaceView>,
    pub new_location: Option<PlaceView>,
    pub requested: Option<StepView>,
    pub approved: Option<StepView>,
    pub report: Option<ReportView>,
    pub completed: Option<StepView>,
}

/// A list of requests.
#[derive(Debug, Serialize)]
pub struct RemovalListView {
    pub requests: Vec<RemovalView>,
}

fn place(p: &reg::NewLocation) -> PlaceView {
    PlaceView {
        location_type: kebab_number::<LocationType>(p.location_type),
        address: p.address.clone(),
        latitude: p.latitude,
        longitude: p.longitude,
    }
}

fn step(s: &reg::RemovalStep) -> StepView {
    StepView {
        by: s.by.clone(),
        at: rfc3339(s.at_unix_ms),
        at_unix_ms: s.at_unix_ms,
    }
}

impl From<&reg::RemovalRequest> for RemovalView {
    fn from(r: &reg::RemovalRequest) -> Self {
        RemovalView {
            id: r.id.clone(),
            device_id: r.device_id.clone(),
            unit: r.unit.clone(),
            kind: kebab_number::<RemovalKind>(r.kind),
            stage: kebab_number::<RemovalStage>(r.stage),
            reason: r.reason.clone(),
            old_location: r.old_location.as_ref().map(place),
            new_location: r.new_location.as_ref().map(place),
            requested: r.requested.as_ref().map(step),
            approved: r.approved.as_ref().map(step),
            report: r.report.as_ref().map(|rep| ReportView {
                office: rep.office.clone(),
                reference: rep.reference.clone(),
                reported: rfc3339(rep.reported_unix_ms),
                reported_unix_ms: rep.reported_unix_ms,
                recorded: rep.recorded.as_ref().map(step),
            }),
            completed: r.completed.as_ref().map(step),
        }
    }
}

fn who_when(s: Option<&StepView>) -> String {
    s.map_or_else(
        || "-".to_owned(),
        |s| format!("{} at {}", s.by, s.at.as_deref().unwrap_or("-")),
    )
}

fn where_(p: Option<&PlaceView>) -> String {
    p.map_or_else(
        || "-".to_owned(),
        |p| format!("{} ({})", p.address, p.location_type),
    )
}

impl RemovalView {
    /// Key-value detail.
    pub fn detail(&self) -> String {
        key_values(&[
            ("id", self.id.clone()),
            ("device", self.device_id.clone()),
            ("unit", self.unit.clone()),
            ("kind", self.kind.clone()),
            ("stage", self.stage.clone()),
            ("reason", self.reason.clone()),
            ("from", where_(self.old_location.as_ref())),
            ("to", where_(self.new_location.as_ref())),
            ("requested", who_when(self.requested.as_ref())),
            ("approved", who_when(self.approved.as_ref())),
            (
                "reported",
                self.report.as_ref().map_or_else(
                    || "-".to_owned(),
                    |r| {
                        format!(
                            "to {} ref {} at {} (recorded by {})",
                            r.office,
                            r.reference,
                            r.reported.as_deref().unwrap_or("-"),
                            who_when(r.recorded.as_ref())
                        )
                    },
                ),
            ),
            ("completed", who_when(self.completed.as_ref())),
        ])
    }
}

impl RemovalListView {
    /// One row per request.
    pub fn table(&self) -> String {
        if self.requests.is_empty() {
            return "no removal or relocation requests\n".to_owned();
        }
        let mut t = Table::new(&["ID", "DEVICE", "UNIT", "KIND", "STAGE", "REQUESTED BY"]);
        for r in &self.requests {
            t.row([
                r.id.clone(),
                r.device_id.clone(),
                r.unit.clone(),
                r.kind.clone(),
                r.stage.clone(),
                r.requested
                    .as_ref()
                    .map_or_else(String::new, |s| s.by.clone()),
            ]);
        }
        t.render()
    }
}
