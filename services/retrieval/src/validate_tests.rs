//! Each bad field is refused by name, with its rule and requirement.

use super::*;

const NOW: i64 = 1_764_280_000;

fn good() -> pb::RetrievalRequest {
    pb::RetrievalRequest {
        legal_document: Some(pb::LegalDocument {
            r#type: "case-filing".into(),
            number: "NDPSB-2025-0042".into(),
            issuing_authority: "Naidong County PSB".into(),
            sha256: "AB".repeat(32),
        }),
        purpose: " theft investigation ".into(),
        requesting_agency: "Naidong criminal police".into(),
        device_ids: vec!["54050200001320000001".into(), "54050200001180000002".into()],
        from_unix: NOW - 7200,
        to_unix: NOW - 3600,
        ..Default::default()
    }
}

fn refused(change: impl FnOnce(&mut pb::RetrievalRequest)) -> (String, &'static str, String) {
    let mut r = good();
    change(&mut r);
    match draft(Some(r), NOW, &RetrievalOptions::default()) {
        Err(RetrievalError::Invalid {
            field,
            requirement,
            rule,
        }) => (field, requirement, rule),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_good_request_is_normalised() {
    let d = draft(Some(good()), NOW, &RetrievalOptions::default()).expect("valid");
    assert_eq!(d.legal_document.sha256, "ab".repeat(32));
    assert_eq!(d.purpose, "theft investigation");
    assert_eq!(d.expires_unix, NOW + 72 * 3600);
    let mut r = good();
    r.expires_unix = NOW + 60;
    let d = draft(Some(r), NOW, &RetrievalOptions::default()).expect("valid");
    assert_eq!(d.expires_unix, NOW + 60);
}

#[test]
fn every_bad_field_is_named() {
    type Change = Box<dyn FnOnce(&mut pb::RetrievalRequest)>;
    let doc = |f: fn(&mut pb::LegalDocument)| -> Change {
        Box::new(move |r: &mut pb::RetrievalRequest| {
            if let Some(d) = r.legal_document.as_mut() {
                f(d);
            }
        })
    };
    let cases: Vec<(&str, &str, Change)> = vec![
        (
            "request.legal_document",
            "R16",
            Box::new(|r| r.legal_document = None),
        ),
        (
            "request.legal_document.type",
            "R16",
            doc(|d| d.r#type.clear()),
        ),
        (
            "request.legal_document.number",
            "R16",
            doc(|d| d.number = "  ".into()),
        ),
        (
            "request.legal_document.issuing_authority",
            "R16",
            doc(|d| d.issuing_authority.clear()),
        ),
        (
            "request.legal_document.sha256",
            "R16",
            doc(|d| d.sha256.clear()),
        ),
        (
            "request.legal_document.sha256",
            "R16",
            doc(|d| d.sha256 = "g".repeat(64)),
        ),
        (
            "request.legal_document.sha256",
            "R16",
            doc(|d| d.sha256 = "a".repeat(63)),
        ),
        (
            "request.legal_document.sha256",
            "R16",
            doc(|d| d.sha256 = EMPTY_SHA256.to_uppercase()),
        ),
        (
            "request.legal_document.number",
            "R16",
            doc(|d| d.number = "n".repeat(129)),
        ),
        (
            "request.legal_document.type",
            "R16",
            doc(|d| d.r#type = "a\u{7}b".into()),
        ),
        ("request.purpose", "R14.5", Box::new(|r| r.purpose.clear())),
        (
            "request.purpose",
            "R14.5",
            Box::new(|r| r.purpose = "p".repeat(1025)),
        ),
        (
            "request.requesting_agency",
            "R14.5",
            Box::new(|r| r.requesting_agency.clear()),
        ),
        (
            "request.device_ids",
            "R16",
            Box::new(|r| r.device_ids.clear()),
        ),
        (
            "request.device_ids",
            "R16",
            Box::new(|r| r.device_ids = vec!["54050200001320000001".into(); 101]),
        ),
        (
            "request.device_ids[1]",
            "R4",
            Box::new(|r| r.device_ids[1] = "5405".into()),
        ),
        (
            "request.device_ids[1]",
            "R4",
            Box::new(|r| r.device_ids[1] = "54050200002000000001".into()),
        ),
        (
            "request.device_ids[1]",
            "R16",
            Box::new(|r| r.device_ids[1] = r.device_ids[0].clone()),
        ),
        ("request.from_unix", "R16", Box::new(|r| r.from_unix = 0)),
        (
            "request.to_unix",
            "R16",
            Box::new(|r| r.to_unix = r.from_unix),
        ),
        ("request.to_unix", "R16", Box::new(|r| r.to_unix = NOW + 1)),
        (
            "request.expires_unix",
            "R16",
            Box::new(|r| r.expires_unix = NOW),
        ),
        (
            "request.expires_unix",
            "R16",
            Box::new(|r| r.expires_unix = -5),
        ),
        (
            "request.expires_unix",
            "R16",
            Box::new(|r| r.expires_unix = NOW + 7 * 86_400 + 1),
        ),
        ("request.id", "R16", Box::new(|r| r.id = "x".into())),
        (
            "request.state",
            "R16",
            Box::new(|r| r.state = pb::State::Approved.into()),
        ),
        (
            "request.filed_by",
            "R16",
            Box::new(|r| r.filed_by = Some(pb::Signature::default())),
        ),
        (
            "request.cosigned_by",
            "R16",
            Box::new(|r| r.cosigned_by = Some(pb::Signature::default())),
        ),
        (
            "request.approved_by",
            "R16",
            Box::new(|r| r.approved_by = Some(pb::Signature::default())),
        ),
        ("request.filed_unix", "R16", Box::new(|r| r.filed_unix = 1)),
        (
            "request.rejected_reason",
            "R16",
            Box::new(|r| r.rejected_reason = "x".into()),
        ),
        ("request.revision", "R16", Box::new(|r| r.revision = 3)),
    ];
    for (field, requirement, change) in cases {
        let (got_field, got_requirement, rule) = refused(change);
        assert_eq!(got_field, field, "{rule}");
        assert_eq!(got_requirement, requirement, "{field}: {rule}");
    }
    assert!(matches!(
        draft(None, NOW, &RetrievalOptions::default()),
        Err(RetrievalError::Invalid { field, .. }) if field == "request"
    ));
}

#[test]
fn ids_reasons_states_and_limits() {
    assert!(id("id", "1764280000000-3fa2b1c9").is_ok());
    let e = id("id", "cat/local/x").expect_err("bad id");
    assert!(
        e.to_string()
            .starts_with("id: \"cat/local/x\" is not a retrieval request ID")
    );
    assert!(reason("  ".into()).is_err());
    assert_eq!(
        reason(" too broad ".into()).ok().as_deref(),
        Some("too broad")
    );
    assert_eq!(state_filter(0).ok(), Some(None));
    assert_eq!(state_filter(5).ok(), Some(Some(State::Expired)));
    assert!(state_filter(99).is_err());
    assert_eq!(limit(0).ok(), Some(100));
    assert_eq!(limit(1000).ok(), Some(1000));
    assert!(limit(1001).is_err());
}
