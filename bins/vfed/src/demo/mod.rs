//! `vfed demo`: a city sharing platform (540500) with two county platforms
//! (540502 Naidong, 540521 Zhanang) in one process, each a full node with its
//! own ports, store and certificate, linked over mutual TLS exactly as
//! separate machines would be.

mod accounts;
mod camera;
mod gb_device;
mod layout;
mod reset;
mod seed;
mod site;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use vfed_proto::federation::v1::node_client::NodeClient;
use vfed_proto::federation::v1::{LinkState, ListLinksRequest};

use crate::cli::DemoArgs;
use layout::{DemoFile, DemoNode, NODES};

/// Runs `vfed demo`.
pub fn main(args: DemoArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vfed demo: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let telemetry = vfed_telemetry::init(&vfed_telemetry::TelemetryOptions {
            log: args.log.clone(),
            service_name: "vfed-demo".into(),
            ..Default::default()
        });
        let code = match run(args).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("vfed demo: {e:#}");
                ExitCode::FAILURE
            }
        };
        if let Ok(t) = telemetry {
            t.shutdown();
        }
        code
    })
}

async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let data_dir = std::path::absolute(&args.data_dir).context("--data-dir")?;
    if args.reset && data_dir.exists() {
        reset::remove_data_dir(&data_dir)?;
    }
    vfed_private_fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    // An empty directory made beforehand (`mkdir`, a temp dir: 0755 under
    // the usual umask) holds nothing that could have leaked: it becomes
    // private. One with contents must already be (the check below).
    if std::fs::read_dir(&data_dir)
        .with_context(|| format!("reading {}", data_dir.display()))?
        .next()
        .is_none()
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private (chmod 700)", data_dir.display()))?;
    }
    // The demo's directory holds its PKI keys and the admin's password.
    vfed_runtime::check_private_dir("--data-dir", &data_dir)?;
    println!("vfed demo: data in {}", data_dir.display());
    let pki = layout::ensure_pki(&data_dir)?;
    println!("  PKI ready: CA {}", pki.ca.display());

    let stop = CancellationToken::new();
    crate::signals::install(stop.clone());
    let mut running = Vec::new();
    let mut demo_nodes = Vec::new();
    let mut parent_endpoint = String::new();
    let mut parent_relay = String::new();
    // Parents first, so that children know where to connect.
    for spec in NODES {
        let (config, listeners) = layout::node_config(
            spec,
            &data_dir,
            &pki,
            &parent_endpoint,
            &parent_relay,
            args.keepalive,
        )
        .await?;
        let node = vfed_runtime::start(&config, listeners)
            .await
            .with_context(|| format!("starting {} ({})", spec.name, spec.id))?;
        if spec.parent.is_none() {
            parent_endpoint = format!("https://{}", node.grpc_addr);
            parent_relay = node.relay_addr.to_string();
        }
        for (_, device) in camera::CAMERAS
            .iter()
            .filter(|(node_id, _)| *node_id == spec.id)
        {
            camera::start(&node.relay, device, stop.clone())?;
        }
        demo_nodes.push(DemoNode::new(spec, &node, &config));
        running.push(node);
    }
    let demo_file = DemoFile::new(&pki, demo_nodes);
    let demo_json = data_dir.join("demo.json");
    demo_file.write(&demo_json)?;
    for node in &demo_file.nodes {
        println!(
            "  {:<34} {:<7} grpc {}  http {}",
            node.name, node.level, node.grpc_endpoint, node.http_endpoint
        );
    }
    if let Some(sip) = demo_file
        .nodes
        .iter()
        .find(|n| n.id == gb_device::COUNTY)
        .and_then(|n| n.sip.as_ref())
    {
        gb_device::start(sip, camera::CLIP, stop.clone()).await?;
        println!(
            "  a simulated GB/T 28181 NVR ({}) with {} channels registers at Naidong's SIP port {}",
            gb_device::NVR,
            gb_device::CHANNELS.len(),
            sip.udp
        );
    }

    let channels = layout::ToolChannels::new(&pki, &demo_file)?;
    let (_, password_file) = accounts::ensure(&channels, &demo_file, &data_dir).await?;
    seed::register_all(&channels).await?;
    let site = tokio::spawn(site::run(channels.clone(), args.keepalive, stop.clone()));
    wait_ready(&channels, &demo_file, &stop).await?;
    println!("ready");
    if let Some(city) = demo_file.nodes.iter().find(|n| n.parent.is_none()) {
        let token = accounts::viewing_token(&channels, &city.id).await?;
        println!(
            "  watch at the city (HLS; ffplay, VLC, Safari or hls.js; the token is valid 12 h):"
        );
        for (_, device) in camera::CAMERAS {
            println!(
                "       ffplay '{}/live/{device}/main/index.m3u8?token={token}'",
                city.http_endpoint
            );
        }
    }
    println!(
        "  log in as a person: vfedctl --demo {} login admin --password-file {}",
        args.data_dir.display(),
        password_file.display()
    );
    println!(
        "  try: vfedctl --demo {} nodes list",
        args.data_dir.display()
    );
    println!(
        "       vfedctl --demo {} devices list",
        args.data_dir.display()
    );
    println!(
        "       vfedctl --demo {} catalog tree",
        args.data_dir.display()
    );
    println!("  ({} for scripts; Ctrl-C stops)", demo_json.display());

    stop.cancelled().await;
    site.abort();
    // Children first, so that the parent sees them leave.
    for node in running.into_iter().rev() {
        node.stop().await;
    }
    println!("vfed demo: stopped");
    Ok(())
}

/// Waits until the top node reports every child link up and caught up.
async fn wait_ready(
    channels: &layout::ToolChannels,
    demo: &DemoFile,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let top = demo
        .nodes
        .iter()
        .find(|n| n.parent.is_none())
        .context("demo has no top node")?;
    let mut client = NodeClient::new(channels.get(&top.id)?);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if stop.is_cancelled() {
            anyhow::bail!("stopped before ready");
        }
        if let Ok(links) = client.list_links(ListLinksRequest {}).await {
            let links = links.into_inner().links;
            let children = links.iter().filter(|l| l.role == "child").count();
            let up = links
                .iter()
                .filter(|l| {
                    l.role == "child" && l.state == i32::from(LinkState::Up) && l.lag_revisions == 0
                })
                .count();
            if children > 0 && up == children {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("links did not come up within 60 s; see the log above");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
