//! Device specs that pass every rule, for tests to vary.

use time::OffsetDateTime;
use vfed_proto::registry::v1 as pb;

/// A valid, accepted public-road camera `id`, shared or not.
pub fn device_spec(id: &str, shared: bool) -> pb::DeviceSpec {
    let today = OffsetDateTime::now_utc().date().to_string();
    pb::DeviceSpec {
        id: id.into(),
        name: format!("Test camera {id}"),
        location_type: pb::LocationType::Road.into(),
        protected_category: pb::ProtectedCategory::PublicAreaRoad.into(),
        address: "Test road".into(),
        unit: "Test unit".into(),
        responsible: Some(pb::ResponsibleUnits {
            builder: "Builder".into(),
            maintainer: "Maintainer".into(),
            manager: "Manager".into(),
        }),
        signage: Some(pb::Signage {
            posted: true,
            distance_to_homes_m: Some(30.0),
        }),
        acceptance: Some(pb::Acceptance {
            state: pb::AcceptanceState::Accepted.into(),
            accepted_on: today,
        }),
        shared,
        ..Default::default()
    }
}

/// A register request for [`device_spec`].
pub fn register_request(id: &str, shared: bool) -> pb::RegisterDeviceRequest {
    pb::RegisterDeviceRequest {
        spec: Some(device_spec(id, shared)),
    }
}
