//! The relay: vfed's media broker. QUIC links between relays up the tree,
//! on-demand pull toward a stream's origin, one upstream pull per stream
//! shared by every local viewer, and fan-out that never lets a slow viewer
//! stall the source or the others.
#![forbid(unsafe_code)]

pub mod egress;
pub mod endpoint;
mod error;
mod info;
mod key;
pub mod link;
mod metrics;
pub mod policy;
mod pull;
pub mod recorded;
mod relay;
pub mod routing;
mod run;
mod serve;
mod service;
pub mod source;
mod stream_reader;
pub mod track;
pub mod wire;

pub use error::RelayError;
pub use info::{info, metadata};
pub use key::StreamKey;
pub use policy::SubscriberPolicy;
pub use relay::{Relay, RelayOptions};
pub use routing::{DeviceOrigin, Origins, Resolver, Route, RouteByOrigin};
pub use run::{ParentRelay, RelayPeers, RelayServiceOptions, RelayStartError, RunningRelay, run};
pub use service::StreamsService;
