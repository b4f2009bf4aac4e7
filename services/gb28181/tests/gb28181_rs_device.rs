//! The crate gb28181-rs as a real NVR: it registers with digest (its own
//! client, qop=auth), keeps alive every second, answers the node's
//! Catalog query with 64 channels in pages of 10 (7 MESSAGEs, GB2312) and
//! its DeviceInfo; silenced, it goes offline within 3 intervals + 1 s.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use gb28181_rs::mock::MockFrameHub;
use gb28181_rs::{CatalogChannel, Gb28181Config, Gb28181Server};
use support::{DOMAIN, Node, free_port};
use vfed_gb28181::{CatalogOutcome, DeviceEvent, RegisterKind};

const NVR: &str = "34020000001180000001";
const PASSWORD: &str = "nvr-secret-1";

fn nvr_config(node: &Node, channels: usize) -> Gb28181Config {
    Gb28181Config {
        platform_sip_address: "127.0.0.1".to_owned(),
        platform_sip_port: node.udp.port(),
        device_id: NVR.to_owned(),
        channel_id: "34020000001310000001".to_owned(),
        sip_domain: DOMAIN.to_owned(),
        password: PASSWORD.to_owned(),
        local_sip_port: free_port(),
        heartbeat_interval_secs: 1,
        register_interval_secs: 3600,
        extra_channels: (2..=channels)
            .map(|i| CatalogChannel {
                device_id: format!("3402000000131{i:07}"),
                name: format!("通道{i}"),
                manufacturer: "gb28181-rs".to_owned(),
                model: "NVR".to_owned(),
                status: String::new(),
                ptz_type: None,
                photoelectric_imaging_type: None,
            })
            .collect(),
        ..Gb28181Config::default()
    }
}

#[tokio::test]
async fn nvr_registers_keeps_alive_and_lists_64_channels() {
    let node = Node::start(|options| {
        options.default_password = None;
        options
            .passwords
            .insert(NVR.to_owned(), PASSWORD.to_owned());
        options.query_on_register = true;
    })
    .await;
    let mut nvr = Gb28181Server::start(nvr_config(&node, 64), Arc::new(MockFrameHub::new()), None)
        .await
        .expect("gb28181-rs starts");
    let recorder = node.recorder.clone();
    recorder
        .wait("registration", Duration::from_secs(10), |r| {
            r.events().iter().any(|e| {
                matches!(
                    e,
                    DeviceEvent::Registered {
                        kind: RegisterKind::New,
                        ..
                    }
                )
            })
        })
        .await;
    recorder
        .wait("the catalog", Duration::from_secs(10), |r| {
            !r.catalogs().is_empty()
        })
        .await;
    let catalogs = recorder.catalogs();
    let report = &catalogs[0];
    assert_eq!(report.outcome, CatalogOutcome::Complete, "{report:#?}");
    assert_eq!(
        (
            report.device_id.as_str(),
            report.sum_num,
            report.items.len()
        ),
        (NVR, Some(64), 64)
    );
    assert!(
        report.pages >= 7,
        "64 channels in pages of 10: {} pages",
        report.pages
    );
    let named = report
        .items
        .iter()
        .find(|i| i.device_id == "34020000001310000064")
        .unwrap();
    assert_eq!(named.name.as_deref(), Some("通道64"));
    recorder
        .wait("device info", Duration::from_secs(5), |r| {
            !r.infos.lock().unwrap().is_empty()
        })
        .await;
    assert_eq!(recorder.infos.lock().unwrap()[0].device_id, NVR);
    recorder
        .wait("two keepalives", Duration::from_secs(5), |r| {
            r.events()
                .iter()
                .filter(|e| matches!(e, DeviceEvent::Keepalive { .. }))
                .count()
                >= 2
        })
        .await;

    // Silenced: offline within 3 intervals + 1 s of its last keepalive.
    nvr.shutdown().await.expect("gb28181-rs stops");
    recorder
        .wait("offline", Duration::from_secs(6), |r| {
            r.events()
                .iter()
                .any(|e| matches!(e, DeviceEvent::Offline { .. }))
        })
        .await;
    let events = recorder.events();
    let offline = events.iter().find_map(|e| match e {
        DeviceEvent::Offline {
            device_id,
            silent_for,
            ..
        } => Some((device_id.clone(), *silent_for)),
        _ => None,
    });
    let (device_id, silent_for) = offline.unwrap();
    assert_eq!(device_id, NVR);
    assert!(
        silent_for > Duration::from_secs(3) && silent_for <= Duration::from_secs(4),
        "{silent_for:?}"
    );
    node.stop().await;
}
