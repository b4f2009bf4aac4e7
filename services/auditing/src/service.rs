//! The `vfed.audit.v1.Audit` gRPC service: tail, checkpoint and proofs of this node's log
//! (R14.5, R18.6), and the parent side of the checkpoint exchange with child nodes.
//!
//! Authorization by role is the auth layer's (`audit.read`, `federation.link`); this service
//! additionally requires `SubmitCheckpoint` to come from a **configured child**, identified
//! by its mutual-TLS certificate, whose log is the one submitted.

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status};
use vfed_authz::refused;
use vfed_proto::audit::v1 as pb;
use vfed_proto::audit::v1::audit_server::Audit;

use crate::children::{ChildLedger, Verdict};
use crate::{AuditMetrics, AuditTrail, AuditingError, convert, tail};

/// Trailer carrying the size the parent last accepted, on a stale submission.
pub const ACCEPTED_SIZE_METADATA: &str = "vfed-audit-accepted-size";

type TailStream = Pin<Box<dyn Stream<Item = Result<pb::Entry, Status>> + Send>>;

/// The Audit service of one node.
#[derive(Clone, Debug)]
pub struct AuditService {
    trail: AuditTrail,
    ledger: ChildLedger,
    children: Arc<BTreeSet<String>>,
    shutdown: CancellationToken,
}

impl AuditService {
    /// The service over `trail`, accepting checkpoints from `children` (node codes).
    pub fn new(
        trail: AuditTrail,
        children: impl IntoIterator<Item = String>,
        metrics: AuditMetrics,
    ) -> Self {
        AuditService {
            ledger: ChildLedger::new(trail.clone(), metrics),
            trail,
            children: Arc::new(children.into_iter().collect()),
            shutdown: CancellationToken::new(),
        }
    }

    /// Ends `Tail --follow` streams when `shutdown` is cancelled (so the server can drain).
    pub fn with_shutdown(mut self, shutdown: CancellationToken) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// The calling child's node code: a node certificate naming a configured child.
    fn child_of<T>(&self, request: &Request<T>) -> Result<String, Status> {
        let peer = vfed_pki::peer_info(request).ok_or_else(|| {
            refused(
                Code::Unauthenticated,
                "",
                "a child's node certificate is required",
                "R18.4",
                "no client certificate (R18.4)",
            )
        })?;
        let identity = &peer.identity;
        if identity.is_node() && self.children.contains(&identity.name) {
            Ok(identity.name.clone())
        } else {
            Err(refused(
                Code::PermissionDenied,
                "",
                "only children submit checkpoints",
                "R18.4",
                format!(
                    "{identity} is not a configured child of node {}: only children submit checkpoints (R6.1, R18.4)",
                    self.trail.node_id()
                ),
            ))
        }
    }

    /// The size a proof is asked for: `0` means the latest checkpoint, which is first made
    /// to cover everything committed.
    async fn size_or_latest(&self, field: &'static str, size: u64) -> Result<u64, Status> {
        if size == 0 {
            let checkpoint = self.trail.log().sync().await.map_err(AuditingError::from)?;
            return Ok(checkpoint.size);
        }
        let committed = self.trail.size();
        if size > committed {
            return Err(Status::out_of_range(format!(
                "{field}: {size} is beyond the log's {committed} entries"
            )));
        }
        Ok(size)
    }
}

#[tonic::async_trait]
impl Audit for AuditService {
    type TailStream = TailStream;

