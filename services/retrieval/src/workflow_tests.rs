//! Every step x every kind of caller x every state, fresh and expired.

use vfed_authz::{AuthenticatedBy, Principal, Role};

use super::*;
use crate::record::LegalDocument;

const NOW: i64 = 1_764_280_000;
const EXPIRES: i64 = NOW + 3600;

fn person(name: &str, role: Option<Role>) -> Principal {
    Principal {
        name: name.into(),
        role,
        unit: "Naidong PSB".into(),
        department: String::new(),
        authenticated_by: AuthenticatedBy::Token,
        token_expires_unix: None,
    }
}

/// The cast: `a` files, `b` co-signs, `c` decides.
fn a() -> Principal {
    person("a", Some(Role::Officer))
}
fn b() -> Principal {
    person("b", Some(Role::Officer))
}
fn c() -> Principal {
    person("c", Some(Role::Admin))
}

/// Everyone who might try a step, with a short label.
fn callers() -> Vec<(&'static str, Principal)> {
    vec![
        ("filer", a()),
        ("cosigner", b()),
        ("other officer", person("x", Some(Role::Officer))),
        ("deciding admin", c()),
        ("other admin", person("d", Some(Role::Admin))),
        ("operator", person("o", Some(Role::Operator))),
        ("duty monitor", person("m", Some(Role::DutyMonitor))),
        ("auditor", person("u", Some(Role::Auditor))),
        (
            "department viewer",
            person("v", Some(Role::DepartmentViewer)),
        ),
        ("no role", person("p", None)),
        ("node", Principal::node("54050200002000000001")),
        // A node certificate that happens to carry the filer's name.
        ("node named a", Principal::node("a")),
    ]
}

fn draft() -> Draft {
    Draft {
        legal_document: LegalDocument {
            kind: "case-filing".into(),
            number: "NDPSB-2025-0042".into(),
            issuing_authority: "Naidong County PSB".into(),
            sha256: "ab".repeat(32),
        },
        purpose: "theft investigation".into(),
        requesting_agency: "Naidong criminal police".into(),
        device_ids: vec!["54050200001320000001".into()],
        from_unix: NOW - 7200,
        to_unix: NOW - 3600,
        expires_unix: EXPIRES,
    }
}

fn filed() -> Record {
    file("1764280000000-00000001".into(), draft(), &a(), NOW).expect("officer files")
}

/// A record at each stage, decided by `c` where decided.
fn at_stage(stage: Stage) -> Record {
    let r = filed();
    match stage {
        Stage::Filed => r,
        Stage::Cosigned => cosign(&r, &b(), NOW).expect("cosign"),
        Stage::Approved => approve(&at_stage(Stage::Cosigned), &c(), NOW).expect("approve"),
        Stage::Rejected => {
            reject(&at_stage(Stage::Cosigned), &c(), "no".into(), NOW).expect("reject")
        }
    }
}

const STAGES: [Stage; 4] = [
    Stage::Filed,
    Stage::Cosigned,
    Stage::Approved,
    Stage::Rejected,
];

/// What a step should do.
#[derive(Debug, PartialEq)]
enum Outcome {
    Ok,
    NotAllowed,
    NotNow,
}

