//! Conversions between prost types (the wire) and domain types. Prost types
//! go no further into the service than this module.

use vfed_proto::registry::v1 as pb;

use crate::RegistryError;
use crate::domain::{
    Acceptance, AcceptanceState, CatalogEntry, DeviceSpec, DeviceStatus, Filing, LocationType,
    ProtectedCategory, ResponsibleUnits, Signage, StreamSources,
};

/// Every location type, wire value first.
const LOCATIONS: [(pb::LocationType, LocationType); 26] = [
    (pb::LocationType::Road, LocationType::Road),
    (pb::LocationType::Junction, LocationType::Junction),
    (pb::LocationType::Square, LocationType::Square),
    (pb::LocationType::Station, LocationType::Station),
    (pb::LocationType::School, LocationType::School),
    (pb::LocationType::Hospital, LocationType::Hospital),
    (pb::LocationType::Park, LocationType::Park),
    (pb::LocationType::Market, LocationType::Market),
    (
        pb::LocationType::GovernmentBuilding,
        LocationType::GovernmentBuilding,
    ),
    (
        pb::LocationType::ResidentialCommonArea,
        LocationType::ResidentialCommonArea,
    ),
    (pb::LocationType::Border, LocationType::Border),
    (
        pb::LocationType::TransportVehicle,
        LocationType::TransportVehicle,
    ),
    (
        pb::LocationType::BankPublicArea,
        LocationType::BankPublicArea,
    ),
    (pb::LocationType::OtherPublic, LocationType::OtherPublic),
    (pb::LocationType::HotelRoom, LocationType::HotelRoom),
    (pb::LocationType::DormitoryRoom, LocationType::DormitoryRoom),
    (pb::LocationType::ApartmentRoom, LocationType::ApartmentRoom),
    (pb::LocationType::NursingRoom, LocationType::NursingRoom),
    (pb::LocationType::Bath, LocationType::Bath),
    (pb::LocationType::ChangingRoom, LocationType::ChangingRoom),
    (pb::LocationType::DressingRoom, LocationType::DressingRoom),
    (pb::LocationType::Toilet, LocationType::Toilet),
    (
        pb::LocationType::FinancialCustomerDataArea,
        LocationType::FinancialCustomerDataArea,
    ),
    (
        pb::LocationType::BallotOrReportBox,
        LocationType::BallotOrReportBox,
    ),
    (pb::LocationType::PollingPlace, LocationType::PollingPlace),
    (pb::LocationType::OtherPrivate, LocationType::OtherPrivate),
];

const CATEGORIES: [(pb::ProtectedCategory, ProtectedCategory); 7] = [
    (
        pb::ProtectedCategory::CounterTerrorTarget,
        ProtectedCategory::CounterTerrorTarget,
    ),
    (
        pb::ProtectedCategory::BorderArea,
        ProtectedCategory::BorderArea,
    ),
    (
        pb::ProtectedCategory::PublicAreaRoad,
        ProtectedCategory::PublicAreaRoad,
    ),
    (
        pb::ProtectedCategory::CrowdedPlace,
        ProtectedCategory::CrowdedPlace,
    ),
    (
        pb::ProtectedCategory::PublicTransport,
        ProtectedCategory::PublicTransport,
    ),
    (
        pb::ProtectedCategory::HighCrimeArea,
        ProtectedCategory::HighCrimeArea,
    ),
    (pb::ProtectedCategory::Other, ProtectedCategory::Other),
];

const ACCEPTANCE: [(pb::AcceptanceState, AcceptanceState); 3] = [
    (
        pb::AcceptanceState::NotAccepted,
        AcceptanceState::NotAccepted,
    ),
    (pb::AcceptanceState::Rectifying, AcceptanceState::Rectifying),
    (pb::AcceptanceState::Accepted, AcceptanceState::Accepted),
];

const STATUSES: [(pb::DeviceStatus, DeviceStatus); 3] = [
    (pb::DeviceStatus::Unknown, DeviceStatus::Unknown),
    (pb::DeviceStatus::Online, DeviceStatus::Online),
    (pb::DeviceStatus::Offline, DeviceStatus::Offline),
];

