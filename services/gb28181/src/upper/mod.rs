//! vfed as a GB/T 28181 lower platform cascading to upper platforms
//! (issue 12, item 2): per upper, REGISTER with digest, refresh and
//! keepalive, offline detection and re-registration with backoff; the
//! upper's Catalog answered with the node's shared, accepted devices
//! (R6.1, R11) in groups, catalog changes sent up, DeviceInfo and
//! DeviceStatus answered; the upper's INVITE answered with PS over RTP
//! muxed from the relay's access units. The node's data comes in through
//! two traits ([`SharedCatalog`], [`LiveSource`]); each upper's state is
//! read through its [`UpperHandle`]. See docs/gb28181.md, "Cascade to an
//! upper platform".

mod auth;
pub mod body;
mod client;
pub mod invite;
mod link;
mod options;
mod sender;
mod session;
mod sources;
mod state;
mod subscription;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use auth::{Challenge, ChallengeError};
pub use options::{BodyCharset, UpperOptions, UpperOptionsError};
pub use sources::{
    CatalogChange, ChangeEvent, LiveError, LiveItem, LiveSource, SharedCatalog, SharedDevice,
};
pub use state::{UpperHandle, UpperState, UpperStatus};

/// The task of one upper link, ready to run.
pub struct UpperTask {
    client: client::Client,
}

impl std::fmt::Debug for UpperTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpperTask")
            .field("options", &self.client.options)
            .finish_non_exhaustive()
    }
}

impl UpperTask {
    /// Runs the link until `shutdown` is cancelled (then unregisters, best effort).
    pub async fn run(self, shutdown: CancellationToken) {
        self.client.run(shutdown).await;
    }
}

/// Checks `options` and prepares the link to that upper: its handle, and
/// the task to run (on the caller's task set).
pub fn upper(
    options: UpperOptions,
    catalog: Arc<dyn SharedCatalog>,
    live: Arc<dyn LiveSource>,
) -> Result<(UpperHandle, UpperTask), UpperOptionsError> {
    options.validate()?;
    let (state, handle) = state::StateCell::new(&options.server_id);
    let client = client::Client::new(options, catalog, live, state);
    Ok((handle, UpperTask { client }))
}

/// Checks a node's list of uppers: each valid, each server ID once.
pub fn validate_all(uppers: &[UpperOptions]) -> Result<(), UpperOptionsError> {
    for (i, upper) in uppers.iter().enumerate() {
        upper.validate()?;
        if uppers[..i].iter().any(|u| u.server_id == upper.server_id) {
            return Err(UpperOptionsError {
                server_id: upper.server_id.clone(),
                field: "server_id",
                rule: "each upper platform once".into(),
            });
        }
    }
    Ok(())
}
