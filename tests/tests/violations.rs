//! Violations per unit (R24) over real gRPC against a real county node:
//! the list is computed from what the store and the audit log hold (a
//! device without a sign, overdue filing and verification, an unaccepted
//! system online, a record without its maintainer, a refused registration
//! at a toilet, a refused access), deadlines and closing are the police's,
//! every refusal names its field and R24 and changes nothing, and each
//! decision is in the audit log.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use time::OffsetDateTime;
use tonic::Code;
use vfed_audit::Outcome;
use vfed_proto::auth::v1::Role;
use vfed_proto::registry::v1 as reg;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::retrieval::v1::retrieval_client::RetrievalClient;
use vfed_proto::violations::v1 as pb;
use vfed_proto::violations::v1::violations_client::ViolationsClient;
use vfed_store::{Op, Txn};
use vfed_tests::{AuthedChannel, NodeOptions, TestNode, TestPki, device_spec, eventually};

const TRAFFIC: &str = "Naidong Traffic Police";

fn day(offset: i64) -> String {
    (OffsetDateTime::now_utc().date() + time::Duration::days(offset)).to_string()
}

/// Registers the county's devices, each with one known fault (or none).
async fn known_contents(node: &TestNode, pki: &TestPki) -> BTreeMap<&'static str, String> {
    let registry = RegistryClient::new(node.channel(pki).unwrap());
    let ids: BTreeMap<&str, String> = [
        ("clean", 1),
        ("no-sign", 2),
        ("late-filing", 3),
        ("unverified", 4),
        ("unaccepted", 5),
        ("toilet", 6),
        ("no-maintainer", 7),
    ]
    .into_iter()
    .map(|(k, n)| (k, naidong_camera(n)))
    .collect();
    let register = |spec: reg::DeviceSpec| {
        let mut registry = registry.clone();
        async move {
            registry
                .register_device(reg::RegisterDeviceRequest { spec: Some(spec) })
                .await
        }
    };
    register(device_spec(&ids["clean"], true)).await.unwrap();
    let mut spec = device_spec(&ids["no-sign"], true);
    spec.unit = TRAFFIC.into();
    spec.signage = Some(reg::Signage {
        posted: false,
        distance_to_homes_m: None,
    });
    register(spec).await.unwrap();
    let accepted_long_ago = Some(reg::Acceptance {
        state: reg::AcceptanceState::Accepted.into(),
        accepted_on: day(-90),
    });
    let mut spec = device_spec(&ids["late-filing"], true);
    spec.acceptance = accepted_long_ago.clone();
    register(spec).await.unwrap();
    let mut spec = device_spec(&ids["unverified"], true);
    spec.acceptance = accepted_long_ago;
    spec.filing = Some(reg::Filing {
        filed_on: day(-80),
        ..Default::default()
    });
    register(spec).await.unwrap();
    let mut spec = device_spec(&ids["unaccepted"], false);
    spec.acceptance = Some(reg::Acceptance {
        state: reg::AcceptanceState::Rectifying.into(),
        accepted_on: String::new(),
    });
    register(spec).await.unwrap();
    registry
        .clone()
        .keepalive(reg::KeepaliveRequest {
            device_ids: vec![ids["unaccepted"].clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    // R7: refused, and so only in the audit log.
    let mut spec = device_spec(&ids["toilet"], true);
    spec.location_type = reg::LocationType::Toilet.into();
    let refused = register(spec).await.unwrap_err();
    assert!(refused.message().contains("[R7]"), "{refused:?}");
    // R9: a record from before the rule, written as the store holds it.
    let store = node.store().unwrap();
    let clean = store
        .get(format!("cat/local/{}", ids["clean"]).as_bytes())
        .await
        .unwrap()
        .unwrap();
    let mut entry: serde_json::Value = serde_json::from_slice(&clean.value).unwrap();
    entry["spec"]["id"] = ids["no-maintainer"].clone().into();
    entry["spec"]["responsible"]["maintainer"] = "".into();
    store
        .txn(Txn::new().then(Op::put(
            format!("cat/local/{}", ids["no-maintainer"]),
            serde_json::to_vec(&entry).unwrap(),
        )))
        .await
        .unwrap();
    ids
}

async fn list(
    client: &mut ViolationsClient<AuthedChannel>,
    unit: &str,
    all: bool,
) -> Vec<pb::Violation> {
    client
        .list_violations(pb::ListViolationsRequest {
            unit: unit.into(),
            include_closed: all,
        })
        .await
        .unwrap()
        .into_inner()
        .violations
}

fn by_id(violations: &[pb::Violation]) -> BTreeMap<String, (String, String, pb::ViolationState)> {
    violations
        .iter()
        .map(|v| {
            (
                v.id.clone(),
                (v.requirement.clone(), v.unit.clone(), v.state()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violations_per_unit_from_the_store_and_the_audit_log_with_police_deadlines() {
    let pki = TestPki::new().unwrap();
    let node = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county"))
        .await
        .unwrap();
    let ids = known_contents(&node, &pki).await;
    let officer = node
        .user_channel(&pki, "zhuoma", Role::Officer)
        .await
        .unwrap();
    let operator = node
        .user_channel(&pki, "dawa", Role::Operator)
        .await
        .unwrap();
    // An access refused under R16/R17: an officer opens access to a request nobody co-signed.
    let mut retrieval = RetrievalClient::new(officer.clone());
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let filed = retrieval
        .file_request(theft_case(vec![ids["clean"].clone()], now - 3600, now - 60))
        .await
        .unwrap()
        .into_inner();
    let refused = retrieval
        .open_access(vfed_proto::retrieval::v1::OpenAccessRequest {
            id: filed.id.clone(),
        })
        .await
        .unwrap_err();
    assert!(
        refused.message().contains("R16") || refused.message().contains("R17"),
        "{refused:?}"
    );

    let mut police = ViolationsClient::new(officer.clone());
    let mut staff = ViolationsClient::new(operator);
    // The refusals reach the log through the pump: wait for both.
    let found = eventually("both refusals in the list", Duration::from_secs(10), || {
        let mut police = police.clone();
        async move {
            let found = list(&mut police, "", false).await;
            let from_log = found.iter().filter(|v| v.observed_unix_ms > 0).count();
            Ok((from_log == 2).then_some(found))
        }
    })
    .await
    .unwrap();
    let records = node.audit_records().await.unwrap();
    let index_of = |action: &str| {
        records
            .iter()
            .find(|r| r.action == action && matches!(r.outcome, Outcome::Refused { .. }))
            .unwrap()
            .index
    };
    let r7 = format!(
        "prohibited-location-attempt:{}",
        index_of("device.register")
    );
    let r17 = format!("access-refused:{}", index_of("retrieval.open_access"));
    use pb::ViolationState::Open;
    let unit = "Test unit".to_owned();
    let expected: BTreeMap<String, (String, String, pb::ViolationState)> = [
        (r7.clone(), ("R7", unit.clone())),
        (
            format!("missing-signage:{}", ids["no-sign"]),
            ("R8", TRAFFIC.into()),
        ),
        (
            format!("no-responsible-unit:{}", ids["no-maintainer"]),
            ("R9", unit.clone()),
        ),
        (
            format!("unaccepted-in-use:{}", ids["unaccepted"]),
            ("R11", unit.clone()),
        ),
        (
            format!("overdue-filing:{}", ids["late-filing"]),
            ("R12", unit.clone()),
        ),
        (
            format!("overdue-verification:{}", ids["unverified"]),
            ("R12", unit.clone()),
        ),
        // About a retrieval request, not a device: no unit of its own.
        (r17.clone(), ("R17", String::new())),
    ]
    .into_iter()
    .map(|(id, (req, unit))| (id, (req.to_owned(), unit, Open)))
    .collect();
    assert_eq!(by_id(&found), expected);
    let no_sign = format!("missing-signage:{}", ids["no-sign"]);
    let traffic = list(&mut police, TRAFFIC, false).await;
    assert_eq!(
        traffic.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
        [no_sign.as_str()]
    );
    assert!(
        found
            .iter()
            .find(|v| v.id == r7)
            .unwrap()
            .description
            .contains("toilet")
    );

    // Refusals: the wrong role, a bad date, a bad ID, a violation not found; nothing changes.
    let deadline = |id: &str, date: String| pb::SetDeadlineRequest {
        id: id.into(),
        deadline: date,
        note: "notice ND-2026-31".into(),
    };
    let refusal = |result: Result<tonic::Response<pb::Violation>, tonic::Status>,
                   code: Code,
                   fragments: &[&str]| {
        let status = result.unwrap_err();
        assert_eq!(status.code(), code, "{status:?}");
        for f in fragments {
            assert!(status.message().contains(f), "{f:?} not in {status:?}");
        }
    };
    refusal(
        staff.set_deadline(deadline(&no_sign, day(10))).await,
        Code::PermissionDenied,
        &["needs role officer", "user/dawa", "[R24]"],
    );
    refusal(
        staff
            .close_violation(pb::CloseViolationRequest {
                id: no_sign.clone(),
                note: "x".into(),
            })
            .await,
        Code::PermissionDenied,
        &["needs role officer", "[R24]"],
    );
    refusal(
        police.set_deadline(deadline(&no_sign, day(-1))).await,
        Code::InvalidArgument,
        &["deadline: must lie between today", "[R24]"],
    );
    refusal(
        police.set_deadline(deadline(&no_sign, day(400))).await,
        Code::InvalidArgument,
        &["deadline", "[R24]"],
    );
    refusal(
        police
            .set_deadline(deadline("missing-signage:12", day(1)))
            .await,
        Code::InvalidArgument,
        &["id: is not a violation ID", "[R24]"],
    );
    refusal(
        police
            .set_deadline(deadline(
                &format!("missing-signage:{}", ids["clean"]),
                day(1),
            ))
            .await,
        Code::NotFound,
        &["is not found now"],
    );
    refusal(
        police
            .close_violation(pb::CloseViolationRequest {
                id: r7.clone(),
                note: " ".into(),
            })
            .await,
        Code::InvalidArgument,
        &["note: is required", "[R24]"],
    );
    assert_eq!(by_id(&list(&mut police, "", true).await), expected);

    // The police set deadlines and close.
    let set = police
        .set_deadline(deadline(&no_sign, day(10)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.state(), pb::ViolationState::Rectifying);
    assert_eq!(set.deadline, day(10));
    assert_eq!(set.deadline_set_by, "user/zhuoma");
    let late = format!("overdue-filing:{}", ids["late-filing"]);
    police.set_deadline(deadline(&late, day(0))).await.unwrap();
    let closed = police
        .close_violation(pb::CloseViolationRequest {
            id: r7.clone(),
            note: "unit warned in writing".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.state(), pb::ViolationState::Closed);
    refusal(
        police.set_deadline(deadline(&r7, day(3))).await,
        Code::FailedPrecondition,
        &["is closed", "[R24]"],
    );
    // A deadline that has passed while the fault is still there: overdue.
    let store = node.store().unwrap();
    let key = format!("violations/{late}");
    let kv = store.get(key.as_bytes()).await.unwrap().unwrap();
    let mut decision: serde_json::Value = serde_json::from_slice(&kv.value).unwrap();
    decision["deadline"] = day(-2).into();
    store
        .txn(Txn::new().then(Op::put(key, serde_json::to_vec(&decision).unwrap())))
        .await
        .unwrap();
    // The sign is posted: the violation is rectified, and leaves the default list.
    let mut spec = device_spec(&ids["no-sign"], true);
    spec.unit = TRAFFIC.into();
    RegistryClient::new(node.channel(&pki).unwrap())
        .update_device(reg::UpdateDeviceRequest {
            spec: Some(spec),
            expected_revision: 0,
        })
        .await
        .unwrap();
    let now_listed = by_id(&list(&mut police, "", false).await);
    assert!(!now_listed.contains_key(&no_sign) && !now_listed.contains_key(&r7));
    assert_eq!(now_listed[&late].2, pb::ViolationState::Overdue);
    let everything = by_id(&list(&mut police, "", true).await);
    assert_eq!(everything[&no_sign].2, pb::ViolationState::Rectified);
    assert_eq!(everything[&no_sign].1, TRAFFIC);
    assert_eq!(everything[&r7].2, pb::ViolationState::Closed);
    assert_eq!(everything.len(), expected.len());

    // Each decision and each refusal is in the audit log.
    let records = eventually("the decisions audited", Duration::from_secs(10), || async {
        let records = node.audit_records().await?;
        Ok(records
            .iter()
            .any(|r| r.action == "violation.close" && r.outcome == Outcome::Allowed)
            .then_some(records))
    })
    .await
    .unwrap();
    let allowed: Vec<(&str, &str, &str)> = records
        .iter()
        .filter(|r| r.action.starts_with("violation.") && r.outcome == Outcome::Allowed)
        .map(|r| (r.actor.as_str(), r.action.as_str(), r.target.as_str()))
        .collect();
    assert_eq!(
        allowed,
        [
            ("user/zhuoma", "violation.set_deadline", no_sign.as_str()),
            ("user/zhuoma", "violation.set_deadline", late.as_str()),
            ("user/zhuoma", "violation.close", r7.as_str()),
        ]
    );
    let refused: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r.action.starts_with("violation."))
        .filter_map(|r| match &r.outcome {
            Outcome::Refused { requirement, .. } => Some((r.actor.as_str(), requirement.as_str())),
            Outcome::Allowed => None,
        })
        .collect();
    assert_eq!(refused.len(), 8, "{refused:?}");
    assert_eq!(refused[0], ("user/dawa", "R24"));

    // vfedctl: JSON and HTML reports; the tool (an admin) sets no deadline.
    let report = vfedctl_json(
        &pki,
        &node,
        &["reports", "violations", "--unit", TRAFFIC, "--all"],
    )
    .await
    .unwrap();
    assert_eq!(report["violations"][0]["id"], no_sign.as_str());
    assert_eq!(report["violations"][0]["state"], "rectified");
    assert_eq!(report["violations"][0]["requirement"], "R8");
    let html = vfedctl(&pki, &node, &["reports", "violations", "-o", "html"])
        .await
        .unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains("<h2>Test unit</h2>") && html.contains(&late),
        "{html}"
    );
    assert!(html.contains("class=\"overdue\""), "{html}");
    let err = vfedctl(
        &pki,
        &node,
        &["violations", "set-deadline", &late, "--deadline", &day(5)],
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("needs role officer") && err.contains("[R24]"),
        "{err}"
    );
}
