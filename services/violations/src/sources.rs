//! What the violations service reads, as traits the node implements over
//! the registry's API and the audit log.

use tonic::Status;
use vfed_proto::registry::v1 as reg;

/// The registry's records, through its API.
#[async_trait::async_trait]
pub trait DeviceRecords: Send + Sync + 'static {
    /// Every device at the node, local and received from children.
    async fn devices(&self) -> Result<Vec<reg::Device>, Status>;
    /// Filings and verifications overdue today (R12), by the registry's rule.
    async fn overdue_filings(&self) -> Result<Vec<reg::OverdueFiling>, Status>;
    /// Public-area devices without a warning sign (R8), by the registry's rule.
    async fn missing_signage(&self) -> Result<Vec<reg::Device>, Status>;
}

/// A refused call in the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedCall {
    /// Its index in the log.
    pub index: u64,
    /// When (unix ms).
    pub time_unix_ms: i64,
    /// Who (`user/<name>`...).
    pub actor: String,
    /// The action, e.g. `device.register`.
    pub action: String,
    /// The device, request or account it was about.
    pub target: String,
    /// The requirement the refusal cites.
    pub requirement: String,
    /// The refusal's message.
    pub reason: String,
    /// The unit named in the refused request (`spec.unit`), if any.
    pub unit: String,
}

/// The audit log's refusals.
#[async_trait::async_trait]
pub trait Refusals: Send + Sync + 'static {
    /// Refusals citing one of `requirements` among the newest `window`
    /// entries of the log, oldest first; and how many entries were scanned.
    async fn refused(
        &self,
        requirements: &[&str],
        window: u64,
    ) -> Result<(Vec<RefusedCall>, u64), Status>;
}
