//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use std::collections::BTreeSet;

use tonic::transport::Channel;
use vfed_proto::federation::v1::node_client::NodeClient;
use vfed_proto::federation::v1::{Link, ListLinksRequest};
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::registry::v1::{Device, GetDeviceRequest, ListDevicesRequest, Scope};

pub const PROVINCE: &str = "54000000002000000001";
pub const CITY: &str = "54050000002000000001";
pub const NAIDONG: &str = "54050200002000000001";
pub const ZHANANG: &str = "54052100002000000001";
pub const GONGGAR: &str = "54052200002000000001";

/// A Naidong camera with sequence `n`.
pub fn naidong_camera(n: u32) -> String {
    format!("540502000013200{n:05}")
}

/// Every device ID in `scope` at the node behind `channel`, following pages.
pub async fn all_ids(channel: &Channel, scope: Scope) -> anyhow::Result<Vec<String>> {
    let mut client = RegistryClient::new(channel.clone());
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_devices(ListDevicesRequest {
                scope: scope.into(),
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        ids.extend(
            page.devices
                .into_iter()
                .filter_map(|d| d.spec.map(|s| s.id)),
        );
        if page.next_page_token.is_empty() {
            return Ok(ids);
        }
        page_token = page.next_page_token;
    }
}

/// The set of remote IDs, failing on duplicates.
pub async fn remote_set(channel: &Channel) -> anyhow::Result<BTreeSet<String>> {
    let ids = all_ids(channel, Scope::Remote).await?;
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    anyhow::ensure!(
        set.len() == ids.len(),
        "duplicate entries in the remote catalog"
    );
    Ok(set)
}

/// A device, or None if not found.
pub async fn get_device(channel: &Channel, id: &str) -> anyhow::Result<Option<Device>> {
    let mut client = RegistryClient::new(channel.clone());
    match client.get_device(GetDeviceRequest { id: id.into() }).await {
        Ok(d) => Ok(Some(d.into_inner())),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(s.into()),
    }
}

/// The links of the node behind `channel`.
pub async fn links(channel: &Channel) -> anyhow::Result<Vec<Link>> {
    Ok(NodeClient::new(channel.clone())
        .list_links(ListLinksRequest {})
        .await?
        .into_inner()
        .links)
}

/// A plain HTTP/1.0 GET (no chunking), returning headers and body.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await?;
    let mut body = String::new();
    stream.read_to_string(&mut body).await?;
    Ok(body)
}

/// Registers a shared, valid camera `id` whose main stream is `url`.
pub async fn register_camera(
    registry: &mut RegistryClient<Channel>,
    id: &str,
    url: String,
) -> anyhow::Result<()> {
    let mut spec = vfed_tests::device_spec(id, true);
    spec.streams = Some(vfed_proto::registry::v1::StreamSources {
        main_url: url,
        sub_url: String::new(),
    });
    registry
        .register_device(vfed_proto::registry::v1::RegisterDeviceRequest { spec: Some(spec) })
        .await?;
    Ok(())
}

/// Runs the built `vfedctl` as the harness's admin tool against `node`
/// with `args`; its stdout, or an error with its stderr.
pub async fn vfedctl(
    pki: &vfed_tests::TestPki,
    node: &vfed_tests::TestNode,
    args: &[&str],
) -> anyhow::Result<String> {
    let (cert, tool_key) = pki.files(&vfed_pki::Identity::tool(vfed_tests::TEST_ADMIN)?)?;
    let out = tokio::process::Command::new(vfed_tests::binaries::built_binary("vfedctl"))
        .env("VFEDCONFIG", pki.dir().join("no-stored-logins.json"))
        .arg("--endpoint")
        .arg(format!("https://{}", node.grpc_addr))
        .arg("--ca")
        .arg(pki.ca())
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(tool_key)
        .args(["--server-id", node.id(), "--timeout", "5s"])
        .args(args)
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "vfedctl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// `vfedctl <args> -o json`: the built binary, as the harness's admin
/// tool, against `node`; the parsed output.
pub async fn vfedctl_json(
    pki: &vfed_tests::TestPki,
    node: &vfed_tests::TestNode,
    args: &[&str],
) -> anyhow::Result<serde_json::Value> {
    let args: Vec<&str> = args.iter().copied().chain(["-o", "json"]).collect();
    Ok(serde_json::from_str(&vfedctl(pki, node, &args).await?)?)
}