    #[tracing::instrument(skip_all)]
    async fn tail(
        &self,
        request: Request<pb::TailRequest>,
    ) -> Result<Response<TailStream>, Status> {
        let plan = tail::plan(request.get_ref(), self.trail.size())?;
        let rx = tail::spawn(self.trail.clone(), plan, self.shutdown.clone());
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    #[tracing::instrument(skip_all)]
    async fn get_checkpoint(
        &self,
        _request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        Ok(Response::new(convert::checkpoint(&self.trail.checkpoint())))
    }

    #[tracing::instrument(skip_all)]
    async fn get_inclusion_proof(
        &self,
        request: Request<pb::InclusionProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        let req = request.into_inner();
        let tree_size = self.size_or_latest("tree_size", req.tree_size).await?;
        if req.index >= tree_size {
            return Err(AuditingError::invalid(
                "index",
                format!("{} is not below tree_size {tree_size}", req.index),
            )
            .into());
        }
        let log = self.trail.log();
        let hashes = log
            .inclusion_proof(req.index, tree_size)
            .map_err(AuditingError::from)?;
        let leaf = log.leaf_hash(req.index).unwrap_or_default();
        let root = log.root_at(tree_size).map_err(AuditingError::from)?;
        Ok(Response::new(pb::Proof {
            tree_size,
            hashes: convert::hashes(&hashes),
            leaf_hash: leaf.to_vec(),
            root: root.to_vec(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_consistency_proof(
        &self,
        request: Request<pb::ConsistencyProofRequest>,
    ) -> Result<Response<pb::Proof>, Status> {
        let req = request.into_inner();
        let new_size = self.size_or_latest("new_size", req.new_size).await?;
        if req.old_size > new_size {
            return Err(AuditingError::invalid(
                "old_size",
                format!("{} is larger than new_size {new_size}", req.old_size),
            )
            .into());
        }
        let log = self.trail.log();
        let hashes = log
            .consistency_proof(req.old_size, new_size)
            .map_err(AuditingError::from)?;
        let root = log.root_at(new_size).map_err(AuditingError::from)?;
        Ok(Response::new(pb::Proof {
            tree_size: new_size,
            hashes: convert::hashes(&hashes),
            leaf_hash: Vec::new(),
            root: root.to_vec(),
        }))
    }

    #[tracing::instrument(skip_all, fields(child))]
    async fn submit_checkpoint(
        &self,
        request: Request<pb::SubmitCheckpointRequest>,
    ) -> Result<Response<pb::SubmitCheckpointResponse>, Status> {
        let child = self.child_of(&request)?;
        tracing::Span::current().record("child", child.as_str());
        let submission = convert::submission(request.into_inner())?;
        match self.ledger.submit(&child, &submission).await? {
            Verdict::Accepted(signed) => Ok(Response::new(pb::SubmitCheckpointResponse {
                countersigned_note: signed.to_note(),
                verifier_key: self.trail.public_key().to_string(),
            })),
            Verdict::Flagged(reason) => Err(refused(
                Code::FailedPrecondition,
                "note",
                &format!("the child is flagged: {reason}"),
                "R18.6",
                format!(
                    "checkpoint of node/{child} refused, the child is flagged: {reason} (R18.6)"
                ),
            )),
            Verdict::Stale { accepted_size } => {
                let mut status = refused(
                    Code::FailedPrecondition,
                    "previous_size",
                    &format!("is not the size last accepted ({accepted_size})"),
                    "R18.6",
                    format!(
                        "previous_size: {} is not the size node {} last accepted ({accepted_size}); resend with a consistency proof from {accepted_size} (R18.6)",
                        submission.previous_size,
                        self.trail.node_id()
                    ),
                );
                status
                    .metadata_mut()
                    .insert(ACCEPTED_SIZE_METADATA, MetadataValue::from(accepted_size));
                Err(status)
            }
            Verdict::Invalid { field, reason } => {
                Err(AuditingError::Invalid { field, reason }.into())
            }
        }
    }

    #[tracing::instrument(skip_all)]
    async fn list_child_checkpoints(
        &self,
        _request: Request<pb::ListChildCheckpointsRequest>,
    ) -> Result<Response<pb::ListChildCheckpointsResponse>, Status> {
        let records = self.ledger.list().await?;
        let mut children = Vec::with_capacity(records.len().max(self.children.len()));
        for record in &records {
            children.push(convert::child(
                record,
                self.children.contains(&record.child_id),
            )?);
        }
        for id in self.children.iter() {
            if !records.iter().any(|r| &r.child_id == id) {
                children.push(pb::ChildCheckpoint {
                    child_id: id.clone(),
                    configured: true,
                    ..Default::default()
                });
            }
        }
        children.sort_by(|a, b| a.child_id.cmp(&b.child_id));
        Ok(Response::new(pb::ListChildCheckpointsResponse { children }))
    }
}
