//! Who is calling: the principal the layer authenticated, put into each
//! request's extensions for the few handlers that need the caller's name
//! (the retrieval workflow's signatures, grant checks).

use std::sync::Arc;

use crate::permission::Permission;
use crate::role::Role;

/// How the principal proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthenticatedBy {
    /// A bearer token from `Accounts.Login`.
    Token,
    /// A person's client certificate naming an account (`user/<name>`).
    Certificate,
    /// A tool's client certificate naming an account (`tool/<name>`): a
    /// program such as vfedctl, shown as `tool/<name>`, not as a person.
    ToolCertificate,
    /// A node certificate (`node/<id>`): another vfed node.
    Node,
}

impl AuthenticatedBy {
    /// `token`, `certificate` or `node`.
    pub fn name(self) -> &'static str {
        match self {
            AuthenticatedBy::Token => "token",
            AuthenticatedBy::Certificate | AuthenticatedBy::ToolCertificate => "certificate",
            AuthenticatedBy::Node => "node",
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Account name, or node ID for nodes.
    pub name: String,
    /// The account's role; `None` for nodes.
    pub role: Option<Role>,
    /// The account's unit.
    pub unit: String,
    /// The account's department (department viewers).
    pub department: String,
    /// How they authenticated.
    pub authenticated_by: AuthenticatedBy,
    /// When the token expires (token logins).
    pub token_expires_unix: Option<i64>,
}

impl Principal {
    /// A vfed node.
    pub fn node(id: impl Into<String>) -> Self {
        Principal {
            name: id.into(),
            role: None,
            unit: String::new(),
            department: String::new(),
            authenticated_by: AuthenticatedBy::Node,
            token_expires_unix: None,
        }
    }

    /// Whether this is another node rather than a person.
    pub fn is_node(&self) -> bool {
        self.authenticated_by == AuthenticatedBy::Node
    }

    /// The audit actor, as the caller is: `user/<name>`, `tool/<name>`
    /// (a tool certificate) or `node/<id>`.
    pub fn actor(&self) -> String {
        match self.authenticated_by {
            AuthenticatedBy::Node => format!("node/{}", self.name),
            AuthenticatedBy::ToolCertificate => format!("tool/{}", self.name),
            AuthenticatedBy::Token | AuthenticatedBy::Certificate => {
                format!("user/{}", self.name)
            }
        }
    }

    /// Whether the principal holds `permission`. Nodes hold only
    /// [`Permission::FederationLink`]; persons what their role holds.
    pub fn allows(&self, permission: Permission) -> bool {
        match self.role {
            Some(role) => role.allows(permission),
            None => self.is_node() && permission == Permission::FederationLink,
        }
    }

    /// Every permission held, by name.
    pub fn permission_names(&self) -> Vec<&'static str> {
        Permission::ALL
            .into_iter()
            .filter(|p| self.allows(*p))
            .map(Permission::name)
            .collect()
    }
}

/// The principal of a gRPC request, as the layer put it there.
pub fn principal_of<T>(request: &tonic::Request<T>) -> Result<Arc<Principal>, tonic::Status> {
    request
        .extensions()
        .get::<Arc<Principal>>()
        .cloned()
        .ok_or_else(|| tonic::Status::unauthenticated("no authenticated principal on the request"))
}
