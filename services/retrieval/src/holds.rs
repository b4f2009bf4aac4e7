//! What approved requests hold: the recordings of their devices over their
//! period are kept past the archive's retention until the request lapses
//! (the archive asks through the node, never reading these records).

use crate::error::RetrievalError;
use crate::record::{Record, State};
use crate::service::RetrievalService;

impl RetrievalService {
    /// The requests approved and not expired at `now_unix` (seconds).
    pub async fn approved_at(&self, now_unix: i64) -> Result<Vec<Record>, RetrievalError> {
        Ok(self
            .requests
            .all()
            .await?
            .into_iter()
            .map(|v| v.record)
            .filter(|r| r.state(now_unix) == State::Approved)
            .collect())
    }
}
