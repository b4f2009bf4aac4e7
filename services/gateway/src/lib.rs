//! vfed-gateway: device access.
//!
//! Pulls RTSP from cameras and NVRs ([`Puller`], one per device stream),
//! turns what they send into vfed's media model ([`vfed_media::AccessUnit`],
//! [`vfed_media::StreamMetadata`]), reconnects with capped exponential backoff,
//! keeps per-stream statistics ([`StatsSnapshot`]), reports which devices
//! deliver frames ([`LivenessSink`], [`RegistryKeepalive`]) and fans every
//! stream out to any number of subscribers ([`Gateway`]).
//!
//! As a node's service ([`run`]) it decides which cameras to pull (every
//! device registered at the node with a stream URL, read through a
//! [`CameraDirectory`]), publishes each stream into the relay's
//! [`Tracks`] with the gateway's view of its state, and reports liveness
//! to the registry through a [`LivenessSink`].
//!
//! Credentials never reach a log line or an error: see [`redact_credentials`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod frame_rate;
mod gateway;
mod liveness;
mod publish;
mod pull;
mod redact;
mod run;
mod selection;
mod session;
mod source;
mod stats;
mod timeline;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{FailureCause, GatewayError};
pub use gateway::{Gateway, GatewayConfig};
pub use liveness::{LivenessReport, LivenessSink, RegistryKeepalive, SilentDevice};
pub use publish::{PublishedTrack, Tracks};
pub use pull::{PullConfig, PullEvent, Puller, Subscription};
pub use redact::redact_credentials;
pub use run::{Peers, run};
pub use selection::{Camera, CameraDirectory, wanted};
pub use source::{Credentials, Profile, StreamKey, StreamSource};
pub use stats::{StatsSnapshot, StreamState};
