//! Sharing feeds with city departments under explicit grants (R13).
//!
//! City admins create departments and grants (a department, devices or a
//! catalog subtree, a purpose, live and/or recorded, valid from/to);
//! department viewers see exactly what is granted to their department,
//! until the grant ends. [`SharingService`] is the gRPC API over the store;
//! [`GrantBook`] keeps every grant in memory and is the node's
//! [`vfed_authz::ViewPolicy`]: the auth layer asks it on every HLS request,
//! the relay every second for every QUIC subscription of a person, so a view
//! ends when its grant expires, is revoked or shortened.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod book;
mod clock;
mod codec;
mod convert;
mod error;
mod keys;
pub mod model;
mod records;
mod rules;
mod run;
mod service;

pub use book::{GrantBook, Use};
pub use error::SharingError;
pub use records::Records;
pub use rules::{MAX_DEVICES, MAX_VALIDITY_SECS};
pub use run::{RunningSharing, run};
pub use service::SharingService;
