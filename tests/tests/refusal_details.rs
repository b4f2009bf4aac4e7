//! Refusals carry their field, rule and requirement as structured data on
//! the status (google.rpc error details, `vfed_authz::RefusalDetails`), over
//! real gRPC: a service's refusal and the layer's own; the audit log's
//! refusal record takes its requirement from them (not from the message),
//! and `vfedctl -o json` prints them.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use tonic::Code;
use vfed_audit::Outcome;
use vfed_authz::RefusalDetails;
use vfed_proto::audit::v1 as audit_pb;
use vfed_proto::audit::v1::audit_client::AuditClient;
use vfed_proto::auth::v1 as auth_pb;
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{NodeOptions, TestNode, TestPki, device_spec};

fn refused_with(records: &[vfed_audit::AuditRecord], action: &str, requirement: &str) -> bool {
    records.iter().any(|r| {
        r.action == action
            && matches!(&r.outcome, Outcome::Refused { requirement: req, .. } if req == requirement)
    })
}

#[tokio::test]
async fn a_refusal_carries_field_rule_and_requirement() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;

    // A service's refusal (the registry, R7).
    let mut spec = device_spec(&naidong_camera(1), true);
    spec.location_type = pb::LocationType::Toilet.into();
    let status = RegistryClient::new(county.channel(&pki)?)
        .register_device(pb::RegisterDeviceRequest { spec: Some(spec) })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = RefusalDetails::of(&status).expect("the refusal carries details");
    assert_eq!(details.field, "spec.location_type");
    assert!(
        details.rule.starts_with("toilet is a prohibited location"),
        "{details:?}"
    );
    assert_eq!(details.requirement, "R7");
    // The message stays readable and names the same.
    assert!(
        status.message().starts_with("spec.location_type: toilet"),
        "{}",
        status.message()
    );

    // The layer's own refusal: an operator may not read the audit log (R14.5).
    let operator = county
        .user_channel(&pki, "tashi", auth_pb::Role::Operator)
        .await?;
    let status = AuditClient::new(operator)
        .get_checkpoint(audit_pb::GetCheckpointRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let details = RefusalDetails::of(&status).expect("the layer's refusal carries details");
    assert_eq!(details.field, "caller");
    assert_eq!(details.rule, "audit.checkpoint needs permission audit.read");
    assert_eq!(details.requirement, "R14.5");

    // The audit log took both requirements from the details.
    let records = county.audit_records().await?;
    assert!(
        refused_with(&records, "device.register", "R7"),
        "no R7 refusal of device.register in {records:#?}"
    );
    assert!(
        refused_with(&records, "audit.checkpoint", "R14.5"),
        "no R14.5 refusal of audit.checkpoint in {records:#?}"
    );

    // vfedctl -o json prints them from the details (exit 1).
    let out = vfed_tests::binaries::vfedctl_at(&pki, &county)?
        .args(["-o", "json", "devices", "register", "--id"])
        .arg(naidong_camera(2))
        .args(["--name", "Station toilet", "--location-type", "toilet"])
        .args(["--category", "public-transport"])
        .args(["--unit", "Naidong Transport Bureau"])
        .args(["--responsible", "Naidong Transport Bureau"])
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let printed: serde_json::Value = serde_json::from_str(&stderr)?;
    let error = &printed["error"];
    assert_eq!(error["code"], "InvalidArgument", "{stderr}");
    assert_eq!(error["field"], "spec.location_type", "{stderr}");
    assert_eq!(error["requirement"], "R7", "{stderr}");
    assert!(
        error["rule"]
            .as_str()
            .unwrap()
            .starts_with("toilet is a prohibited location"),
        "{stderr}"
    );
    Ok(())
}
