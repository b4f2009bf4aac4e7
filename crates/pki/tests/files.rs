//! The file-based CA and loading TLS material from files.
#![allow(clippy::unwrap_used)]

use std::fs;

use vfed_pki::{Identity, IdentityKind, IssueOptions, PkiError, TlsMaterial, init_ca, issue};

const TD: &str = "vfed.test";

#[test]
fn init_issue_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let ca = init_ca(&dir.path().join("ca"), TD, false).unwrap();
    let out = dir.path().join("certs");
    let node = Identity::node("54050000001320000001").unwrap();
    let user = Identity::user("alice").unwrap();
    for id in [&node, &user] {
        let files = issue(&dir.path().join("ca"), &out, id, &IssueOptions::default()).unwrap();
        let m = TlsMaterial::load(&ca.cert, &files.cert, &files.key).unwrap();
        assert_eq!(m.identity(), id);
        assert_eq!(m.trust_domain(), TD);
        assert_eq!(m.chain().len(), 1);
        assert_eq!(m.ca_certs().len(), 1);
    }
    assert!(out.join("user-alice.pem").exists());
    assert!(out.join("user-alice.key").exists());
    assert_eq!(
        fs::read_to_string(dir.path().join("ca/trust-domain"))
            .unwrap()
            .trim(),
        TD
    );
}

#[test]
fn issuing_many_certs_is_fast() {
    let dir = tempfile::tempdir().unwrap();
    init_ca(dir.path(), TD, false).unwrap();
    let started = std::time::Instant::now();
    for i in 0..20u32 {
        let id = Identity::new(IdentityKind::Node, format!("540500000013200{i:05}")).unwrap();
        issue(dir.path(), dir.path(), &id, &IssueOptions::default()).unwrap();
    }
    // Generous bound for a shared 2-core debug build; RSA would blow it.
    assert!(started.elapsed().as_secs() < 10, "{:?}", started.elapsed());
}

#[test]
fn load_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let other_dir = dir.path().join("other");
    let ca = init_ca(&ca_dir, TD, false).unwrap();
    let other = init_ca(&other_dir, TD, false).unwrap();
    let id = Identity::tool("vfedctl").unwrap();
    let good = issue(&ca_dir, &dir.path().join("good"), &id, &Default::default()).unwrap();
    let foreign = issue(
        &other_dir,
        &dir.path().join("foreign"),
        &id,
        &Default::default(),
    )
    .unwrap();

    // Missing file.
    let missing = dir.path().join("nope.pem");
    let err = TlsMaterial::load(&ca.cert, &missing, &good.key).unwrap_err();
    assert!(matches!(err, PkiError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("nope.pem"), "{err}");

    // Not PEM at all.
    let junk = dir.path().join("junk.pem");
    fs::write(&junk, "hello").unwrap();
    let err = TlsMaterial::load(&junk, &good.cert, &good.key).unwrap_err();
    assert!(matches!(err, PkiError::BadPem { .. }), "{err}");
    assert!(err.to_string().contains("junk.pem"), "{err}");

    // Key where the certificate should be, certificate where the key should be.
    let err = TlsMaterial::load(&ca.cert, &good.key, &good.key).unwrap_err();
    assert!(matches!(err, PkiError::BadPem { .. }), "{err}");
    let err = TlsMaterial::load(&ca.cert, &good.cert, &good.cert).unwrap_err();
    assert!(err.to_string().contains("no PEM private key"), "{err}");

    // Certificate from another CA.
    let err = TlsMaterial::load(&ca.cert, &foreign.cert, &foreign.key).unwrap_err();
    assert!(matches!(err, PkiError::NotSignedByCa { .. }), "{err}");
    assert!(err.to_string().contains("tool-vfedctl.pem"), "{err}");

    // Key of another certificate.
    let err = TlsMaterial::load(&ca.cert, &good.cert, &foreign.key).unwrap_err();
    assert!(matches!(err, PkiError::KeyMismatch { .. }), "{err}");
    let _ = other;
}

#[test]
fn key_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca = init_ca(dir.path(), TD, false).unwrap();
    let id = Identity::node("54050000001320000009").unwrap();
    let files = issue(dir.path(), dir.path(), &id, &Default::default()).unwrap();
    for key in [&ca.key, &files.key] {
        let mode = fs::metadata(key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", key.display());
    }
}
