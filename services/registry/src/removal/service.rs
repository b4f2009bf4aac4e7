//! The `vfed.registry.v1.Removals` gRPC service (R18.11).
//!
//! The auth layer in front has checked `devices.write` / `devices.read`,
//! logs every error these handlers return as a refusal, and commits each
//! step's audit record in the step's own transaction. What depends on the
//! request itself (the approver's role and that they are not the requester,
//! the stage, R7 at the new place) is checked here.

use time::OffsetDateTime;
use tonic::{Request, Response, Status};
use vfed_authz::{Role, principal_of};
use vfed_proto::bounds;
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::removals_server::Removals;

use crate::RegistryError;
use crate::catalog::{Catalog, Versioned, now_ms};
use crate::convert::location_type;
use crate::domain::{CatalogEntry, DeviceSpec};
use crate::metrics::RegistryMetrics;
use crate::rules::{check_spec, display};
use crate::service::required_id;

use super::book::Book;
use super::convert::request_to_wire;
use super::record::{Place, RemovalKind, RemovalRecord, Step};
use super::steps::{self, Caller};

/// Longest office name and reference number.
const OFFICE_CHARS: usize = bounds::NAME_CHARS;
const REFERENCE_CHARS: usize = 64;
const REASON_CHARS: usize = 256;

/// The removal and relocation workflow of one node.
#[derive(Clone)]
pub struct RemovalService {
    catalog: Catalog,
    book: Book,
    metrics: RegistryMetrics,
}

fn caller_of<T>(request: &Request<T>) -> Result<Caller, Status> {
    let principal = principal_of(request)?;
    Ok(Caller {
        actor: principal.actor(),
        role: principal.role.map_or("node", Role::name).to_owned(),
        is_admin: principal.role == Some(Role::Admin),
    })
}

fn reason(value: &str) -> Result<String, RegistryError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(RegistryError::invalid("reason", "is required", "R18.11"));
    }
    bounds::free_text(value, REASON_CHARS)
        .map_err(|fault| RegistryError::bad("reason", fault.to_string()))?;
    Ok(value.to_owned())
}

fn request_id(id: &str) -> Result<(), RegistryError> {
    if super::record::parse_id(id).is_none() {
        return Err(RegistryError::bad(
            "id",
            "is not a removal request ID (<20-digit device ID>-<13-digit unix ms>)",
        ));
    }
    Ok(())
}

fn place_of(spec: &DeviceSpec) -> Place {
    Place {
        location_type: spec.location_type,
        address: spec.address.clone(),
        latitude: spec.latitude,
        longitude: spec.longitude,
    }
}

/// The spec as it would be at `place`.
fn moved(spec: &DeviceSpec, place: &Place) -> DeviceSpec {
    let mut spec = spec.clone();
    spec.location_type = place.location_type;
    spec.address = place.address.clone();
    spec.latitude = place.latitude;
    spec.longitude = place.longitude;
    spec
}

/// A field of the spec as the relocation request names it.
fn relocation_field(field: String) -> String {
    match field.strip_prefix("spec.") {
        Some(rest @ ("location_type" | "address" | "latitude" | "longitude")) => {
            format!("new_location.{rest}")
        }
        _ => field,
    }
}

impl RemovalService {
    /// Over the node's catalog; R7 refusals join the registry's refusal count.
    pub fn new(catalog: Catalog, metrics: RegistryMetrics) -> Self {
        Self {
            book: Book::new(catalog.clone()),
            catalog,
            metrics,
        }
    }

    /// Every registration rule, R7 first, for the device at its new place:
    /// the same code as `RegisterDevice` and `UpdateDevice`.
    fn check_new_place(&self, spec: &DeviceSpec, place: &Place) -> Result<(), RegistryError> {
        let today = OffsetDateTime::now_utc().date();
        check_spec(&moved(spec, place), self.catalog.area(), today).map_err(|error| {
            if matches!(error, RegistryError::Invalid { .. }) {
                self.metrics.refusals.inc();
            }
            match error {
                RegistryError::Invalid {
                    field,
                    rule,
                    requirement,
                } => RegistryError::Invalid {
                    field: relocation_field(field),
                    rule,
                    requirement,
                },
                other => other,
            }
        })
    }

