//! The `vfed` binary: configuration errors exit 64 naming the field; the
//! demo comes up, federates, writes demo.json and stops cleanly on SIGINT.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::Duration;
use vfed_tests::DemoData;

mod support;

use support::{VFED, interrupt, start_demo};

fn vfed(args: &[&str]) -> std::process::Output {
    Command::new(VFED)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn bad_configuration_exits_64_naming_the_field() {
    let cases: [(&[&str], &str); 6] = [
        (&["--set", "node.id=1234", "--dump-config"], "node.id"),
        (
            &[
                "--set",
                "node.id=54050200002000000001",
                "--set",
                "node.name=N",
                "--set",
                "liveness.missed_periods=0",
                "--dump-config",
            ],
            "liveness.missed_periods",
        ),
        (
            &["--config", "/nonexistent/vfed.toml", "--dump-config"],
            "--config",
        ),
        (
            &[
                "--set",
                "node.id=54050200002000000001",
                "--set",
                "node.name=N",
                "--set",
                "store.backend=sqlite",
                "--dump-config",
            ],
            "store.backend",
        ),
        // Recordings are kept at least 30 days (R14.6): a shorter retention
        // is a configuration error, not a warning.
        (
            &[
                "--set",
                "node.id=54050200002000000001",
                "--set",
                "node.name=N",
                "--set",
                "archive.retention=29days",
                "--dump-config",
            ],
            "archive.retention",
        ),
        (
            &[
                "--set",
                "node.id=54050200002000000001",
                "--set",
                "node.name=N",
                "--set",
                "archive.retention=29days",
                "--dump-config",
            ],
            "R14.6",
        ),
    ];
    for (args, field) in cases {
        let out = vfed(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
        assert!(stderr.contains(field), "{args:?}: {stderr}");
    }
}

#[test]
fn environment_layers_under_flags_and_dump_config_prints_toml() {
    let out = Command::new(VFED)
        .args(["--set", "node.name=From flag", "--dump-config"])
        .env("VFED_NODE__ID", "54050200002000000001")
        .env("VFED_NODE__NAME", "From env")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("id = \"54050200002000000001\""), "{stdout}");
    assert!(stdout.contains("name = \"From flag\""), "{stdout}");
    let parsed: toml::Table = toml::from_str(&stdout).unwrap();
    assert!(parsed.contains_key("liveness"));
}

#[test]
fn vfed_config_names_the_file_not_a_setting() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vfed.toml");
    std::fs::write(
        &file,
        "[node]\nid = \"54050200002000000001\"\nname = \"From file\"\n",
    )
    .unwrap();
    let out = Command::new(VFED)
        .arg("--dump-config")
        .env("VFED_CONFIG", &file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("name = \"From file\""));
}

#[test]
fn demo_federates_and_stops_on_sigint() {
    let dir = DemoData::new().unwrap();
    let (mut child, _) = start_demo(dir.path(), Stdio::inherit(), Duration::from_secs(90));
    let demo: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("demo.json")).unwrap()).unwrap();
    let nodes = demo["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let city = nodes.iter().find(|n| n["parent"].is_null()).unwrap();
    assert_eq!(city["id"], "54050000002000000001");
    assert!(demo["client"]["cert"].as_str().unwrap().ends_with(".pem"));

    // The city holds the counties' shared, accepted devices: 3 + 2.
    let remote = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use vfed_proto::registry::v1::registry_client::RegistryClient;
        use vfed_proto::registry::v1::{ListDevicesRequest, Scope};
        let material = vfed_pki::TlsMaterial::load(
            demo["ca"].as_str().unwrap().as_ref(),
            demo["client"]["cert"].as_str().unwrap().as_ref(),
            demo["client"]["key"].as_str().unwrap().as_ref(),
        )
        .unwrap();
        let expect = vfed_pki::ServerExpectation::Exactly(
            vfed_pki::Identity::node("54050000002000000001").unwrap(),
        );
        let config = vfed_pki::client_config(&material, expect, vfed_pki::GRPC_ALPN).unwrap();
        let channel = vfed_pki::connect(city["grpc_endpoint"].as_str().unwrap(), config)
            .await
            .unwrap();
        let request = ListDevicesRequest {
            scope: Scope::Remote.into(),
            ..Default::default()
        };
        RegistryClient::new(channel)
            .list_devices(request)
            .await
            .unwrap()
            .into_inner()
            .devices
            .len()
    });
    assert_eq!(remote, 5);

    let status = interrupt(&mut child, Duration::from_secs(20))
        .expect("demo did not stop within 20 s of SIGINT");
    assert!(status.success(), "{status:?}");
}
