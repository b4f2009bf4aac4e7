//! Graded networking (R6.1): the child's uplink pushes its shared catalog to
//! the parent, incrementally by store revision; the parent's downlink applies
//! it and remembers the revision to resume from.

mod changes;
mod downlink;
mod links;
mod uplink;

pub use downlink::{ChildNode, FederationService};
pub use links::{LinkRole, LinkState, LinkStatus, LinkTable, RefusedEntry};
pub use uplink::{Uplink, UplinkOptions};
