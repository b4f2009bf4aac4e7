//! The sharing service of a node: the grant book (every grant in memory,
//! kept by a store watch: the node's live-view policy, R13) and the
//! `Sharing` gRPC service, until shutdown.

use tokio_util::sync::CancellationToken;
use vfed_gbcode::AreaCode;
use vfed_store::SharedStore;

use crate::book::GrantBook;
use crate::records::Records;
use crate::service::SharingService;

/// A running sharing service.
pub struct RunningSharing {
    /// Every grant, deciding live views ([`vfed_authz::ViewPolicy`]).
    pub grants: GrantBook,
    /// The `Sharing` gRPC service.
    pub service: SharingService,
}

/// Starts the sharing service of the node of `area` over `store`; the
/// grant book follows the store until `shutdown`.
pub fn run(store: SharedStore, area: AreaCode, shutdown: &CancellationToken) -> RunningSharing {
    RunningSharing {
        grants: GrantBook::start(store.clone(), shutdown.clone()),
        service: SharingService::new(Records::new(store), area),
    }
}
