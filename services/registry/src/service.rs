//! The `Registry` gRPC service: thin handlers over the catalog, the rules
//! and liveness.

use std::collections::BTreeMap;
use std::time::Duration;

use prost::Message as _;
use time::{Date, OffsetDateTime};
use tonic::{Request, Response, Status};
use vfed_gbcode::division_name;
use vfed_proto::bounds;
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_server::Registry;

use crate::catalog::{Catalog, Versioned};
use crate::convert::{
    device_to_wire, location_filter, spec_from_wire, status_filter, status_to_wire,
};
use crate::filing::overdue;
use crate::liveness::Liveness;
use crate::metrics::RegistryMetrics;
use crate::removal::RemovalService;
use crate::rules::{check_spec, parse_date};
use crate::{RegistryError, keys};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
const MAX_KEEPALIVE_IDS: usize = 1000;

/// The registry service of one node.
#[derive(Clone)]
pub struct RegistryService {
    catalog: Catalog,
    liveness: Liveness,
    metrics: RegistryMetrics,
    /// The removal workflow: `DecommissionDevice` is its last step (R18.11).
    removals: RemovalService,
    /// Areas of the children: their devices are registered there, not here.
    child_areas: Vec<(String, vfed_gbcode::AreaCode)>,
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn wire(v: &Versioned) -> pb::Device {
    device_to_wire(&v.entry, v.revision)
}

impl RegistryService {
    /// A service over `catalog` and `liveness`.
    pub fn new(catalog: Catalog, liveness: Liveness, metrics: RegistryMetrics) -> Self {
        Self {
            removals: RemovalService::new(catalog.clone(), metrics.clone()),
            catalog,
            liveness,
            metrics,
            child_areas: Vec::new(),
        }
    }

    /// Refuses devices of the children's areas: R6.1 links each site system
    /// to its own county, and one device must not exist at two levels.
    pub fn with_children(mut self, children: impl IntoIterator<Item = String>) -> Self {
        self.child_areas = children
            .into_iter()
            .filter_map(|id| Some((id.clone(), vfed_gbcode::AreaCode::parse(id.get(..6)?)?)))
            .collect();
        self
    }

    fn check_not_a_childs(&self, id: &str) -> Result<(), RegistryError> {
        let Some(area) = id.get(..6).and_then(vfed_gbcode::AreaCode::parse) else {
            return Ok(());
        };
        match self
            .child_areas
            .iter()
            .find(|(_, child)| child.contains(&area))
        {
            Some((child, _)) => Err(RegistryError::invalid(
                "spec.id",
                format!(
                    "area code {area} belongs to child node {child}; register the device there"
                ),
                "R6.1",
            )),
            None => Ok(()),
        }
    }

    /// Every rule a registered or updated spec must pass; a refusal is
    /// counted before it is returned (the node's call log logs it, once).
    fn validated(&self, spec: Option<pb::DeviceSpec>) -> Result<crate::domain::DeviceSpec, Status> {
        let spec = spec.ok_or_else(|| RegistryError::bad("spec", "is required"))?;
        tracing::Span::current().record("device", spec.id.as_str());
        let spec = spec_from_wire(spec).map_err(|e| self.refused(e))?;
        check_spec(&spec, self.catalog.area(), today()).map_err(|e| self.refused(e))?;
        self.check_not_a_childs(&spec.id)
            .map_err(|e| self.refused(e))?;
        Ok(spec)
    }

    fn refused(&self, error: RegistryError) -> Status {
        if matches!(error, RegistryError::Invalid { .. }) {
            self.metrics.refusals.inc();
        }
        error.into()
    }