fn from_wire<W: Copy + Into<i32>, D: Copy>(table: &[(W, D)], value: i32) -> Option<D> {
    table
        .iter()
        .find(|(w, _)| (*w).into() == value)
        .map(|(_, d)| *d)
}

fn to_wire<W: Copy + Into<i32>, D: Copy + PartialEq>(table: &[(W, D)], value: D) -> i32 {
    table
        .iter()
        .find(|(_, d)| *d == value)
        .map_or(0, |(w, _)| (*w).into())
}

/// A location type from the wire; unspecified or unknown values are refused.
pub fn location_type(value: i32, field: &str) -> Result<LocationType, RegistryError> {
    from_wire(&LOCATIONS, value).ok_or_else(|| {
        RegistryError::invalid(field, "must name the kind of place the device covers", "R7")
    })
}

/// A location type on the wire.
pub fn location_to_wire(value: LocationType) -> i32 {
    to_wire(&LOCATIONS, value)
}

/// A location type filter: `None` for unspecified.
pub fn location_filter(value: i32) -> Result<Option<LocationType>, RegistryError> {
    if value == 0 {
        Ok(None)
    } else {
        location_type(value, "location_type").map(Some)
    }
}

/// A status filter: `None` for unspecified.
pub fn status_filter(value: i32) -> Result<Option<DeviceStatus>, RegistryError> {
    if value == 0 {
        return Ok(None);
    }
    from_wire(&STATUSES, value)
        .map(Some)
        .ok_or_else(|| RegistryError::bad("status", "unknown device status"))
}

/// The wire value of a status.
pub fn status_to_wire(status: DeviceStatus) -> i32 {
    to_wire(&STATUSES, status)
}

fn nonempty(s: String) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_owned())
    }
}

/// Converts a wire spec; enum fields must be set. Rules are checked by `rules`.
pub fn spec_from_wire(spec: pb::DeviceSpec) -> Result<DeviceSpec, RegistryError> {
    let location_type = location_type(spec.location_type, "spec.location_type")?;
    let protected_category = from_wire(&CATEGORIES, spec.protected_category).ok_or_else(|| {
        RegistryError::invalid(
            "spec.protected_category",
            "must name one of the seven protected categories of Art. 6",
            "R6.2",
        )
    })?;
    let acceptance = spec.acceptance.unwrap_or_default();
    let state = if acceptance.state == 0 {
        AcceptanceState::NotAccepted
    } else {
        from_wire(&ACCEPTANCE, acceptance.state).ok_or_else(|| {
            RegistryError::invalid("spec.acceptance.state", "unknown acceptance state", "R11")
        })?
    };
    let responsible = spec.responsible.unwrap_or_default();
    let signage = spec.signage.unwrap_or_default();
    let filing = spec.filing.unwrap_or_default();
    let streams = spec.streams.unwrap_or_default();
    Ok(DeviceSpec {
        id: spec.id.trim().to_owned(),
        name: spec.name.trim().to_owned(),
        location_type,
        protected_category,
        address: spec.address.trim().to_owned(),
        latitude: spec.latitude,
        longitude: spec.longitude,
        unit: spec.unit.trim().to_owned(),
        responsible: ResponsibleUnits {
            builder: responsible.builder.trim().to_owned(),
            maintainer: responsible.maintainer.trim().to_owned(),
            manager: responsible.manager.trim().to_owned(),
        },
        signage: Signage {
            posted: signage.posted,
            distance_to_homes_m: signage.distance_to_homes_m,
        },
        acceptance: Acceptance {
            state,
            accepted_on: nonempty(acceptance.accepted_on),
        },
        filing: Filing {
            design_unit: filing.design_unit.trim().to_owned(),
            build_unit: filing.build_unit.trim().to_owned(),
            maintenance_unit: filing.maintenance_unit.trim().to_owned(),
            operators: filing.operators.into_iter().filter_map(nonempty).collect(),
            filed_on: nonempty(filing.filed_on),
            verified_on: nonempty(filing.verified_on),
        },
        shared: spec.shared,
        streams: StreamSources {
            main_url: nonempty(streams.main_url),
            sub_url: nonempty(streams.sub_url),
        },
    })
}

