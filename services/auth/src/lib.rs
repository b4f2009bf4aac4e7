//! The accounts service of a node: accounts, roles on record, passwords,
//! tokens and login throttling, the `Accounts` gRPC service, and `run`,
//! which builds the node's authorization layer (`vfed-authz`) over these
//! accounts ([`Credentials`](vfed_authz::Credentials)). The layer's types
//! are re-exported for the composition root and the tests.
#![forbid(unsafe_code)]

mod account;
mod clock;
mod credentials;
mod directory;
mod error;
mod password;
mod run;
mod service;
pub mod throttle;
mod token;
mod token_key_file;

pub use account::{Account, Training};
pub use directory::{AccountOptions, Accounts, Login, MAX_CLOCK_SKEW_SECS};
pub use error::AuthError;
pub use run::{AuthOptions, AuthPeers, AuthStartError, RunningAuth, run};
pub use service::AccountsService;
pub use token::{Claims, TokenKey};
pub use token_key_file::load_or_create_token_key;
pub use vfed_authz::{
    AuditSink, AuthLayer, AuthService, AuthenticatedBy, BoxFuture, Denial, DiscardAudit, Egress,
    Gate, HttpGuard, LiveViews, Permission, Principal, Refusal, RequestDecoder, RequestSummary,
    Role, RoleOnlyPolicy, UnknownRole, ViewBasis, ViewPolicy, bearer_token, principal_of,
    recorded_range, table,
};
