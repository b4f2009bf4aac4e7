//! The archive's holds, from the node's retrieval requests: an approved
//! request holds the recordings of its devices over its period until it
//! expires (R16, R17), so the retention sweep keeps them.

use vfed_archive::holds::{Hold, Holds, HoldsFuture};
use vfed_retrieval::RetrievalService;

/// Holds read from the retrieval service.
pub struct RetrievalHolds(pub RetrievalService);

impl Holds for RetrievalHolds {
    fn active(&self) -> HoldsFuture<'_> {
        Box::pin(async move {
            let now = vfed_registry::now_ms().div_euclid(1000);
            let approved = self.0.approved_at(now).await.map_err(|e| e.to_string())?;
            Ok(approved
                .into_iter()
                .map(|r| Hold {
                    request_id: r.id,
                    device_ids: r.device_ids,
                    from_unix_ms: r.from_unix.saturating_mul(1000),
                    to_unix_ms: r.to_unix.saturating_mul(1000),
                    until_unix_ms: r.expires_unix.saturating_mul(1000),
                })
                .collect())
        })
    }
}
