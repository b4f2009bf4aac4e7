//! Prometheus metrics of the registry and its links.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of a link metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LinkLabels {
    /// The peer node.
    pub peer: String,
    /// `parent` or `child`.
    pub role: String,
}

/// Handles to the registry's metrics (cheap to clone).
#[derive(Clone, Debug, Default)]
pub struct RegistryMetrics {
    /// Devices registered at this node.
    pub registrations: Counter,
    /// Registrations refused (any rule).
    pub refusals: Counter,
    /// Online/offline transitions.
    pub status_changes: Counter,
    /// Devices currently online (local).
    pub devices_online: Gauge,
    /// Whether each link is up (1) or not (0).
    pub link_up: Family<LinkLabels, Gauge>,
    /// Child revisions not yet applied at the parent.
    pub link_lag: Family<LinkLabels, Gauge>,
    /// Catalog changes applied from children.
    pub changes_applied: Counter,
    /// Catalog entries refused on a link (by the parent, or by the child as
    /// too large to send).
    pub link_refused: Family<LinkLabels, Gauge>,
}

impl RegistryMetrics {
    /// Registers every metric in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "vfed_registrations",
            "Devices registered at this node",
            m.registrations.clone(),
        );
        registry.register(
            "vfed_registration_refusals",
            "Registrations refused by a rule",
            m.refusals.clone(),
        );
        registry.register(
            "vfed_device_status_changes",
            "Device online/offline transitions",
            m.status_changes.clone(),
        );
        registry.register(
            "vfed_devices_online",
            "Local devices currently online",
            m.devices_online.clone(),
        );
        registry.register(
            "vfed_link_up",
            "Whether a federation link is up",
            m.link_up.clone(),
        );
        registry.register(
            "vfed_link_lag_revisions",
            "Child revisions not yet applied at the parent",
            m.link_lag.clone(),
        );
        registry.register(
            "vfed_link_changes_applied",
            "Catalog changes applied from child links",
            m.changes_applied.clone(),
        );
        registry.register(
            "vfed_link_refused_entries",
            "Catalog entries refused on a federation link since start (the link goes on with the rest)",
            m.link_refused.clone(),
        );
        m
    }
}
