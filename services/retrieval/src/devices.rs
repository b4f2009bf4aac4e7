//! Which devices a request may name: those in this node's catalog. The
//! registry knows them; the node gives the service a [`DeviceDirectory`]
//! over it (in process, or over the registry's API).

use crate::error::RetrievalError;

/// The devices this node knows.
#[async_trait::async_trait]
pub trait DeviceDirectory: Send + Sync + 'static {
    /// Whether device `id` is known here.
    async fn contains(&self, id: &str) -> Result<bool, RetrievalError>;

    /// This node's ID, for messages.
    fn node_id(&self) -> &str;
}
