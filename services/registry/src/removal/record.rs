//! A removal or relocation request as the store keeps it (JSON under
//! `removal/req/<device id>/<requested ms, 16 digits>`).

use serde::{Deserialize, Serialize};

use crate::domain::LocationType;

/// Remove from service, or move to a new place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalKind {
    /// The device leaves the live catalog.
    Remove,
    /// The device moves; its location changes.
    Relocate,
}

/// Where a request stands; each stage needs the one before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalStage {
    /// Filed by an operator (or administrator).
    Requested,
    /// Approved by an administrator other than the requester.
    Approved,
    /// Reported to the filing police office.
    Reported,
    /// Taken effect.
    Completed,
}

impl RemovalStage {
    /// `requested`, `approved`, `reported`, `completed`.
    pub fn name(self) -> &'static str {
        match self {
            RemovalStage::Requested => "requested",
            RemovalStage::Approved => "approved",
            RemovalStage::Reported => "reported",
            RemovalStage::Completed => "completed",
        }
    }
}

/// A place: kind, address and coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Place {
    /// Kind of place (R7).
    pub location_type: LocationType,
    /// Address.
    pub address: String,
    /// Latitude.
    pub latitude: Option<f64>,
    /// Longitude.
    pub longitude: Option<f64>,
}

/// Who did a step, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Audit actor (`user/<name>`, `tool/<name>`).
    pub by: String,
    /// Unix ms.
    pub at_ms: i64,
}

/// The report to the filing police office.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The office.
    pub office: String,
    /// Its reference number.
    pub reference: String,
    /// When the report was made (unix ms).
    pub reported_ms: i64,
    /// Who recorded it here, when.
    pub recorded: Step,
}

/// One request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemovalRecord {
    /// The device.
    pub device_id: String,
    /// The device's unit when requested (R9).
    pub unit: String,
    /// Remove or relocate.
    pub kind: RemovalKind,
    /// Why.
    pub reason: String,
    /// Where the device was when requested.
    pub old_place: Place,
    /// Where it goes (relocation).
    pub new_place: Option<Place>,
    /// Step 1.
    pub requested: Step,
    /// Step 2.
    pub approved: Option<Step>,
    /// Step 3.
    pub report: Option<Report>,
    /// Step 4.
    pub completed: Option<Step>,
}

impl RemovalRecord {
    /// The request's ID: `<device id>-<requested ms, 13 digits>`.
    pub fn id(&self) -> String {
        format!("{}-{:013}", self.device_id, self.requested.at_ms)
    }

    /// The stage reached.
    pub fn stage(&self) -> RemovalStage {
        if self.completed.is_some() {
            RemovalStage::Completed
        } else if self.report.is_some() {
            RemovalStage::Reported
        } else if self.approved.is_some() {
            RemovalStage::Approved
        } else {
            RemovalStage::Requested
        }
    }
}

/// The device ID and request time of a request ID, if it is one.
pub fn parse_id(id: &str) -> Option<(&str, i64)> {
    let (device, ms) = id.split_once('-')?;
    let valid = device.len() == 20
        && device.bytes().all(|b| b.is_ascii_digit())
        && ms.len() == 13
        && ms.bytes().all(|b| b.is_ascii_digit());
    Some((device, ms.parse().ok()?)).filter(|_| valid)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_round_trip_and_junk_is_refused() {
        assert_eq!(
            super::parse_id("54050200001320000001-1765000000000"),
            Some(("54050200001320000001", 1_765_000_000_000))
        );
        for junk in [
            "",
            "-",
            "5405020000132000000-1765000000000",
            "54050200001320000001-176500000000",
            "54050200001320000001_1765000000000",
            "5405020000132000000a-1765000000000",
            "54050200001320000001-17650000000+0",
        ] {
            assert_eq!(super::parse_id(junk), None, "{junk}");
        }
    }
}
