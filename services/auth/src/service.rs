//! The `Accounts` gRPC service. Who may call what is the layer's business
//! (the permission table); this only does the work.

use std::time::Duration;

use tonic::{Request, Response, Status};
use vfed_authz::{Role, principal_of};
use vfed_proto::auth::v1 as pb;
use vfed_proto::auth::v1::accounts_server::Accounts as AccountsApi;

use crate::account::{Account, Training, validate_training};
use crate::directory::Accounts;
use crate::error::AuthError;

/// The gRPC face of [`Accounts`].
#[derive(Clone)]
pub struct AccountsService {
    accounts: Accounts,
}

impl AccountsService {
    /// Serves `accounts`.
    pub fn new(accounts: Accounts) -> Self {
        AccountsService { accounts }
    }
}

fn role_field(field: &'static str, value: i32) -> Result<Role, AuthError> {
    Role::from_proto(value).ok_or_else(|| {
        AuthError::invalid(
            field,
            "must be one of admin, operator, duty-monitor, officer, auditor, department-viewer; there is no role for private citizens",
            "R17",
        )
    })
}

fn training_from(t: pb::Training) -> Training {
    Training {
        course: t.course,
        completed_unix: t.completed_unix,
        certificate: t.certificate,
    }
}

#[tonic::async_trait]
impl AccountsApi for AccountsService {
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let client = vfed_pki::peer_info(&request).map(|p| p.remote_addr.ip());
        let r = request.into_inner();
        if r.name.is_empty() {
            return Err(AuthError::invalid("name", "is required", "R15.1").into());
        }
        let login = self
            .accounts
            .login(
                &r.name,
                &r.password,
                Duration::from_secs(u64::from(r.ttl_seconds)),
                client,
            )
            .await?;
        Ok(Response::new(pb::LoginResponse {
            token: login.token,
            expires_unix: login.expires_unix,
            user: Some(login.account.to_proto()),
        }))
    }

    async fn issue_token(
        &self,
        request: Request<pb::IssueTokenRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let principal = principal_of(&request)?;
        let ttl = Duration::from_secs(u64::from(request.get_ref().ttl_seconds));
        let login = self.accounts.issue_for(&principal, ttl)?;
        Ok(Response::new(pb::LoginResponse {
            token: login.token,
            expires_unix: login.expires_unix,
            user: Some(login.account.to_proto()),
        }))
    }

    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let principal = principal_of(&request)?;
        let user = if principal.is_node() {
            pb::User {
                name: principal.name.clone(),
                ..Default::default()
            }
        } else {
            self.accounts.get(&principal.name).await?.to_proto()
        };
        Ok(Response::new(pb::WhoAmIResponse {
            user: Some(user),
            authenticated_by: principal.authenticated_by.name().to_owned(),
            permissions: principal
                .permission_names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            token_expires_unix: principal.token_expires_unix.unwrap_or(0),
        }))
    }

    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let actor = principal_of(&request)?.actor();
        let r = request.into_inner();
        let user = r
            .user
            .ok_or_else(|| AuthError::invalid("user", "is required", "R15.1"))?;
        let account = Account {
            role: role_field("user.role", user.role)?,
            name: user.name,
            display_name: user.display_name,
            unit: user.unit,
            department: user.department,
            disabled: user.disabled,
            trainings: user.trainings.into_iter().map(training_from).collect(),
            password_hash: None,
            tokens_valid_after: 0,
            created_unix: 0,
            created_by: actor,
        };
        let account = self.accounts.create(account, &r.password).await?;
        Ok(Response::new(account.to_proto()))
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let r = request.into_inner();
        let role = r.role.map(|v| role_field("role", v)).transpose()?;
        let hash = if r.password.is_empty() {
            None
        } else {
            Some(Accounts::hash_password(&r.password).await?)
        };
        let now = crate::clock::now_unix();
        let account = self
            .accounts
            .update(&r.name, |a| {
                if let Some(v) = &r.display_name {
                    a.display_name.clone_from(v);
                }
                if let Some(role) = role {
                    a.role = role;
                }
                if let Some(v) = &r.unit {
                    a.unit.clone_from(v);
                }
                if let Some(v) = &r.department {
                    a.department.clone_from(v);
                }
                if let Some(v) = r.disabled {
                    a.disabled = v;
                }
                if let Some(h) = &hash {
                    a.password_hash = Some(h.clone());
                    // Tokens issued up to this second stop working.
                    a.tokens_valid_after = now + 1;
                }
                Ok(())
            })
            .await?;
        Ok(Response::new(account.to_proto()))
    }

    async fn record_training(
        &self,
        request: Request<pb::RecordTrainingRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let r = request.into_inner();
        let training = training_from(
            r.training
                .ok_or_else(|| AuthError::invalid("training", "is required", "R14.1"))?,
        );
        validate_training(0, &training)?;
        let account = self
            .accounts
            .update(&r.name, |a| {
                a.trainings.push(training.clone());
                Ok(())
            })
            .await?;
        Ok(Response::new(account.to_proto()))
    }

    async fn unlock_user(
        &self,
        request: Request<pb::UnlockUserRequest>,
    ) -> Result<Response<pb::UnlockUserResponse>, Status> {
        let (was_locked, failed_logins) = self.accounts.unlock(&request.into_inner().name).await?;
        Ok(Response::new(pb::UnlockUserResponse {
            was_locked,
            failed_logins,
        }))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let account = self.accounts.get(&request.into_inner().name).await?;
        Ok(Response::new(account.to_proto()))
    }

    async fn list_users(
        &self,
        _request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let users = self
            .accounts
            .list()
            .await?
            .iter()
            .map(Account::to_proto)
            .collect();
        Ok(Response::new(pb::ListUsersResponse { users }))
    }
}
