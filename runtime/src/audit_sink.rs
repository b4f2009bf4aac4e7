//! The auth layer's audit sink over the node's audit trail.

use vfed_audit::AuditRecord;
use vfed_auditing::AuditTrail;
use vfed_authz::{AuditSink, BoxFuture};

/// Writes the layer's records to the node's trail.
pub struct TrailSink(pub AuditTrail);

impl AuditSink for TrailSink {
    fn record(&self, record: AuditRecord) -> BoxFuture<()> {
        let trail = self.0.clone();
        Box::pin(async move {
            let action = record.action.clone();
            if let Err(e) = trail.record(record).await {
                tracing::error!(%action, error = %e, "audit record not written");
            }
        })
    }

    fn scope(&self, record: AuditRecord, call: BoxFuture<()>) -> BoxFuture<bool> {
        let trail = self.0.clone();
        Box::pin(async move {
            let ((), outcome) = trail.in_change_scope(record, call).await;
            outcome.is_committed()
        })
    }
}
