//! Removal and relocation of a device as a workflow (R18.11) over real gRPC
//! and mutual TLS, with real accounts at a real county under a real city:
//! an operator requests, an administrator other than the requester
//! approves, the report to the filing police office is recorded, and only
//! then does the device leave the live catalog (or move, which travels up
//! to the city). Every refusal names its field, rule and requirement,
//! leaves the request and the catalog as they were, and is in the audit log.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use tonic::Code;
use vfed_audit::{AuditRecord, Outcome};
use vfed_proto::auth::v1::Role;
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::registry::v1::removals_client::RemovalsClient;
use vfed_tests::{
    AuthedChannel, Backend, NodeOptions, TestNode, TestPki, eventually, register_request,
};

type Client = RemovalsClient<AuthedChannel>;

/// The county's keepalive period: a camera silent for a few of them has an outage.
const KEEPALIVE: Duration = Duration::from_millis(300);

/// A city, its county, and the people at the county.
struct Cast {
    city: TestNode,
    county: TestNode,
    /// An operator of the unit.
    dawa: Client,
    /// Two administrators.
    ada: Client,
    bea: Client,
    /// An officer: no devices.write.
    zhuoma: Client,
    pki: TestPki,
}

async fn cast() -> Cast {
    cast_on(Backend::Embedded).await
}

/// The cast with the county's store on `backend`.
async fn cast_on(backend: Backend) -> Cast {
    let pki = TestPki::new().unwrap();
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG]))
        .await
        .unwrap();
    let county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county")
            .parent(CITY, city.grpc_addr)
            .keepalive(KEEPALIVE)
            .backend(backend),
    )
    .await
    .unwrap();
    let mut registry = RegistryClient::new(county.channel(&pki).unwrap());
    for n in [1, 2] {
        registry
            .register_device(register_request(&naidong_camera(n), true))
            .await
            .unwrap();
    }
    let person = |name: &'static str, role| {
        let (county, pki) = (&county, &pki);
        async move { RemovalsClient::new(county.user_channel(pki, name, role).await.unwrap()) }
    };
    Cast {
        dawa: person("dawa", Role::Operator).await,
        ada: person("ada", Role::Admin).await,
        bea: person("bea", Role::Admin).await,
        zhuoma: person("zhuoma", Role::Officer).await,
        city,
        county,
        pki,
    }
}

async fn requests(client: &mut Client, device: &str) -> Vec<pb::RemovalRequest> {
    client
        .list_removals(pb::ListRemovalsRequest {
            device_id: device.into(),
            open_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .requests
}

/// A refusal with `code` whose message holds each of `fragments`.
fn refused<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, fragments: &[&str]) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    for fragment in fragments {
        assert!(
            status.message().contains(fragment),
            "{fragment:?} not in {status:?}"
        );
    }
}

async fn at_city(cast: &Cast, id: &str) -> Option<pb::Device> {
    get_device(&cast.city.channel(&cast.pki).unwrap(), id)
        .await
        .unwrap()
}

async fn at_county(cast: &Cast, id: &str) -> Option<pb::Device> {
    get_device(&cast.county.channel(&cast.pki).unwrap(), id)
        .await
        .unwrap()
}

/// The county's audit log once the completion of request `id` is in it.
async fn audited_through_completion(node: &TestNode, id: &str) -> Vec<AuditRecord> {
    eventually("the steps audited", Duration::from_secs(10), || async {
        let records = node.audit_records().await?;
        Ok((!allowed(&records, "device.removal.complete", id).is_empty()).then_some(records))
    })
    .await
    .unwrap()
}

/// `DecommissionDevice` of `device` as the harness's tool admin.
async fn decommission(
    cast: &Cast,
    device: &str,
) -> Result<tonic::Response<pb::DecommissionDeviceResponse>, tonic::Status> {
    RegistryClient::new(cast.county.channel(&cast.pki).unwrap())
        .decommission_device(pb::DecommissionDeviceRequest {
            id: device.to_owned(),
            reason: String::new(),
        })
        .await
}

