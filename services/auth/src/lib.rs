//! Accounts, roles, tokens and the one tower layer that authenticates,
//! authorizes, traces and audits every gRPC call and HTTP egress request
//! of a node, from one permission table ([`table`]).
#![forbid(unsafe_code)]

mod account;
mod audit_sink;
mod clock;
mod directory;
mod error;
mod gate;
mod grpc_layer;
mod http_guard;
mod live_views;
mod password;
mod permission;
mod principal;
pub mod recorded_range;
mod request_summary;
mod role;
mod run;
mod service;
pub mod table;
pub mod throttle;
mod token;
mod token_key_file;
mod view;

pub use account::{Account, Training};
pub use audit_sink::{AuditSink, BoxFuture, DiscardAudit};
pub use directory::{AccountOptions, Accounts, Login, MAX_CLOCK_SKEW_SECS};
pub use error::AuthError;
pub use gate::{Denial, Gate, bearer_token, requirement_in};
pub use grpc_layer::{AuthLayer, AuthService};
pub use http_guard::HttpGuard;
pub use live_views::{Egress, LiveViews};
pub use permission::Permission;
pub use principal::{AuthenticatedBy, Principal, principal_of};
pub use request_summary::{RequestDecoder, RequestSummary};
pub use role::{Role, UnknownRole};
pub use run::{AuthOptions, AuthPeers, AuthStartError, RunningAuth, run};
pub use service::AccountsService;
pub use token::{Claims, TokenKey};
pub use token_key_file::load_or_create_token_key;
pub use view::{Refusal, RoleOnlyPolicy, ViewBasis, ViewPolicy};
