//! Domain types of the registry, independent of the wire format.

mod device;
mod enums;

pub use device::{
    Acceptance, CatalogEntry, DecommissionRecord, DeviceSpec, Filing, LinkRecord, OutageRecord,
    ResponsibleUnits, Signage, StreamSources,
};
pub use enums::{AcceptanceState, DeviceStatus, LocationType, ProtectedCategory};