    async fn list_filtered(
        &self,
        request: pb::ListDevicesRequest,
    ) -> Result<pb::ListDevicesResponse, RegistryError> {
        let prefix = match pb::Scope::try_from(request.scope) {
            Ok(pb::Scope::All) => keys::CATALOG,
            Ok(pb::Scope::Local) => keys::LOCAL,
            Ok(pb::Scope::Remote) => keys::REMOTE,
            Err(_) => return Err(RegistryError::bad("scope", "must be all, local or remote")),
        };
        let page_size = match request.page_size as usize {
            0 => DEFAULT_PAGE,
            n if n <= MAX_PAGE => n,
            _ => {
                return Err(RegistryError::bad(
                    "page_size",
                    format!("must be at most {MAX_PAGE}"),
                ));
            }
        };
        if !request.page_token.is_empty() && !request.page_token.starts_with(prefix) {
            return Err(RegistryError::bad(
                "page_token",
                "does not belong to this listing",
            ));
        }
        for (field, value) in [
            ("division", &request.division),
            ("unit", &request.unit),
            ("name_contains", &request.name_contains),
            ("page_token", &request.page_token),
        ] {
            filter(field, value)?;
        }
        let status = status_filter(request.status)?;
        let location = location_filter(request.location_type)?;
        let name = request.name_contains.to_lowercase();
        let keep = |v: &Versioned| {
            let e = &v.entry;
            status.is_none_or(|s| e.status == s)
                && request.shared.is_none_or(|s| e.spec.shared == s)
                && location.is_none_or(|l| e.spec.location_type == l)
                && (request.division.is_empty() || e.spec.id.starts_with(&request.division))
                && (request.unit.is_empty() || e.spec.unit == request.unit)
                && (name.is_empty() || e.spec.name.to_lowercase().contains(&name))
        };
        let mut devices = Vec::new();
        let mut cursor = (!request.page_token.is_empty()).then(|| request.page_token.clone());
        let mut next_page_token = String::new();
        let mut bytes = 0;
        let mut full = false;
        loop {
            let (entries, more) = self
                .catalog
                .page(prefix, cursor.as_deref(), MAX_PAGE)
                .await?;
            let fetched = entries.len();
            for v in entries {
                let key = if v.entry.is_remote() {
                    keys::remote(&v.entry.spec.id)
                } else {
                    keys::local(&v.entry.spec.id)
                };
                cursor = Some(key);
                if keep(&v) {
                    let device = wire(&v);
                    // A page ends by count or by bytes, whichever comes first,
                    // so that no page reaches the caller's message limit.
                    bytes += device.encoded_len() + 8;
                    devices.push(device);
                    if devices.len() == page_size || bytes >= bounds::MAX_BATCH_BYTES {
                        full = true;
                        break;
                    }
                }
            }
            if full {
                if more || fetched > 0 {
                    next_page_token = cursor.clone().unwrap_or_default();
                }
                break;
            }
            if !more {
                break;
            }
        }
        // A full last page may have nothing after it; a caller following the
        // token then gets an empty page, which is the documented end.
        Ok(pb::ListDevicesResponse {
            devices,
            next_page_token,
        })
    }

    async fn tree(&self, division: &str) -> Result<pb::CatalogTree, RegistryError> {
        let mut tree: BTreeMap<String, BTreeMap<String, Vec<pb::CatalogDeviceRef>>> =
            BTreeMap::new();
        for v in self.catalog.all(keys::CATALOG).await? {
            let e = v.entry;
            let code = e.spec.id.get(..6).unwrap_or_default().to_owned();
            if !division.is_empty() && code != division {
                continue;
            }
            tree.entry(code)
                .or_default()
                .entry(e.spec.unit.clone())
                .or_default()
                .push(pb::CatalogDeviceRef {
                    id: e.spec.id.clone(),
                    name: e.spec.name.clone(),
                    status: status_to_wire(e.status),
                    remote: e.via_child.is_some(),
                });
        }
        let divisions = tree
            .into_iter()
            .map(|(code, units)| pb::CatalogDivision {
                name: division_name(&code).unwrap_or_default().to_owned(),
                code,
                units: units
                    .into_iter()
                    .map(|(name, devices)| pb::CatalogUnit { name, devices })
                    .collect(),
            })
            .collect();
        Ok(pb::CatalogTree { divisions })
    }
}

pub(crate) fn required_id(field: &str, id: &str) -> Result<(), Status> {
    if id.is_empty() {
        return Err(RegistryError::bad(field, "is required").into());
    }
    id_filter(field, id)
}

/// A device code in a request: at most 20 ASCII digits (no store key is longer).
fn id_filter(field: &str, id: &str) -> Result<(), Status> {
    if id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RegistryError::invalid(field, "must be a 20-digit code", "R4").into());
    }
    Ok(())
}

