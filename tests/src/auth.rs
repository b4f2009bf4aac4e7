//! Accounts and logins for tests: the harness's tool certificate
//! (`tool/vfed-test`) is each test node's bootstrap admin; tests create other
//! accounts with it and act as them with bearer tokens.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use vfed_proto::auth::v1 as pb;
use vfed_proto::auth::v1::accounts_client::AccountsClient;

use crate::cluster::TestNode;
use crate::pki::TestPki;

/// The account the harness's tool certificate acts as (an admin).
pub const TEST_ADMIN: &str = "vfed-test";

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct BearerToken(MetadataValue<Ascii>);

impl BearerToken {
    /// For `token`.
    pub fn new(token: &str) -> anyhow::Result<Self> {
        Ok(BearerToken(format!("Bearer {token}").parse()?))
    }
}

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A channel whose calls carry a person's token.
pub type AuthedChannel = InterceptedService<Channel, BearerToken>;

/// A new account at `node`, created by the test admin.
#[derive(Clone, Debug)]
pub struct NewUser<'a> {
    /// Login name.
    pub name: &'a str,
    /// Role.
    pub role: pb::Role,
    /// Unit.
    pub unit: &'a str,
    /// Department (department viewers).
    pub department: &'a str,
    /// Password (at least 12 characters).
    pub password: &'a str,
}

impl TestNode {
    /// Creates an account (as the test admin).
    pub async fn create_user(&self, pki: &TestPki, user: NewUser<'_>) -> anyhow::Result<pb::User> {
        let mut accounts = AccountsClient::new(self.channel(pki)?);
        let created = accounts
            .create_user(pb::CreateUserRequest {
                user: Some(pb::User {
                    name: user.name.to_owned(),
                    display_name: user.name.to_owned(),
                    role: user.role as i32,
                    unit: user.unit.to_owned(),
                    department: user.department.to_owned(),
                    ..Default::default()
                }),
                password: user.password.to_owned(),
            })
            .await?
            .into_inner();
        Ok(created)
    }

    /// Logs `name` in and returns the token.
    pub async fn login(&self, pki: &TestPki, name: &str, password: &str) -> anyhow::Result<String> {
        let mut accounts = AccountsClient::new(self.channel(pki)?);
        let response = accounts
            .login(pb::LoginRequest {
                name: name.to_owned(),
                password: password.to_owned(),
                ttl_seconds: 0,
            })
            .await?
            .into_inner();
        Ok(response.token)
    }

    /// A token for the harness's admin (its certificate's account), for
    /// HTTP requests (HLS URLs carry `?token=`).
    pub async fn admin_token(&self, pki: &TestPki) -> anyhow::Result<String> {
        let mut accounts = AccountsClient::new(self.channel(pki)?);
        let issued = accounts
            .issue_token(pb::IssueTokenRequest { ttl_seconds: 0 })
            .await?
            .into_inner();
        Ok(issued.token)
    }

    /// A channel acting as the holder of `token` (over the harness's tool
    /// certificate, as vfedctl does).
    pub fn channel_as(&self, pki: &TestPki, token: &str) -> anyhow::Result<AuthedChannel> {
        Ok(InterceptedService::new(
            self.channel(pki)?,
            BearerToken::new(token)?,
        ))
    }

    /// Creates an account with `role` and logs it in: a channel acting as it.
    pub async fn user_channel(
        &self,
        pki: &TestPki,
        name: &str,
        role: pb::Role,
    ) -> anyhow::Result<AuthedChannel> {
        let password = format!("{name}-password-123");
        self.create_user(
            pki,
            NewUser {
                name,
                role,
                unit: "test unit",
                department: if role == pb::Role::DepartmentViewer {
                    "traffic"
                } else {
                    ""
                },
                password: &password,
            },
        )
        .await?;
        let token = self.login(pki, name, &password).await?;
        self.channel_as(pki, &token)
    }
}

impl TestNode {
    /// Every record of the running node's audit log, oldest first (waits
    /// for pending change records to be pumped in first).
    pub async fn audit_records(&self) -> anyhow::Result<Vec<vfed_audit::AuditRecord>> {
        let running = self
            .running
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("node is stopped"))?;
        let trail = running.audit();
        let mut records = Vec::new();
        loop {
            let entries = trail
                .read(records.len() as u64, vfed_auditing::MAX_READ)
                .await?;
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                records.push(vfed_audit::AuditRecord::from_bytes(&entry.record)?);
            }
        }
        Ok(records)
    }
}
