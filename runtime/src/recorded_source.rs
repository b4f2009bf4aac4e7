//! Where a node's recorded bytes come from (the relay's
//! [`RecordedSource`]): a device this node originates is answered from its
//! archive; a device received from a child is asked of that child over the
//! relay link it dialed, which answers the same way, so a playback at the
//! city reaches the county's archive at any depth, on demand, without
//! copying the archive up. The parent asks; the HTTP playback at this node
//! asks too.

use futures::future::BoxFuture;
use vfed_archive::Archive;
use vfed_relay::recorded::{RecordedAnswer, RecordedRequest, RecordedSource};
use vfed_relay::{Relay, Resolver, Route};

use crate::routing::CatalogOrigins;

/// Routes by where the catalog says each device entered this node.
pub type CatalogRoutes = vfed_relay::RouteByOrigin<CatalogOrigins>;

/// The node's recordings: its archive, and its children's through the relay.
pub struct NodeRecordings {
    archive: Archive,
    relay: Relay,
    routes: CatalogRoutes,
}

impl NodeRecordings {
    /// Answers from `archive`, or asks the child `routes` names over `relay`.
    pub fn new(archive: Archive, relay: Relay, routes: CatalogRoutes) -> Self {
        Self {
            archive,
            relay,
            routes,
        }
    }
}

impl RecordedSource for NodeRecordings {
    fn answer(&self, request: RecordedRequest) -> BoxFuture<'_, RecordedAnswer> {
        Box::pin(async move {
            match self.routes.resolve(&request.device_id).await {
                Route::Local => vfed_archive::playback::answer(&self.archive, request).await,
                Route::NotFound => RecordedAnswer::refused(
                    404,
                    format!("device {} is not visible from this node", request.device_id),
                ),
                Route::Peer(child) => {
                    let Some(link) = self.relay.link(&child) else {
                        return RecordedAnswer::refused(
                            503,
                            format!(
                                "device {} is recorded at node {child}, whose relay link is down; retry",
                                request.device_id
                            ),
                        );
                    };
                    match vfed_relay::recorded::fetch(&link, &request).await {
                        Ok(answer) => answer,
                        Err(e) => RecordedAnswer::refused(503, e.to_string()),
                    }
                }
            }
        })
    }
}
