//! JSON views of the API responses (`-o json`): serde structs converted
//! from the prost types. Enums are kebab-case strings; every timestamp is
//! given as RFC 3339 (`null` when unset) next to its raw `*_unix_ms`.

use serde::Serialize;
use vfed_proto::federation::v1 as fed;
use vfed_proto::registry::v1 as reg;
use vfed_proto::relay::v1 as relay;

use crate::enums::kebab_number;
use crate::timefmt::rfc3339;

/// A device spec; same shape as the `--file` input, so
/// `vfedctl devices show ID -o json | jq .spec` can be edited and fed back.
#[derive(Debug, Serialize)]
pub struct DeviceSpecView {
    pub id: String,
    pub name: String,
    pub location_type: String,
    pub protected_category: String,
    pub address: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub unit: String,
    pub responsible: ResponsibleView,
    pub signage: SignageView,
    pub acceptance: AcceptanceView,
    pub filing: FilingView,
    pub shared: bool,
    pub streams: StreamsView,
}

/// Builder, maintainer and manager.
#[derive(Debug, Serialize)]
pub struct ResponsibleView {
    pub builder: String,
    pub maintainer: String,
    pub manager: String,
}

/// Warning sign and distance to homes.
#[derive(Debug, Serialize)]
pub struct SignageView {
    pub posted: bool,
    pub distance_to_homes_m: Option<f64>,
}

/// Acceptance state and date.
#[derive(Debug, Serialize)]
pub struct AcceptanceView {
    pub state: String,
    pub accepted_on: String,
}

/// Filing record.
#[derive(Debug, Serialize)]
pub struct FilingView {
    pub design_unit: String,
    pub build_unit: String,
    pub maintenance_unit: String,
    pub operators: Vec<String>,
    pub filed_on: String,
    pub verified_on: String,
}

/// Media sources (credentials are never returned by the API).
#[derive(Debug, Serialize)]
pub struct StreamsView {
    pub main_url: String,
    pub sub_url: String,
}

impl From<&reg::DeviceSpec> for DeviceSpecView {
    fn from(s: &reg::DeviceSpec) -> Self {
        let r = s.responsible.clone().unwrap_or_default();
        let sg = s.signage.unwrap_or_default();
        let a = s.acceptance.clone().unwrap_or_default();
        let f = s.filing.clone().unwrap_or_default();
        let st = s.streams.clone().unwrap_or_default();
        DeviceSpecView {
            id: s.id.clone(),
            name: s.name.clone(),
            location_type: kebab_number::<reg::LocationType>(s.location_type),
            protected_category: kebab_number::<reg::ProtectedCategory>(s.protected_category),
            address: s.address.clone(),
            latitude: s.latitude,
            longitude: s.longitude,
            unit: s.unit.clone(),
            responsible: ResponsibleView {
                builder: r.builder,
                maintainer: r.maintainer,
                manager: r.manager,
            },
            signage: SignageView {
                posted: sg.posted,
                distance_to_homes_m: sg.distance_to_homes_m,
            },
            acceptance: AcceptanceView {
                state: kebab_number::<reg::AcceptanceState>(a.state),
                accepted_on: a.accepted_on,
            },
            filing: FilingView {
                design_unit: f.design_unit,
                build_unit: f.build_unit,
                maintenance_unit: f.maintenance_unit,
                operators: f.operators,
                filed_on: f.filed_on,
                verified_on: f.verified_on,
            },
            shared: s.shared,
            streams: StreamsView {
                main_url: st.main_url,
                sub_url: st.sub_url,
            },
        }
    }
}

/// A device with its server-maintained state.
#[derive(Debug, Serialize)]
pub struct DeviceView {
    pub spec: DeviceSpecView,
    pub status: String,
    pub status_since: Option<String>,
    pub status_since_unix_ms: i64,
    pub origin_node_id: String,
    pub remote: bool,
    pub revision: i64,
    pub registered: Option<String>,
    pub registered_unix_ms: i64,
    pub division: String,
    pub uplinked: bool,
}

