//! The registry's refusals (R4, R6.1, R7, R9, R11, R12) over real gRPC: each
//! names the field, the rule and the requirement, and leaves no trace.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use tonic::Code;
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{NodeOptions, TestNode, TestPki, device_spec};

struct Refusal {
    what: &'static str,
    spec: pb::DeviceSpec,
    field: &'static str,
    requirement: &'static str,
}

fn with(id: &str, change: impl FnOnce(&mut pb::DeviceSpec)) -> pb::DeviceSpec {
    let mut spec = device_spec(id, true);
    change(&mut spec);
    spec
}

fn refusals() -> Vec<Refusal> {
    let ok = naidong_camera(1);
    let prohibited =
        |location: pb::LocationType| with(&ok, move |s| s.location_type = location.into());
    vec![
        Refusal {
            what: "malformed id",
            spec: with("5405020000132", |_| {}),
            field: "spec.id",
            requirement: "R4",
        },
        Refusal {
            what: "letters in id",
            spec: with("5405020000132000000X", |_| {}),
            field: "spec.id",
            requirement: "R4",
        },
        Refusal {
            what: "platform type as device",
            spec: with("54050200002000000009", |_| {}),
            field: "spec.id",
            requirement: "R4",
        },
        Refusal {
            what: "foreign area",
            spec: with("54052100001320000001", |_| {}),
            field: "spec.id",
            requirement: "R6.1",
        },
        Refusal {
            what: "toilet",
            spec: prohibited(pb::LocationType::Toilet),
            field: "spec.location_type",
            requirement: "R7",
        },
        Refusal {
            what: "hotel room",
            spec: prohibited(pb::LocationType::HotelRoom),
            field: "spec.location_type",
            requirement: "R7",
        },
        Refusal {
            what: "changing room",
            spec: prohibited(pb::LocationType::ChangingRoom),
            field: "spec.location_type",
            requirement: "R7",
        },
        Refusal {
            what: "no category",
            spec: with(&ok, |s| s.protected_category = 0),
            field: "spec.protected_category",
            requirement: "R6.2",
        },
        Refusal {
            what: "no manager",
            spec: with(&ok, |s| s.responsible.as_mut().unwrap().manager.clear()),
            field: "spec.responsible.manager",
            requirement: "R9",
        },
        Refusal {
            what: "accepted without a date",
            spec: with(&ok, |s| s.acceptance.as_mut().unwrap().accepted_on.clear()),
            field: "spec.acceptance.accepted_on",
            requirement: "R11",
        },
        Refusal {
            what: "verified before filed",
            spec: with(&ok, |s| {
                s.filing = Some(pb::Filing {
                    verified_on: "2026-01-01".into(),
                    ..Default::default()
                })
            }),
            field: "spec.filing.verified_on",
            requirement: "R12",
        },
        Refusal {
            what: "negative distance",
            spec: with(&ok, |s| {
                s.signage.as_mut().unwrap().distance_to_homes_m = Some(-3.0)
            }),
            field: "spec.signage.distance_to_homes_m",
            requirement: "R8",
        },
    ]
}

#[tokio::test]
async fn every_refusal_names_field_rule_and_requirement_and_stores_nothing() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    let store = county.store()?;
    let before = store.current_revision().await?;
    for refusal in refusals() {
        let status = registry
            .register_device(pb::RegisterDeviceRequest {
                spec: Some(refusal.spec),
            })
            .await
            .expect_err(refusal.what);
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{}: {status:?}",
            refusal.what
        );
        let message = status.message();
        assert!(
            message.starts_with(refusal.field),
            "{}: field missing in {message:?}",
            refusal.what
        );
        assert!(
            message.contains(&format!("[{}]", refusal.requirement)),
            "{}: requirement missing in {message:?}",
            refusal.what
        );
        assert!(
            message.contains("nothing was changed"),
            "{}: {message:?}",
            refusal.what
        );
    }
    assert_eq!(
        store.current_revision().await?,
        before,
        "a refused registration wrote to the store"
    );
    assert!(
        all_ids(&county.channel(&pki)?, pb::Scope::All)
            .await?
            .is_empty()
    );

    // R7 names the category.
    let status = registry
        .register_device(pb::RegisterDeviceRequest {
            spec: Some(with(&naidong_camera(1), |s| {
                s.location_type = pb::LocationType::Toilet.into()
            })),
        })
        .await
        .unwrap_err();
    assert!(
        status.message().contains("toilet is a prohibited location"),
        "{}",
        status.message()
    );
    Ok(())
}

