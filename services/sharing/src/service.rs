//! The `Sharing` gRPC service: thin handlers over the rules and the
//! records. Who may call what is the auth layer's business (permission
//! table); handlers only use the caller's name and, for department viewers,
//! their department to scope what they see.

use tonic::{Request, Response, Status};
use vfed_authz::{Principal, principal_of};
use vfed_gbcode::AreaCode;
use vfed_proto::sharing::v1 as pb;
use vfed_proto::sharing::v1::sharing_server::Sharing;

use crate::SharingError;
use crate::clock::{now_ms, now_unix, rfc3339};
use crate::convert::{department_to_wire, grant_to_wire};
use crate::model::{GrantState, Revocation};
use crate::records::Records;
use crate::rules::{
    Context, check_department, check_department_name, check_grant, check_grant_id, check_validity,
};

const MAX_REASON: usize = 512;

/// The sharing service of one node.
#[derive(Clone)]
pub struct SharingService {
    records: Records,
    area: AreaCode,
}

impl SharingService {
    /// A service over `records` for a node governing `area` (grants name
    /// devices of that area only).
    pub fn new(records: Records, area: AreaCode) -> Self {
        Self { records, area }
    }

    fn context(&self, principal: &Principal) -> Context {
        Context {
            actor: principal.actor(),
            now_unix: now_unix(),
            area: self.area.clone(),
        }
    }
}

/// Turns a refusal into its status (the node's call log logs it, once,
/// with the message that names the requirement).
fn refused(error: SharingError) -> Status {
    error.into()
}

/// Which department's grants the caller may list: department viewers only
/// their own (R13); `None` is every department.
fn scope(principal: &Principal, asked: &str) -> Result<Option<String>, SharingError> {
    if !asked.is_empty() {
        check_department_name("department", asked)?;
    }
    match principal.role {
        Some(role) if role.needs_grant_to_view() => {
            if !asked.is_empty() && asked != principal.department {
                return Err(SharingError::PermissionDenied(format!(
                    "{} is a department viewer of {:?} and sees only that department's grants, not {asked:?}",
                    principal.actor(),
                    principal.department
                )));
            }
            Ok(Some(principal.department.clone()))
        }
        _ => Ok((!asked.is_empty()).then(|| asked.to_owned())),
    }
}

fn check_reason(reason: &str) -> Result<(), SharingError> {
    if reason.trim().is_empty() {
        return Err(SharingError::invalid(
            "reason",
            "is required: why the grant ends early",
        ));
    }
    if reason.chars().count() > MAX_REASON || reason.chars().any(vfed_proto::bounds::is_forbidden) {
        return Err(SharingError::invalid(
            "reason",
            format!(
                "must be at most {MAX_REASON} characters, without control or bidirectional-override characters"
            ),
        ));
    }
    Ok(())
}

