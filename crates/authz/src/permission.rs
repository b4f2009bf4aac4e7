//! What a caller may do: one permission per kind of action, each traced to
//! the requirement that asks for it to be controlled.

use std::fmt;

/// A permission. Its name (`devices.write`) is what errors, audit records
/// and `WhoAmI` show; its requirement ID is where the regulation asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Read devices, the catalog, filings, signage and outages.
    DevicesRead,
    /// Register, update and decommission devices.
    DevicesWrite,
    /// Report device keepalives (gateways).
    DevicesKeepalive,
    /// Read node information and link state.
    NodesRead,
    /// Read stream metadata and viewer counts.
    StreamsRead,
    /// Watch live video (department viewers also need a grant, R13).
    LiveView,
    /// Create and change accounts, record training.
    AccountsManage,
    /// Read accounts and training records.
    AccountsRead,
    /// Manage departments and sharing grants.
    SharingManage,
    /// Read departments and grants.
    SharingRead,
    /// Read the audit log, checkpoints and proofs.
    AuditRead,
    /// File a retrieval request.
    RetrievalFile,
    /// Co-sign another officer's retrieval request.
    RetrievalCosign,
    /// Approve a co-signed retrieval request as custodian.
    RetrievalApprove,
    /// Read retrieval requests.
    RetrievalRead,
    /// Open access under an approved retrieval request.
    RetrievalAccess,
    /// Node-to-node federation: catalog links and checkpoints (nodes only).
    FederationLink,
    /// List recorded spans and gaps, read the archive's status. There is no
    /// permission that deletes, truncates or rewrites a recording (R18.7).
    RecordingsRead,
    /// Play back recorded video (department viewers need a recorded grant, R13).
    RecordingsView,
}

impl Permission {
    /// Every permission, in a stable order.
    pub const ALL: [Permission; 19] = [
        Permission::DevicesRead,
        Permission::DevicesWrite,
        Permission::DevicesKeepalive,
        Permission::NodesRead,
        Permission::StreamsRead,
        Permission::LiveView,
        Permission::AccountsManage,
        Permission::AccountsRead,
        Permission::SharingManage,
        Permission::SharingRead,
        Permission::AuditRead,
        Permission::RetrievalFile,
        Permission::RetrievalCosign,
        Permission::RetrievalApprove,
        Permission::RetrievalRead,
        Permission::RetrievalAccess,
        Permission::FederationLink,
        Permission::RecordingsRead,
        Permission::RecordingsView,
    ];

    /// The permission's name, e.g. `devices.write`.
    pub fn name(self) -> &'static str {
        match self {
            Permission::DevicesRead => "devices.read",
            Permission::DevicesWrite => "devices.write",
            Permission::DevicesKeepalive => "devices.keepalive",
            Permission::NodesRead => "nodes.read",
            Permission::StreamsRead => "streams.read",
            Permission::LiveView => "live.view",
            Permission::AccountsManage => "accounts.manage",
            Permission::AccountsRead => "accounts.read",
            Permission::SharingManage => "sharing.manage",
            Permission::SharingRead => "sharing.read",
            Permission::AuditRead => "audit.read",
            Permission::RetrievalFile => "retrieval.file",
            Permission::RetrievalCosign => "retrieval.cosign",
            Permission::RetrievalApprove => "retrieval.approve",
            Permission::RetrievalRead => "retrieval.read",
            Permission::RetrievalAccess => "retrieval.access",
            Permission::FederationLink => "federation.link",
            Permission::RecordingsRead => "recordings.read",
            Permission::RecordingsView => "recordings.view",
        }
    }

    /// The requirement that asks for this access to be controlled.
    pub fn requirement(self) -> &'static str {
        match self {
            Permission::DevicesRead
            | Permission::DevicesWrite
            | Permission::NodesRead
            | Permission::StreamsRead
            | Permission::AccountsManage
            | Permission::AccountsRead => "R15.1",
            Permission::DevicesKeepalive => "R14.3",
            Permission::LiveView | Permission::SharingManage | Permission::SharingRead => "R13",
            Permission::AuditRead => "R14.5",
            Permission::RetrievalFile
            | Permission::RetrievalCosign
            | Permission::RetrievalApprove
            | Permission::RetrievalRead
            | Permission::RetrievalAccess => "R16",
            Permission::FederationLink => "R18.4",
            Permission::RecordingsRead => "R14.6",
            Permission::RecordingsView => "R13",
        }
    }

    /// The permission named `name`.
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<_> = Permission::ALL.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Permission::ALL.len());
        for p in Permission::ALL {
            assert_eq!(Permission::from_name(p.name()), Some(p));
        }
    }
}
