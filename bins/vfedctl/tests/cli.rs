//! Argument parsing and local validation of vfedctl (no server needed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use vfed_pki::{Identity, IssueOptions};

const DEVICE_ID: &str = "54050200001320000001";

/// Runs vfedctl with a clean environment (no VFEDCTL_* variables).
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(o),
        stderr(o)
    );
}

fn dry_run_json(args: &[&str]) -> serde_json::Value {
    let o = vfedctl(args);
    assert_exit(&o, 0);
    serde_json::from_slice(&o.stdout).expect("dry run prints JSON")
}

#[test]
fn help_documents_commands_and_exit_codes() {
    let o = vfedctl(&["--help"]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    for word in [
        "devices",
        "catalog",
        "filings",
        "signage",
        "outages",
        "nodes",
        "keepalive",
        "Exit codes",
        "--demo",
    ] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
    let o = vfedctl(&["devices", "register", "--help"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("hotel-room"), "possible values listed");
    assert!(stdout(&o).contains("Examples:"));
}

#[test]
fn bad_date_is_a_usage_error_naming_the_flag() {
    let o = vfedctl(&[
        "devices",
        "register",
        "--id",
        DEVICE_ID,
        "--accepted-on",
        "2024-13-01",
    ]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("--accepted-on"), "{err}");
    assert!(err.contains("YYYY-MM-DD"), "{err}");
}

#[test]
fn unknown_location_type_lists_choices() {
    let o = vfedctl(&[
        "devices",
        "register",
        "--id",
        DEVICE_ID,
        "--location-type",
        "spaceport",
    ]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("--location-type"), "{err}");
    assert!(err.contains("road, junction, square"), "{err}");
    assert!(err.contains("hotel-room"), "{err}");
}

#[test]
fn unknown_category_and_acceptance_list_choices() {
    let o = vfedctl(&["devices", "list", "--status", "asleep"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("unknown, online, offline"),
        "{}",
        stderr(&o)
    );
    let o = vfedctl(&[
        "devices",
        "register",
        "--id",
        DEVICE_ID,
        "--category",
        "zoo",
    ]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("public-area-road"), "{}", stderr(&o));
}

#[test]
fn numbers_are_checked() {
    let o = vfedctl(&["devices", "register", "--id", DEVICE_ID, "--lat", "91"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--lat"), "{}", stderr(&o));
    let o = vfedctl(&["devices", "list", "--page-size", "0"]);
    assert_exit(&o, 2);
    let json = dry_run_json(&[
        "devices",
        "register",
        "--id",
        DEVICE_ID,
        "--lat",
        "-12.5",
        "--lon",
        "-70",
        "--dry-run",
    ]);
    assert_eq!(json["latitude"], -12.5);
    assert_eq!(json["longitude"], -70.0);
}

#[test]
fn flags_build_the_spec() {
    let json = dry_run_json(&[
        "devices",
        "register",
        "--dry-run",
        "--id",
        DEVICE_ID,
        "--name",
        "Gate",
        "--location-type",
        "junction",
        "--category",
        "public-area-road",
        "--responsible",
        "PSB",
        "--manager",
        "City",
        "--signage",
        "--distance-to-homes",
        "80",
        "--acceptance",
        "accepted",
        "--accepted-on",
        "2024-05-01",
        "--shared",
        "--operator",
        "Li",
        "--operator",
        "Wang",
        "--main-url",
        "rtsp://10.0.0.1/main",
    ]);
    assert_eq!(json["id"], DEVICE_ID);
    assert_eq!(json["location_type"], "junction");
    assert_eq!(json["protected_category"], "public-area-road");
    assert_eq!(json["responsible"]["builder"], "PSB");
    assert_eq!(json["responsible"]["maintainer"], "PSB");
    assert_eq!(json["responsible"]["manager"], "City");
    assert_eq!(json["signage"]["posted"], true);
    assert_eq!(json["signage"]["distance_to_homes_m"], 80.0);
    assert_eq!(json["acceptance"]["state"], "accepted");
    assert_eq!(json["acceptance"]["accepted_on"], "2024-05-01");
    assert_eq!(
        json["filing"]["operators"],
        serde_json::json!(["Li", "Wang"])
    );
    assert_eq!(json["shared"], true);
    assert_eq!(json["streams"]["main_url"], "rtsp://10.0.0.1/main");
}

#[test]
fn file_fields_are_overridden_by_flags() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("device.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"id": "{DEVICE_ID}", "name": "From file", "location_type": "square",
                "unit": "Square management", "signage": {{"posted": true}},
                "responsible": {{"builder": "B", "maintainer": "M", "manager": "G"}},
                "shared": true}}"#
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let json = dry_run_json(&[
        "devices",
        "register",
        "--file",
        file,
        "--name",
        "From flag",
        "--no-signage",
        "--unshared",
        "--maintainer",
        "M2",
        "--dry-run",
    ]);
    assert_eq!(json["id"], DEVICE_ID, "id from the file");
    assert_eq!(json["name"], "From flag");
    assert_eq!(json["location_type"], "square");
    assert_eq!(json["unit"], "Square management");
    assert_eq!(json["signage"]["posted"], false);
    assert_eq!(json["shared"], false);
    assert_eq!(json["responsible"]["builder"], "B");
    assert_eq!(json["responsible"]["maintainer"], "M2");

    let json = dry_run_json(&[
        "devices",
        "register",
        "--file",
        file,
        "--id",
        "54050200001320000009",
        "--dry-run",
    ]);
    assert_eq!(
        json["id"], "54050200001320000009",
        "--id overrides the file"
    );
    assert_eq!(json["name"], "From file");
}

#[test]
fn bad_file_is_a_usage_error_naming_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("device.json");
    std::fs::write(&file, r#"{"id": "1", "acceptance": {"state": "approved"}}"#).unwrap();
    let o = vfedctl(&[
        "devices",
        "register",
        "--file",
        file.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("device.json"), "{err}");
    assert!(err.contains("acceptance.state"), "{err}");
    assert!(err.contains("not-accepted, rectifying, accepted"), "{err}");

    std::fs::write(&file, r#"{"id": "1", "colour": "red"}"#).unwrap();
    let o = vfedctl(&[
        "devices",
        "register",
        "--file",
        file.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("unknown field `colour`"),
        "{}",
        stderr(&o)
    );

    let o = vfedctl(&["devices", "register", "--file", "/nonexistent/device.json"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("/nonexistent/device.json"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn register_needs_an_id() {
    let o = vfedctl(&["devices", "register", "--name", "x"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--id"), "{}", stderr(&o));
}

#[test]
fn update_needs_something_to_change() {
    let o = vfedctl(&["devices", "update", "--id", DEVICE_ID]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("nothing to update"), "{}", stderr(&o));
}

#[test]
fn connection_settings_are_required() {
    let o = vfedctl(&["devices", "list"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--endpoint"), "{}", stderr(&o));

    let o = vfedctl(&[
        "--endpoint",
        "https://127.0.0.1:1",
        "--ca",
        "ca.pem",
        "nodes",
        "info",
    ]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(err.contains("--cert") && err.contains("--key"), "{err}");

    let o = vfedctl(&["--node", "city", "nodes", "list"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--demo"), "{}", stderr(&o));

    let o = vfedctl(&["--server-id", "not-a-node", "nodes", "list"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--server-id"), "{}", stderr(&o));
}

#[test]
fn missing_demo_dir_is_a_usage_error() {
    let o = vfedctl(&["--demo", "/nonexistent/vfed-demo", "nodes", "list"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("vfed demo --data-dir"),
        "{}",
        stderr(&o)
    );
}

/// A CA, a client certificate and a demo.json whose nodes listen nowhere.
fn demo_without_nodes(dir: &Path) {
    let pki = dir.join("pki");
    let ca = vfed_pki::init_ca(&pki, "vfed.test", false).unwrap();
    let client = vfed_pki::issue(
        &pki,
        &pki,
        &Identity::tool("vfedctl").unwrap(),
        &IssueOptions::default(),
    )
    .unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let demo = serde_json::json!({
        "ca": ca.cert, "client": { "cert": client.cert, "key": client.key },
        "nodes": [
            { "id": "54050000002000000001", "name": "Shannan city sharing platform", "level": "city",
              "parent": null, "grpc_endpoint": format!("https://127.0.0.1:{closed_port}"),
              "http_endpoint": "http://127.0.0.1:1" },
            { "id": "54050200002000000001", "name": "Naidong county platform", "level": "county",
              "parent": "54050000002000000001", "grpc_endpoint": format!("https://127.0.0.1:{closed_port}") }
        ]
    });
    std::fs::write(dir.join("demo.json"), demo.to_string()).unwrap();
}

#[test]
fn unreachable_node_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    demo_without_nodes(dir.path());
    let demo = dir.path().to_str().unwrap();
    let o = vfedctl(&[
        "--demo",
        demo,
        "--node",
        "naidong",
        "--timeout",
        "3s",
        "nodes",
        "info",
    ]);
    assert_exit(&o, 3);
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("127.0.0.1"), "{err}");

    let o = vfedctl(&["--demo", demo, "--node", "lhasa", "nodes", "info"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("matches no demo node"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unreadable_tls_material_is_a_usage_error_naming_the_flag() {
    let o = vfedctl(&[
        "--endpoint",
        "https://127.0.0.1:1",
        "--ca",
        "/nonexistent/ca.pem",
        "--cert",
        "/nonexistent/c.pem",
        "--key",
        "/nonexistent/c.key",
        "nodes",
        "info",
    ]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("--ca /nonexistent/ca.pem (from flags): cannot read"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn watch_and_streams_are_documented() {
    let o = vfedctl(&["--help"]);
    assert!(stdout(&o).contains("streams") && stdout(&o).contains("watch"));
    let o = vfedctl(&["watch", "--help"]);
    assert_exit(&o, 0);
    let text = stdout(&o);
    for word in [
        "--profile",
        "--duration",
        "--http",
        "ffplay -",
        "Examples:",
        "503",
    ] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
    let o = vfedctl(&["streams", "list", "--help"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).contains("base64"), "{}", stdout(&o));
}

#[test]
fn watch_checks_its_arguments() {
    // Bad device ID: exit 2 naming the argument.
    let o = vfedctl(&["watch", "12345", "-o", "/tmp/never.mp4"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("DEVICE_ID"), "{}", stderr(&o));
    // Bad profile: exit 2 naming the flag and listing the choices.
    let o = vfedctl(&[
        "watch",
        DEVICE_ID,
        "--profile",
        "hd",
        "-o",
        "/tmp/never.mp4",
    ]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--profile"), "{}", stderr(&o));
    assert!(stderr(&o).contains("main, sub"), "{}", stderr(&o));
    // Bad --http and --duration.
    for (flag, value) in [
        ("--http", "https://127.0.0.1:1"),
        ("--http", "127.0.0.1:1"),
        ("--duration", "soon"),
        ("--duration", "0s"),
    ] {
        let o = vfedctl(&["watch", DEVICE_ID, flag, value, "-o", "/tmp/never.mp4"]);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains(flag), "{flag}: {}", stderr(&o));
    }
    // -o json means nothing for watch, a file means nothing for lists.
    let o = vfedctl(&[
        "-o",
        "json",
        "watch",
        DEVICE_ID,
        "--http",
        "http://127.0.0.1:1",
    ]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("-o/--output"), "{}", stderr(&o));
    let o = vfedctl(&["-o", "yaml", "streams", "list"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("-o/--output"), "{}", stderr(&o));
    // No HTTP endpoint at all.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.mp4");
    let o = vfedctl(&["watch", DEVICE_ID, "-o", file.to_str().unwrap()]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--http"), "{}", stderr(&o));
}

#[test]
fn streams_show_checks_the_key() {
    for key in ["5405020000132000000", "54050200001320000001/hd"] {
        let o = vfedctl(&["streams", "show", key]);
        assert_exit(&o, 2);
        assert!(stderr(&o).contains("DEVICE_ID[/PROFILE]"), "{}", stderr(&o));
    }
}

#[test]
fn watch_unreachable_http_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    demo_without_nodes(dir.path());
    let file = dir.path().join("w.mp4");
    // The city's http_endpoint in demo_without_nodes is http://127.0.0.1:1.
    // With a token given, watch needs no gRPC call (else it asks the node
    // to issue one, which is also a connection failure here).
    let o = vfedctl(&[
        "--demo",
        dir.path().to_str().unwrap(),
        "--timeout",
        "3s",
        "--token",
        "vfed1.e30.AAAA",
        "watch",
        DEVICE_ID,
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_exit(&o, 3);
    assert!(stderr(&o).contains("127.0.0.1:1"), "{}", stderr(&o));
    assert!(o.stdout.is_empty(), "no media on stdout");
    // The county has no http_endpoint: a usage error suggesting --http.
    let o = vfedctl(&[
        "--demo",
        dir.path().to_str().unwrap(),
        "--node",
        "naidong",
        "watch",
        DEVICE_ID,
        "-o",
        file.to_str().unwrap(),
    ]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("--http"), "{}", stderr(&o));
}
