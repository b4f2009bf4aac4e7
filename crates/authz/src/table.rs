//! The one permission table: every gRPC method and HTTP route a node serves,
//! mapped to what it needs and how it is audited. The layer
//! ([`crate::layer`]) reads nothing else; handlers contain no auth code.

use crate::permission::Permission;

/// What a method needs from its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only the mutual-TLS transport (login, health, reflection).
    Public,
    /// Any authenticated principal (e.g. `WhoAmI`).
    Authenticated,
    /// A principal holding the permission.
    Needs(Permission),
}

/// How a call is audited. Refusals are always audited, whatever the class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditClass {
    /// Not recorded when allowed (reads, login, keepalives, federation sync).
    Quiet,
    /// A change: recorded in the same store commit as the change itself.
    Change,
    /// A view of video or of records that R14.5 asks to log.
    View,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct MethodRule {
    /// `/package.Service/Method`, or `/package.Service/` for every method of a service.
    pub path: &'static str,
    /// What the caller needs.
    pub access: Access,
    /// How it is audited.
    pub audit: AuditClass,
    /// The audit action name, e.g. `device.register`.
    pub action: &'static str,
}

const fn rule(
    path: &'static str,
    access: Access,
    audit: AuditClass,
    action: &'static str,
) -> MethodRule {
    MethodRule {
        path,
        access,
        audit,
        action,
    }
}

use Access::{Authenticated, Needs, Public};
use AuditClass::{Change, Quiet, View};
use Permission as P;

