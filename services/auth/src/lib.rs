//! Accounts, roles, tokens and the one tower layer that authenticates,
//! authorizes, traces and audits every gRPC call and HTTP egress request
//! of a node, from one permission table ([`table`]).
#![forbid(unsafe_code)]

mod permission;
mod principal;
mod role;
pub mod table;
mod view;

pub use permission::Permission;
pub use principal::{AuthenticatedBy, Principal, principal_of};
pub use role::{Role, UnknownRole};
pub use view::{Refusal, RoleOnlyPolicy, ViewBasis, ViewPolicy};