/// A free-form filter or page token: bounded like every other field.
fn filter(field: &str, value: &str) -> Result<(), RegistryError> {
    if value.len() > bounds::FILTER_BYTES {
        return Err(RegistryError::bad(
            field,
            format!("must be at most {} bytes", bounds::FILTER_BYTES),
        ));
    }
    bounds::display_text(value, bounds::FILTER_BYTES)
        .map_err(|fault| RegistryError::bad(field, fault.to_string()))
}

#[tonic::async_trait]
impl Registry for RegistryService {
    #[tracing::instrument(skip_all, fields(device))]
    async fn register_device(
        &self,
        request: Request<pb::RegisterDeviceRequest>,
    ) -> Result<Response<pb::Device>, Status> {
        let spec = self.validated(request.into_inner().spec)?;
        let stored = self.catalog.register(spec).await?;
        self.metrics.registrations.inc();
        Ok(Response::new(wire(&stored)))
    }

    #[tracing::instrument(skip_all, fields(device))]
    async fn update_device(
        &self,
        request: Request<pb::UpdateDeviceRequest>,
    ) -> Result<Response<pb::Device>, Status> {
        let request = request.into_inner();
        let spec = self.validated(request.spec)?;
        if self.catalog.get_local(&spec.id).await?.is_none()
            && let Some(remote) = self.catalog.get(&spec.id).await?
        {
            return Err(RegistryError::FailedPrecondition(format!(
                "device {} is registered at node {}; update it there",
                spec.id, remote.entry.origin_node_id
            ))
            .into());
        }
        // 0 (the proto3 default: field unset) means "no check"; a revision is
        // never negative, so a negative one is a mistake, not a wildcard.
        let expected = match request.expected_revision {
            0 => None,
            r if r > 0 => Some(r),
            r => {
                return Err(RegistryError::bad(
                    "expected_revision",
                    format!("{r} is not a revision: use 0 for no check or a revision from get"),
                )
                .into());
            }
        };
        let stored = self.catalog.update(spec, expected).await?;
        Ok(Response::new(wire(&stored)))
    }

