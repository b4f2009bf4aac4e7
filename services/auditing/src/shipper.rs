//! The child side of the checkpoint exchange (R18.6): every interval (and at start) the node
//! sends its latest checkpoint with a consistency proof from the size its parent last
//! countersigned, over the mutual-TLS channel to the parent, and keeps the countersigned
//! note next to its log (`countersigned.note`).

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::{Code, Status};
use vfed_audit::{Checkpoint, PublicKey};
use vfed_proto::audit::v1 as pb;
use vfed_proto::audit::v1::audit_client::AuditClient;

use crate::service::ACCEPTED_SIZE_METADATA;
use crate::trail::{COUNTERSIGNED_FILE, PARENT_KEY_FILE};
use crate::{AuditMetrics, AuditTrail, AuditingError, convert};

/// First wait after a failure.
const BACKOFF_MIN: Duration = Duration::from_secs(1);

/// Why one shipment failed.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// The parent refused the checkpoint (flagged, invalid) or could not be reached.
    #[error("parent answered {code:?}: {message}")]
    Parent {
        /// The gRPC code.
        code: Code,
        /// The parent's message.
        message: String,
    },
    /// This node's log or files failed.
    #[error(transparent)]
    Local(#[from] AuditingError),
    /// The parent's answer is not this node's checkpoint countersigned.
    #[error("the parent's answer is not our checkpoint countersigned: {0}")]
    BadAnswer(String),
}

