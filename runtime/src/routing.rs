//! The relay's [`Origins`] over this node's registry: where each device
//! entered this node, as its catalog says. The relay decides the route.

use futures::future::BoxFuture;
use vfed_registry::Catalog;
use vfed_relay::{DeviceOrigin, Origins};

/// [`Origins`] from the node's catalog (in process).
pub struct CatalogOrigins(pub Catalog);

impl Origins for CatalogOrigins {
    fn origin<'a>(
        &'a self,
        device_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<DeviceOrigin>, String>> {
        Box::pin(async move {
            let found = self.0.get(device_id).await.map_err(|e| e.to_string())?;
            Ok(found.map(|v| match v.entry.via_child {
                Some(child) => DeviceOrigin::ViaChild(child),
                None => DeviceOrigin::Here,
            }))
        })
    }
}
