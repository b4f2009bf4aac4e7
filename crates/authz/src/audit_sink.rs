//! Where the layer writes audit records: implemented by the node over its
//! audit trail (vfed-auditing), kept as a trait so this crate does not
//! depend on how the log is kept.

use std::future::Future;
use std::pin::Pin;

use vfed_audit::AuditRecord;

/// A boxed future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The node's audit log, as the layer needs it.
pub trait AuditSink: Send + Sync + 'static {
    /// Appends `record` durably (views and refusals); errors are the sink's
    /// to report.
    fn record(&self, record: AuditRecord) -> BoxFuture<()>;

    /// Runs `call` so that the first store write it commits carries `record`
    /// in the same transaction. Resolves to whether that happened.
    fn scope(&self, record: AuditRecord, call: BoxFuture<()>) -> BoxFuture<bool>;
}

/// A sink that keeps nothing (for tools and benchmarks that measure the layer alone).
#[derive(Clone, Copy, Debug, Default)]
pub struct DiscardAudit;

impl AuditSink for DiscardAudit {
    fn record(&self, _record: AuditRecord) -> BoxFuture<()> {
        Box::pin(async {})
    }

    fn scope(&self, _record: AuditRecord, call: BoxFuture<()>) -> BoxFuture<bool> {
        Box::pin(async move {
            call.await;
            false
        })
    }
}
