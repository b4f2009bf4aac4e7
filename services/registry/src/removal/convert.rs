//! Requests to and from the wire.

use vfed_proto::registry::v1 as pb;

use crate::convert::location_to_wire;

use super::record::{Place, RemovalKind, RemovalRecord, RemovalStage, Step};

fn step(step: &Step) -> pb::RemovalStep {
    pb::RemovalStep {
        by: step.by.clone(),
        at_unix_ms: step.at_ms,
    }
}

fn place(place: &Place) -> pb::NewLocation {
    pb::NewLocation {
        location_type: location_to_wire(place.location_type),
        address: place.address.clone(),
        latitude: place.latitude,
        longitude: place.longitude,
    }
}

fn stage(stage: RemovalStage) -> pb::RemovalStage {
    match stage {
        RemovalStage::Requested => pb::RemovalStage::Requested,
        RemovalStage::Approved => pb::RemovalStage::Approved,
        RemovalStage::Reported => pb::RemovalStage::Reported,
        RemovalStage::Completed => pb::RemovalStage::Completed,
    }
}

/// A stored request on the wire.
pub fn request_to_wire(record: &RemovalRecord) -> pb::RemovalRequest {
    pb::RemovalRequest {
        id: record.id(),
        device_id: record.device_id.clone(),
        unit: record.unit.clone(),
        kind: match record.kind {
            RemovalKind::Remove => pb::RemovalKind::Remove,
            RemovalKind::Relocate => pb::RemovalKind::Relocate,
        }
        .into(),
        stage: stage(record.stage()).into(),
        reason: record.reason.clone(),
        new_location: record.new_place.as_ref().map(place),
        old_location: Some(place(&record.old_place)),
        requested: Some(step(&record.requested)),
        approved: record.approved.as_ref().map(step),
        report: record.report.as_ref().map(|r| pb::RemovalReport {
            office: r.office.clone(),
            reference: r.reference.clone(),
            reported_unix_ms: r.reported_ms,
            recorded: Some(step(&r.recorded)),
        }),
        completed: record.completed.as_ref().map(step),
    }
}