    async fn local_device(&self, id: &str) -> Result<Versioned, RegistryError> {
        if let Some(device) = self.catalog.get_local(id).await? {
            return Ok(device);
        }
        match self.catalog.get(id).await? {
            Some(remote) => Err(RegistryError::precondition(
                "device_id",
                format!(
                    "device {id} is registered at node {}; its removal or move is requested there",
                    remote.entry.origin_node_id
                ),
                "R18.11",
            )),
            None => Err(RegistryError::NotFound(id.to_owned())),
        }
    }

    /// Step 1, re-read and retried while the device changes under it
    /// (its liveness status, for one).
    async fn file(
        &self,
        caller: Caller,
        device_id: &str,
        reason: String,
        new_place: Option<Place>,
    ) -> Result<pb::RemovalRequest, RegistryError> {
        retried(|| self.try_file(&caller, device_id, &reason, new_place.as_ref())).await
    }

    async fn try_file(
        &self,
        caller: &Caller,
        device_id: &str,
        reason: &str,
        new_place: Option<&Place>,
    ) -> Result<pb::RemovalRequest, RegistryError> {
        let device = self.local_device(device_id).await?;
        if let Some(place) = new_place {
            self.check_new_place(&device.entry.spec, place)?;
        }
        let record = RemovalRecord {
            device_id: device_id.to_owned(),
            unit: device.entry.spec.unit.clone(),
            kind: if new_place.is_some() {
                RemovalKind::Relocate
            } else {
                RemovalKind::Remove
            },
            reason: reason.to_owned(),
            old_place: place_of(&device.entry.spec),
            new_place: new_place.cloned(),
            requested: Step {
                by: caller.actor.clone(),
                at_ms: now_ms(),
            },
            approved: None,
            report: None,
            completed: None,
        };
        self.book.file(&record, &device).await?;
        tracing::info!(request = %record.id(), kind = ?record.kind, "removal requested");
        Ok(request_to_wire(&record))
    }

    async fn read(&self, id: &str) -> Result<(RemovalRecord, i64), RegistryError> {
        request_id(id)?;
        self.book
            .get(id)
            .await?
            .ok_or_else(|| RegistryError::NotFoundRequest(id.to_owned()))
    }

    /// Step 4 for the request `id`: the removal or move takes effect
    /// (re-read and retried while the device changes under it).
    pub(crate) async fn complete(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<RemovalRecord, RegistryError> {
        retried(|| self.try_complete(caller, id)).await
    }

    async fn try_complete(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<RemovalRecord, RegistryError> {
        let (mut record, revision) = self.read(id).await?;
        let at = now_ms();
        steps::complete(&mut record, caller, at)?;
        let device = self.local_device(&record.device_id).await?;
        let moved_entry = match (&record.kind, &record.new_place) {
            (RemovalKind::Relocate, Some(place)) => {
                self.check_new_place(&device.entry.spec, place)?;
                Some(CatalogEntry {
                    spec: moved(&device.entry.spec, place),
                    ..device.entry.clone()
                })
            }
            _ => None,
        };
        self.book
            .complete(&record, revision, &device, moved_entry, at)
            .await?;
        tracing::info!(request = %id, kind = ?record.kind, "removal took effect");
        Ok(record)
    }

    /// The open request of a device, completed (`DecommissionDevice`).
    pub(crate) async fn complete_open_removal(
        &self,
        caller: &Caller,
        device_id: &str,
    ) -> Result<RemovalRecord, RegistryError> {
        let open = self.book.open_of(device_id).await?;
        let Some(id) = open else {
            self.local_device(device_id).await?;
            return Err(RegistryError::precondition(
                "id",
                format!(
                    "device {device_id} has no removal request: request it, have an administrator approve it and record the report to the filing police office first"
                ),
                "R18.11",
            ));
        };
        let (record, _) = self.read(&id).await?;
        if record.kind != RemovalKind::Remove {
            return Err(RegistryError::precondition(
                "id",
                format!(
                    "device {device_id}'s open request {id} is a relocation; complete it with CompleteRemoval"
                ),
                "R18.11",
            ));
        }
        self.complete(caller, &id).await
    }
}

/// How often a step is re-read and retried after losing a compare-and-swap.
const ATTEMPTS: usize = 16;

/// `attempt` until it does not lose a compare-and-swap, at most [`ATTEMPTS`] times.
async fn retried<T, F, Fut>(mut attempt: F) -> Result<T, RegistryError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RegistryError>>,
{
    let mut last = String::new();
    for _ in 0..ATTEMPTS {
        match attempt().await {
            Err(RegistryError::Raced(message)) => last = message,
            other => return other,
        }
    }
    Err(RegistryError::Raced(last))
}

/// The caller of a request, for `DecommissionDevice`.
pub(crate) fn caller(request: &Request<pb::DecommissionDeviceRequest>) -> Result<Caller, Status> {
    caller_of(request)
}

fn new_place(location: Option<pb::NewLocation>) -> Result<Place, RegistryError> {
    let location = location.ok_or_else(|| {
        RegistryError::invalid("new_location", "is required for a relocation", "R18.11")
    })?;
    let location_type = location_type(location.location_type, "new_location.location_type")?;
    let address = location.address.trim().to_owned();
    display("new_location.address", &address, bounds::ADDRESS_CHARS)?;
    Ok(Place {
        location_type,
        address,
        latitude: location.latitude,
        longitude: location.longitude,
    })
}

fn text(field: &str, value: &str, max: usize) -> Result<String, RegistryError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(RegistryError::invalid(field, "is required", "R18.11"));
    }
    display(field, value, max)?;
    Ok(value.to_owned())
}