/// Strips `user:password@` from a URL: credentials never leave the node.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{host}{path}"),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// The wire form of a spec (credentials redacted).
pub fn spec_to_wire(spec: &DeviceSpec) -> pb::DeviceSpec {
    pb::DeviceSpec {
        id: spec.id.clone(),
        name: spec.name.clone(),
        location_type: to_wire(&LOCATIONS, spec.location_type),
        protected_category: to_wire(&CATEGORIES, spec.protected_category),
        address: spec.address.clone(),
        latitude: spec.latitude,
        longitude: spec.longitude,
        unit: spec.unit.clone(),
        responsible: Some(pb::ResponsibleUnits {
            builder: spec.responsible.builder.clone(),
            maintainer: spec.responsible.maintainer.clone(),
            manager: spec.responsible.manager.clone(),
        }),
        signage: Some(pb::Signage {
            posted: spec.signage.posted,
            distance_to_homes_m: spec.signage.distance_to_homes_m,
        }),
        acceptance: Some(pb::Acceptance {
            state: to_wire(&ACCEPTANCE, spec.acceptance.state),
            accepted_on: spec.acceptance.accepted_on.clone().unwrap_or_default(),
        }),
        filing: Some(pb::Filing {
            design_unit: spec.filing.design_unit.clone(),
            build_unit: spec.filing.build_unit.clone(),
            maintenance_unit: spec.filing.maintenance_unit.clone(),
            operators: spec.filing.operators.clone(),
            filed_on: spec.filing.filed_on.clone().unwrap_or_default(),
            verified_on: spec.filing.verified_on.clone().unwrap_or_default(),
        }),
        shared: spec.shared,
        streams: Some(pb::StreamSources {
            main_url: spec
                .streams
                .main_url
                .as_deref()
                .map(redact_url)
                .unwrap_or_default(),
            sub_url: spec
                .streams
                .sub_url
                .as_deref()
                .map(redact_url)
                .unwrap_or_default(),
        }),
    }
}

/// The wire form of a catalog entry.
pub fn device_to_wire(entry: &CatalogEntry, revision: i64) -> pb::Device {
    pb::Device {
        spec: Some(spec_to_wire(&entry.spec)),
        status: status_to_wire(entry.status),
        status_since_unix_ms: entry.status_since_ms,
        origin_node_id: entry.origin_node_id.clone(),
        remote: entry.is_remote(),
        revision,
        registered_unix_ms: entry.registered_ms,
        division: entry.spec.id.get(..6).unwrap_or_default().to_owned(),
        uplinked: entry.goes_up(),
    }
}

/// A catalog entry received from child `via_child`.
pub fn remote_entry_from_wire(
    device: pb::Device,
    via_child: &str,
) -> Result<CatalogEntry, RegistryError> {
    let spec = device
        .spec
        .ok_or_else(|| RegistryError::bad("upsert.spec", "is required"))?;
    let spec = spec_from_wire(spec)?;
    let status = from_wire(&STATUSES, device.status).unwrap_or(DeviceStatus::Unknown);
    Ok(CatalogEntry {
        spec,
        status,
        status_since_ms: device.status_since_unix_ms,
        registered_ms: device.registered_unix_ms,
        origin_node_id: device.origin_node_id,
        via_child: Some(via_child.to_owned()),
        open_outage_start_ms: None,
        open_outage_cause: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact_url("rtsp://admin:s3cret@10.0.0.5:554/h264"),
            "rtsp://10.0.0.5:554/h264"
        );
        assert_eq!(redact_url("rtsp://10.0.0.5/x@y"), "rtsp://10.0.0.5/x@y");
        assert_eq!(redact_url("rtsp://cam"), "rtsp://cam");
    }

    #[test]
    fn every_location_round_trips() {
        for (wire, domain) in LOCATIONS {
            assert_eq!(location_type(wire.into(), "f").ok(), Some(domain));
            assert_eq!(to_wire(&LOCATIONS, domain), i32::from(wire));
        }
        assert!(location_type(0, "f").is_err());
    }
}
