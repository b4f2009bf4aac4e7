//! The registry's key layout in the node's store.
//!
//! Everything a parent must see lives under `cat/` so that one watch feeds
//! the uplink; the uplink watches the whole key space (to know exactly which
//! revision it has processed) and picks `cat/` out of it.

/// Prefix of every catalog entry.
pub const CATALOG: &str = "cat/";
/// Devices registered at this node.
pub const LOCAL: &str = "cat/local/";
/// Devices received from children.
pub const REMOTE: &str = "cat/remote/";
/// Decommissioned devices.
pub const DECOMMISSIONED: &str = "decommissioned/";
/// Outage records: `outage/<device>/<start ms, 16 digits>`.
pub const OUTAGE: &str = "outage/";
/// Child link records: `links/<child id>`.
pub const LINKS: &str = "links/";
/// Removal and relocation requests: `removal/req/<device>/<requested ms, 16 digits>` (R18.11).
pub const REMOVAL_REQUESTS: &str = "removal/req/";
/// The open request of a device, if any: `removal/open/<device>` -> request ID.
pub const REMOVAL_OPEN: &str = "removal/open/";

/// Key of a local device.
pub fn local(id: &str) -> String {
    format!("{LOCAL}{id}")
}

/// Key of a remote device.
pub fn remote(id: &str) -> String {
    format!("{REMOTE}{id}")
}

/// Key of a decommission record.
pub fn decommissioned(id: &str, at_ms: i64) -> String {
    format!("{DECOMMISSIONED}{id}/{at_ms:016}")
}

/// Key of a removal or relocation request.
pub fn removal_request(device_id: &str, requested_ms: i64) -> String {
    format!("{REMOVAL_REQUESTS}{device_id}/{requested_ms:016}")
}

/// Key of a device's open removal or relocation request.
pub fn removal_open(device_id: &str) -> String {
    format!("{REMOVAL_OPEN}{device_id}")
}

/// Key of an outage record.
pub fn outage(id: &str, start_ms: i64) -> String {
    format!("{OUTAGE}{id}/{start_ms:016}")
}

/// Key of a child link record.
pub fn link(child_id: &str) -> String {
    format!("{LINKS}{child_id}")
}

/// The device ID of a catalog key, and whether it is remote.
pub fn parse_catalog(key: &[u8]) -> Option<(&str, bool)> {
    let key = std::str::from_utf8(key).ok()?;
    if let Some(id) = key.strip_prefix(LOCAL) {
        Some((id, false))
    } else {
        key.strip_prefix(REMOTE).map(|id| (id, true))
    }
}
