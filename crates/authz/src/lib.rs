//! The authorization layer of a node, shared by every service and knowing
//! none: principals, roles and permissions, the permission table
//! ([`table`]), the gate every gRPC call ([`AuthLayer`]) and HTTP egress
//! request ([`HttpGuard`]) passes, the view policy (R13), the one live-view
//! tracker, and refusals as structured data on a `Status`
//! ([`RefusalDetails`]). What it needs of services it takes as traits:
//! [`Credentials`] (the accounts), [`ViewPolicy`] (the grants),
//! [`AuditSink`] (the audit trail).
#![forbid(unsafe_code)]

mod audit_sink;
mod credentials;
mod gate;
mod grpc_layer;
mod http_guard;
mod live_views;
mod permission;
mod principal;
pub mod recorded_range;
mod refusal_details;
mod request_summary;
mod role;
pub mod table;
mod view;

pub use audit_sink::{AuditSink, BoxFuture, DiscardAudit};
pub use credentials::Credentials;
pub use gate::{Denial, Gate, bearer_token};
pub use grpc_layer::{AuthLayer, AuthService};
pub use http_guard::HttpGuard;
pub use live_views::{Egress, LiveViews};
pub use permission::Permission;
pub use principal::{AuthenticatedBy, Principal, principal_of};
pub use refusal_details::{RefusalDetails, refused};
pub use request_summary::{RequestDecoder, RequestSummary};
pub use role::{Role, UnknownRole};
pub use view::{Refusal, RoleOnlyPolicy, ViewBasis, ViewPolicy};