fn outcome<T>(result: &Result<T, RetrievalError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(RetrievalError::NotAllowed { requirement, .. }) => {
            assert_eq!(*requirement, "R16");
            Outcome::NotAllowed
        }
        Err(RetrievalError::NotNow { requirement, .. }) => {
            assert_eq!(*requirement, "R16");
            Outcome::NotNow
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn is_officer(p: &Principal) -> bool {
    !p.is_node() && p.role == Some(Role::Officer)
}

fn is_admin(p: &Principal) -> bool {
    !p.is_node() && p.role == Some(Role::Admin)
}

#[test]
fn every_step_by_every_caller_in_every_state() {
    for stage in STAGES {
        let record = at_stage(stage);
        for (now, expired) in [(NOW + 1, false), (EXPIRES, true), (EXPIRES + 86_400, true)] {
            let live = |s: Stage| stage == s && !expired;
            for (label, caller) in callers() {
                let ctx = format!("{stage:?} expired={expired} caller={label}");

                let want = if !is_officer(&caller) || caller.name == "a" {
                    Outcome::NotAllowed
                } else if live(Stage::Filed) {
                    Outcome::Ok
                } else {
                    Outcome::NotNow
                };
                assert_eq!(
                    outcome(&cosign(&record, &caller, now)),
                    want,
                    "cosign {ctx}"
                );

                let want = if !is_admin(&caller) {
                    Outcome::NotAllowed
                } else if live(Stage::Cosigned) {
                    Outcome::Ok
                } else {
                    Outcome::NotNow
                };
                assert_eq!(
                    outcome(&approve(&record, &caller, now)),
                    want,
                    "approve {ctx}"
                );

                let want = if !is_admin(&caller) {
                    Outcome::NotAllowed
                } else if live(Stage::Filed) || live(Stage::Cosigned) {
                    Outcome::Ok
                } else {
                    Outcome::NotNow
                };
                let got = reject(&record, &caller, "r".into(), now);
                assert_eq!(outcome(&got), want, "reject {ctx}");

                let signed = caller.name == "a" || (caller.name == "b" && stage != Stage::Filed);
                let want = if !is_officer(&caller) || !signed {
                    Outcome::NotAllowed
                } else if live(Stage::Approved) {
                    Outcome::Ok
                } else {
                    Outcome::NotNow
                };
                let got = open_access(&record, &caller, now);
                assert_eq!(outcome(&got), want, "open access {ctx}");
            }
        }
    }
}

#[test]
fn only_officers_file() {
    for (label, caller) in callers() {
        let got = file("1764280000000-00000001".into(), draft(), &caller, NOW);
        let want = if is_officer(&caller) {
            Outcome::Ok
        } else {
            Outcome::NotAllowed
        };
        assert_eq!(outcome(&got), want, "{label}");
    }
}

#[test]
fn the_full_path_records_every_signature() {
    let r = filed();
    assert_eq!(r.state(NOW), State::Filed);
    assert_eq!(r.filed_by.user, "a");
    assert_eq!(r.filed_by.role, "officer");
    assert_eq!(r.filed_unix, NOW);
    let r = cosign(&r, &b(), NOW + 10).expect("cosign");
    assert_eq!(r.state(NOW + 10), State::Cosigned);
    assert_eq!(
        r.cosigned_by
            .as_ref()
            .map(|s| (s.user.as_str(), s.signed_unix)),
        Some(("b", NOW + 10))
    );
    let r = approve(&r, &c(), NOW + 20).expect("approve");
    assert_eq!(r.state(NOW + 20), State::Approved);
    assert_eq!(
        r.decided_by
            .as_ref()
            .map(|s| (s.user.as_str(), s.role.as_str())),
        Some(("c", "admin"))
    );
    for officer in [a(), b()] {
        let grant = open_access(&r, &officer, NOW + 30).expect("open");
        assert_eq!(grant.granted_to, officer.name);
        assert_eq!(grant.valid_until_unix, EXPIRES);
        assert_eq!(grant.device_ids, r.device_ids);
        assert_eq!(grant.requesting_agency, "Naidong criminal police");
    }
    assert_eq!(r.state(EXPIRES), State::Expired);
}

fn message<T: std::fmt::Debug>(result: Result<T, RetrievalError>) -> String {
    result.expect_err("refused").to_string()
}

#[test]
fn refusals_name_the_missing_condition() {
    let r = filed();
    let m = message(cosign(&r, &a(), NOW));
    assert!(m.contains("different officer than the filer"), "{m}");
    assert!(m.contains("cannot sign it twice"), "{m}");
    assert!(m.ends_with("; nothing was changed (R16)"), "{m}");

    let m = message(cosign(&r, &person("o", Some(Role::Operator)), NOW));
    assert!(m.contains("o (operator) is not an officer"), "{m}");

    let m = message(approve(&r, &c(), NOW));
    assert!(m.starts_with("approve refused: request"), "{m}");
    assert!(m.contains("is not co-signed"), "{m}");

    let m = message(cosign(&r, &b(), EXPIRES));
    assert!(m.contains("expired at"), "{m}");

    let cosigned = at_stage(Stage::Cosigned);
    let m = message(approve(&cosigned, &a(), NOW));
    assert!(m.contains("a (officer) is not an admin"), "{m}");
    // An admin account that co-signed (or filed) cannot decide.
    let mut odd = cosigned.clone();
    odd.cosigned_by = Some(signature(&c(), NOW));
    let m = message(approve(&odd, &c(), NOW));
    assert!(m.contains("neither the filer nor the co-signer"), "{m}");

    let m = message(open_access(&cosigned, &a(), NOW));
    assert!(m.contains("is not approved"), "{m}");
    let approved = at_stage(Stage::Approved);
    let m = message(open_access(
        &approved,
        &person("x", Some(Role::Officer)),
        NOW,
    ));
    assert!(m.contains("filer a, co-signer b"), "{m}");
    let m = message(approve(&approved, &person("d", Some(Role::Admin)), NOW));
    assert!(m.contains("already approved by c"), "{m}");

    let rejected = at_stage(Stage::Rejected);
    let m = message(open_access(&rejected, &a(), NOW));
    assert!(m.contains("rejected by c (no)"), "{m}");
}

#[test]
fn rejected_stays_rejected_after_expiry() {
    let r = at_stage(Stage::Rejected);
    assert_eq!(r.state(EXPIRES + 1), State::Rejected);
    assert_eq!(r.rejected_reason.as_deref(), Some("no"));
}

#[test]
fn only_the_signers_export_an_approved_unexpired_request() {
    for stage in STAGES {
        let record = at_stage(stage);
        for now in [NOW, EXPIRES] {
            for (label, caller) in callers() {
                let result = may_export(&record, &caller, now);
                let allowed =
                    stage == Stage::Approved && now < EXPIRES && (caller == a() || caller == b());
                match &result {
                    Ok(()) => assert!(allowed, "{label} at {stage:?}, {now}"),
                    Err(
                        RetrievalError::NotAllowed {
                            action,
                            requirement,
                            condition,
                        }
                        | RetrievalError::NotNow {
                            action,
                            requirement,
                            condition,
                        },
                    ) => {
                        assert!(!allowed, "{label} at {stage:?}, {now}");
                        assert_eq!((*action, *requirement), (EXPORT, "R17"));
                        assert!(condition.ends_with("(R16)"), "{condition}");
                    }
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
        }
    }
    let refused = may_export(
        &at_stage(Stage::Approved),
        &person("x", Some(Role::Officer)),
        NOW,
    )
    .expect_err("a third officer is refused")
    .to_string();
    assert!(
        refused.starts_with(
            "export refused: access is opened only to the officers who signed request"
        ),
        "{refused}"
    );
    assert!(
        refused.ends_with("(R16); nothing was changed (R17)"),
        "{refused}"
    );
}