fn refusals<'a>(records: &'a [AuditRecord], action: &str) -> Vec<(&'a str, &'a str)> {
    records
        .iter()
        .filter(|r| r.action == action)
        .filter_map(|r| match &r.outcome {
            Outcome::Refused { requirement, .. } => Some((r.actor.as_str(), requirement.as_str())),
            Outcome::Allowed => None,
        })
        .collect()
}

fn allowed(records: &[AuditRecord], action: &str, target: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.action == action && r.target == target && r.outcome == Outcome::Allowed)
        .map(|r| r.actor.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_leaves_the_catalog_only_after_request_approval_and_report() {
    removal_workflow(cast().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_is_the_same_on_etcd() {
    let etcd = vfed_store::testing::EtcdServer::start().await.unwrap();
    removal_workflow(cast_on(Backend::Etcd(etcd.client_url().to_owned())).await).await;
}

/// Every step and refusal of a removal at `cast`'s county.
async fn removal_workflow(mut cast: Cast) {
    let device = naidong_camera(1);
    eventually(
        "the camera at the city",
        Duration::from_secs(10),
        || async { Ok(at_city(&cast, &device).await.map(|_| ())) },
    )
    .await
    .unwrap();
    // The camera was heard once and then fell silent: it has an outage on record.
    let registry = RegistryClient::new(cast.county.channel(&cast.pki).unwrap());
    registry
        .clone()
        .keepalive(pb::KeepaliveRequest {
            device_ids: vec![device.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let outages = || {
        let (mut registry, device) = (registry.clone(), device.clone());
        async move {
            let listed = registry
                .list_outages(pb::ListOutagesRequest {
                    device_id: device,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .outages;
            // An open outage's duration grows: compare what it is, not how long.
            let listed: Vec<(String, i64, String)> = listed
                .into_iter()
                .map(|o| (o.device_id, o.start_unix_ms, o.cause))
                .collect();
            anyhow::Ok((!listed.is_empty()).then_some(listed))
        }
    };
    let outages_before = eventually("an outage", Duration::from_secs(10), outages)
        .await
        .unwrap();

    // Wrong role: an officer holds no devices.write.
    refused(
        cast.zhuoma
            .request_removal(pb::RequestRemovalRequest {
                device_id: device.clone(),
                reason: "gone".into(),
            })
            .await,
        Code::PermissionDenied,
        &["needs permission devices.write", "user/zhuoma"],
    );
    refused(
        cast.dawa
            .request_removal(pb::RequestRemovalRequest {
                device_id: device.clone(),
                reason: " ".into(),
            })
            .await,
        Code::InvalidArgument,
        &["reason: is required", "[R18.11]"],
    );
    assert!(requests(&mut cast.dawa, &device).await.is_empty());

    let filed = cast
        .dawa
        .request_removal(pb::RequestRemovalRequest {
            device_id: device.clone(),
            reason: "junction rebuilt, pole taken down".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filed.stage(), pb::RemovalStage::Requested);
    assert_eq!(filed.kind(), pb::RemovalKind::Remove);
    assert_eq!(filed.requested.as_ref().unwrap().by, "user/dawa");
    assert_eq!(filed.unit, "Test unit");
    let id = filed.id.clone();
    let as_filed = requests(&mut cast.dawa, &device).await;
    assert_eq!(as_filed, vec![filed.clone()]);

    // One open request per device.
    refused(
        cast.ada
            .request_removal(pb::RequestRemovalRequest {
                device_id: device.clone(),
                reason: "again".into(),
            })
            .await,
        Code::FailedPrecondition,
        &["device_id", "has an open request", "[R18.11]"],
    );
    // Missing steps: neither the removal nor the report comes before the approval.
    let complete = |id: &str| pb::CompleteRemovalRequest { id: id.into() };
    let report = |id: &str, office: &str, at: i64| pb::ReportRemovalRequest {
        id: id.into(),
        office: office.into(),
        reference: "ND-BA-2026-0117".into(),
        reported_unix_ms: at,
    };
    refused(
        cast.ada.complete_removal(complete(&id)).await,
        Code::FailedPrecondition,
        &[
            "id: request",
            "is requested",
            "only after the report",
            "[R18.11]",
        ],
    );
    refused(
        cast.dawa
            .report_removal(report(&id, "Naidong County PSB", 0))
            .await,
        Code::FailedPrecondition,
        &["approval comes before the report", "[R18.11]"],
    );
    // Wrong role for the approval: an operator.
    refused(
        cast.dawa
            .approve_removal(pb::ApproveRemovalRequest { id: id.clone() })
            .await,
        Code::PermissionDenied,
        &["needs role admin", "user/dawa", "[R18.11]"],
    );
    assert_eq!(requests(&mut cast.dawa, &device).await, as_filed);

    let approved = cast
        .ada
        .approve_removal(pb::ApproveRemovalRequest { id: id.clone() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(approved.stage(), pb::RemovalStage::Approved);
    assert_eq!(approved.approved.as_ref().unwrap().by, "user/ada");
    let as_approved = requests(&mut cast.dawa, &device).await;

    // Removal before the report: by the workflow and by the old verb alike.
    refused(
        cast.ada.complete_removal(complete(&id)).await,
        Code::FailedPrecondition,
        &[
            "is approved",
            "only after the report to the filing police office",
            "[R18.11]",
        ],
    );
    refused(
        decommission(&cast, &device).await,
        Code::FailedPrecondition,
        &["only after the report", "[R18.11]"],
    );
    refused(
        cast.bea
            .approve_removal(pb::ApproveRemovalRequest { id: id.clone() })
            .await,
        Code::FailedPrecondition,
        &["is approved", "[R18.11]"],
    );
    // The report's fields.
    refused(
        cast.dawa.report_removal(report(&id, "", 0)).await,
        Code::InvalidArgument,
        &["office: is required", "[R18.11]"],
    );
    refused(
        cast.dawa
            .report_removal(report(&id, "Naidong County PSB", i64::MAX / 2))
            .await,
        Code::InvalidArgument,
        &["reported_unix_ms: is in the future", "[R18.11]"],
    );
    refused(
        cast.dawa
            .report_removal(report(&id, "Naidong County PSB", 1_000))
            .await,
        Code::InvalidArgument,
        &["reported_unix_ms: is before the approval", "[R18.11]"],
    );
    assert_eq!(requests(&mut cast.dawa, &device).await, as_approved);
    assert!(at_county(&cast, &device).await.is_some());

    let reported = cast
        .dawa
        .report_removal(report(&id, "Naidong County PSB, filing office", 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reported.stage(), pb::RemovalStage::Reported);
    let report_record = reported.report.as_ref().unwrap();
    assert_eq!(report_record.office, "Naidong County PSB, filing office");
    assert_eq!(report_record.reference, "ND-BA-2026-0117");
    assert_eq!(report_record.recorded.as_ref().unwrap().by, "user/dawa");
    assert!(report_record.reported_unix_ms >= approved.approved.as_ref().unwrap().at_unix_ms);
    assert!(at_county(&cast, &device).await.is_some());

    let done = cast
        .dawa
        .complete_removal(complete(&id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.stage(), pb::RemovalStage::Completed);
    assert!(at_county(&cast, &device).await.is_none());
    eventually(
        "the removal reaches the city",
        Duration::from_secs(10),
        || async { Ok(at_city(&cast, &device).await.is_none().then_some(())) },
    )
    .await
    .unwrap();
    refused(
        cast.ada.complete_removal(complete(&id)).await,
        Code::FailedPrecondition,
        &["is completed", "took effect already", "[R18.11]"],
    );
    // Its history stays: its outages, the request, and the record of the device as it was.
    assert_eq!(outages().await.unwrap(), Some(outages_before));
    let ended = registry
        .clone()
        .list_outages(pb::ListOutagesRequest {
            device_id: device.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .outages;
    assert_eq!(
        ended[0].end_unix_ms,
        done.completed.as_ref().unwrap().at_unix_ms,
        "the open outage ends with the removal"
    );
    assert_eq!(requests(&mut cast.dawa, &device).await, vec![done.clone()]);
    let store = cast.county.store().unwrap();
    let kept = store
        .snapshot(format!("decommissioned/{device}/").as_bytes())
        .await
        .unwrap();
    assert_eq!(kept.kvs.len(), 1);
    let kept: serde_json::Value = serde_json::from_slice(&kept.kvs[0].value).unwrap();
    assert_eq!(kept["removal_request"], id.as_str());
    assert_eq!(kept["reason"], "junction rebuilt, pole taken down");
    assert_eq!(kept["entry"]["spec"]["id"], device.as_str());
    // The other camera is untouched.
    assert!(at_county(&cast, &naidong_camera(2)).await.is_some());

    // Each step is in the audit log once, by who took it; each refusal too.
    let records = audited_through_completion(&cast.county, &id).await;
    assert_eq!(
        allowed(&records, "device.removal.request", &device),
        ["user/dawa"]
    );
    assert_eq!(
        allowed(&records, "device.removal.approve", &id),
        ["user/ada"]
    );
    assert_eq!(
        allowed(&records, "device.removal.report", &id),
        ["user/dawa"]
    );
    assert_eq!(
        allowed(&records, "device.removal.complete", &id),
        ["user/dawa"]
    );
    assert_eq!(
        refusals(&records, "device.removal.request"),
        [
            ("user/zhuoma", "R15.1"),
            ("user/dawa", "R18.11"),
            ("user/ada", "R18.11")
        ]
    );
    assert_eq!(
        refusals(&records, "device.removal.approve"),
        [("user/dawa", "R18.11"), ("user/bea", "R18.11")]
    );
    assert_eq!(refusals(&records, "device.removal.report").len(), 4);
    assert_eq!(refusals(&records, "device.removal.complete").len(), 3);
    assert_eq!(refusals(&records, "device.decommission").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relocation_checks_r7_at_the_new_place_and_the_move_travels_up() {
    let mut cast = cast().await;
    let device = naidong_camera(2);
    let relocate = |location: pb::LocationType, address: &str| pb::RequestRelocationRequest {
        device_id: device.clone(),
        reason: "junction rebuilt".into(),
        new_location: Some(pb::NewLocation {
            location_type: location.into(),
            address: address.into(),
            latitude: Some(29.23),
            longitude: Some(91.77),
        }),
    };
    // R7 at the new place, by the registration's own rule: nothing is filed.
    for prohibited in [pb::LocationType::Toilet, pb::LocationType::HotelRoom] {
        refused(
            cast.ada
                .request_relocation(relocate(prohibited, "Station toilets"))
                .await,
            Code::InvalidArgument,
            &[
                "new_location.location_type",
                "is a prohibited location",
                "[R7]",
            ],
        );
    }
    refused(
        cast.ada
            .request_relocation(pb::RequestRelocationRequest {
                new_location: None,
                ..relocate(pb::LocationType::Square, "x")
            })
            .await,
        Code::InvalidArgument,
        &["new_location: is required", "[R18.11]"],
    );
    assert!(requests(&mut cast.ada, &device).await.is_empty());

    let filed = cast
        .ada
        .request_relocation(relocate(
            pb::LocationType::Square,
            "Zetang Square, north gate",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(filed.kind(), pb::RemovalKind::Relocate);
    assert_eq!(filed.old_location.as_ref().unwrap().address, "Test road");
    let id = filed.id.clone();
    // Approval by the requester.
    refused(
        cast.ada
            .approve_removal(pb::ApproveRemovalRequest { id: id.clone() })
            .await,
        Code::PermissionDenied,
        &["user/ada requested this and may not approve it", "[R18.11]"],
    );
    assert_eq!(requests(&mut cast.ada, &device).await, vec![filed.clone()]);
    // The old verb does not complete a relocation.
    refused(
        decommission(&cast, &device).await,
        Code::FailedPrecondition,
        &["is a relocation", "[R18.11]"],
    );
    cast.bea
        .approve_removal(pb::ApproveRemovalRequest { id: id.clone() })
        .await
        .unwrap();
    cast.bea
        .report_removal(pb::ReportRemovalRequest {
            id: id.clone(),
            office: "Naidong County PSB".into(),
            reference: "ND-BA-2026-0118".into(),
            reported_unix_ms: 0,
        })
        .await
        .unwrap();
    let before = at_county(&cast, &device).await.unwrap();
    assert_eq!(before.spec.as_ref().unwrap().address, "Test road");
    cast.dawa
        .complete_removal(pb::CompleteRemovalRequest { id: id.clone() })
        .await
        .unwrap();
    let after = at_county(&cast, &device).await.unwrap();
    let spec = after.spec.as_ref().unwrap();
    assert_eq!(spec.location_type(), pb::LocationType::Square);
    assert_eq!(spec.address, "Zetang Square, north gate");
    assert_eq!(spec.latitude, Some(29.23));
    assert_eq!(after.registered_unix_ms, before.registered_unix_ms);
    eventually(
        "the move reaches the city",
        Duration::from_secs(10),
        || async {
            Ok(at_city(&cast, &device)
                .await
                .filter(|d| {
                    d.spec
                        .as_ref()
                        .is_some_and(|s| s.address == "Zetang Square, north gate")
                })
                .map(|_| ()))
        },
    )
    .await
    .unwrap();

    let records = audited_through_completion(&cast.county, &id).await;
    assert_eq!(
        refusals(&records, "device.relocation.request"),
        [
            ("user/ada", "R7"),
            ("user/ada", "R7"),
            ("user/ada", "R18.11")
        ]
    );
    assert_eq!(
        refusals(&records, "device.removal.approve"),
        [("user/ada", "R18.11")]
    );
    assert_eq!(
        allowed(&records, "device.relocation.request", &device),
        ["user/ada"]
    );
    assert_eq!(
        allowed(&records, "device.removal.approve", &id),
        ["user/bea"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vfedctl_runs_the_workflow_with_json_output() {
    let mut cast = cast().await;
    let device = naidong_camera(1);
    let (pki, county) = (&cast.pki, &cast.county);
    let filed = vfedctl_json(
        pki,
        county,
        &[
            "devices",
            "removal",
            "request",
            &device,
            "--reason",
            "pole taken down",
        ],
    )
    .await
    .unwrap();
    assert_eq!(filed["stage"], "requested");
    assert_eq!(filed["kind"], "remove");
    assert_eq!(
        filed["requested"]["by"],
        format!("tool/{}", vfed_tests::TEST_ADMIN)
    );
    let id = filed["id"].as_str().unwrap().to_owned();
    // The tool requested; an administrator approves.
    let err = vfedctl(pki, county, &["devices", "removal", "approve", &id])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("may not approve it") && err.contains("[R18.11]"),
        "{err}"
    );
    let err = vfedctl(pki, county, &["devices", "decommission", &device])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("only after the report"), "{err}");
    cast.ada
        .approve_removal(pb::ApproveRemovalRequest { id: id.clone() })
        .await
        .unwrap();
    let reported = vfedctl_json(
        pki,
        county,
        &[
            "devices",
            "removal",
            "report",
            &id,
            "--office",
            "Naidong County PSB",
            "--reference",
            "ND-1",
        ],
    )
    .await
    .unwrap();
    assert_eq!(reported["stage"], "reported");
    assert_eq!(reported["report"]["reference"], "ND-1");
    let listed = vfedctl_json(pki, county, &["devices", "removal", "list", "--open"])
        .await
        .unwrap();
    assert_eq!(listed["requests"][0]["id"], id.as_str());
    vfedctl(pki, county, &["devices", "decommission", &device])
        .await
        .unwrap();
    assert!(at_county(&cast, &device).await.is_none());
    let open = vfedctl_json(pki, county, &["devices", "removal", "list", "--open"])
        .await
        .unwrap();
    assert_eq!(open["requests"], serde_json::json!([]));

    let moved = vfedctl_json(
        pki,
        county,
        &[
            "devices",
            "relocate",
            &naidong_camera(2),
            "--location-type",
            "toilet",
            "--address",
            "x",
            "--reason",
            "y",
        ],
    )
    .await;
    let err = moved.unwrap_err().to_string();
    assert!(
        err.contains("new_location.location_type") && err.contains("[R7]"),
        "{err}"
    );
    let moved = vfedctl_json(
        pki,
        county,
        &[
            "devices",
            "relocate",
            &naidong_camera(2),
            "--location-type",
            "park",
            "--address",
            "Naidong park",
            "--reason",
            "moved",
        ],
    )
    .await
    .unwrap();
    assert_eq!(moved["kind"], "relocate");
    assert_eq!(moved["new_location"]["location_type"], "park");
    let all = requests(&mut cast.ada, "").await;
    assert_eq!(all.len(), 2);
}
