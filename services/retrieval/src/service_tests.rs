//! The handlers over a real store, with the caller the layer would attach.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};

use tonic::Code;
use vfed_authz::{AuthenticatedBy, Role};
use vfed_store::SharedStore;

use super::*;

const DEVICE: &str = "54050200001320000001";
const START_MS: i64 = 1_764_280_000_000;

struct Devices(BTreeSet<String>);

#[async_trait::async_trait]
impl DeviceDirectory for Devices {
    async fn contains(&self, id: &str) -> Result<bool, RetrievalError> {
        Ok(self.0.contains(id))
    }

    fn node_id(&self) -> &str {
        "54050200002000000001"
    }
}

struct Fixture {
    service: RetrievalService,
    store: SharedStore,
    clock: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> anyhow::Result<Self> {
        let (store, dir) = vfed_store::testing::temp_embedded_store()?;
        let store: SharedStore = store;
        let clock = Arc::new(AtomicI64::new(START_MS));
        let time = clock.clone();
        let service = RetrievalService::new(
            store.clone(),
            Devices([DEVICE.to_owned()].into()),
            RetrievalOptions::default(),
        )
        .with_clock(Arc::new(move || time.load(Ordering::SeqCst)));
        Ok(Self {
            service,
            store,
            clock,
            _dir: dir,
        })
    }

    fn advance(&self, secs: i64) {
        self.clock.fetch_add(secs * 1000, Ordering::SeqCst);
    }

    async fn revision(&self) -> i64 {
        self.store.current_revision().await.unwrap_or(-1)
    }
}

fn person(name: &str, role: Role) -> Principal {
    Principal {
        name: name.into(),
        role: Some(role),
        unit: "Naidong PSB".into(),
        department: String::new(),
        authenticated_by: AuthenticatedBy::Token,
        token_expires_unix: None,
    }
}

fn by<T>(caller: &Principal, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(Arc::new(caller.clone()));
    request
}

fn filing() -> pb::FileRequestRequest {
    let now = START_MS / 1000;
    pb::FileRequestRequest {
        request: Some(pb::RetrievalRequest {
            legal_document: Some(pb::LegalDocument {
                r#type: "case-filing".into(),
                number: "NDPSB-2025-0042".into(),
                issuing_authority: "Naidong County PSB".into(),
                sha256: "ab".repeat(32),
            }),
            purpose: "theft investigation".into(),
            requesting_agency: "Naidong criminal police".into(),
            device_ids: vec![DEVICE.into()],
            from_unix: now - 7200,
            to_unix: now - 3600,
            ..Default::default()
        }),
    }
}

fn id(id: &str) -> pb::CoSignRequest {
    pb::CoSignRequest { id: id.into() }
}

async fn file(f: &Fixture, filer: &Principal) -> anyhow::Result<pb::RetrievalRequest> {
    Ok(f.service
        .file_request(by(filer, filing()))
        .await?
        .into_inner())
}

async fn get(f: &Fixture, request_id: &str) -> anyhow::Result<pb::RetrievalRequest> {
    let officer = person("a", Role::Officer);
    Ok(f.service
        .get_request(by(
            &officer,
            pb::GetRequestRequest {
                id: request_id.into(),
            },
        ))
        .await?
        .into_inner())
}

/// `status` is the refusal `code` whose message contains `needle` and the
/// requirement; the store did not move.
async fn assert_refused<T: std::fmt::Debug>(
    f: &Fixture,
    before: i64,
    result: Result<Response<T>, Status>,
    code: Code,
    needle: &str,
) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{}", status.message());
    let m = status.message();
    assert!(m.contains(needle), "{m}");
    assert!(
        m.ends_with("; nothing was changed (R16)") || m.ends_with("; nothing was changed (R4)"),
        "{m}"
    );
    assert_eq!(f.revision().await, before, "nothing written: {m}");
}

#[tokio::test]
async fn two_officers_and_the_custodian_open_access() -> anyhow::Result<()> {
    let f = Fixture::new()?;
    let (a, b, c) = (
        person("a", Role::Officer),
        person("b", Role::Officer),
        person("c", Role::Admin),
    );
    let filed = file(&f, &a).await?;
    assert_eq!(filed.state, pb::State::Filed as i32);
    assert!(keys::is_id(&filed.id), "{}", filed.id);
    assert_eq!(filed.expires_unix, START_MS / 1000 + 72 * 3600);
    let cosigned = f.service.co_sign(by(&b, id(&filed.id))).await?.into_inner();
    assert_eq!(cosigned.state, pb::State::Cosigned as i32);
    assert!(cosigned.revision > filed.revision);
    let approved = f
        .service
        .approve(by(
            &c,
            pb::ApproveRequest {
                id: filed.id.clone(),
            },
        ))
        .await?
        .into_inner();
    assert_eq!(approved.state, pb::State::Approved as i32);
    assert_eq!(approved.approved_by.map(|s| s.user), Some("c".into()));
    for officer in [&a, &b] {
        let grant = f
            .service
            .open_access(by(
                officer,
                pb::OpenAccessRequest {
                    id: filed.id.clone(),
                },
            ))
            .await?
            .into_inner();
        assert_eq!(grant.granted_to, officer.name);
        assert_eq!(grant.device_ids, vec![DEVICE.to_owned()]);
        assert_eq!(grant.valid_until_unix, filed.expires_unix);
    }
    // Lazy expiry: shown EXPIRED, access closed, the stored record untouched.
    let before = f.revision().await;
    f.advance(72 * 3600);
    assert_eq!(get(&f, &filed.id).await?.state, pb::State::Expired as i32);
    let result = f
        .service
        .open_access(by(
            &a,
            pb::OpenAccessRequest {
                id: filed.id.clone(),
            },
        ))
        .await;
    assert_refused(&f, before, result, Code::FailedPrecondition, "expired at").await;
    let listed = f
        .service
        .list_requests(by(
            &a,
            pb::ListRequestsRequest {
                state: pb::State::Expired.into(),
                limit: 0,
            },
        ))
        .await?
        .into_inner();
    assert_eq!(listed.requests.len(), 1);
    Ok(())
}

