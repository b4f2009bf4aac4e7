//! Routing subscriptions through the tree with the catalog: a device
//! registered here is a local source; one received from a child is pulled
//! from that child (which routes further down toward the origin).

use futures::future::BoxFuture;
use vfed_registry::Catalog;
use vfed_relay::{Resolver, Route};

/// A [`Resolver`] over this node's catalog.
pub struct CatalogResolver {
    catalog: Catalog,
}

impl CatalogResolver {
    /// A resolver over `catalog`.
    pub fn new(catalog: Catalog) -> Self {
        Self { catalog }
    }
}

impl Resolver for CatalogResolver {
    fn resolve<'a>(&'a self, device_id: &'a str) -> BoxFuture<'a, Route> {
        Box::pin(async move {
            match self.catalog.get(device_id).await {
                Ok(Some(v)) => match v.entry.via_child {
                    Some(child) => Route::Peer(child),
                    None => Route::Local,
                },
                Ok(None) => Route::NotFound,
                Err(e) => {
                    tracing::warn!(device = device_id, error = %e, "relay routing: catalog lookup failed");
                    Route::NotFound
                }
            }
        })
    }
}
