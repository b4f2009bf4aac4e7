//! R14.3: a device that stops its keepalives goes offline at the county and
//! at the city within 3 periods + 1 s, and its outage is recorded.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use vfed_proto::registry::v1 as pb;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually, register_request};

const PERIOD: Duration = Duration::from_millis(300);

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

async fn status_is(
    channel: &tonic::transport::Channel,
    id: &str,
    status: pb::DeviceStatus,
) -> anyhow::Result<Option<()>> {
    Ok(get_device(channel, id)
        .await?
        .filter(|d| d.status == i32::from(status))
        .map(|_| ()))
}

#[tokio::test]
async fn silent_device_goes_offline_everywhere_and_its_outage_is_recorded() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county")
            .parent(CITY, city.grpc_addr)
            .keepalive(PERIOD),
    )
    .await?;
    let (county_channel, city_channel) = (county.channel(&pki)?, city.channel(&pki)?);
    let mut registry = RegistryClient::new(county_channel.clone());
    let id = naidong_camera(1);
    registry
        .register_device(register_request(&id, true))
        .await?;
    let keepalive = pb::KeepaliveRequest {
        device_ids: vec![id.clone()],
        ..Default::default()
    };

    // Alive: keepalives every third of a period until the city sees it online.
    let reply = registry.keepalive(keepalive.clone()).await?.into_inner();
    assert_eq!(reply.period_ms, 300);
    assert!(reply.unknown_ids.is_empty());
    eventually("online at the city", Duration::from_secs(10), || {
        let mut registry = registry.clone();
        let (keepalive, city_channel, id) = (keepalive.clone(), city_channel.clone(), id.clone());
        async move {
            registry.keepalive(keepalive).await?;
            status_is(&city_channel, &id, pb::DeviceStatus::Online).await
        }
    })
    .await?;
    registry.keepalive(keepalive.clone()).await?;
    let last_keepalive_ms = now_ms();

    // Silence.
    let deadline = PERIOD * 3 + Duration::from_secs(1);
    eventually("offline at the county", deadline, || {
        status_is(&county_channel, &id, pb::DeviceStatus::Offline)
    })
    .await?;
    let offline_at_county_ms = now_ms();
    eventually("offline at the city", deadline, || {
        status_is(&city_channel, &id, pb::DeviceStatus::Offline)
    })
    .await?;
    assert!(
        now_ms() - last_keepalive_ms <= i64::try_from(deadline.as_millis())? + 200,
        "too slow overall"
    );
    assert!(
        offline_at_county_ms - last_keepalive_ms >= i64::try_from((PERIOD * 3).as_millis())? - 50,
        "offline too early"
    );

    let open = registry
        .list_outages(pb::ListOutagesRequest {
            device_id: id.clone(),
            open_only: true,
            limit: 0,
        })
        .await?
        .into_inner()
        .outages;
    assert_eq!(open.len(), 1);
    assert!(
        (open[0].start_unix_ms - last_keepalive_ms).abs() <= 100,
        "start {} vs last keepalive {last_keepalive_ms}",
        open[0].start_unix_ms
    );
    assert_eq!(open[0].end_unix_ms, 0);

    // Back: the next keepalive closes the outage.
    let back_ms = now_ms();
    registry.keepalive(keepalive.clone()).await?;
    eventually("online again at the city", Duration::from_secs(5), || {
        status_is(&city_channel, &id, pb::DeviceStatus::Online)
    })
    .await?;
    let all = registry
        .list_outages(pb::ListOutagesRequest {
            device_id: id.clone(),
            open_only: false,
            limit: 0,
        })
        .await?
        .into_inner()
        .outages;
    assert_eq!(all.len(), 1);
    let outage = &all[0];
    assert_eq!(outage.start_unix_ms, open[0].start_unix_ms);
    assert!(
        outage.end_unix_ms >= back_ms && outage.end_unix_ms - back_ms <= 500,
        "end {} vs {back_ms}",
        outage.end_unix_ms
    );
    assert_eq!(
        outage.duration_ms,
        outage.end_unix_ms - outage.start_unix_ms
    );

    // Unknown devices are reported, not invented.
    let unknown = registry
        .keepalive(pb::KeepaliveRequest {
            device_ids: vec![naidong_camera(99)],
            ..Default::default()
        })
        .await?
        .into_inner()
        .unknown_ids;
    assert_eq!(unknown, vec![naidong_camera(99)]);
    Ok(())
}