impl From<&reg::Device> for DeviceView {
    fn from(d: &reg::Device) -> Self {
        DeviceView {
            spec: DeviceSpecView::from(&d.spec.clone().unwrap_or_default()),
            status: kebab_number::<reg::DeviceStatus>(d.status),
            status_since: rfc3339(d.status_since_unix_ms),
            status_since_unix_ms: d.status_since_unix_ms,
            origin_node_id: d.origin_node_id.clone(),
            remote: d.remote,
            revision: d.revision,
            registered: rfc3339(d.registered_unix_ms),
            registered_unix_ms: d.registered_unix_ms,
            division: d.division.clone(),
            uplinked: d.uplinked,
        }
    }
}

/// A page (or, with `--all`, every page) of devices.
#[derive(Debug, Serialize)]
pub struct DeviceListView {
    pub devices: Vec<DeviceView>,
    /// Empty when there are no more pages.
    pub next_page_token: String,
}

impl DeviceListView {
    /// The view of `devices` with the token of the next page.
    pub fn new(devices: &[reg::Device], next_page_token: String) -> Self {
        DeviceListView {
            devices: devices.iter().map(DeviceView::from).collect(),
            next_page_token,
        }
    }
}

/// Result of a decommission.
#[derive(Debug, Serialize)]
pub struct DecommissionView {
    pub id: String,
    pub decommissioned: Option<String>,
    pub decommissioned_unix_ms: i64,
}

impl From<&reg::DecommissionDeviceResponse> for DecommissionView {
    fn from(r: &reg::DecommissionDeviceResponse) -> Self {
        DecommissionView {
            id: r.id.clone(),
            decommissioned: rfc3339(r.decommissioned_unix_ms),
            decommissioned_unix_ms: r.decommissioned_unix_ms,
        }
    }
}

/// The catalog: division -> unit -> device.
#[derive(Debug, Serialize)]
pub struct CatalogView {
    pub divisions: Vec<CatalogDivisionView>,
}

/// One administrative division.
#[derive(Debug, Serialize)]
pub struct CatalogDivisionView {
    pub code: String,
    pub name: String,
    pub units: Vec<CatalogUnitView>,
}

/// One unit of a division.
#[derive(Debug, Serialize)]
pub struct CatalogUnitView {
    pub name: String,
    pub devices: Vec<CatalogDeviceView>,
}

/// One device of a unit.
#[derive(Debug, Serialize)]
pub struct CatalogDeviceView {
    pub id: String,
    pub name: String,
    pub status: String,
    pub remote: bool,
}