/// Every gRPC method a node serves.
#[rustfmt::skip]
pub const METHODS: &[MethodRule] = &[
    // Transport-level services.
    rule("/grpc.health.v1.Health/", Public, Quiet, "health"),
    rule("/grpc.reflection.v1.ServerReflection/", Public, Quiet, "reflection"),
    // Accounts (R14.1, R15.1, R17).
    // Login is audited (every failure, R15.1) though it needs no credentials.
    rule("/vfed.auth.v1.Accounts/Login", Public, View, "account.login"),
    rule("/vfed.auth.v1.Accounts/WhoAmI", Authenticated, Quiet, "account.whoami"),
    rule("/vfed.auth.v1.Accounts/IssueToken", Authenticated, Quiet, "account.issue_token"),
    rule("/vfed.auth.v1.Accounts/CreateUser", Needs(P::AccountsManage), Change, "account.create"),
    rule("/vfed.auth.v1.Accounts/UpdateUser", Needs(P::AccountsManage), Change, "account.update"),
    rule("/vfed.auth.v1.Accounts/RecordTraining", Needs(P::AccountsManage), Change, "account.training"),
    rule("/vfed.auth.v1.Accounts/UnlockUser", Needs(P::AccountsManage), Change, "account.unlock"),
    rule("/vfed.auth.v1.Accounts/GetUser", Needs(P::AccountsRead), Quiet, "account.get"),
    rule("/vfed.auth.v1.Accounts/ListUsers", Needs(P::AccountsRead), Quiet, "account.list"),
    // Registry.
    rule("/vfed.registry.v1.Registry/RegisterDevice", Needs(P::DevicesWrite), Change, "device.register"),
    rule("/vfed.registry.v1.Registry/UpdateDevice", Needs(P::DevicesWrite), Change, "device.update"),
    rule("/vfed.registry.v1.Registry/DecommissionDevice", Needs(P::DevicesWrite), Change, "device.decommission"),
    rule("/vfed.registry.v1.Registry/GetDevice", Needs(P::DevicesRead), Quiet, "device.get"),
    rule("/vfed.registry.v1.Registry/ListDevices", Needs(P::DevicesRead), Quiet, "device.list"),
    rule("/vfed.registry.v1.Registry/GetCatalogTree", Needs(P::DevicesRead), Quiet, "catalog.tree"),
    rule("/vfed.registry.v1.Registry/ListOverdueFilings", Needs(P::DevicesRead), Quiet, "filing.list_overdue"),
    rule("/vfed.registry.v1.Registry/ListMissingSignage", Needs(P::DevicesRead), Quiet, "signage.list_missing"),
    rule("/vfed.registry.v1.Registry/Keepalive", Needs(P::DevicesKeepalive), Quiet, "device.keepalive"),
    rule("/vfed.registry.v1.Registry/ListOutages", Needs(P::DevicesRead), Quiet, "outage.list"),
    // Removal and relocation (R18.11): the handler refuses an approval by anyone but an
    // administrator other than the requester, and every step out of order.
    rule("/vfed.registry.v1.Removals/RequestRemoval", Needs(P::DevicesWrite), Change, "device.removal.request"),
    rule("/vfed.registry.v1.Removals/RequestRelocation", Needs(P::DevicesWrite), Change, "device.relocation.request"),
    rule("/vfed.registry.v1.Removals/ApproveRemoval", Needs(P::DevicesWrite), Change, "device.removal.approve"),
    rule("/vfed.registry.v1.Removals/ReportRemoval", Needs(P::DevicesWrite), Change, "device.removal.report"),
    rule("/vfed.registry.v1.Removals/CompleteRemoval", Needs(P::DevicesWrite), Change, "device.removal.complete"),
    rule("/vfed.registry.v1.Removals/ListRemovals", Needs(P::DevicesRead), Quiet, "device.removal.list"),
    // Federation and node information.
    rule("/vfed.federation.v1.Federation/Link", Needs(P::FederationLink), Quiet, "federation.link"),
    rule("/vfed.federation.v1.Node/GetNodeInfo", Needs(P::NodesRead), Quiet, "node.info"),
    rule("/vfed.federation.v1.Node/ListLinks", Needs(P::NodesRead), Quiet, "node.links"),
    // Streams.
    rule("/vfed.relay.v1.Streams/ListStreams", Needs(P::StreamsRead), Quiet, "stream.list"),
    rule("/vfed.relay.v1.Streams/GetStream", Needs(P::StreamsRead), Quiet, "stream.get"),
    // Sharing (R13).
    rule("/vfed.sharing.v1.Sharing/CreateDepartment", Needs(P::SharingManage), Change, "department.create"),
    rule("/vfed.sharing.v1.Sharing/ListDepartments", Needs(P::SharingRead), Quiet, "department.list"),
    rule("/vfed.sharing.v1.Sharing/CreateGrant", Needs(P::SharingManage), Change, "grant.create"),
    rule("/vfed.sharing.v1.Sharing/ListGrants", Needs(P::SharingRead), Quiet, "grant.list"),
    rule("/vfed.sharing.v1.Sharing/RevokeGrant", Needs(P::SharingManage), Change, "grant.revoke"),
    rule("/vfed.sharing.v1.Sharing/SetGrantValidity", Needs(P::SharingManage), Change, "grant.set_validity"),
    // Audit (R14.5, R18.6).
    rule("/vfed.audit.v1.Audit/Tail", Needs(P::AuditRead), View, "audit.tail"),
    rule("/vfed.audit.v1.Audit/GetCheckpoint", Needs(P::AuditRead), Quiet, "audit.checkpoint"),
    rule("/vfed.audit.v1.Audit/GetInclusionProof", Needs(P::AuditRead), Quiet, "audit.inclusion_proof"),
    rule("/vfed.audit.v1.Audit/GetConsistencyProof", Needs(P::AuditRead), Quiet, "audit.consistency_proof"),
    rule("/vfed.audit.v1.Audit/SubmitCheckpoint", Needs(P::FederationLink), Quiet, "audit.submit_checkpoint"),
    rule("/vfed.audit.v1.Audit/ListChildCheckpoints", Needs(P::AuditRead), Quiet, "audit.child_checkpoints"),
    // GB/T 28181 discovered channels: reading them is reading device records;
    // adopting one registers a device (every registry rule).
    rule("/vfed.gb28181.v1.Discovered/ListDiscovered", Needs(P::DevicesRead), Quiet, "discovered.list"),
    rule("/vfed.gb28181.v1.Discovered/AdoptChannel", Needs(P::DevicesWrite), Change, "device.adopt"),
    // Retrieval (R16, R17).
    rule("/vfed.retrieval.v1.Retrieval/FileRequest", Needs(P::RetrievalFile), Change, "retrieval.file"),
    rule("/vfed.retrieval.v1.Retrieval/CoSign", Needs(P::RetrievalCosign), Change, "retrieval.cosign"),
    rule("/vfed.retrieval.v1.Retrieval/Approve", Needs(P::RetrievalApprove), Change, "retrieval.approve"),
    rule("/vfed.retrieval.v1.Retrieval/Reject", Needs(P::RetrievalApprove), Change, "retrieval.reject"),
    rule("/vfed.retrieval.v1.Retrieval/GetRequest", Needs(P::RetrievalRead), Quiet, "retrieval.get"),
    rule("/vfed.retrieval.v1.Retrieval/ListRequests", Needs(P::RetrievalRead), Quiet, "retrieval.list"),
    rule("/vfed.retrieval.v1.Retrieval/OpenAccess", Needs(P::RetrievalAccess), View, "retrieval.open_access"),
    // Violations per unit (R24): read by staff, police and auditors; the handler lets only
    // officers set a rectification deadline or close one, naming R24.
    rule("/vfed.violations.v1.Violations/ListViolations", Needs(P::DevicesRead), Quiet, "violation.list"),
    rule("/vfed.violations.v1.Violations/SetDeadline", Needs(P::DevicesRead), Change, "violation.set_deadline"),
    rule("/vfed.violations.v1.Violations/CloseViolation", Needs(P::DevicesRead), Change, "violation.close"),
    // Archive (R14.6): reads only; nothing deletes or rewrites a recording (R18.7).
    rule("/vfed.archive.v1.Archive/ListSpans", Needs(P::RecordingsRead), Quiet, "recording.list"),
    rule("/vfed.archive.v1.Archive/Status", Needs(P::RecordingsRead), Quiet, "recording.status"),
    // Evidence export (R16, R17): officers; the handler asks the workflow whether the caller
    // signed that approved, unexpired request. The complete package is logged again by the
    // handler as `recording.exported` with its SHA-256 (R14.5).
    rule("/vfed.archive.v1.Evidence/Export", Needs(P::RetrievalAccess), View, "recording.export"),
];

