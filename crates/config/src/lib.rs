//! Node configuration: defaults, then a TOML file, then `VFED_` environment
//! variables (`__` nests: `VFED_NODE__ID`), then `--set key=value` flags.
//! Everything is validated before a runtime starts; a bad value names its
//! field (the binary exits 64).
#![forbid(unsafe_code)]

mod archive;
mod audit;
mod connections;
mod fraction;
mod gb28181;
mod gb28181_upper;
mod load;
mod model;
mod validate;

pub use archive::{ArchiveConfig, MIN_RETENTION};
pub use audit::AuditConfig;
pub use connections::{ConnectionsConfig, GrpcLimits, HttpLimits, RelayLimits};
pub use gb28181::Gb28181Config;
pub use gb28181_upper::{Gb28181UpperConfig, UpperCharset, UpperTransport, validate_uppers};
pub use load::{ConfigError, from_toml, load};
pub use model::*;