impl From<&reg::CatalogTree> for CatalogView {
    fn from(t: &reg::CatalogTree) -> Self {
        CatalogView {
            divisions: t
                .divisions
                .iter()
                .map(|d| CatalogDivisionView {
                    code: d.code.clone(),
                    name: d.name.clone(),
                    units: d
                        .units
                        .iter()
                        .map(|u| CatalogUnitView {
                            name: u.name.clone(),
                            devices: u
                                .devices
                                .iter()
                                .map(|r| CatalogDeviceView {
                                    id: r.id.clone(),
                                    name: r.name.clone(),
                                    status: kebab_number::<reg::DeviceStatus>(r.status),
                                    remote: r.remote,
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Overdue filings.
#[derive(Debug, Serialize)]
pub struct OverdueListView {
    pub overdue: Vec<OverdueView>,
}

/// One overdue filing or verification.
#[derive(Debug, Serialize)]
pub struct OverdueView {
    pub device_id: String,
    pub device_name: String,
    pub unit: String,
    /// `filing` or `verification`.
    pub missing: String,
    pub due_on: String,
    pub days_overdue: u32,
}

impl From<&reg::ListOverdueFilingsResponse> for OverdueListView {
    fn from(r: &reg::ListOverdueFilingsResponse) -> Self {
        OverdueListView {
            overdue: r
                .overdue
                .iter()
                .map(|o| OverdueView {
                    device_id: o.device_id.clone(),
                    device_name: o.device_name.clone(),
                    unit: o.unit.clone(),
                    missing: o.missing.clone(),
                    due_on: o.due_on.clone(),
                    days_overdue: o.days_overdue,
                })
                .collect(),
        }
    }
}

/// Outages.
#[derive(Debug, Serialize)]
pub struct OutageListView {
    pub outages: Vec<OutageView>,
}

/// One offline period.
#[derive(Debug, Serialize)]
pub struct OutageView {
    pub device_id: String,
    pub start: Option<String>,
    pub start_unix_ms: i64,
    /// `null` while the device is still offline.
    pub end: Option<String>,
    pub end_unix_ms: i64,
    pub duration_ms: i64,
    pub open: bool,
    /// Why the device went offline, as its gateway saw it.
    pub cause: String,
}

impl From<&reg::ListOutagesResponse> for OutageListView {
    fn from(r: &reg::ListOutagesResponse) -> Self {
        OutageListView {
            outages: r
                .outages
                .iter()
                .map(|o| OutageView {
                    device_id: o.device_id.clone(),
                    start: rfc3339(o.start_unix_ms),
                    start_unix_ms: o.start_unix_ms,
                    end: rfc3339(o.end_unix_ms),
                    end_unix_ms: o.end_unix_ms,
                    duration_ms: o.duration_ms,
                    open: o.end_unix_ms == 0,
                    cause: o.cause.clone(),
                })
                .collect(),
        }
    }
}

/// Answer to a keepalive.
#[derive(Debug, Serialize)]
pub struct KeepaliveView {
    pub period_ms: u32,
    pub unknown_ids: Vec<String>,
}

impl From<&reg::KeepaliveResponse> for KeepaliveView {
    fn from(r: &reg::KeepaliveResponse) -> Self {
        KeepaliveView {
            period_ms: r.period_ms,
            unknown_ids: r.unknown_ids.clone(),
        }
    }
}

/// Who a node is.
#[derive(Debug, Serialize)]
pub struct NodeInfoView {
    pub id: String,
    pub name: String,
    pub level: String,
    pub area_code: String,
    pub parent_id: String,
    pub store_backend: String,
    pub version: String,
}

impl From<&fed::NodeInfo> for NodeInfoView {
    fn from(n: &fed::NodeInfo) -> Self {
        NodeInfoView {
            id: n.id.clone(),
            name: n.name.clone(),
            level: n.level.clone(),
            area_code: n.area_code.clone(),
            parent_id: n.parent_id.clone(),
            store_backend: n.store_backend.clone(),
            version: n.version.clone(),
        }
    }
}

/// A node and its federation links.
#[derive(Debug, Serialize)]
pub struct NodeLinksView {
    pub node: NodeInfoView,
    pub links: Vec<LinkView>,
}

/// One federation link.
#[derive(Debug, Serialize)]
pub struct LinkView {
    pub peer_id: String,
    pub peer_name: String,
    /// `parent` or `child`.
    pub role: String,
    pub state: String,
    pub lag_revisions: i64,
    pub last_contact: Option<String>,
    pub last_contact_unix_ms: i64,
    pub applied_revision: i64,
    pub last_error: String,
    pub resyncs: u64,
}

impl From<&fed::Link> for LinkView {
    fn from(l: &fed::Link) -> Self {
        LinkView {
            peer_id: l.peer_id.clone(),
            peer_name: l.peer_name.clone(),
            role: l.role.clone(),
            state: kebab_number::<fed::LinkState>(l.state),
            lag_revisions: l.lag_revisions,
            last_contact: rfc3339(l.last_contact_unix_ms),
            last_contact_unix_ms: l.last_contact_unix_ms,
            applied_revision: l.applied_revision,
            last_error: l.last_error.clone(),
            resyncs: l.resyncs,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn device_json_shape() {
        let device = reg::Device {
            spec: Some(reg::DeviceSpec {
                id: "54050200001320000001".into(),
                location_type: reg::LocationType::HotelRoom.into(),
                acceptance: Some(reg::Acceptance {
                    state: reg::AcceptanceState::NotAccepted.into(),
                    accepted_on: String::new(),
                }),
                ..Default::default()
            }),
            status: reg::DeviceStatus::Online.into(),
            status_since_unix_ms: 1_700_000_000_000,
            ..Default::default()
        };
        let json = serde_json::to_value(DeviceView::from(&device)).unwrap();
        assert_eq!(json["spec"]["location_type"], "hotel-room");
        assert_eq!(json["spec"]["protected_category"], "unspecified");
        assert_eq!(json["spec"]["acceptance"]["state"], "not-accepted");
        assert_eq!(json["status"], "online");
        assert_eq!(json["status_since"], "2023-11-14T22:13:20Z");
        assert_eq!(json["status_since_unix_ms"], 1_700_000_000_000_i64);
        assert!(json["registered"].is_null());
    }
}

/// A live stream at the node. The codec parameter sets (VPS/SPS/PPS, raw
/// NAL units without start codes) are given as standard base64 strings.
#[derive(Debug, Serialize)]
pub struct StreamView {
    pub key: String,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// Frames per second (from `fps_milli`); `null` when unknown.
    pub fps: Option<f64>,
    pub fps_milli: u32,
    pub bitrate_bps: u64,
    pub viewers: u32,
    /// `local` (this node's gateway) or `node/<id>`.
    pub source: String,
    pub gops_dropped: u64,
    pub upstream_reconnects: u64,
    /// What the source is doing and why it does not play.
    pub status: SourceStatusView,
    pub vps_base64: Vec<String>,
    pub sps_base64: Vec<String>,
    pub pps_base64: Vec<String>,
}

impl From<&relay::StreamInfo> for StreamView {
    fn from(s: &relay::StreamInfo) -> Self {
        let b64 = |sets: &[Vec<u8>]| sets.iter().map(|b| base64(b)).collect();
        StreamView {
            key: s.key.clone(),
            codec: s.codec.clone(),
            width: s.width,
            height: s.height,
            fps: (s.fps_milli > 0).then(|| f64::from(s.fps_milli) / 1000.0),
            fps_milli: s.fps_milli,
            bitrate_bps: s.bitrate_bps,
            viewers: s.viewers,
            source: s.source.clone(),
            gops_dropped: s.gops_dropped,
            upstream_reconnects: s.upstream_reconnects,
            status: SourceStatusView::from(s.status.as_ref()),
            vps_base64: b64(&s.vps),
            sps_base64: b64(&s.sps),
            pps_base64: b64(&s.pps),
        }
    }
}

/// A stream source's state (`connecting`, `playing`, `retrying`, or
/// `unknown` from a node that does not say) and, when it does not play, why.
#[derive(Debug, Serialize)]
pub struct SourceStatusView {
    pub state: &'static str,
    /// In a few words: `connection refused`, `401 credentials rejected`...
    pub cause: String,
    pub last_error: String,
    /// Failed attempts since the last frame.
    pub attempts: u32,
    /// Milliseconds until the next attempt; `null` unless retrying.
    pub next_retry_ms: Option<u64>,
    /// `B-frames`...
    pub flags: Vec<String>,
    /// For viewers: the whole story, naming the node where it fails.
    pub reason: String,
    /// Set when the camera's RTP timestamps are broken and its frames are
    /// re-timed from the frame rate: what was wrong and the rate used.
    pub retiming: String,
}

impl From<Option<&relay::SourceStatus>> for SourceStatusView {
    fn from(s: Option<&relay::SourceStatus>) -> Self {
        let default = relay::SourceStatus::default();
        let s = s.unwrap_or(&default);
        let state = match relay::SourceState::try_from(s.state) {
            Ok(relay::SourceState::Connecting) => "connecting",
            Ok(relay::SourceState::Playing) => "playing",
            Ok(relay::SourceState::Retrying) => "retrying",
            _ => "unknown",
        };
        SourceStatusView {
            state,
            cause: s.cause.clone(),
            last_error: s.last_error.clone(),
            attempts: s.attempts,
            next_retry_ms: (s.next_retry_ms > 0).then_some(s.next_retry_ms),
            flags: s.flags.clone(),
            reason: s.reason.clone(),
            retiming: s.retiming.clone(),
        }
    }
}

/// The streams at a node.
#[derive(Debug, Serialize)]
pub struct StreamListView {
    pub streams: Vec<StreamView>,
}

/// Standard base64 with padding (RFC 4648), for the parameter sets.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod stream_tests {
    use super::base64;

    #[test]
    fn base64_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }
}