#[tokio::test]
async fn every_refusal_writes_nothing() -> anyhow::Result<()> {
    let f = Fixture::new()?;
    let (a, b, c) = (
        person("a", Role::Officer),
        person("b", Role::Officer),
        person("c", Role::Admin),
    );
    let operator = person("o", Role::Operator);
    let filed = file(&f, &a).await?;
    let before = f.revision().await;

    let r = f.service.co_sign(by(&a, id(&filed.id))).await;
    assert_refused(
        &f,
        before,
        r,
        Code::PermissionDenied,
        "different officer than the filer",
    )
    .await;
    let r = f.service.co_sign(by(&operator, id(&filed.id))).await;
    assert_refused(
        &f,
        before,
        r,
        Code::PermissionDenied,
        "o (operator) is not an officer",
    )
    .await;
    let approve = || pb::ApproveRequest {
        id: filed.id.clone(),
    };
    let r = f.service.approve(by(&c, approve())).await;
    assert_refused(&f, before, r, Code::FailedPrecondition, "is not co-signed").await;
    let r = f.service.approve(by(&a, approve())).await;
    assert_refused(
        &f,
        before,
        r,
        Code::PermissionDenied,
        "a (officer) is not an admin",
    )
    .await;
    let r = f
        .service
        .reject(by(
            &c,
            pb::RejectRequest {
                id: filed.id.clone(),
                reason: " ".into(),
            },
        ))
        .await;
    assert_refused(&f, before, r, Code::InvalidArgument, "reason: is required").await;
    let r = f
        .service
        .open_access(by(
            &a,
            pb::OpenAccessRequest {
                id: filed.id.clone(),
            },
        ))
        .await;
    assert_refused(&f, before, r, Code::FailedPrecondition, "is not co-signed").await;

    let mut bad = filing();
    if let Some(r) = bad.request.as_mut() {
        r.legal_document = None;
    }
    let r = f.service.file_request(by(&a, bad)).await;
    assert_refused(
        &f,
        before,
        r,
        Code::InvalidArgument,
        "request.legal_document: is required",
    )
    .await;
    let mut unknown = filing();
    if let Some(r) = unknown.request.as_mut() {
        r.device_ids.push("54050200001320000009".into());
    }
    let r = f.service.file_request(by(&a, unknown)).await;
    assert_refused(
        &f,
        before,
        r,
        Code::InvalidArgument,
        "request.device_ids[1]: device 54050200001320000009 is not in the catalog",
    )
    .await;
    let r = f.service.file_request(by(&operator, filing())).await;
    assert_refused(&f, before, r, Code::PermissionDenied, "is not an officer").await;
    let r = f.service.co_sign(by(&b, id("../cat/local/x"))).await;
    assert_refused(
        &f,
        before,
        r,
        Code::InvalidArgument,
        "is not a retrieval request ID",
    )
    .await;

    let status = f
        .service
        .co_sign(by(&b, id("1764280000000-00000000")))
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::NotFound);
    let status = f
        .service
        .co_sign(Request::new(id(&filed.id)))
        .await
        .expect_err("no principal");
    assert_eq!(status.code(), Code::Unauthenticated);

    let unchanged = get(&f, &filed.id).await?;
    assert_eq!(unchanged.state, pb::State::Filed as i32);
    assert_eq!(unchanged.revision, filed.revision);
    assert_eq!(f.revision().await, before);
    Ok(())
}

#[tokio::test]
async fn an_expired_request_cannot_be_co_signed() -> anyhow::Result<()> {
    let f = Fixture::new()?;
    let mut short = filing();
    if let Some(r) = short.request.as_mut() {
        r.expires_unix = START_MS / 1000 + 60;
    }
    let filed = f
        .service
        .file_request(by(&person("a", Role::Officer), short))
        .await?
        .into_inner();
    f.advance(60);
    let before = f.revision().await;
    let r = f
        .service
        .co_sign(by(&person("b", Role::Officer), id(&filed.id)))
        .await;
    assert_refused(&f, before, r, Code::FailedPrecondition, "expired at").await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_co_signers_one_wins() -> anyhow::Result<()> {
    let f = Fixture::new()?;
    let filed = file(&f, &person("a", Role::Officer)).await?;
    let officers: Vec<Principal> = (0..8)
        .map(|i| person(&format!("o{i}"), Role::Officer))
        .collect();
    let results = futures_join(&f.service, &officers, &filed.id).await;
    let won: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), Code::FailedPrecondition);
        assert!(r.message().contains("already co-signed"), "{}", r.message());
    }
    Ok(())
}

async fn futures_join(
    service: &RetrievalService,
    officers: &[Principal],
    request_id: &str,
) -> Vec<Result<String, Status>> {
    let mut tasks = tokio::task::JoinSet::new();
    for officer in officers {
        let service = service.clone();
        let request = by(officer, id(request_id));
        tasks.spawn(async move {
            service.co_sign(request).await.map(|r| {
                r.into_inner()
                    .cosigned_by
                    .map(|s| s.user)
                    .unwrap_or_default()
            })
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        results.push(joined.unwrap_or_else(|e| Err(Status::internal(e.to_string()))));
    }
    results
}
