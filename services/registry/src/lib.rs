//! The registry service: devices, the catalog tree, filing and acceptance,
//! the regulation's compliance rules (R4, R6-R12), device liveness and
//! outages (R14.3), and graded networking with the parent node (R6.1).
#![forbid(unsafe_code)]

mod catalog;
mod codec;
mod convert;
pub mod domain;
mod error;
pub mod federation;
mod filing;
mod keys;
mod liveness;
mod metrics;
mod node_service;
mod removal;
mod rules;
mod run;
mod service;

pub use catalog::{Catalog, now_ms};
pub use error::RegistryError;
/// The store prefix of the devices registered at this node (for watchers).
pub use keys::LOCAL as LOCAL_PREFIX;
pub use liveness::{Liveness, LivenessOptions};
pub use metrics::RegistryMetrics;
pub use node_service::{NodeFacts, NodeService};
pub use removal::RemovalService;
pub use run::{FederationOptions, RegistryOptions, RunningRegistry, run};
pub use service::RegistryService;