#[tonic::async_trait]
impl Sharing for SharingService {
    #[tracing::instrument(skip_all)]
    async fn create_department(
        &self,
        request: Request<pb::CreateDepartmentRequest>,
    ) -> Result<Response<pb::Department>, Status> {
        let principal = principal_of(&request)?;
        let ctx = self.context(&principal);
        let department =
            check_department(request.into_inner().department, &ctx).map_err(refused)?;
        let stored = self
            .records
            .create_department(department)
            .await
            .map_err(refused)?;
        tracing::info!(department = %stored.name, by = %stored.created_by, "department created");
        Ok(Response::new(department_to_wire(&stored)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_departments(
        &self,
        _request: Request<pb::ListDepartmentsRequest>,
    ) -> Result<Response<pb::ListDepartmentsResponse>, Status> {
        let departments = self.records.departments().await?;
        Ok(Response::new(pb::ListDepartmentsResponse {
            departments: departments.iter().map(department_to_wire).collect(),
        }))
    }

    #[tracing::instrument(skip_all, fields(grant))]
    async fn create_grant(
        &self,
        request: Request<pb::CreateGrantRequest>,
    ) -> Result<Response<pb::Grant>, Status> {
        let principal = principal_of(&request)?;
        let ctx = self.context(&principal);
        let grant = check_grant(request.into_inner().grant, &ctx).map_err(refused)?;
        let stored = self.records.create_grant(grant).await.map_err(refused)?;
        tracing::Span::current().record("grant", stored.id.as_str());
        tracing::info!(
            grant = %stored.id,
            department = %stored.department,
            by = %stored.created_by,
            valid_to = %rfc3339(stored.valid_to_unix),
            "grant created"
        );
        Ok(Response::new(grant_to_wire(&stored)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_grants(
        &self,
        request: Request<pb::ListGrantsRequest>,
    ) -> Result<Response<pb::ListGrantsResponse>, Status> {
        let principal = principal_of(&request)?;
        let request = request.into_inner();
        let scope = scope(&principal, &request.department).map_err(refused)?;
        let now = now_ms();
        let grants = self
            .records
            .grants()
            .await?
            .iter()
            .filter(|g| scope.as_ref().is_none_or(|d| &g.department == d))
            .filter(|g| {
                request.include_inactive
                    || matches!(g.state_at(now), GrantState::Active | GrantState::NotYet)
            })
            .map(grant_to_wire)
            .collect();
        Ok(Response::new(pb::ListGrantsResponse { grants }))
    }

    #[tracing::instrument(skip_all, fields(grant))]
    async fn revoke_grant(
        &self,
        request: Request<pb::RevokeGrantRequest>,
    ) -> Result<Response<pb::Grant>, Status> {
        let principal = principal_of(&request)?;
        let ctx = self.context(&principal);
        let request = request.into_inner();
        tracing::Span::current().record("grant", request.id.as_str());
        check_grant_id("id", &request.id).map_err(refused)?;
        check_reason(&request.reason).map_err(refused)?;
        let stored = self
            .records
            .modify_grant(&request.id, |grant| {
                if let Some(r) = &grant.revoked {
                    return Err(SharingError::FailedPrecondition(format!(
                        "grant {} was already revoked by {} at {}",
                        grant.id,
                        r.by,
                        rfc3339(r.at_unix)
                    )));
                }
                grant.revoked = Some(Revocation {
                    by: ctx.actor.clone(),
                    at_unix: ctx.now_unix,
                    reason: request.reason.trim().to_owned(),
                });
                Ok(())
            })
            .await
            .map_err(refused)?;
        tracing::info!(grant = %stored.id, department = %stored.department, by = %ctx.actor, "grant revoked");
        Ok(Response::new(grant_to_wire(&stored)))
    }

    #[tracing::instrument(skip_all, fields(grant))]
    async fn set_grant_validity(
        &self,
        request: Request<pb::SetGrantValidityRequest>,
    ) -> Result<Response<pb::Grant>, Status> {
        let principal = principal_of(&request)?;
        let ctx = self.context(&principal);
        let request = request.into_inner();
        tracing::Span::current().record("grant", request.id.as_str());
        check_grant_id("id", &request.id).map_err(refused)?;
        let stored = self
            .records
            .modify_grant(&request.id, |grant| {
                if grant.revoked.is_some() {
                    return Err(SharingError::FailedPrecondition(format!(
                        "grant {} is revoked; its validity cannot change (create a new grant)",
                        grant.id
                    )));
                }
                let from = if request.valid_from_unix == 0 {
                    grant.valid_from_unix
                } else {
                    request.valid_from_unix
                };
                check_validity(
                    ("valid_from_unix", from),
                    ("valid_to_unix", request.valid_to_unix),
                    ctx.now_unix,
                )?;
                grant.valid_from_unix = from;
                grant.valid_to_unix = request.valid_to_unix;
                Ok(())
            })
            .await
            .map_err(refused)?;
        tracing::info!(
            grant = %stored.id,
            by = %ctx.actor,
            valid_from = %rfc3339(stored.valid_from_unix),
            valid_to = %rfc3339(stored.valid_to_unix),
            "grant validity changed"
        );
        Ok(Response::new(grant_to_wire(&stored)))
    }
}
