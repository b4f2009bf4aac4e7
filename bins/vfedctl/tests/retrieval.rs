//! `vfedctl retrieval`: flags, the SHA-256 of the scanned document and the
//! request built from them (dry run, no server needed). The workflow itself
//! is tested over real gRPC in `tests/tests/retrieval.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn vfedctl(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vfedctl"));
    for var in [
        "VFEDCTL_ENDPOINT",
        "VFEDCTL_CA",
        "VFEDCTL_CERT",
        "VFEDCTL_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(args).output().expect("vfedctl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

const BASE: [&str; 16] = [
    "retrieval",
    "file",
    "--doc-type",
    "case-filing",
    "--doc-number",
    "NDPSB-2025-0042",
    "--authority",
    "Naidong County PSB",
    "--purpose",
    "theft at the north gate",
    "--agency",
    "Naidong criminal police",
    "--device",
    "54050200001320000001",
    "--from",
    "2025-11-27T08:00:00Z",
];

fn file_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args: Vec<&str> = BASE.to_vec();
    args.extend(["--to", "1764235800"]);
    args.extend(extra);
    args
}

#[test]
fn dry_run_hashes_the_scan_and_builds_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("scan.pdf");
    std::fs::write(&scan, b"abc").unwrap();
    let scan = scan.to_string_lossy().into_owned();
    let o = vfedctl(&file_args(&[
        "--doc-file",
        &scan,
        "--device",
        "54050200001320000002",
        "--dry-run",
    ]));
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["legal_document"]["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(v["legal_document"]["type"], "case-filing");
    assert_eq!(
        v["legal_document"]["issuing_authority"],
        "Naidong County PSB"
    );
    assert_eq!(
        v["device_ids"],
        serde_json::json!(["54050200001320000001", "54050200001320000002"])
    );
    assert_eq!(v["from_unix"], 1_764_230_400);
    assert_eq!(v["to_unix"], 1_764_235_800);
    assert_eq!(v["expires_unix"], 0, "the node's default");
    assert_eq!(v["requesting_agency"], "Naidong criminal police");
}

#[test]
fn bad_flags_are_usage_errors_naming_the_flag() {
    // No document at all.
    let o = vfedctl(&file_args(&["--dry-run"]));
    assert_exit(&o, 2);
    assert!(
        text(&o.stderr).contains("--doc-file"),
        "{}",
        text(&o.stderr)
    );
    // Both a file and a hash.
    let o = vfedctl(&file_args(&[
        "--doc-file",
        "x.pdf",
        "--doc-sha256",
        "ab",
        "--dry-run",
    ]));
    assert_exit(&o, 2);
    // A scan that cannot be read.
    let o = vfedctl(&file_args(&[
        "--doc-file",
        "/nonexistent/scan.pdf",
        "--dry-run",
    ]));
    assert_exit(&o, 2);
    assert!(
        text(&o.stderr).contains("--doc-file /nonexistent/scan.pdf"),
        "{}",
        text(&o.stderr)
    );
    // A time that is neither RFC 3339 nor unix seconds.
    let hash = "ab".repeat(32);
    let mut args: Vec<&str> = BASE.to_vec();
    args.extend(["--to", "tomorrow", "--doc-sha256", &hash, "--dry-run"]);
    let o = vfedctl(&args);
    assert_exit(&o, 2);
    let err = text(&o.stderr);
    assert!(err.contains("--to") && err.contains("RFC 3339"), "{err}");
    // A malformed device.
    let o = vfedctl(&file_args(&[
        "--doc-sha256",
        &"ab".repeat(32),
        "--device",
        "5405",
        "--dry-run",
    ]));
    assert_exit(&o, 2);
    assert!(text(&o.stderr).contains("--device"), "{}", text(&o.stderr));
    // An unknown state.
    let o = vfedctl(&["retrieval", "list", "--state", "pending"]);
    assert_exit(&o, 2);
    assert!(text(&o.stderr).contains("cosigned"), "{}", text(&o.stderr));
}

#[test]
fn help_explains_the_workflow() {
    let o = vfedctl(&["retrieval", "--help"]);
    assert_exit(&o, 0);
    let help = text(&o.stdout);
    for command in [
        "file", "cosign", "approve", "reject", "list", "show", "open",
    ] {
        assert!(help.contains(command), "{command} missing from {help}");
    }
    let o = vfedctl(&["retrieval", "file", "--help"]);
    assert_exit(&o, 0);
    assert!(text(&o.stdout).contains("second, different officer"));
}
