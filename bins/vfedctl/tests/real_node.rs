//! The built vfedctl against a real node (`vfed_tests::TestNode`: the
//! registry, auth, audit... over real mutual TLS on loopback): refusals as
//! the server words them, stored logins that expire, global flags after the
//! command, device IDs checked before any request, endpoint hints, exit
//! codes, and no token in any error output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vfed_pki::Identity;
use vfed_proto::auth::v1::Role;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{NewUser, NodeOptions, TestNode, TestPki};

const NODE_ID: &str = "54050200002000000001";
const CAMERA: &str = "54050200001320000001";
const OTHER: &str = "54050200001320000002";
/// The harness's tool certificate: the node's bootstrap admin.
const TOOL: &str = "tool/vfed-test";

struct Fixture {
    pki: TestPki,
    node: TestNode,
    /// Holds `config.json` (stored logins) and demo.json.
    home: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Fixture {
    async fn start() -> Fixture {
        let pki = TestPki::new().unwrap();
        let node = TestNode::start(&pki, NodeOptions::new(NODE_ID, "county"))
            .await
            .unwrap();
        let (cert, key) = pki
            .files(&Identity::tool(vfed_tests::TEST_ADMIN).unwrap())
            .unwrap();
        let fixture = Fixture {
            ca: pki.ca(),
            pki,
            node,
            home: tempfile::tempdir().unwrap(),
            cert,
            key,
        };
        fixture.write_demo_file();
        fixture
    }

    fn endpoint(&self) -> String {
        format!("https://{}", self.node.grpc_addr)
    }

    /// A demo.json naming this node, for `--demo DIR --node ...`.
    fn write_demo_file(&self) {
        let demo = serde_json::json!({
            "ca": self.ca, "client": { "cert": self.cert, "key": self.key },
            "nodes": [{ "id": NODE_ID, "name": "Naidong county platform", "level": "county",
                        "parent": null, "grpc_endpoint": self.endpoint(),
                        "http_endpoint": format!("http://{}", self.node.http_addr()) }]
        });
        std::fs::write(self.home.path().join("demo.json"), demo.to_string()).unwrap();
    }

    fn demo_dir(&self) -> &str {
        self.home.path().to_str().unwrap()
    }

    /// vfedctl with a clean environment and its own config file.
    fn bare(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vfedctl"));
        for var in [
            "VFEDCTL_ENDPOINT",
            "VFEDCTL_CA",
            "VFEDCTL_CERT",
            "VFEDCTL_KEY",
            "VFEDCTL_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("VFEDCONFIG", self.home.path().join("config.json"));
        cmd
    }

    /// Adds the tool certificate's `--ca`, `--cert` and `--key` to `cmd`.
    fn tls<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.arg("--ca")
            .arg(&self.ca)
            .arg("--cert")
            .arg(&self.cert)
            .arg("--key")
            .arg(&self.key)
    }

    /// vfedctl talking to the node with the tool certificate.
    fn vfedctl(&self) -> Command {
        let mut cmd = self.bare();
        cmd.arg("--endpoint").arg(self.endpoint());
        self.tls(&mut cmd)
            .args(["--server-id", NODE_ID, "--timeout", "5s"]);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = self.vfedctl();
        cmd.args(args);
        output(cmd).await
    }

    /// The stored logins.
    fn config(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.home.path().join("config.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Registers a valid device through the harness (not under test here).
    async fn register(&self, id: &str) {
        let mut registry = RegistryClient::new(self.node.channel(&self.pki).unwrap());
        registry
            .register_device(vfed_tests::register_request(id, true))
            .await
            .unwrap();
    }

    async fn audit_len(&self) -> usize {
        self.node.audit_records().await.unwrap().len()
    }
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn check(o: &Output, code: i32) -> (String, String) {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "stdout: {out}\nstderr: {err}");
    (out, err)
}

fn password_file(dir: &Path, password: &str) -> String {
    let path = dir.join("password");
    std::fs::write(&path, password).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_login_is_refused_not_replaced_by_the_certificate() {
    let f = Fixture::start().await;
    f.register(CAMERA).await;
    let password = "alice-password-123";
    f.node
        .create_user(
            &f.pki,
            NewUser {
                name: "alice",
                role: Role::Officer,
                unit: "Naidong PSB",
                department: "",
                password,
            },
        )
        .await
        .unwrap();
    let pw = password_file(f.home.path(), password);
    let o = f
        .run(&["login", "alice", "--password-file", &pw, "--ttl", "1s"])
        .await;
    let (_, err) = check(&o, 0);
    let token = f.config()["contexts"][0]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!token.is_empty() && !err.contains(&token), "{err}");
    // The token lives one second (Unix-second resolution): let it expire.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // An officer whose login expired does not decommission as the tool admin.
    let before = f.audit_len().await;
    let o = f
        .run(&["devices", "decommission", CAMERA, "--reason", "road works"])
        .await;
    let (out, err) = check(&o, 5);
    assert!(out.is_empty(), "{out}");
    for part in [
        "error: the stored login of alice",
        "expired at ",
        "vfedctl login alice",
        "vfedctl logout",
        "--as-certificate",
    ] {
        assert!(err.contains(part), "{part:?} missing from {err}");
    }
    assert!(!err.contains(&token), "{err}");
    assert_eq!(f.audit_len().await, before, "no request reached the node");

    // --help documents exit code 5.
    let o = output({
        let mut c = f.bare();
        c.arg("--help");
        c
    })
    .await;
    let (help, _) = check(&o, 0);
    assert!(
        help.contains("5  the stored login for the node has expired"),
        "{help}"
    );

    // Asked explicitly, the certificate's account acts, and the audit log
    // names it as it is: a tool.
    let o = f.run(&["--as-certificate", "-o", "json", "whoami"]).await;
    let (out, _) = check(&o, 0);
    let who: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(who["user"]["name"], vfed_tests::TEST_ADMIN);
    assert_eq!(who["authenticated_by"], "certificate");
    let o = f
        .run(&[
            "devices",
            "removal",
            "request",
            CAMERA,
            "--reason",
            "road works",
            "--as-certificate",
        ])
        .await;
    check(&o, 0);
    let node = &f.node;
    let actor = vfed_tests::eventually(
        "removal request audited",
        Duration::from_secs(5),
        || async {
            let records = node.audit_records().await?;
            Ok(records
                .into_iter()
                .find(|r| r.action == "device.removal.request")
                .map(|r| r.actor))
        },
    )
    .await
    .unwrap();
    assert_eq!(actor, TOOL);

    // Logging in again works over the expired login; logging out forgets it.
    let o = f.run(&["login", "alice", "--password-file", &pw]).await;
    check(&o, 0);
    let o = f.run(&["-o", "json", "whoami"]).await;
    let (out, _) = check(&o, 0);
    let who: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(who["user"]["name"], "alice");
    let o = f.run(&["logout"]).await;
    check(&o, 0);
    let o = f.run(&["-o", "json", "whoami"]).await;
    let (out, _) = check(&o, 0);
    let who: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(who["user"]["name"], vfed_tests::TEST_ADMIN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_flags_work_before_or_after_the_command() {
    let f = Fixture::start().await;
    f.register(CAMERA).await;
    let demo = f.demo_dir();
    for args in [
        vec![
            "devices", "list", "--demo", demo, "--node", "naidong", "-o", "json",
        ],
        vec![
            "--demo", demo, "devices", "list", "--node", "naidong", "-o", "json",
        ],
        vec![
            "-o", "json", "--demo", demo, "--node", "county", "devices", "list",
        ],
    ] {
        let mut cmd = f.bare();
        cmd.args(&args);
        let o = output(cmd).await;
        let (out, _) = check(&o, 0);
        assert!(out.contains(CAMERA), "{args:?}: {out}");
    }
    // The connection flags too, after the command.
    let mut cmd = f.bare();
    cmd.args(["nodes", "info", "--endpoint", &f.endpoint()]);
    f.tls(&mut cmd).args(["-o", "json"]);
    let (out, _) = check(&output(cmd).await, 0);
    assert!(out.contains(NODE_ID), "{out}");
    // --node without --demo is still a usage error, wherever it is.
    let mut cmd = f.bare();
    cmd.args(["devices", "list", "--node", "naidong"]);
    let (_, err) = check(&output(cmd).await, 2);
    assert!(err.contains("--demo"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_is_printed_in_any_error() {
    let f = Fixture::start().await;
    f.register(CAMERA).await;
    let token = f.node.admin_token(&f.pki).await.unwrap();
    let http = format!("http://{}", f.node.http_addr());
    let file = f.home.path().join("w.mp4");
    let file = file.to_str().unwrap();

    // A registered camera with no stream: the node answers 503 until
    // watch gives up; an unknown one: an error naming the URL.
    let mut outputs = Vec::new();
    for device in [CAMERA, OTHER] {
        outputs.push(
            f.run(&[
                "--token", &token, "watch", device, "--http", &http, "-o", file,
            ])
            .await,
        );
    }
    let unavailable = &outputs[0];
    let err = String::from_utf8_lossy(&unavailable.stderr);
    assert!(err.contains("HTTP 503"), "{err}");
    assert!(err.contains("token=<redacted>"), "{err}");
    // A token the node does not accept, and one that is not even ASCII.
    let forged = format!("{}x", &token[..token.len() - 1]);
    outputs.push(f.run(&["--token", &forged, "devices", "list"]).await);
    outputs.push(
        f.run(&[
            "--token", &forged, "watch", CAMERA, "--http", &http, "-o", file,
        ])
        .await,
    );
    for o in &outputs {
        assert!(!o.status.success());
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!all.contains(&token), "token printed: {all}");
        assert!(!all.contains(&forged), "token printed: {all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_ids_are_checked_before_any_request() {
    let f = Fixture::start().await;
    let before = f.audit_len().await;
    let verbs: [&[&str]; 8] = [
        &["devices", "show", "123"],
        &["devices", "decommission", "123", "--reason", "x"],
        &["devices", "update", "--id", "123", "--name", "x"],
        &["devices", "register", "--id", "123", "--name", "x"],
        &["keepalive", "123"],
        &["outages", "list", "--device", "123"],
        &[
            "watch",
            "123",
            "-o",
            "/dev/null",
            "--http",
            "http://127.0.0.1:1",
        ],
        &["grants", "create", "--device", "123"],
    ];
    for args in verbs {
        let o = f.run(args).await;
        let (_, err) = check(&o, 2);
        assert!(
            err.contains("'123'") && err.contains("must be exactly 20 digits (GB/T 28181)"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("<ID>") || err.contains("<DEVICE_ID>") || err.contains("--"),
            "{args:?}: {err}"
        );
    }
    // A platform code is not a device.
    let o = f.run(&["devices", "show", NODE_ID]).await;
    let (_, err) = check(&o, 2);
    assert!(err.contains("type code 200 is not a device type"), "{err}");
    assert_eq!(f.audit_len().await, before, "no request reached the node");
    // A well-formed but unknown ID is the node's answer.
    let o = f.run(&["devices", "show", OTHER]).await;
    let (_, err) = check(&o, 1);
    assert!(err.contains(OTHER), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_port_or_scheme_gets_a_hint() {
    let f = Fixture::start().await;
    let http_port = format!("https://{}", f.node.http_addr());
    let plain = format!("http://{}", f.node.grpc_addr);
    for (endpoint, code) in [(http_port.as_str(), 3), (plain.as_str(), 2)] {
        let mut cmd = f.bare();
        cmd.args(["--endpoint", endpoint]);
        f.tls(&mut cmd).args(["nodes", "info"]);
        let (_, err) = check(&output(cmd).await, code);
        assert!(
            err.contains("gRPC port") || err.contains("gRPC listener"),
            "{err}"
        );
        assert!(err.contains("7100"), "{err}");
        assert!(
            !err.contains("InvalidContentType") || err.contains("hint"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_are_as_documented() {
    let mut f = Fixture::start().await;
    // A missing key file: usage (2), naming the flag.
    let mut cmd = f.bare();
    cmd.args(["--endpoint", &f.endpoint()])
        .arg("--ca")
        .arg(&f.ca)
        .arg("--cert")
        .arg(&f.cert)
        .args(["--key", "/nonexistent/me.key", "nodes", "info"]);
    let (_, err) = check(&output(cmd).await, 2);
    assert!(err.contains("--key /nonexistent/me.key"), "{err}");
    // A refusal: 1, the server's words.
    let o = f
        .run(&[
            "devices",
            "register",
            "--id",
            CAMERA,
            "--location-type",
            "hotel-room",
        ])
        .await;
    let (_, err) = check(&o, 1);
    assert!(
        err.starts_with("error: spec."),
        "the field, as the node names it: {err}"
    );
    // The connection breaking after the request was sent: 3.
    let mut cmd = f.vfedctl();
    cmd.args(["audit", "tail", "--follow"]);
    let follower = tokio::task::spawn_blocking(move || cmd.output().unwrap());
    tokio::time::sleep(Duration::from_secs(1)).await;
    f.node.kill().await;
    let o = tokio::time::timeout(Duration::from_secs(30), follower)
        .await
        .expect("audit tail --follow ends when the node dies")
        .unwrap();
    let (_, err) = check(&o, 3);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("--follow --from 2"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_and_nodes_round_trip() {
    let f = Fixture::start().await;
    f.register(CAMERA).await;
    let o = f.run(&["devices", "show", CAMERA, "-o", "json"]).await;
    let (out, _) = check(&o, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["spec"]["location_type"], "road");
    assert_eq!(json["spec"]["name"], format!("Test camera {CAMERA}"));

    // `show -o json | jq .spec` is a valid --file and round-trips.
    let file = f.home.path().join("device.json");
    std::fs::write(&file, json["spec"].to_string()).unwrap();
    let o = f
        .run(&[
            "devices",
            "register",
            "--file",
            file.to_str().unwrap(),
            "--dry-run",
        ])
        .await;
    let (out, _) = check(&o, 0);
    let again: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(again, json["spec"]);
    // ... and registers another device, with --id over the file's.
    let o = f
        .run(&[
            "devices",
            "register",
            "--file",
            file.to_str().unwrap(),
            "--id",
            OTHER,
        ])
        .await;
    let (out, _) = check(&o, 0);
    assert!(
        out.starts_with(&format!("registered {OTHER} (revision ")),
        "{out}"
    );

    // Update sends the fetched revision and keeps unchanged fields.
    let o = f
        .run(&[
            "devices", "update", "--id", CAMERA, "--unit", "New unit", "-o", "json",
        ])
        .await;
    let (out, _) = check(&o, 0);
    let updated: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        updated["revision"].as_i64() > json["revision"].as_i64(),
        "{updated}"
    );
    assert_eq!(updated["spec"]["unit"], "New unit");
    assert_eq!(updated["spec"]["name"], format!("Test camera {CAMERA}"));

    // Paging: one page by default, every page with --all.
    let o = f.run(&["devices", "list", "--page-size", "1"]).await;
    let (out, err) = check(&o, 0);
    assert!(out.contains(CAMERA) != out.contains(OTHER), "{out}");
    assert!(err.contains("--page-token"), "{err}");
    let o = f
        .run(&["devices", "list", "--page-size", "1", "--all", "-o", "json"])
        .await;
    let (out, _) = check(&o, 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["devices"].as_array().map(Vec::len), Some(2), "{list}");

    // Nodes; a pinned identity that does not match is a TLS failure (3).
    let o = f.run(&["nodes", "info", "-o", "json"]).await;
    let (out, _) = check(&o, 0);
    assert!(out.contains("\"area_code\": \"540502\""), "{out}");
    let o = f
        .run(&["nodes", "info", "--server-id", "54050000002000000001"])
        .await;
    let (_, err) = check(&o, 3);
    assert!(err.contains("not the expected"), "{err}");

    // Keepalive: unknown IDs make it fail with 1, naming them.
    let o = f.run(&["keepalive", CAMERA]).await;
    check(&o, 0);
    let unknown = "54050200001320000099";
    let o = f.run(&["keepalive", CAMERA, unknown]).await;
    let (_, err) = check(&o, 1);
    assert!(err.contains(unknown), "{err}");
}
