//! vfedctl against an in-process fake node over real mutual TLS: verbatim
//! refusals (exit 1), identity pinning (exit 3), paging and optimistic
//! updates. The real registry is tested end to end elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tonic::{Request, Response, Status};
use vfed_pki::{Identity, IssueOptions, TlsMaterial};
use vfed_proto::federation::v1 as fed;
use vfed_proto::federation::v1::node_server::{Node, NodeServer};
use vfed_proto::registry::v1 as reg;
use vfed_proto::registry::v1::registry_server::{Registry, RegistryServer};

const NODE_ID: &str = "54050200002000000001";
const DEVICE_A: &str = "54050200001320000001";
const DEVICE_B: &str = "54050200001320000002";
const R7: &str = "location_type: hotel-room is a prohibited place for a device (rule R7)";

fn device(id: &str, revision: i64) -> reg::Device {
    reg::Device {
        spec: Some(reg::DeviceSpec {
            id: id.to_owned(),
            name: format!("Camera {id}"),
            location_type: reg::LocationType::Junction.into(),
            unit: "Traffic police".to_owned(),
            ..Default::default()
        }),
        status: reg::DeviceStatus::Online.into(),
        status_since_unix_ms: 1_700_000_000_000,
        origin_node_id: NODE_ID.to_owned(),
        revision,
        division: "540502".to_owned(),
        ..Default::default()
    }
}

struct FakeRegistry;

#[tonic::async_trait]
impl Registry for FakeRegistry {
    async fn register_device(
        &self,
        request: Request<reg::RegisterDeviceRequest>,
    ) -> Result<Response<reg::Device>, Status> {
        let spec = request.into_inner().spec.unwrap_or_default();
        if spec.location_type >= 100 {
            return Err(Status::invalid_argument(R7));
        }
        Ok(Response::new(reg::Device {
            spec: Some(spec),
            revision: 1,
            ..Default::default()
        }))
    }

    async fn update_device(
        &self,
        request: Request<reg::UpdateDeviceRequest>,
    ) -> Result<Response<reg::Device>, Status> {
        let request = request.into_inner();
        if request.expected_revision != 7 {
            return Err(Status::failed_precondition("revision mismatch"));
        }
        let mut updated = device(DEVICE_A, 8);
        updated.spec = request.spec;
        Ok(Response::new(updated))
    }

    async fn get_device(
        &self,
        request: Request<reg::GetDeviceRequest>,
    ) -> Result<Response<reg::Device>, Status> {
        let id = request.into_inner().id;
        if id == DEVICE_A {
            Ok(Response::new(device(DEVICE_A, 7)))
        } else {
            Err(Status::not_found(format!("device {id} is not known here")))
        }
    }

    async fn list_devices(
        &self,
        request: Request<reg::ListDevicesRequest>,
    ) -> Result<Response<reg::ListDevicesResponse>, Status> {
        let (id, next) = match request.into_inner().page_token.as_str() {
            "" => (DEVICE_A, "page-2"),
            "page-2" => (DEVICE_B, ""),
            other => return Err(Status::invalid_argument(format!("bad token {other}"))),
        };
        Ok(Response::new(reg::ListDevicesResponse {
            devices: vec![device(id, 3)],
            next_page_token: next.to_owned(),
        }))
    }

    async fn decommission_device(
        &self,
        _: Request<reg::DecommissionDeviceRequest>,
    ) -> Result<Response<reg::DecommissionDeviceResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_catalog_tree(
        &self,
        _: Request<reg::GetCatalogTreeRequest>,
    ) -> Result<Response<reg::CatalogTree>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_overdue_filings(
        &self,
        _: Request<reg::ListOverdueFilingsRequest>,
    ) -> Result<Response<reg::ListOverdueFilingsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_missing_signage(
        &self,
        _: Request<reg::ListMissingSignageRequest>,
    ) -> Result<Response<reg::ListDevicesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn keepalive(
        &self,
        request: Request<reg::KeepaliveRequest>,
    ) -> Result<Response<reg::KeepaliveResponse>, Status> {
        let unknown_ids = request
            .into_inner()
            .device_ids
            .into_iter()
            .filter(|id| id != DEVICE_A)
            .collect();
        Ok(Response::new(reg::KeepaliveResponse {
            period_ms: 30_000,
            unknown_ids,
        }))
    }

    async fn list_outages(
        &self,
        _: Request<reg::ListOutagesRequest>,
    ) -> Result<Response<reg::ListOutagesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

struct FakeNode;

#[tonic::async_trait]
impl Node for FakeNode {
    async fn get_node_info(
        &self,
        _: Request<fed::GetNodeInfoRequest>,
    ) -> Result<Response<fed::NodeInfo>, Status> {
        Ok(Response::new(fed::NodeInfo {
            id: NODE_ID.to_owned(),
            name: "Naidong county platform".to_owned(),
            level: "county".to_owned(),
            area_code: "540502".to_owned(),
            parent_id: "54050000002000000001".to_owned(),
            store_backend: "redb".to_owned(),
            version: "0.1.0".to_owned(),
        }))
    }

