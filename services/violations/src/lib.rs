//! Violations per unit (R24): what the police can act on. Found, each time
//! the list is asked for, in the node's registry (missing signage R8, no
//! responsible unit R9, unaccepted systems in use R11, overdue filing or
//! verification R12) and its audit log (prohibited-location attempts R7,
//! access refused under R16/R17); the rectification deadline the police set
//! and its closing are kept in the store, one compare-and-swap transaction
//! each (the auth layer commits the audit record with it).
//!
//! The service meets the registry and the audit log only through the
//! traits of [`sources`] (the runtime implements them over the registry's
//! API and the audit trail's reader), so it holds no copy of either.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod deadlines;
mod detect;
mod service;
pub mod sources;

pub use detect::{Finding, Kind};
pub use service::ViolationsService;

/// Starts the service over the node's registry and audit log (as
/// `devices` and `refusals`), keeping the police's decisions in `store`
/// (the node's audited store). It has no background work.
pub fn run(
    devices: impl sources::DeviceRecords,
    refusals: impl sources::Refusals,
    store: vfed_store::SharedStore,
) -> ViolationsService {
    ViolationsService::new(devices, refusals, store)
}
