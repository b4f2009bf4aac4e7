//! The retrieval service's [`DeviceDirectory`] over this node's registry:
//! the devices registered here or received from a child.

use vfed_registry::{Catalog, RegistryError};
use vfed_retrieval::{DeviceDirectory, RetrievalError};

/// The node's catalog (in process), as the devices a request may name.
pub struct CatalogDevices(pub Catalog);

#[async_trait::async_trait]
impl DeviceDirectory for CatalogDevices {
    async fn contains(&self, id: &str) -> Result<bool, RetrievalError> {
        match self.0.get(id).await {
            Ok(entry) => Ok(entry.is_some()),
            Err(RegistryError::Store(e)) => Err(e.into()),
            Err(e) => Err(RetrievalError::Corrupt {
                key: format!("catalog entry {id}"),
                message: e.to_string(),
            }),
        }
    }

    fn node_id(&self) -> &str {
        self.0.node_id()
    }
}
