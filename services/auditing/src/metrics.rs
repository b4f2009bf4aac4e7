//! Prometheus metrics of the audit trail and of the children's checkpoints.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of a per-child metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChildLabels {
    /// The child node.
    pub child: String,
}

/// Handles to the metrics (cheap to clone).
#[derive(Clone, Debug, Default)]
pub struct AuditMetrics {
    /// Child checkpoints accepted and countersigned.
    pub child_checkpoints: Family<ChildLabels, Counter>,
    /// Whether a child is flagged (1: its log was rewritten, forked or rolled back, R18.6).
    pub child_flagged: Family<ChildLabels, Gauge>,
    /// Checkpoints this node's parent countersigned.
    pub countersigned: Counter,
    /// Failed attempts to send a checkpoint to the parent.
    pub ship_failures: Counter,
}

impl AuditMetrics {
    /// Registers every metric in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "vfed_audit_child_checkpoints",
            "Child checkpoints accepted and countersigned",
            m.child_checkpoints.clone(),
        );
        registry.register(
            "vfed_audit_child_flagged",
            "1 when a child's audit log was flagged as rewritten, forked or rolled back (R18.6)",
            m.child_flagged.clone(),
        );
        registry.register(
            "vfed_audit_countersigned",
            "Checkpoints of this node countersigned by its parent",
            m.countersigned.clone(),
        );
        registry.register(
            "vfed_audit_ship_failures",
            "Failed attempts to send a checkpoint to the parent",
            m.ship_failures.clone(),
        );
        m
    }

    /// The per-child labels.
    pub fn child(child: &str) -> ChildLabels {
        ChildLabels {
            child: child.to_owned(),
        }
    }
}
