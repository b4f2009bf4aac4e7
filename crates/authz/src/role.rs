//! Roles and the permissions each holds. There is no role for private
//! citizens (R17): an account always has one of these.

use std::fmt;
use std::str::FromStr;

use vfed_proto::auth::v1 as pb;

use crate::permission::Permission;
use crate::permission::Permission as P;

/// A person's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Runs the platform: accounts, devices, sharing; custodian of the
    /// unit's recorded video (approves retrievals).
    Admin,
    /// Registers and maintains devices.
    Operator,
    /// Watches live video and device health on duty (R14.1: trained).
    DutyMonitor,
    /// A police officer: files and co-signs retrieval requests (R16).
    Officer,
    /// Reads the audit log and the records, changes nothing.
    Auditor,
    /// Staff of a department watching feeds granted to it (R13).
    DepartmentViewer,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Operator,
        Role::DutyMonitor,
        Role::Officer,
        Role::Auditor,
        Role::DepartmentViewer,
    ];

    /// The role's name, e.g. `duty-monitor`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::DutyMonitor => "duty-monitor",
            Role::Officer => "officer",
            Role::Auditor => "auditor",
            Role::DepartmentViewer => "department-viewer",
        }
    }

    /// The permissions the role holds.
    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Role::Admin => &[
                P::DevicesRead,
                P::DevicesWrite,
                P::DevicesKeepalive,
                P::NodesRead,
                P::StreamsRead,
                P::LiveView,
                P::AccountsManage,
                P::AccountsRead,
                P::SharingManage,
                P::SharingRead,
                P::AuditRead,
                P::RetrievalApprove,
                P::RetrievalRead,
                P::RecordingsRead,
                P::RecordingsView,
            ],
            Role::Operator => &[
                P::DevicesRead,
                P::DevicesWrite,
                P::DevicesKeepalive,
                P::NodesRead,
                P::StreamsRead,
                P::LiveView,
                P::RecordingsRead,
                P::RecordingsView,
            ],
            Role::DutyMonitor => &[
                P::DevicesRead,
                P::NodesRead,
                P::StreamsRead,
                P::LiveView,
                P::RecordingsRead,
            ],
            Role::Officer => &[
                P::DevicesRead,
                P::StreamsRead,
                P::LiveView,
                P::RetrievalFile,
                P::RetrievalCosign,
                P::RetrievalRead,
                P::RetrievalAccess,
            ],
            Role::Auditor => &[
                P::DevicesRead,
                P::NodesRead,
                P::AccountsRead,
                P::SharingRead,
                P::AuditRead,
                P::RetrievalRead,
                P::RecordingsRead,
            ],
            Role::DepartmentViewer => &[
                P::StreamsRead,
                P::LiveView,
                P::SharingRead,
                // Only under a recorded grant, for its range (R13): the HTTP guard asks the policy.
                P::RecordingsView,
            ],
        }
    }

    /// Whether the role holds `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }

    /// Whether live viewing by this role needs a sharing grant (R13):
    /// department staff see only what was granted to their department.
    pub fn needs_grant_to_view(self) -> bool {
        self == Role::DepartmentViewer
    }

    /// From the protobuf enum; `None` for unspecified or unknown values.
    pub fn from_proto(value: i32) -> Option<Role> {
        match pb::Role::try_from(value).ok()? {
            pb::Role::Unspecified => None,
            pb::Role::Admin => Some(Role::Admin),
            pb::Role::Operator => Some(Role::Operator),
            pb::Role::DutyMonitor => Some(Role::DutyMonitor),
            pb::Role::Officer => Some(Role::Officer),
            pb::Role::Auditor => Some(Role::Auditor),
            pb::Role::DepartmentViewer => Some(Role::DepartmentViewer),
        }
    }

    /// To the protobuf enum.
    pub fn to_proto(self) -> pb::Role {
        match self {
            Role::Admin => pb::Role::Admin,
            Role::Operator => pb::Role::Operator,
            Role::DutyMonitor => pb::Role::DutyMonitor,
            Role::Officer => pb::Role::Officer,
            Role::Auditor => pb::Role::Auditor,
            Role::DepartmentViewer => pb::Role::DepartmentViewer,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown role {0:?}: one of admin, operator, duty-monitor, officer, auditor, department-viewer (there is no role for private citizens, R17)"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// Stored by name (`admin`, `department_viewer`...).
impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_and_proto_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.name().parse::<Role>().ok(), Some(role));
            assert_eq!(Role::from_proto(role.to_proto() as i32), Some(role));
        }
        assert!(Role::from_proto(0).is_none());
        assert!("citizen".parse::<Role>().is_err());
    }

    #[test]
    fn no_role_links_nodes() {
        for role in Role::ALL {
            assert!(!role.allows(Permission::FederationLink), "{role}");
        }
    }

    #[test]
    fn retrieval_needs_two_roles_to_complete() {
        // Filing and approving are never held by the same role (R16).
        for role in Role::ALL {
            assert!(
                !(role.allows(Permission::RetrievalFile)
                    && role.allows(Permission::RetrievalApprove)),
                "{role}"
            );
        }
    }
}