#[tokio::test]
async fn duplicates_updates_and_premature_decommissioning() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    let id = naidong_camera(1);
    let first = registry
        .register_device(pb::RegisterDeviceRequest {
            spec: Some(device_spec(&id, true)),
        })
        .await?
        .into_inner();
    let again = registry
        .register_device(pb::RegisterDeviceRequest {
            spec: Some(device_spec(&id, true)),
        })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    // Optimistic update: a stale revision is refused, the right one applies.
    let mut spec = device_spec(&id, true);
    spec.name = "Renamed".into();
    let stale = registry
        .update_device(pb::UpdateDeviceRequest {
            spec: Some(spec.clone()),
            expected_revision: first.revision + 100,
        })
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    let updated = registry
        .update_device(pb::UpdateDeviceRequest {
            spec: Some(spec),
            expected_revision: first.revision,
        })
        .await?
        .into_inner();
    assert_eq!(updated.spec.unwrap().name, "Renamed");

    // Decommissioning is the last step of the removal workflow (R18.11,
    // tests/tests/removal.rs): without an approved, reported request it is
    // refused and the device stays.
    let premature = registry
        .decommission_device(pb::DecommissionDeviceRequest {
            id: id.clone(),
            reason: "relocated".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(premature.code(), Code::FailedPrecondition);
    assert!(
        premature.message().contains("no removal request")
            && premature.message().contains("[R18.11]"),
        "{}",
        premature.message()
    );
    assert!(get_device(&county.channel(&pki)?, &id).await?.is_some());
    let missing = registry
        .decommission_device(pb::DecommissionDeviceRequest {
            id: naidong_camera(9),
            reason: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    Ok(())
}

#[tokio::test]
async fn stream_credentials_never_leave_the_node_and_survive_updates() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    let id = naidong_camera(5);
    let mut spec = device_spec(&id, true);
    spec.streams = Some(pb::StreamSources {
        main_url: "rtsp://admin:s3cret@127.0.0.1:8554/main".into(),
        sub_url: String::new(),
    });
    let device = registry
        .register_device(pb::RegisterDeviceRequest { spec: Some(spec) })
        .await?
        .into_inner();
    let shown = device.spec.unwrap().streams.unwrap().main_url;
    assert_eq!(shown, "rtsp://127.0.0.1:8554/main");
    // Sending back what was shown keeps the stored credentials.
    let mut spec = device_spec(&id, true);
    spec.streams = Some(pb::StreamSources {
        main_url: shown,
        sub_url: String::new(),
    });
    registry
        .update_device(pb::UpdateDeviceRequest {
            spec: Some(spec),
            expected_revision: 0,
        })
        .await?;
    let kv = county
        .store()?
        .get(format!("cat/local/{id}").as_bytes())
        .await?
        .unwrap();
    assert!(
        String::from_utf8_lossy(&kv.value).contains("admin:s3cret@"),
        "credentials lost on update"
    );
    Ok(())
}

#[tokio::test]
async fn filings_signage_and_catalog_tree() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county")).await?;
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    let late = naidong_camera(1);
    let on_time = naidong_camera(2);
    let unverified = naidong_camera(3);
    let mut spec = device_spec(&late, true);
    spec.acceptance = Some(pb::Acceptance {
        state: pb::AcceptanceState::Accepted.into(),
        accepted_on: "2026-01-01".into(),
    });
    spec.signage = Some(pb::Signage {
        posted: false,
        distance_to_homes_m: None,
    });
    registry
        .register_device(pb::RegisterDeviceRequest { spec: Some(spec) })
        .await?;
    let mut spec = device_spec(&on_time, true);
    spec.acceptance = Some(pb::Acceptance {
        state: pb::AcceptanceState::Accepted.into(),
        accepted_on: "2026-01-01".into(),
    });
    spec.filing = Some(pb::Filing {
        filed_on: "2026-01-20".into(),
        verified_on: "2026-02-10".into(),
        ..Default::default()
    });
    spec.unit = "Other unit".into();
    registry
        .register_device(pb::RegisterDeviceRequest { spec: Some(spec) })
        .await?;
    let mut spec = device_spec(&unverified, true);
    spec.acceptance = Some(pb::Acceptance {
        state: pb::AcceptanceState::Accepted.into(),
        accepted_on: "2026-01-01".into(),
    });
    spec.filing = Some(pb::Filing {
        filed_on: "2026-01-20".into(),
        ..Default::default()
    });
    registry
        .register_device(pb::RegisterDeviceRequest { spec: Some(spec) })
        .await?;

    let overdue = registry
        .list_overdue_filings(pb::ListOverdueFilingsRequest {
            as_of: "2026-03-01".into(),
        })
        .await?
        .into_inner()
        .overdue;
    let mut found: Vec<(String, String, String, u32)> = overdue
        .into_iter()
        .map(|o| (o.device_id, o.missing, o.due_on, o.days_overdue))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            (late.clone(), "filing".into(), "2026-01-31".into(), 29),
            (
                unverified.clone(),
                "verification".into(),
                "2026-02-19".into(),
                10
            ),
        ]
    );
    // Not yet overdue on the due date itself.
    let none = registry
        .list_overdue_filings(pb::ListOverdueFilingsRequest {
            as_of: "2026-01-31".into(),
        })
        .await?
        .into_inner()
        .overdue;
    assert!(none.is_empty(), "{none:?}");

    let missing = registry
        .list_missing_signage(pb::ListMissingSignageRequest {})
        .await?
        .into_inner()
        .devices;
    assert_eq!(
        missing
            .iter()
            .map(|d| d.spec.as_ref().unwrap().id.clone())
            .collect::<Vec<_>>(),
        vec![late.clone()]
    );

    let tree = registry
        .get_catalog_tree(pb::GetCatalogTreeRequest {
            division: String::new(),
        })
        .await?
        .into_inner();
    assert_eq!(tree.divisions.len(), 1);
    assert_eq!(tree.divisions[0].code, "540502");
    assert_eq!(tree.divisions[0].name, "Naidong");
    let units: Vec<(String, usize)> = tree.divisions[0]
        .units
        .iter()
        .map(|u| (u.name.clone(), u.devices.len()))
        .collect();
    assert_eq!(
        units,
        vec![("Other unit".to_owned(), 1), ("Test unit".to_owned(), 2)]
    );
    let bad = registry
        .get_catalog_tree(pb::GetCatalogTreeRequest {
            division: "54".into(),
        })
        .await
        .unwrap_err();
    assert!(bad.message().starts_with("division"), "{}", bad.message());
    Ok(())
}

#[tokio::test]
async fn a_parent_refuses_devices_of_its_childrens_areas() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let mut registry = RegistryClient::new(city.channel(&pki)?);
    let status = registry
        .register_device(pb::RegisterDeviceRequest {
            spec: Some(device_spec(&naidong_camera(1), true)),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .contains(&format!("belongs to child node {NAIDONG}")),
        "{}",
        status.message()
    );
    assert!(status.message().contains("[R6.1]"), "{}", status.message());
    // The city's own area (not a child's) is fine.
    registry
        .register_device(pb::RegisterDeviceRequest {
            spec: Some(device_spec("54050000001320000001", true)),
        })
        .await?;
    Ok(())
}
