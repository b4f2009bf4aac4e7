//! Stored records to their wire form.

use vfed_proto::sharing::v1 as pb;

use crate::model::{Department, Grant};

/// A department on the wire.
pub fn department_to_wire(d: &Department) -> pb::Department {
    pb::Department {
        name: d.name.clone(),
        display_name: d.display_name.clone(),
        created_unix: d.created_unix,
        created_by: d.created_by.clone(),
    }
}

/// A grant on the wire.
pub fn grant_to_wire(g: &Grant) -> pb::Grant {
    let revoked = g.revoked.as_ref();
    pb::Grant {
        id: g.id.clone(),
        department: g.department.clone(),
        device_ids: g.device_ids.clone(),
        subtree: g.subtree.clone().unwrap_or_default(),
        purpose: g.purpose.clone(),
        live: g.live,
        recorded: g.recorded,
        valid_from_unix: g.valid_from_unix,
        valid_to_unix: g.valid_to_unix,
        revoked: revoked.is_some(),
        created_by: g.created_by.clone(),
        created_unix: g.created_unix,
        revoked_by: revoked.map(|r| r.by.clone()).unwrap_or_default(),
        revoked_unix: revoked.map_or(0, |r| r.at_unix),
        revoked_reason: revoked.map(|r| r.reason.clone()).unwrap_or_default(),
    }
}
