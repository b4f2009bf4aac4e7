//! Devices as the registry stores them.

use serde::{Deserialize, Serialize};

use super::{AcceptanceState, DeviceStatus, LocationType, ProtectedCategory};

/// Builder, maintainer and manager (R9).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct ResponsibleUnits {
    pub builder: String,
    pub maintainer: String,
    pub manager: String,
}

/// Warning sign and distance to homes (R8).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Signage {
    /// Whether a warning sign is posted.
    pub posted: bool,
    /// Metres to the nearest home, when known.
    pub distance_to_homes_m: Option<f64>,
}

/// Acceptance of the system (R11).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acceptance {
    /// The state.
    pub state: AcceptanceState,
    /// `YYYY-MM-DD`, set when accepted.
    pub accepted_on: Option<String>,
}

/// The filing (备案) record (R12).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Filing {
    pub design_unit: String,
    pub build_unit: String,
    pub maintenance_unit: String,
    pub operators: Vec<String>,
    /// `YYYY-MM-DD`.
    pub filed_on: Option<String>,
    /// `YYYY-MM-DD`.
    pub verified_on: Option<String>,
}

/// Media sources of the device (used by the gateway).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct StreamSources {
    pub main_url: Option<String>,
    pub sub_url: Option<String>,
}

impl StreamSources {
    /// The API never shows credentials, so a client that sends back the URL
    /// it was shown (`rtsp://host/...`) means "unchanged": keep the stored
    /// `rtsp://user:pass@host/...`.
    pub fn keep_credentials_from(&mut self, stored: &StreamSources) {
        for (new, old) in [
            (&mut self.main_url, &stored.main_url),
            (&mut self.sub_url, &stored.sub_url),
        ] {
            if let (Some(n), Some(o)) = (new.as_ref(), old.as_ref())
                && *n == crate::convert::redact_url(o)
            {
                *new = Some(o.clone());
            }
        }
    }
}

/// What an operator says about a device; validated before it is stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct DeviceSpec {
    pub id: String,
    pub name: String,
    pub location_type: LocationType,
    pub protected_category: ProtectedCategory,
    pub address: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub unit: String,
    pub responsible: ResponsibleUnits,
    pub signage: Signage,
    pub acceptance: Acceptance,
    pub filing: Filing,
    pub shared: bool,
    pub streams: StreamSources,
}

/// One device in this node's catalog: registered here (`via_child` is
/// `None`) or received from a child link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// Operator-supplied fields.
    pub spec: DeviceSpec,
    /// Liveness.
    pub status: DeviceStatus,
    /// When the status last changed (unix ms).
    pub status_since_ms: i64,
    /// When the device was registered (unix ms).
    pub registered_ms: i64,
    /// The node where the device is registered.
    pub origin_node_id: String,
    /// The direct child the entry came through, for remote entries.
    pub via_child: Option<String>,
    /// Start of the open outage, while offline (local devices).
    pub open_outage_start_ms: Option<i64>,
    /// Why the open outage began, as the gateway saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_outage_cause: Option<String>,
}

impl CatalogEntry {
    /// R6.1 + R11: a local device goes up only when shared and accepted;
    /// remote entries were already judged below and always go on up.
    pub fn goes_up(&self) -> bool {
        self.via_child.is_some()
            || (self.spec.shared && self.spec.acceptance.state == AcceptanceState::Accepted)
    }

    /// Whether the entry came from a child.
    pub fn is_remote(&self) -> bool {
        self.via_child.is_some()
    }
}

/// A decommissioned device, kept for the record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecommissionRecord {
    /// The entry as it was.
    pub entry: CatalogEntry,
    /// Why.
    pub reason: String,
    /// When (unix ms).
    pub decommissioned_ms: i64,
    /// The removal request it completed (R18.11); absent in records
    /// written before the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removal_request: Option<String>,
}

/// One offline period of a device (R14.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageRecord {
    /// The device.
    pub device_id: String,
    /// Last sign of life before the outage (unix ms).
    pub start_ms: i64,
    /// First sign of life after it, if any yet.
    pub end_ms: Option<i64>,
    /// Why it began ("401 credentials rejected"), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// What a parent remembers of a child link, to resume it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// The child's store identity the revision belongs to.
    pub store_id: String,
    /// The last child revision durably applied here (0: resync needed).
    pub applied_revision: i64,
}
