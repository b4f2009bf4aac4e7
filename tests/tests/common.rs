//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code, clippy::unwrap_used)]

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
    let out = vfed_tests::binaries::vfedctl_at(pki, node)?
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

/// What ffprobe decoded: codec, width, height and frames.
pub type Probed = (String, u32, u32, u64);

/// ffprobe of `url`: what it decoded and its warnings. `packets`: read at
/// most that many (live input, which a time bound would never end).
pub async fn probe_warnings(url: &str, packets: Option<u32>) -> anyhow::Result<(Probed, String)> {
    let mut cmd = tokio::process::Command::new("timeout");
    cmd.args(["90", "ffprobe", "-v", "warning", "-count_frames"])
        .args(["-select_streams", "v:0"]);
    if let Some(n) = packets {
        cmd.args(["-read_intervals", &format!("%+#{n}")]);
    }
    let out = cmd
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "csv=p=0", url])
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("ffprobe not runnable ({e}): install ffmpeg"))?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| anyhow::anyhow!("ffprobe printed nothing for {url}: {stderr}"))?;
    let f: Vec<&str> = line.trim().split(',').collect();
    anyhow::ensure!(f.len() == 4, "unexpected ffprobe output {line:?}");
    Ok((
        (f[0].to_owned(), f[1].parse()?, f[2].parse()?, f[3].parse()?),
        stderr,
    ))
}

/// ffprobe of a whole recording (a file or a VOD) at `url`.
pub async fn probe(url: &str) -> anyhow::Result<Probed> {
    Ok(probe_warnings(url, None).await?.0)
}

/// Frames the archive index of `device` (main profile) at `node` holds in
/// fragments overlapping `[from, to)`, Unix milliseconds, from the
/// keyframe the first one needs.
pub fn indexed_frames(
    node: &vfed_tests::TestNode,
    device: &str,
    from: i64,
    to: i64,
) -> anyhow::Result<u64> {
    let dir = node
        .config
        .archive
        .dir_for(&node.config.store)
        .join(device)
        .join("main");
    let mut frames = 0;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "idx") {
            let index = vfed_archive::index::Index::read(&path)?;
            // From the keyframe the range needs, as playback serves it.
            frames += index.fragments[index.overlapping(from, to)]
                .iter()
                .map(|f| f.frames)
                .sum::<u64>();
        }
    }
    Ok(frames)
}

/// The tests' retrieval request: a case filing for the theft at Zedang
/// Square, for `device_ids` over `[from_unix, to_unix)`.
pub fn theft_case(
    device_ids: Vec<String>,
    from_unix: i64,
    to_unix: i64,
) -> vfed_proto::retrieval::v1::FileRequestRequest {
    use vfed_proto::retrieval::v1 as pb;
    pb::FileRequestRequest {
        request: Some(pb::RetrievalRequest {
            legal_document: Some(pb::LegalDocument {
                r#type: "case-filing".into(),
                number: "NDPSB-2026-0042".into(),
                issuing_authority: "Naidong County PSB".into(),
                sha256: "9f".repeat(32),
            }),
            purpose: "theft at Zedang Square".into(),
            requesting_agency: "Naidong criminal police".into(),
            device_ids,
            from_unix,
            to_unix,
            ..Default::default()
        }),
    }
}

/// A camera replaying a 60 s H.264 clip with a GOP of `gop_frames` at 25 fps.
pub async fn gop_camera(
    dir: &std::path::Path,
    gop_frames: u32,
) -> anyhow::Result<vfed_tests::FileCamera> {
    let mp4 = dir.join("h264.mp4");
    let spec = vfed_tests::ClipSpec {
        codec: vfed_tests::FileCodec::H264,
        width: 640,
        height: 360,
        fps: 25,
        gop: gop_frames,
        b_frames: 0,
        kbps: 800,
        seconds: 60,
    };
    vfed_tests::make_clip(&mp4, &spec).await?;
    vfed_tests::FileCamera::start(&mp4, vfed_tests::FileCodec::H264, "h264").await
}

/// The stream directory of `device`'s main profile at `node`.
pub fn stream_dir(node: &vfed_tests::TestNode, device: &str) -> std::path::PathBuf {
    node.config
        .archive
        .dir_for(&node.config.store)
        .join(device)
        .join("main")
}

/// The closed recording files of `dir`, oldest first: (media, its index).
pub fn closed_files(
    dir: &std::path::Path,
) -> Vec<(std::path::PathBuf, vfed_archive::index::Index)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .filter_map(|idx| {
            let index = vfed_archive::index::Index::read(&idx).ok()?;
            index
                .closed
                .is_some()
                .then(|| (idx.with_extension("mp4"), index))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// `ms` (Unix milliseconds) in RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Frames recorded at the county in `[from, to)`: those on screen at some
/// instant of it (the MP4 shows the one on screen at `from` first), and
/// those of the fragments overlapping it (what HLS VOD serves).
pub fn expected_frames(
    county: &vfed_tests::TestNode,
    device: &str,
    from: i64,
    to: i64,
) -> (u64, u64) {
    let dir = county
        .config
        .archive
        .dir_for(&county.config.store)
        .join(device)
        .join("main");
    let (mut shown, mut fragments) = (0, 0);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "idx") {
            continue;
        }
        let index = vfed_archive::index::Index::read(&path).unwrap();
        // From the keyframe the range needs (a GOP may be several fragments).
        for f in &index.fragments[index.overlapping(from, to)] {
            fragments += f.frames;
            let step = f.duration / f.frames.max(1);
            for i in 0..f.frames {
                let at = f.start_unix_ms + i64::try_from(i * step / 90).unwrap();
                let end = at + i64::try_from(step / 90).unwrap();
                if end > from && at < to {
                    shown += 1;
                }
            }
        }
    }
    (shown, fragments)
}

/// A UDP port free on 127.0.0.1 now (for a peer that binds it itself: SIP).
pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
