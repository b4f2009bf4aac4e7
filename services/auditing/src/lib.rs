//! `vfed-auditing`: a node's audit trail (R14.5, R18.6), built on the `vfed-audit` log.
//!
//! - [`AuditTrail`]: the node's log handle. [`AuditTrail::record`] appends directly (views,
//!   refusals); [`AuditTrail::store`] and [`AuditTrail::in_change_scope`] commit a change's
//!   record in the **same store transaction** as the change; the pump
//!   ([`AuditTrail::run_pump`]) then moves it into the Merkle log exactly once.
//! - [`AuditService`]: the `vfed.audit.v1.Audit` gRPC service (tail, checkpoints, proofs,
//!   and the parent side of the checkpoint exchange with child nodes).
//! - [`CheckpointShipper`]: the child side, sending checkpoints to the parent.
//! - [`run`]: the service in a node, once its trail is open: the pump, the checkpoints,
//!   the gRPC service and the shipper.
#![forbid(unsafe_code)]

mod audited_store;
pub mod children;
mod convert;
mod error;
mod metrics;
pub mod pending;
pub mod pump;
mod run;
mod scope;
mod service;
mod shipper;
mod tail;
mod trail;

pub use audited_store::AuditedStore;
pub use error::AuditingError;
pub use metrics::AuditMetrics;
pub use run::{AuditingOptions, ParentAudit, run};
pub use scope::ScopeOutcome;
pub use service::{ACCEPTED_SIZE_METADATA, AuditService};
pub use shipper::{CheckpointShipper, ShipError, read_countersigned, read_parent_key};
pub use trail::{
    AuditTrail, COUNTERSIGNED_FILE, MAX_READ, PARENT_KEY_FILE, SIGNING_KEY_FILE, TrailOptions,
    VERIFIER_KEY_FILE, origin_of,
};
