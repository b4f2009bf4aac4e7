//! The demo's simulated GB/T 28181 NVR: a gb28181-rs device that registers
//! to Naidong's SIP port with the node's default device password, reports
//! two channels in its catalog, keeps alive and streams the demo clip as
//! PS over RTP when a channel is invited (once adopted and watched).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gb28181_rs::mock::MockFrameHub;
use gb28181_rs::{CatalogChannel, Gb28181Config, Gb28181Server};
use tokio_util::sync::CancellationToken;

use super::layout::DemoSip;

/// The NVR's code (type 118) in Naidong (540502).
pub const NVR: &str = "54050200001180000001";
/// Its channels (cameras, type 131): ID and name.
pub const CHANNELS: &[(&str, &str)] = &[
    ("54050200001310000021", "Naidong bus station gate"),
    ("54050200001310000022", "Naidong bus station hall"),
];
/// The county the NVR registers to.
pub const COUNTY: &str = "54050200002000000001";

/// Starts the NVR against `sip` and runs it until `stop`.
pub async fn start(sip: &DemoSip, clip: &[u8], stop: CancellationToken) -> anyhow::Result<()> {
    let password = std::fs::read_to_string(&sip.password_file)
        .with_context(|| format!("reading {}", sip.password_file.display()))?
        .trim()
        .to_owned();
    let port: std::net::SocketAddr = sip.udp.parse().context("demo sip.udp")?;
    let local_sip_port = std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let units = vfed_gb28181::device_sim::h264_access_units(clip)?;
    let hub = Arc::new(MockFrameHub::new());
    let config = Gb28181Config {
        platform_sip_address: "127.0.0.1".to_owned(),
        platform_sip_port: port.port(),
        device_id: NVR.to_owned(),
        channel_id: CHANNELS[0].0.to_owned(),
        sip_domain: sip.domain.clone(),
        password,
        local_sip_port,
        heartbeat_interval_secs: 5,
        register_interval_secs: 3600,
        extra_channels: CHANNELS
            .iter()
            .map(|(id, name)| CatalogChannel {
                device_id: (*id).to_owned(),
                name: (*name).to_owned(),
                manufacturer: "vfed demo".to_owned(),
                model: "simulated NVR".to_owned(),
                status: String::new(),
                ptz_type: None,
                photoelectric_imaging_type: None,
            })
            .collect(),
        ..Gb28181Config::default()
    };
    let mut nvr = Gb28181Server::start(config, hub.clone(), None)
        .await
        .map_err(|e| anyhow::anyhow!("simulated GB/T 28181 NVR: {e}"))?;
    tokio::spawn(async move {
        // The encoder, in real time, looping the clip.
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for unit in units.iter().cycle() {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let mut unit = unit.clone();
            unit.timestamp = Instant::now();
            hub.write(unit);
        }
        if let Err(e) = nvr.shutdown().await {
            tracing::warn!(error = %e, "simulated NVR: shutdown");
        }
    });
    Ok(())
}
