//! The change scope: a task-local slot holding the audit record of the change a request is
//! making, claimed by the first write transaction that commits through [`crate::AuditedStore`].

use std::future::Future;
use std::sync::Arc;

use vfed_audit::AuditRecord;
use vfed_store::Revision;

use crate::pending;

tokio::task_local! {
    static SCOPE: Arc<ChangeScope>;
}

/// What became of a scope's record.
#[derive(Debug, Clone, PartialEq)]
pub enum ScopeOutcome {
    /// The record was committed in the same store transaction as the change; the pump will
    /// move it into the log (nothing left to do).
    Committed {
        /// The pending key it was written under.
        key: String,
        /// The store revision of the change (and of the record).
        revision: Revision,
    },
    /// No write transaction committed inside the scope (the handler failed, was refused, or
    /// changed nothing): the record is handed back for the caller to log directly with
    /// [`crate::AuditTrail::record`], usually marked refused.
    NotCommitted(AuditRecord),
}

impl ScopeOutcome {
    /// Whether the record was committed with the change.
    pub fn is_committed(&self) -> bool {
        matches!(self, ScopeOutcome::Committed { .. })
    }
}

/// One open scope.
pub(crate) struct ChangeScope {
    /// The trail that opened it: only that trail's store carries the record.
    trail_id: u64,
    /// The stored form of the record.
    value: Vec<u8>,
    /// The commit that carried the record, once one did. Held across a scoped transaction
    /// so that two writes of one scope never both carry it.
    committed: tokio::sync::Mutex<Option<(String, Revision)>>,
}

impl ChangeScope {
    /// The scope of `trail_id` the current task runs in, if any.
    pub(crate) fn current(trail_id: u64) -> Option<Arc<ChangeScope>> {
        SCOPE
            .try_with(Arc::clone)
            .ok()
            .filter(|scope| scope.trail_id == trail_id)
    }

    /// The stored form of the record.
    pub(crate) fn value(&self) -> &[u8] {
        &self.value
    }

    /// The commit slot (see the field).
    pub(crate) fn committed(&self) -> &tokio::sync::Mutex<Option<(String, Revision)>> {
        &self.committed
    }
}

/// Runs `fut` in a new scope of `trail_id` carrying `record`.
pub(crate) async fn run<F: Future>(
    trail_id: u64,
    record: AuditRecord,
    fut: F,
) -> (F::Output, ScopeOutcome) {
    let value = match pending::encode(&record) {
        Ok(value) => value,
        Err(error) => {
            // The log would refuse it too: the change runs, the caller logs what it can.
            tracing::warn!(%error, action = %record.action, "audit record cannot ride the change; logging it directly instead");
            return (fut.await, ScopeOutcome::NotCommitted(record));
        }
    };
    let scope = Arc::new(ChangeScope {
        trail_id,
        value,
        committed: tokio::sync::Mutex::new(None),
    });
    let output = SCOPE.scope(Arc::clone(&scope), fut).await;
    let committed = scope.committed.lock().await.take();
    let outcome = match committed {
        Some((key, revision)) => ScopeOutcome::Committed { key, revision },
        None => ScopeOutcome::NotCommitted(record),
    };
    (output, outcome)
}
