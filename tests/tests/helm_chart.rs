//! The Helm chart (`deploy/helm/vfed`) tested offline, as a step of `make test`:
//! `scripts/chart-test.sh` lints and renders it with Helm's own Go SDK (no helm
//! binary, no cluster) over every value set, validates each object strictly
//! against the Kubernetes API schemas, diffs the golden manifests and requires
//! every negative value set to be refused; here it also hands each rendered
//! `vfed.toml` (with the pod's `VFED_` environment) to the built `vfed
//! --dump-config`, so the chart cannot render a configuration vfed refuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use vfed_tests::binaries::built_binary;

#[test]
fn chart_lints_renders_validates_and_refuses_the_negative_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let vfed = built_binary("vfed");
    let output = Command::new(root.join("scripts/chart-test.sh"))
        .arg("--vfed")
        .arg(&vfed)
        .current_dir(&root)
        .output()
        .expect("scripts/chart-test.sh runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "chart test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("chart test: ok"), "{stdout}");
    // Each of the three refusals the issue names is among those proved.
    for case in ["typo-key", "embedded-3-replicas", "pdb-without-bound"] {
        assert!(
            stdout.contains(&format!("ok   negative {case}: refused")),
            "negative case {case} not proved:\n{stdout}"
        );
    }
}
