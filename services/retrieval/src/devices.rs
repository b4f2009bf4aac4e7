//! Which devices a request may name: those in this node's catalog.

use vfed_registry::{Catalog, RegistryError};

use crate::error::RetrievalError;

/// The devices this node knows.
#[async_trait::async_trait]
pub trait DeviceDirectory: Send + Sync + 'static {
    /// Whether device `id` is known here.
    async fn contains(&self, id: &str) -> Result<bool, RetrievalError>;

    /// This node's ID, for messages.
    fn node_id(&self) -> &str;
}

/// The registry's catalog: devices registered here or received from a child.
#[async_trait::async_trait]
impl DeviceDirectory for Catalog {
    async fn contains(&self, id: &str) -> Result<bool, RetrievalError> {
        match self.get(id).await {
            Ok(entry) => Ok(entry.is_some()),
            Err(RegistryError::Store(e)) => Err(e.into()),
            Err(e) => Err(RetrievalError::Corrupt {
                key: format!("catalog entry {id}"),
                message: e.to_string(),
            }),
        }
    }

    fn node_id(&self) -> &str {
        Catalog::node_id(self)
    }
}