/// Every HTTP route prefix a node serves, with the same meaning.
#[rustfmt::skip]
pub const HTTP_ROUTES: &[MethodRule] = &[
    rule("/metrics", Public, Quiet, "metrics"),
    rule("/healthz", Public, Quiet, "health"),
    rule("/live/", Needs(P::LiveView), View, "live.view"),
    // Each playlist is audited by the playback handler with its range (R14.5).
    rule("/playback/", Needs(P::RecordingsView), View, "recording.view"),
];

/// The rule for the gRPC method at `path`: an exact row, else its service's row.
pub fn method_rule(path: &str) -> Option<&'static MethodRule> {
    METHODS.iter().find(|r| r.path == path).or_else(|| {
        METHODS
            .iter()
            .find(|r| r.path.ends_with('/') && path.starts_with(r.path))
    })
}

/// The rule for the HTTP request path `path` (longest matching prefix).
pub fn http_rule(path: &str) -> Option<&'static MethodRule> {
    HTTP_ROUTES
        .iter()
        .filter(|r| path == r.path || (r.path.ends_with('/') && path.starts_with(r.path)))
        .max_by_key(|r| r.path.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn paths_are_unique() {
        let mut paths: Vec<_> = METHODS.iter().map(|r| r.path).collect();
        paths.sort_unstable();
        let n = paths.len();
        paths.dedup();
        assert_eq!(paths.len(), n);
    }

    #[test]
    fn lookups() {
        assert_eq!(
            method_rule("/grpc.health.v1.Health/Check").map(|r| r.access),
            Some(Access::Public)
        );
        assert!(method_rule("/vfed.registry.v1.Registry/Nope").is_none());
        assert_eq!(
            http_rule("/live/1/main/index.m3u8").map(|r| r.action),
            Some("live.view")
        );
        assert!(http_rule("/other").is_none());
    }
}
