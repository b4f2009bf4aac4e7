//! The `vfed.retrieval.v1.Retrieval` gRPC service: thin handlers over the
//! workflow, the input checks and the records in the store.
//!
//! The auth layer in front has already checked the permission of the method
//! (`retrieval.file`, `retrieval.cosign`...), logs every error status these
//! handlers return as a refusal, and commits the audit record of each
//! change with it. What depends on the request itself (the same officer
//! twice, who signed, its state, its expiry) is checked here.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use vfed_authz::{Principal, principal_of};
use vfed_proto::retrieval::v1 as pb;
use vfed_proto::retrieval::v1::retrieval_server::Retrieval;

use crate::convert::{grant_to_wire, request_to_wire};
use crate::devices::DeviceDirectory;
use crate::error::RetrievalError;
use crate::keys;
use crate::options::RetrievalOptions;
use crate::requests::{Requests, Versioned};
use crate::{validate, workflow};

/// The time source: unix milliseconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How many fresh IDs filing tries before giving up (two requests filed
/// in the same millisecond with the same 32 random bits).
const ID_ATTEMPTS: usize = 4;

fn system_clock() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

/// The retrieval service of one node.
#[derive(Clone)]
pub struct RetrievalService {
    pub(crate) requests: Requests,
    devices: Arc<dyn DeviceDirectory>,
    options: RetrievalOptions,
    clock: Clock,
}

impl RetrievalService {
    /// Requests kept in `store` (the node's audited store) about devices
    /// of `devices` (the node's catalog).
    pub fn new(
        store: vfed_store::SharedStore,
        devices: impl DeviceDirectory,
        options: RetrievalOptions,
    ) -> Self {
        Self {
            requests: Requests::new(store),
            devices: Arc::new(devices),
            options,
            clock: Arc::new(system_clock),
        }
    }

    /// With another time source (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Every device must be in this node's catalog (registered here or
    /// received from a child).
    async fn check_known(&self, ids: &[String]) -> Result<(), RetrievalError> {
        for (i, id) in ids.iter().enumerate() {
            if !self.devices.contains(id).await? {
                return Err(RetrievalError::invalid(
                    format!("request.device_ids[{i}]"),
                    format!(
                        "device {id} is not in the catalog of node {} (neither registered here nor received from a child)",
                        self.devices.node_id()
                    ),
                    "R16",
                ));
            }
        }
        Ok(())
    }

    fn wire(&self, v: &Versioned) -> pb::RetrievalRequest {
        request_to_wire(&v.record, v.revision, self.now())
    }

    async fn file(
        &self,
        filer: &Principal,
        request: pb::FileRequestRequest,
    ) -> Result<Versioned, RetrievalError> {
        workflow::may_file(filer)?;
        let now = self.now();
        let draft = validate::draft(request.request, now, &self.options)?;
        self.check_known(&draft.device_ids).await?;
        for _ in 0..ID_ATTEMPTS {
            let id = keys::new_id(self.now_ms(), rand::random());
            let record = workflow::file(id, draft.clone(), filer, now)?;
            if let Some(created) = self.requests.create(&record).await? {
                return Ok(created);
            }
        }
        Err(RetrievalError::Busy("new request".into()))
    }

    /// Applies `step` to request `id` as one compare-and-swap transaction.
    async fn step(
        &self,
        id: &str,
        step: impl Fn(&crate::Record, i64) -> Result<crate::Record, RetrievalError>,
    ) -> Result<Versioned, RetrievalError> {
        validate::id("id", id)?;
        self.requests
            .change(id, |record| step(record, self.now()))
            .await
    }

    /// Request `id` if `caller` may export its video now (a signer of an
    /// approved, unexpired request); else the refusal naming R16/R17.
    pub async fn exportable(
        &self,
        id: &str,
        caller: &Principal,
    ) -> Result<crate::Record, RetrievalError> {
        validate::id("id", id)?;
        let v = self.requests.must_get(id).await?;
        workflow::may_export(&v.record, caller, self.now())?;
        Ok(v.record)
    }