    #[tracing::instrument(skip_all)]
    async fn get_device(
        &self,
        request: Request<pb::GetDeviceRequest>,
    ) -> Result<Response<pb::Device>, Status> {
        let id = request.into_inner().id;
        required_id("id", &id)?;
        match self.catalog.get(&id).await? {
            Some(v) => Ok(Response::new(wire(&v))),
            None => Err(RegistryError::NotFound(id).into()),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn list_devices(
        &self,
        request: Request<pb::ListDevicesRequest>,
    ) -> Result<Response<pb::ListDevicesResponse>, Status> {
        Ok(Response::new(
            self.list_filtered(request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(device))]
    async fn decommission_device(
        &self,
        request: Request<pb::DecommissionDeviceRequest>,
    ) -> Result<Response<pb::DecommissionDeviceResponse>, Status> {
        let caller = crate::removal::caller(&request)?;
        let request = request.into_inner();
        tracing::Span::current().record("device", request.id.as_str());
        required_id("id", &request.id)?;
        let record = self
            .removals
            .complete_open_removal(&caller, &request.id)
            .await?;
        tracing::info!(device = %request.id, request = %record.id(), "device decommissioned");
        Ok(Response::new(pb::DecommissionDeviceResponse {
            id: request.id,
            decommissioned_unix_ms: record.completed.map_or(0, |step| step.at_ms),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_catalog_tree(
        &self,
        request: Request<pb::GetCatalogTreeRequest>,
    ) -> Result<Response<pb::CatalogTree>, Status> {
        let division = request.into_inner().division;
        if !division.is_empty()
            && (division.len() != 6 || !division.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(RegistryError::bad("division", "must be a 6-digit area code").into());
        }
        Ok(Response::new(self.tree(&division).await?))
    }

    #[tracing::instrument(skip_all)]
    async fn list_overdue_filings(
        &self,
        request: Request<pb::ListOverdueFilingsRequest>,
    ) -> Result<Response<pb::ListOverdueFilingsResponse>, Status> {
        let as_of = request.into_inner().as_of;
        let as_of = if as_of.is_empty() {
            today()
        } else {
            parse_date("as_of", &as_of)?
        };
        let overdue = self
            .catalog
            .all(keys::LOCAL)
            .await?
            .into_iter()
            .filter_map(|v| {
                let late = overdue(&v.entry, as_of)?;
                Some(pb::OverdueFiling {
                    device_id: v.entry.spec.id,
                    device_name: v.entry.spec.name,
                    unit: v.entry.spec.unit,
                    missing: late.missing.name().to_owned(),
                    due_on: late.due_on.to_string(),
                    days_overdue: u32::try_from(late.days_overdue).unwrap_or(u32::MAX),
                })
            })
            .collect();
        Ok(Response::new(pb::ListOverdueFilingsResponse { overdue }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_missing_signage(
        &self,
        _request: Request<pb::ListMissingSignageRequest>,
    ) -> Result<Response<pb::ListDevicesResponse>, Status> {
        let devices = self
            .catalog
            .all(keys::LOCAL)
            .await?
            .iter()
            .filter(|v| v.entry.spec.location_type.needs_signage() && !v.entry.spec.signage.posted)
            .map(wire)
            .collect();
        Ok(Response::new(pb::ListDevicesResponse {
            devices,
            next_page_token: String::new(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn keepalive(
        &self,
        request: Request<pb::KeepaliveRequest>,
    ) -> Result<Response<pb::KeepaliveResponse>, Status> {
        let request = request.into_inner();
        let (ids, silent) = (request.device_ids, request.silent);
        if (ids.is_empty() && silent.is_empty()) || ids.len() + silent.len() > MAX_KEEPALIVE_IDS {
            return Err(RegistryError::bad(
                "device_ids",
                format!(
                    "device_ids and silent must list 1 to {MAX_KEEPALIVE_IDS} devices together"
                ),
            )
            .into());
        }
        if let Some(i) = ids
            .iter()
            .position(|id| vfed_gbcode::GbCode::parse(id).is_err())
        {
            return Err(RegistryError::invalid(
                format!("device_ids[{i}]"),
                "must be a 20-digit code",
                "R4",
            )
            .into());
        }
        let mut quiet = Vec::with_capacity(silent.len());
        for (i, d) in silent.into_iter().enumerate() {
            if vfed_gbcode::GbCode::parse(&d.device_id).is_err() {
                return Err(RegistryError::invalid(
                    format!("silent[{i}].device_id"),
                    "must be a 20-digit code",
                    "R4",
                )
                .into());
            }
            if d.cause.len() > crate::liveness::MAX_CAUSE_BYTES {
                return Err(RegistryError::bad(
                    format!("silent[{i}].cause"),
                    format!("at most {} bytes", crate::liveness::MAX_CAUSE_BYTES),
                )
                .into());
            }
            quiet.push((d.device_id, Duration::from_millis(d.silent_ms), d.cause));
        }
        self.liveness.silent(&quiet);
        let unknown_ids = self.liveness.keepalive(&ids).await?;
        let period_ms = u32::try_from(self.liveness.period().as_millis()).unwrap_or(u32::MAX);
        Ok(Response::new(pb::KeepaliveResponse {
            period_ms,
            unknown_ids,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_outages(
        &self,
        request: Request<pb::ListOutagesRequest>,
    ) -> Result<Response<pb::ListOutagesResponse>, Status> {
        let request = request.into_inner();
        let prefix = if request.device_id.is_empty() {
            keys::OUTAGE.to_owned()
        } else {
            id_filter("device_id", &request.device_id)?;
            format!("{}{}/", keys::OUTAGE, request.device_id)
        };
        let limit = if request.limit == 0 {
            1000
        } else {
            request.limit.min(10_000) as usize
        };
        let page = self
            .catalog
            .store()
            .list(prefix.as_bytes(), None, 0)
            .await
            .map_err(RegistryError::from)?;
        let now = crate::catalog::now_ms();
        let mut outages = Vec::new();
        for kv in page.kvs.iter().rev() {
            let o: crate::domain::OutageRecord = crate::codec::decode(&kv.key, &kv.value)?;
            if request.open_only && o.end_ms.is_some() {
                continue;
            }
            outages.push(pb::Outage {
                device_id: o.device_id,
                start_unix_ms: o.start_ms,
                end_unix_ms: o.end_ms.unwrap_or(0),
                duration_ms: o.end_ms.unwrap_or(now) - o.start_ms,
                cause: o.cause.unwrap_or_else(|| "keepalives stopped".to_owned()),
            });
            if outages.len() == limit {
                break;
            }
        }
        Ok(Response::new(pb::ListOutagesResponse { outages }))
    }
}