#[tonic::async_trait]
impl Removals for RemovalService {
    #[tracing::instrument(skip_all)]
    async fn request_removal(
        &self,
        request: Request<pb::RequestRemovalRequest>,
    ) -> Result<Response<pb::RemovalRequest>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        required_id("device_id", &request.device_id)?;
        let reason = reason(&request.reason)?;
        Ok(Response::new(
            self.file(caller, &request.device_id, reason, None).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn request_relocation(
        &self,
        request: Request<pb::RequestRelocationRequest>,
    ) -> Result<Response<pb::RemovalRequest>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        required_id("device_id", &request.device_id)?;
        let reason = reason(&request.reason)?;
        let place = new_place(request.new_location)?;
        Ok(Response::new(
            self.file(caller, &request.device_id, reason, Some(place))
                .await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn approve_removal(
        &self,
        request: Request<pb::ApproveRemovalRequest>,
    ) -> Result<Response<pb::RemovalRequest>, Status> {
        let caller = caller_of(&request)?;
        let id = request.into_inner().id;
        let (mut record, revision) = self.read(&id).await?;
        steps::approve(&mut record, &caller, now_ms())?;
        self.book.save(&record, revision).await?;
        Ok(Response::new(request_to_wire(&record)))
    }

    #[tracing::instrument(skip_all)]
    async fn report_removal(
        &self,
        request: Request<pb::ReportRemovalRequest>,
    ) -> Result<Response<pb::RemovalRequest>, Status> {
        let caller = caller_of(&request)?;
        let request = request.into_inner();
        request_id(&request.id)?;
        let office = text("office", &request.office, OFFICE_CHARS)?;
        let reference = text("reference", &request.reference, REFERENCE_CHARS)?;
        if request.reported_unix_ms < 0 {
            return Err(RegistryError::bad("reported_unix_ms", "must not be negative").into());
        }
        let (mut record, revision) = self.read(&request.id).await?;
        let now = now_ms();
        let reported = match request.reported_unix_ms {
            0 => now,
            ms => ms,
        };
        steps::report(&mut record, &caller, office, reference, reported, now)?;
        self.book.save(&record, revision).await?;
        Ok(Response::new(request_to_wire(&record)))
    }

    #[tracing::instrument(skip_all)]
    async fn complete_removal(
        &self,
        request: Request<pb::CompleteRemovalRequest>,
    ) -> Result<Response<pb::RemovalRequest>, Status> {
        let caller = caller_of(&request)?;
        let record = self.complete(&caller, &request.into_inner().id).await?;
        Ok(Response::new(request_to_wire(&record)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_removals(
        &self,
        request: Request<pb::ListRemovalsRequest>,
    ) -> Result<Response<pb::ListRemovalsResponse>, Status> {
        let request = request.into_inner();
        let device = (!request.device_id.is_empty()).then_some(request.device_id.as_str());
        if let Some(id) = device {
            required_id("device_id", id)?;
        }
        let records = self.book.list(device, request.open_only).await?;
        Ok(Response::new(pb::ListRemovalsResponse {
            requests: records.iter().map(request_to_wire).collect(),
        }))
    }
}