    async fn list_links(
        &self,
        _: Request<fed::ListLinksRequest>,
    ) -> Result<Response<fed::ListLinksResponse>, Status> {
        Ok(Response::new(fed::ListLinksResponse {
            links: vec![fed::Link {
                peer_id: "54050000002000000001".to_owned(),
                peer_name: "Shannan city sharing platform".to_owned(),
                role: "parent".to_owned(),
                state: fed::LinkState::Up.into(),
                lag_revisions: 0,
                last_contact_unix_ms: 1,
                applied_revision: 41,
                ..Default::default()
            }],
        }))
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    endpoint: String,
}

impl Fixture {
    async fn start() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let ca = vfed_pki::init_ca(&pki, "vfed.test", false).unwrap();
        let opts = IssueOptions::default();
        let client =
            vfed_pki::issue(&pki, &pki, &Identity::tool("vfedctl").unwrap(), &opts).unwrap();
        let node = vfed_pki::issue(&pki, &pki, &Identity::node(NODE_ID).unwrap(), &opts).unwrap();
        let material = TlsMaterial::load(&ca.cert, &node.cert, &node.key).unwrap();
        let config = vfed_pki::server_config(&material, vfed_pki::GRPC_ALPN).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("https://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(RegistryServer::new(FakeRegistry))
                .add_service(NodeServer::new(FakeNode))
                .serve_with_incoming(vfed_pki::incoming(listener, config)),
        );
        Fixture {
            ca: ca.cert,
            cert: client.cert,
            key: client.key,
            endpoint,
            _dir: dir,
        }
    }

    /// Runs vfedctl against the fake node (off the async runtime).
    async fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vfedctl"));
        cmd.env("VFEDCTL_ENDPOINT", &self.endpoint)
            .env("VFEDCTL_CA", path(&self.ca))
            .env("VFEDCTL_CERT", path(&self.cert))
            .env("VFEDCTL_KEY", path(&self.key))
            .args(args);
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn check(o: &Output, code: i32) -> (String, String) {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "stdout: {out}\nstderr: {err}");
    (out, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_fake_node() {
    let node = Fixture::start().await;

    // A refusal is printed verbatim with exit 1.
    let o = node
        .run(&[
            "devices",
            "register",
            "--id",
            DEVICE_A,
            "--location-type",
            "hotel-room",
        ])
        .await;
    let (_, err) = check(&o, 1);
    assert_eq!(err, format!("error: {R7}\n"));

    let o = node.run(&["devices", "show", DEVICE_B]).await;
    let (_, err) = check(&o, 1);
    assert_eq!(err, format!("error: device {DEVICE_B} is not known here\n"));

    // Success: table and JSON.
    let o = node
        .run(&[
            "devices",
            "register",
            "--id",
            DEVICE_A,
            "--name",
            "Gate",
            "--location-type",
            "junction",
        ])
        .await;
    let (out, _) = check(&o, 0);
    assert!(
        out.starts_with(&format!("registered {DEVICE_A} (revision 1)")),
        "{out}"
    );

    let o = node.run(&["devices", "show", DEVICE_A, "-o", "json"]).await;
    let (out, _) = check(&o, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["spec"]["location_type"], "junction");
    assert_eq!(json["status"], "online");
    assert_eq!(json["status_since"], "2023-11-14T22:13:20Z");
    assert_eq!(json["revision"], 7);

    // `show -o json | jq .spec` is a valid --file and round-trips.
    let file = node._dir.path().join("device.json");
    std::fs::write(&file, json["spec"].to_string()).unwrap();
    let o = node
        .run(&["devices", "register", "--file", path(&file), "--dry-run"])
        .await;
    let (out, _) = check(&o, 0);
    let again: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(again, json["spec"]);

    // Update sends the fetched revision and keeps unchanged fields.
    let o = node
        .run(&[
            "devices", "update", "--id", DEVICE_A, "--unit", "New unit", "-o", "json",
        ])
        .await;
    let (out, _) = check(&o, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["revision"], 8);
    assert_eq!(json["spec"]["unit"], "New unit");
    assert_eq!(json["spec"]["name"], format!("Camera {DEVICE_A}"));

    // Paging: one page by default, every page with --all.
    let o = node.run(&["devices", "list"]).await;
    let (out, err) = check(&o, 0);
    assert!(out.contains(DEVICE_A) && !out.contains(DEVICE_B), "{out}");
    assert!(err.contains("--page-token page-2"), "{err}");
    let o = node.run(&["devices", "list", "--all", "-o", "json"]).await;
    let (out, _) = check(&o, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["devices"].as_array().map(Vec::len), Some(2));
    assert_eq!(json["next_page_token"], "");

    // Nodes.
    let o = node.run(&["nodes", "list"]).await;
    let (out, _) = check(&o, 0);
    assert!(out.contains("Shannan city sharing platform"), "{out}");
    assert!(out.contains("ago"), "{out}");
    let o = node
        .run(&["nodes", "info", "-o", "json", "--server-id", NODE_ID])
        .await;
    let (out, _) = check(&o, 0);
    assert!(out.contains("\"area_code\": \"540502\""), "{out}");

    // A pinned identity that does not match: TLS failure, exit 3.
    let o = node
        .run(&["nodes", "info", "--server-id", "54050000002000000001"])
        .await;
    let (_, err) = check(&o, 3);
    assert!(err.contains("not the expected"), "{err}");

    // Keepalive: unknown IDs make it fail with 1.
    let o = node.run(&["keepalive", DEVICE_A]).await;
    check(&o, 0);
    let o = node.run(&["keepalive", DEVICE_A, DEVICE_B]).await;
    let (_, err) = check(&o, 1);
    assert!(err.contains(DEVICE_B), "{err}");

    // Unimplemented on the server: refusal, exit 1.
    let o = node.run(&["catalog", "tree"]).await;
    check(&o, 1);
}
