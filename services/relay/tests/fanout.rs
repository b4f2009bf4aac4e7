//! Pull through the tree and fan-out over real QUIC + mutual TLS.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::*;
use tokio_util::sync::CancellationToken;
use vfed_relay::{RelayError, StreamKey};

const KEY: &str = "54050200001320000001/main";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_viewers_at_the_city_share_one_upstream_subscription() {
    let pki = Pki::new();
    let city = city(&pki);
    let county = county(&pki, city.addr);
    let stop = CancellationToken::new();
    source(&county, stop.clone());
    eventually("county linked", Duration::from_secs(10), || {
        city.relay.link(NAIDONG).is_some()
    })
    .await;

    let mut viewers = Vec::new();
    for i in 0..20 {
        let sub = subscriber(&pki, &format!("viewer-{i}"), CITY, city.addr).await;
        viewers.push(tokio::spawn(async move {
            read_units(&sub, KEY, 40).await.map(|u| (u.len(), sub))
        }));
    }
    let mut subs = Vec::new();
    for v in viewers {
        let (n, sub) = v.await.unwrap().unwrap();
        assert_eq!(n, 40);
        subs.push(sub);
    }
    // One upstream subscription at the county, however many viewers.
    let county_track = county.relay.publish(&StreamKey::parse(KEY).unwrap());
    assert_eq!(
        county_track.readers(),
        1,
        "the county serves exactly one upstream pull"
    );
    assert_eq!(county.relay.link(CITY).unwrap().serving(), 1);
    let at_city = city.relay.streams();
    assert_eq!(at_city.len(), 1);
    assert_eq!(at_city[0].source, format!("node/{NAIDONG}"));
    assert_eq!(at_city[0].codec, "h264");
    assert_eq!((at_city[0].width, at_city[0].height), (1280, 720));

    // Everyone leaves: after the idle grace the city closes its pull.
    drop(subs);
    eventually("upstream pull closed", Duration::from_secs(10), || {
        county_track.readers() == 0
    })
    .await;
    eventually("city forgot the stream", Duration::from_secs(10), || {
        city.relay.streams().is_empty()
    })
    .await;
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_streams_are_refused_with_not_found() {
    let pki = Pki::new();
    let city = city(&pki);
    let county = county(&pki, city.addr);
    eventually("county linked", Duration::from_secs(10), || {
        city.relay.link(NAIDONG).is_some()
    })
    .await;
    let sub = subscriber(&pki, "viewer", CITY, city.addr).await;
    // Outside any known area: refused at the city.
    let mut reader = sub.subscribe("54052100001320000001/main").await.unwrap();
    assert!(reader.next_gop().await.is_none());
    assert!(
        matches!(reader.track().end_reason(), Some(RelayError::NotFound(_))),
        "{:?}",
        reader.track().end_reason()
    );
    // Known area, but no source live at the origin: unavailable, and the pull gives up when idle.
    assert!(matches!(
        sub.subscribe("bad key").await,
        Err(RelayError::BadKey(_))
    ));
    drop(county);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_continue_when_the_county_relay_comes_back() {
    let pki = Pki::new();
    let city = city(&pki);
    let county1 = county(&pki, city.addr);
    let stop1 = CancellationToken::new();
    source(&county1, stop1.clone());
    eventually("county linked", Duration::from_secs(10), || {
        city.relay.link(NAIDONG).is_some()
    })
    .await;
    let sub = subscriber(&pki, "viewer", CITY, city.addr).await;
    let before = read_units(&sub, KEY, 20).await.unwrap();
    assert_eq!(before.len(), 20);
    let mut reader = sub.subscribe(KEY).await.unwrap();

    // The county relay dies; a new one comes up (a restart) with the camera.
    stop1.cancel();
    county1.stop();
    let county2 = county(&pki, city.addr);
    let stop2 = CancellationToken::new();
    source(&county2, stop2.clone());

    // The same reader keeps going: no reconnect by the viewer.
    let resumed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let gop = reader
                .next_gop()
                .await
                .expect("track ended instead of resuming");
            if let Some(unit) = gop.reader().next().await
                && unit.keyframe
            {
                return unit;
            }
        }
    })
    .await
    .expect("no media within 10 s of the county coming back");
    assert!(resumed.keyframe);
    let stats = city.relay.streams();
    assert!(stats[0].upstream_reconnects >= 1, "{stats:?}");
    stop2.cancel();
}
