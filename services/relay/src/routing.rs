//! Routing a subscription toward its stream's origin. The relay decides:
//! a device registered at this node is a local source (the gateway
//! publishes it); one that came up from a child is pulled from that child,
//! which routes further down; one unknown here is not found.
//!
//! The relay does not read the catalog itself: the node gives it
//! [`Origins`], where each device entered this node (the registry knows),
//! and [`RouteByOrigin`] turns that into a [`Route`]. Tests and benchmarks
//! without a registry give a [`Resolver`] of their own.

use futures::future::BoxFuture;

/// Where a device's stream comes from, seen from this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Registered here: a local source (gateway) publishes it.
    Local,
    /// Pull it from this peer node (a child toward the origin).
    Peer(String),
    /// Unknown here.
    NotFound,
}

/// Looks up where a device's stream comes from, to route subscriptions.
pub trait Resolver: Send + Sync + 'static {
    /// Where `device_id` comes from.
    fn resolve<'a>(&'a self, device_id: &'a str) -> BoxFuture<'a, Route>;
}

/// Where a device known to this node entered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceOrigin {
    /// Registered at this node.
    Here,
    /// Came up the tree through this child node.
    ViaChild(String),
}

/// Where devices entered this node: the registry's catalog, in process or
/// over its API.
pub trait Origins: Send + Sync + 'static {
    /// Where `device_id` entered this node; `Ok(None)` when it is unknown
    /// here, `Err` (in words) when the lookup failed.
    fn origin<'a>(
        &'a self,
        device_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<DeviceOrigin>, String>>;
}

/// The relay's routing over [`Origins`]: a failed lookup routes nowhere
/// (the viewer is told the stream is not found) and is logged.
pub struct RouteByOrigin<O> {
    origins: O,
}

impl<O: Origins> RouteByOrigin<O> {
    /// Routing over `origins`.
    pub fn new(origins: O) -> Self {
        Self { origins }
    }
}

impl<O: Origins> Resolver for RouteByOrigin<O> {
    fn resolve<'a>(&'a self, device_id: &'a str) -> BoxFuture<'a, Route> {
        Box::pin(async move {
            match self.origins.origin(device_id).await {
                Ok(Some(DeviceOrigin::Here)) => Route::Local,
                Ok(Some(DeviceOrigin::ViaChild(child))) => Route::Peer(child),
                Ok(None) => Route::NotFound,
                Err(error) => {
                    tracing::warn!(device = device_id, %error, "relay routing: catalog lookup failed");
                    Route::NotFound
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A catalog of three devices, and one whose lookup fails.
    struct Catalog;

    impl Origins for Catalog {
        fn origin<'a>(
            &'a self,
            device_id: &'a str,
        ) -> BoxFuture<'a, Result<Option<DeviceOrigin>, String>> {
            Box::pin(async move {
                match device_id {
                    "here" => Ok(Some(DeviceOrigin::Here)),
                    "below" => Ok(Some(DeviceOrigin::ViaChild("child".into()))),
                    "broken" => Err("store unavailable".into()),
                    _ => Ok(None),
                }
            })
        }
    }

    #[tokio::test]
    async fn a_device_is_routed_toward_where_it_entered_this_node() {
        let routes = RouteByOrigin::new(Catalog);
        assert_eq!(routes.resolve("here").await, Route::Local);
        assert_eq!(routes.resolve("below").await, Route::Peer("child".into()));
        assert_eq!(routes.resolve("elsewhere").await, Route::NotFound);
        assert_eq!(routes.resolve("broken").await, Route::NotFound);
    }
}