    async fn list(
        &self,
        request: pb::ListRequestsRequest,
    ) -> Result<pb::ListRequestsResponse, RetrievalError> {
        let state = validate::state_filter(request.state)?;
        let limit = validate::limit(request.limit)?;
        let now = self.now();
        let requests = self
            .requests
            .all()
            .await?
            .iter()
            .rev()
            .filter(|v| state.is_none_or(|s| v.record.state(now) == s))
            .take(limit)
            .map(|v| request_to_wire(&v.record, v.revision, now))
            .collect();
        Ok(pb::ListRequestsResponse { requests })
    }
}

#[tonic::async_trait]
impl Retrieval for RetrievalService {
    #[tracing::instrument(skip_all)]
    async fn file_request(
        &self,
        request: Request<pb::FileRequestRequest>,
    ) -> Result<Response<pb::RetrievalRequest>, Status> {
        let caller = principal_of(&request)?;
        let v = self
            .file(&caller, request.into_inner())
            .await
            .map_err(Status::from)?;
        tracing::info!(id = %v.record.id, caller = %caller.actor(), "retrieval request filed");
        Ok(Response::new(self.wire(&v)))
    }

    #[tracing::instrument(skip_all)]
    async fn co_sign(
        &self,
        request: Request<pb::CoSignRequest>,
    ) -> Result<Response<pb::RetrievalRequest>, Status> {
        let caller = principal_of(&request)?;
        let id = request.into_inner().id;
        let v = self
            .step(&id, |r, now| workflow::cosign(r, &caller, now))
            .await
            .map_err(Status::from)?;
        tracing::info!(%id, caller = %caller.actor(), "retrieval request co-signed");
        Ok(Response::new(self.wire(&v)))
    }

    #[tracing::instrument(skip_all)]
    async fn approve(
        &self,
        request: Request<pb::ApproveRequest>,
    ) -> Result<Response<pb::RetrievalRequest>, Status> {
        let caller = principal_of(&request)?;
        let id = request.into_inner().id;
        let v = self
            .step(&id, |r, now| workflow::approve(r, &caller, now))
            .await
            .map_err(Status::from)?;
        tracing::info!(%id, caller = %caller.actor(), "retrieval request approved");
        Ok(Response::new(self.wire(&v)))
    }

    #[tracing::instrument(skip_all)]
    async fn reject(
        &self,
        request: Request<pb::RejectRequest>,
    ) -> Result<Response<pb::RetrievalRequest>, Status> {
        let caller = principal_of(&request)?;
        let pb::RejectRequest { id, reason } = request.into_inner();
        let v = async {
            let reason = validate::reason(reason)?;
            self.step(&id, |r, now| {
                workflow::reject(r, &caller, reason.clone(), now)
            })
            .await
        }
        .await
        .map_err(Status::from)?;
        tracing::info!(%id, caller = %caller.actor(), "retrieval request rejected");
        Ok(Response::new(self.wire(&v)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_request(
        &self,
        request: Request<pb::GetRequestRequest>,
    ) -> Result<Response<pb::RetrievalRequest>, Status> {
        let id = request.into_inner().id;
        validate::id("id", &id)?;
        let v = self.requests.must_get(&id).await?;
        Ok(Response::new(self.wire(&v)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_requests(
        &self,
        request: Request<pb::ListRequestsRequest>,
    ) -> Result<Response<pb::ListRequestsResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn open_access(
        &self,
        request: Request<pb::OpenAccessRequest>,
    ) -> Result<Response<pb::AccessGrant>, Status> {
        let caller = principal_of(&request)?;
        let id = request.into_inner().id;
        let grant = async {
            validate::id("id", &id)?;
            let v = self.requests.must_get(&id).await?;
            workflow::open_access(&v.record, &caller, self.now())
        }
        .await
        .map_err(Status::from)?;
        tracing::info!(%id, caller = %caller.actor(), agency = %grant.requesting_agency, "retrieval access opened");
        Ok(Response::new(grant_to_wire(grant)))
    }
}

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;

/// Starts the retrieval service of a node over `store`: requests may name
/// the devices of `devices` (the registry's catalog). Its work is done in
/// its calls; nothing runs in the background.
pub fn run(
    store: vfed_store::SharedStore,
    devices: impl DeviceDirectory,
    options: RetrievalOptions,
) -> RetrievalService {
    RetrievalService::new(store, devices, options)
}