impl From<Status> for ShipError {
    fn from(status: Status) -> Self {
        ShipError::Parent {
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}

/// Sends this node's checkpoints to its parent.
#[derive(Debug)]
pub struct CheckpointShipper {
    trail: AuditTrail,
    client: AuditClient<Channel>,
    parent_id: String,
    interval: Duration,
    metrics: AuditMetrics,
}

impl CheckpointShipper {
    /// A shipper to the parent `parent_id` over `channel` (mutual TLS, the parent's node
    /// identity pinned), every `interval`.
    pub fn new(
        trail: AuditTrail,
        channel: Channel,
        parent_id: impl Into<String>,
        interval: Duration,
        metrics: AuditMetrics,
    ) -> Self {
        CheckpointShipper {
            trail,
            client: AuditClient::new(channel),
            parent_id: parent_id.into(),
            interval,
            metrics,
        }
    }

    /// Ships at start and every interval until `shutdown`; after a failure retries sooner
    /// (1 s doubling up to the interval).
    pub async fn run(mut self, shutdown: CancellationToken) {
        let mut backoff = BACKOFF_MIN;
        let mut shipped_once = false;
        loop {
            let wait = match self.ship_once().await {
                Ok(signed) => {
                    backoff = BACKOFF_MIN;
                    if shipped_once {
                        tracing::debug!(parent = %self.parent_id, size = signed.size, "audit checkpoint countersigned by the parent");
                    } else {
                        tracing::info!(parent = %self.parent_id, size = signed.size, "audit checkpoint countersigned by the parent");
                        shipped_once = true;
                    }
                    self.interval
                }
                Err(error) => {
                    self.metrics.ship_failures.inc();
                    match &error {
                        ShipError::Parent {
                            code: Code::FailedPrecondition,
                            ..
                        } => {
                            tracing::error!(parent = %self.parent_id, %error, "the parent refused this node's audit checkpoint (R18.6)");
                        }
                        _ => {
                            tracing::warn!(parent = %self.parent_id, %error, retry_in = ?backoff, "audit checkpoint not delivered to the parent");
                        }
                    }
                    let wait = backoff;
                    backoff = (backoff * 2).min(self.interval.max(BACKOFF_MIN));
                    wait
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends the latest checkpoint once; on success stores and returns the countersigned one.
    pub async fn ship_once(&mut self) -> Result<Checkpoint, ShipError> {
        let checkpoint = self.trail.log().sync().await.map_err(AuditingError::from)?;
        let previous = read_countersigned(self.trail.dir())?;
        let mut from = match &previous {
            Some(prev) => {
                self.check_own_history(prev, &checkpoint);
                prev.size
            }
            None => 0,
        };
        let mut retried = false;
        loop {
            match self.submit(&checkpoint, from).await {
                Ok((signed, parent_key)) => {
                    if let Some(key) = &parent_key {
                        write_parent_key(self.trail.dir(), key)?;
                    }
                    write_countersigned(self.trail.dir(), &signed)?;
                    self.metrics.countersigned.inc();
                    return Ok(signed);
                }
                Err(status) if status.code() == Code::FailedPrecondition && !retried => {
                    let accepted = status
                        .metadata()
                        .get(ACCEPTED_SIZE_METADATA)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok());
                    match accepted {
                        Some(size) if size != from && size <= checkpoint.size => {
                            tracing::info!(parent = %self.parent_id, from, accepted = size, "parent last accepted another size; resending with a proof from it");
                            from = size;
                            retried = true;
                        }
                        _ => return Err(status.into()),
                    }
                }
                Err(status) => return Err(status.into()),
            }
        }
    }

    /// Sends `checkpoint` with a proof from `from`; returns it countersigned,
    /// and the parent's key when the parent sent it (and it verifies the
    /// countersignature).
    async fn submit(
        &mut self,
        checkpoint: &Checkpoint,
        from: u64,
    ) -> Result<(Checkpoint, Option<PublicKey>), Status> {
        let (previous_size, proof) = if from <= checkpoint.size {
            let proof = self
                .trail
                .log()
                .consistency_proof(from, checkpoint.size)
                .map_err(|e| Status::internal(e.to_string()))?;
            (from, proof)
        } else {
            // Our log is shorter than what the parent countersigned: it will say so.
            (checkpoint.size, Vec::new())
        };
        let request = pb::SubmitCheckpointRequest {
            note: checkpoint.to_note(),
            previous_size,
            consistency_proof: convert::hashes(&proof),
            verifier_key: self.trail.public_key().to_string(),
        };
        let answer = self.client.submit_checkpoint(request).await?.into_inner();
        let signed = Checkpoint::parse(&answer.countersigned_note)
            .map_err(|e| Status::internal(format!("countersigned_note: {e}")))?;
        let own = self.trail.public_key();
        let ok = signed.origin == checkpoint.origin
            && signed.size == checkpoint.size
            && signed.root == checkpoint.root
            && signed.verify(&own).is_ok()
            && signed.signatures.iter().any(|s| s.name != own.name());
        if !ok {
            return Err(Status::internal(format!(
                "countersigned_note: not this node's checkpoint of size {} with a parent signature",
                checkpoint.size
            )));
        }
        // A parent that predates the key in the answer sends none.
        let parent_key = if answer.verifier_key.is_empty() {
            None
        } else {
            let key: PublicKey = answer
                .verifier_key
                .parse()
                .map_err(|e| Status::internal(format!("verifier_key: {e}")))?;
            let named = key.name() == crate::origin_of(&self.parent_id);
            if !named || signed.verify(&key).is_err() {
                return Err(Status::internal(format!(
                    "verifier_key: {key} is not node {}'s key that countersigned the checkpoint",
                    self.parent_id
                )));
            }
            Some(key)
        };
        Ok((signed, parent_key))
    }

    /// Warns loudly when this node's own log no longer matches what the parent
    /// countersigned: the parent will flag it (R18.6).
    fn check_own_history(&self, previous: &Checkpoint, now: &Checkpoint) {
        let matches = previous.size <= now.size
            && self
                .trail
                .log()
                .root_at(previous.size)
                .is_ok_and(|root| root == previous.root);
        if !matches {
            tracing::error!(
                countersigned_size = previous.size,
                size = now.size,
                "this node's audit log does not extend the checkpoint its parent countersigned: it was rewritten or rolled back (R18.6)"
            );
        }
    }
}

/// The latest countersigned checkpoint stored in `dir`, if any.
pub fn read_countersigned(dir: &Path) -> Result<Option<Checkpoint>, AuditingError> {
    let path = dir.join(COUNTERSIGNED_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Checkpoint::parse(&text)
            .map(Some)
            .map_err(|e| AuditingError::Corrupt(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AuditingError::Log(vfed_audit::AuditError::io(
            "reading", path, e,
        ))),
    }
}

/// The parent's checkpoint verifier key stored in `dir`, if any.
pub fn read_parent_key(dir: &Path) -> Result<Option<PublicKey>, AuditingError> {
    let path = dir.join(PARENT_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| AuditingError::Corrupt(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(AuditingError::Log(vfed_audit::AuditError::io(
            "reading", path, e,
        ))),
    }
}

/// Stores the parent's key (write, fsync, rename) unless it is there already.
fn write_parent_key(dir: &Path, key: &PublicKey) -> Result<(), AuditingError> {
    let path = dir.join(PARENT_KEY_FILE);
    let text = format!("{key}\n");
    if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    vfed_private_fs::write_atomic(&path, text.as_bytes())
        .map_err(|e| AuditingError::Log(vfed_audit::AuditError::io("writing", &path, e)))
}

/// Replaces the stored countersigned checkpoint (write, fsync, rename).
fn write_countersigned(dir: &Path, signed: &Checkpoint) -> Result<(), AuditingError> {
    let path = dir.join(COUNTERSIGNED_FILE);
    vfed_private_fs::write_atomic(&path, signed.to_note().as_bytes())
        .map_err(|e| AuditingError::Log(vfed_audit::AuditError::io("writing", &path, e)))
}
