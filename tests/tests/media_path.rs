//! The live media path between real nodes: the city routes a subscription
//! with its catalog toward the county the device came from, over the QUIC
//! link the county dialed (mutual TLS), and serves every local viewer from
//! one upstream pull.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use vfed_media::{AccessUnit, Codec, StreamMetadata};
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::relay::v1::GetStreamRequest;
use vfed_proto::relay::v1::streams_client::StreamsClient;
use vfed_relay::StreamKey;
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually, register_request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_city_viewer_watches_a_county_camera_through_one_upstream_pull() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let county = TestNode::start(&pki, NodeOptions::new(NAIDONG, "county").under(&city)).await?;
    let camera = naidong_camera(1);
    let unshared = naidong_camera(2);
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    registry
        .register_device(register_request(&camera, true))
        .await?;
    registry
        .register_device(register_request(&unshared, false))
        .await?;
    let city_channel = city.channel(&pki)?;
    eventually(
        "camera in the city catalog",
        Duration::from_secs(10),
        || get_device(&city_channel, &camera),
    )
    .await?;

    // The county's gateway would publish the camera; a synthetic source here.
    let key = StreamKey::new(&camera, "main")?;
    let track = county.relay()?.publish(&key);
    track.set_metadata(StreamMetadata {
        codec: Codec::H264,
        vps: vec![],
        sps: vec![Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1f])],
        pps: vec![Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80])],
        width: 1280,
        height: 720,
        fps_milli: 25_000,
        bitrate_bps: 4_000_000,
    });
    let feeding = tokio::spawn(async move {
        for n in 0..10_000i64 {
            track.publish(AccessUnit {
                pts: n * 3600,
                dts: n * 3600,
                keyframe: n % 10 == 0,
                data: Bytes::from(vec![1u8; 2000]),
                ingest_unix_us: n,
            });
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });

    let city_relay = city.relay()?;
    eventually(
        "relay link from the county",
        Duration::from_secs(10),
        || async { Ok(city_relay.link(NAIDONG).map(|_| ())) },
    )
    .await?;
    let mut viewers = Vec::new();
    for _ in 0..5 {
        let mut reader = city_relay.subscribe(&key.to_string()).await?;
        viewers.push(tokio::spawn(async move {
            let gop = tokio::time::timeout(Duration::from_secs(10), reader.next_gop())
                .await?
                .unwrap();
            let first = gop.reader().next().await.unwrap();
            anyhow::ensure!(first.keyframe && first.data.len() == 2000);
            anyhow::Ok(reader)
        }));
    }
    let mut readers = Vec::new();
    for v in viewers {
        readers.push(v.await??);
    }
    let county_track = county.relay()?.publish(&key);
    // One upstream pull for five city viewers, beside the county's archive
    // (which subscribes within a second of the track appearing).
    let readers = county_track.readers();
    assert!(
        (1..=2).contains(&readers),
        "one upstream pull for five city viewers (and the county's recorder): {readers} readers"
    );

    // Metadata and viewer counts over gRPC at the city.
    let info = StreamsClient::new(city_channel.clone())
        .get_stream(GetStreamRequest {
            key: key.to_string(),
        })
        .await?
        .into_inner();
    assert_eq!(
        (info.codec.as_str(), info.width, info.height, info.viewers),
        ("h264", 1280, 720, 5)
    );
    assert_eq!(info.source, format!("node/{NAIDONG}"));

    // Per-stream metrics on the city's /metrics.
    let stream = format!("stream=\"{key}\"");
    let metrics = eventually("stream metrics", Duration::from_secs(10), || async {
        let text = http_get(city.http_addr(), "/metrics").await?;
        let bitrate = text
            .lines()
            .find(|l| l.starts_with("vfed_stream_bitrate_bps") && l.contains(&stream))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok());
        if bitrate.is_none_or(|b| b <= 0.0) {
            anyhow::bail!("no positive bitrate for {stream} in:\n{text}");
        }
        Ok(Some(text))
    })
    .await?;
    let viewers = metrics
        .lines()
        .any(|l| l.starts_with("vfed_stream_viewers") && l.contains(&stream) && l.ends_with(" 5"));
    assert!(viewers, "{metrics}");
    assert!(
        metrics.contains("vfed_stream_gops_dropped")
            && metrics.contains("vfed_stream_upstream_reconnects")
    );

    // An unshared camera is not in the city's catalog: not found.
    let mut hidden = city_relay
        .subscribe(&format!("{unshared}/main"))
        .await
        .err();
    assert!(matches!(
        hidden.take(),
        Some(vfed_relay::RelayError::NotFound(_))
    ));
    feeding.abort();
    Ok(())
}
