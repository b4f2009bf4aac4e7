//! Removal and relocation of a device as a workflow (R18.11): request,
//! approval by an administrator who is not the requester, the report to the
//! filing police office, and only then the removal or the move.
//!
//! `record.rs` is the stored request, `steps.rs` the pure rules of each
//! step, `book.rs` its keys and transactions, `service.rs` the `Removals`
//! gRPC service.

mod book;
mod convert;
mod record;
mod service;
mod steps;

pub use service::RemovalService;
pub(crate) use service::caller;
