//! The sharing service's handlers called directly over a real embedded
//! store, with the principal the auth layer would attach; and the grant
//! book following the same store.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::{Code, Request};
use vfed_authz::{AuthenticatedBy, Principal, Role, ViewPolicy};
use vfed_gbcode::AreaCode;
use vfed_proto::sharing::v1 as pb;
use vfed_proto::sharing::v1::sharing_server::Sharing;
use vfed_sharing::{GrantBook, Records, SharingService};
use vfed_store::SharedStore;

const CAMERA: &str = "54050200001320000001";

fn person(name: &str, role: Role, department: &str) -> Principal {
    Principal {
        name: name.into(),
        role: Some(role),
        unit: "Shannan".into(),
        department: department.into(),
        authenticated_by: AuthenticatedBy::Token,
        token_expires_unix: None,
    }
}

fn admin() -> Principal {
    person("zhuoma", Role::Admin, "")
}

fn viewer() -> Principal {
    person("dawa", Role::DepartmentViewer, "traffic")
}

fn as_<T>(principal: &Principal, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(Arc::new(principal.clone()));
    request
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn setup() -> (SharingService, SharedStore, tempfile::TempDir) {
    let (store, dir) = vfed_store::testing::temp_embedded_store().unwrap();
    let store: SharedStore = store;
    let service = SharingService::new(
        Records::new(store.clone()),
        AreaCode::parse("540500").unwrap(),
    );
    (service, store, dir)
}

fn department(name: &str) -> pb::CreateDepartmentRequest {
    pb::CreateDepartmentRequest {
        department: Some(pb::Department {
            name: name.into(),
            display_name: format!("Shannan {name} department"),
            ..pb::Department::default()
        }),
    }
}

fn grant_spec() -> pb::Grant {
    pb::Grant {
        department: "traffic".into(),
        device_ids: vec![CAMERA.into()],
        purpose: "junction monitoring during the festival".into(),
        live: true,
        valid_to_unix: now() + 3600,
        ..pb::Grant::default()
    }
}

async fn create(service: &SharingService, grant: pb::Grant) -> Result<pb::Grant, tonic::Status> {
    service
        .create_grant(as_(&admin(), pb::CreateGrantRequest { grant: Some(grant) }))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn every_refusal_names_field_rule_and_r13_and_stores_nothing() {
    let (service, store, _dir) = setup();
    service
        .create_department(as_(&admin(), department("traffic")))
        .await
        .unwrap();
    let before = store.current_revision().await.unwrap();
    let mut cases: Vec<(&str, pb::Grant)> = Vec::new();
    let mut g = grant_spec();
    g.department = "urban".into();
    cases.push(("grant.department", g));
    let mut g = grant_spec();
    g.device_ids = vec!["5405020000132000000X".into()];
    cases.push(("grant.device_ids[0]", g));
    let mut g = grant_spec();
    g.device_ids.clear();
    g.subtree = "5405021".into();
    cases.push(("grant.subtree", g));
    let mut g = grant_spec();
    g.purpose.clear();
    cases.push(("grant.purpose", g));
    let mut g = grant_spec();
    g.live = false;
    cases.push(("grant.live", g));
    let mut g = grant_spec();
    g.valid_from_unix = now() + 7200;
    cases.push(("grant.valid_to_unix", g));
    let mut g = grant_spec();
    g.valid_to_unix = now() - 1;
    cases.push(("grant.valid_to_unix", g));
    for (field, grant) in cases {
        let status = create(&service, grant.clone()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{grant:?}");
        let message = status.message();
        assert!(
            message.starts_with(&format!("{field}: ")) && message.contains("[R13]"),
            "{message}"
        );
        assert!(message.ends_with("nothing was changed"), "{message}");
    }
    let bad_department = service
        .create_department(as_(&admin(), department("Traffic Police")))
        .await
        .unwrap_err();
    assert!(bad_department.message().starts_with("department.name: "));
    let duplicate = service
        .create_department(as_(&admin(), department("traffic")))
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    assert_eq!(store.current_revision().await.unwrap(), before);
}

#[tokio::test]
async fn grants_are_created_listed_scoped_revoked_and_shortened() {
    let (service, store, _dir) = setup();
    for name in ["traffic", "urban"] {
        service
            .create_department(as_(&admin(), department(name)))
            .await
            .unwrap();
    }
    let created = create(&service, grant_spec()).await.unwrap();
    assert!(created.id.starts_with("g-"));
    assert_eq!(created.created_by, "user/zhuoma");
    let mut urban = grant_spec();
    urban.department = "urban".into();
    urban.device_ids.clear();
    urban.subtree = "540521".into();
    create(&service, urban).await.unwrap();

    // A department viewer sees their department's grants only.
    let listed = service
        .list_grants(as_(&viewer(), pb::ListGrantsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.grants.len(), 1);
    assert_eq!(listed.grants[0].id, created.id);
    let other = service
        .list_grants(as_(
            &viewer(),
            pb::ListGrantsRequest {
                department: "urban".into(),
                include_inactive: false,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(other.code(), Code::PermissionDenied);
    assert!(other.message().contains("R13"));
    let all = service
        .list_grants(as_(&admin(), pb::ListGrantsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.grants.len(), 2);

    // The book follows the store.
    let book = GrantBook::start(store.clone(), CancellationToken::new());
    eventually(|| book.check_live(&viewer(), CAMERA).is_ok()).await;

    // Shortened into the past: refused, nothing changes.
    let before = store.current_revision().await.unwrap();
    let past = service
        .set_grant_validity(as_(
            &admin(),
            pb::SetGrantValidityRequest {
                id: created.id.clone(),
                valid_from_unix: 0,
                valid_to_unix: now() - 10,
            },
        ))
        .await
        .unwrap_err();
    assert!(
        past.message().starts_with("valid_to_unix: "),
        "{}",
        past.message()
    );
    assert_eq!(store.current_revision().await.unwrap(), before);
    let shortened = service
        .set_grant_validity(as_(
            &admin(),
            pb::SetGrantValidityRequest {
                id: created.id.clone(),
                valid_from_unix: 0,
                valid_to_unix: now() + 2,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(shortened.valid_from_unix, created.valid_from_unix);
    eventually(|| {
        book.check_live(&viewer(), CAMERA)
            .is_err_and(|r| r.reason.contains("expired"))
    })
    .await;

    // Revoked: needs a reason, happens once.
    let no_reason = service
        .revoke_grant(as_(
            &admin(),
            pb::RevokeGrantRequest {
                id: created.id.clone(),
                reason: " ".into(),
            },
        ))
        .await
        .unwrap_err();
    assert!(no_reason.message().starts_with("reason: "));
    let revoked = service
        .revoke_grant(as_(
            &admin(),
            pb::RevokeGrantRequest {
                id: created.id.clone(),
                reason: "festival over".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(revoked.revoked);
    assert_eq!(revoked.revoked_by, "user/zhuoma");
    let again = service
        .revoke_grant(as_(
            &admin(),
            pb::RevokeGrantRequest {
                id: created.id.clone(),
                reason: "twice".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let unknown = service
        .revoke_grant(as_(
            &admin(),
            pb::RevokeGrantRequest {
                id: "g-000000000000".into(),
                reason: "none".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    eventually(|| {
        book.check_live(&viewer(), CAMERA)
            .is_err_and(|r| r.reason.contains("festival over"))
    })
    .await;

    // Inactive grants are listed on request only.
    let active = service
        .list_grants(as_(&admin(), pb::ListGrantsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(active.grants.len(), 1);
    let everything = service
        .list_grants(as_(
            &admin(),
            pb::ListGrantsRequest {
                department: String::new(),
                include_inactive: true,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(everything.grants.len(), 2);
}

#[tokio::test]
async fn without_a_principal_nothing_happens() {
    let (service, store, _dir) = setup();
    let status = service
        .create_department(Request::new(department("traffic")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(store.current_revision().await.unwrap(), 0);
}

async fn eventually(mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "not within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
