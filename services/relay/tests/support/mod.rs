//! Relays over real QUIC and mutual TLS on loopback, and a synthetic source.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;
use vfed_media::{AccessUnit, Codec, StreamMetadata};
use vfed_pki::{Identity, IssueOptions, ServerExpectation, TlsMaterial};
use vfed_relay::{Relay, RelayOptions, Resolver, Route, StreamKey, endpoint};

pub const CITY: &str = "54050000002000000001";
pub const NAIDONG: &str = "54050200002000000001";
pub const CAMERA: &str = "54050200001320000001";

pub struct Pki {
    pub dir: tempfile::TempDir,
}

impl Pki {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        vfed_pki::init_ca(dir.path(), "vfed", false).unwrap();
        Self { dir }
    }

    pub fn material(&self, identity: &Identity) -> TlsMaterial {
        let files = vfed_pki::issue(
            self.dir.path(),
            self.dir.path(),
            identity,
            &IssueOptions::default(),
        )
        .unwrap();
        TlsMaterial::load(&self.dir.path().join("ca.pem"), &files.cert, &files.key).unwrap()
    }
}

/// Routes by area: 540502 devices come from Naidong, others are unknown;
/// at the origin itself everything is local.
pub struct AreaResolver {
    pub origin: bool,
    pub peer: String,
    /// A pure subscriber: everything comes from its one peer.
    pub everything: bool,
}

impl Resolver for AreaResolver {
    fn resolve<'a>(&'a self, device_id: &'a str) -> BoxFuture<'a, Route> {
        Box::pin(async move {
            if self.everything {
                Route::Peer(self.peer.clone())
            } else if !device_id.starts_with("540502") {
                Route::NotFound
            } else if self.origin {
                Route::Local
            } else {
                Route::Peer(self.peer.clone())
            }
        })
    }
}

pub fn options() -> RelayOptions {
    RelayOptions {
        idle_grace: Duration::from_millis(300),
        ..RelayOptions::default()
    }
}

pub struct Node {
    pub relay: Relay,
    pub endpoint: quinn::Endpoint,
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
}

impl Node {
    pub fn stop(&self) {
        self.shutdown.cancel();
        self.endpoint.close(quinn::VarInt::from_u32(0), b"stop");
    }
}

/// The city relay on a free port, accepting Naidong.
pub fn city(pki: &Pki) -> Node {
    city_on(pki, "127.0.0.1:0".parse().unwrap())
}

pub fn city_on(pki: &Pki, addr: SocketAddr) -> Node {
    let material = pki.material(&Identity::node(CITY).unwrap());
    let endpoint = endpoint::server(&material, addr).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let resolver = Arc::new(AreaResolver {
        origin: false,
        peer: NAIDONG.into(),
        everything: false,
    });
    let relay = Relay::new(
        CITY,
        "vfed",
        None,
        [NAIDONG.to_owned()],
        resolver,
        options(),
    );
    // No accounts here: every admitted subscriber may watch (policy tests override it).
    relay.set_subscriber_policy(Arc::new(vfed_relay::policy::AdmitAll));
    let shutdown = CancellationToken::new();
    tokio::spawn(relay.clone().accept(endpoint.clone(), shutdown.clone()));
    Node {
        relay,
        endpoint,
        addr,
        shutdown,
    }
}

/// The Naidong relay, linked up to the city at `city`.
pub fn county(pki: &Pki, city: SocketAddr) -> Node {
    let material = pki.material(&Identity::node(NAIDONG).unwrap());
    let endpoint = endpoint::server(&material, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let resolver = Arc::new(AreaResolver {
        origin: true,
        peer: String::new(),
        everything: false,
    });
    let relay = Relay::new(
        NAIDONG,
        "vfed",
        Some(CITY.into()),
        Vec::<String>::new(),
        resolver,
        options(),
    );
    relay.set_subscriber_policy(Arc::new(vfed_relay::policy::AdmitAll));
    let shutdown = CancellationToken::new();
    let config = endpoint::client_config(
        &material,
        ServerExpectation::Exactly(Identity::node(CITY).unwrap()),
    )
    .unwrap();
    tokio::spawn(relay.clone().accept(endpoint.clone(), shutdown.clone()));
    tokio::spawn(
        relay
            .clone()
            .uplink(endpoint.clone(), config, city, shutdown.clone()),
    );
    Node {
        relay,
        endpoint,
        addr,
        shutdown,
    }
}

/// A subscriber (tool identity) connected to the relay at `addr` (node `node`).
pub async fn subscriber(pki: &Pki, name: &str, node: &str, addr: SocketAddr) -> Relay {
    let material = pki.material(&Identity::tool(name).unwrap());
    let endpoint = endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let config = endpoint::client_config(
        &material,
        ServerExpectation::Exactly(Identity::node(node).unwrap()),
    )
    .unwrap();
    let resolver = Arc::new(AreaResolver {
        origin: false,
        peer: node.into(),
        everything: true,
    });
    let relay = Relay::new(
        name,
        "vfed",
        None,
        Vec::<String>::new(),
        resolver,
        options(),
    );
    relay
        .connect(&endpoint, config, addr, node, false)
        .await
        .unwrap();
    relay
}

pub fn metadata() -> StreamMetadata {
    StreamMetadata {
        codec: Codec::H264,
        vps: vec![],
        sps: vec![Bytes::from_static(&[0x67, 0x42, 0xc0, 0x1f])],
        pps: vec![Bytes::from_static(&[0x68, 0xce, 0x3c, 0x80])],
        width: 1280,
        height: 720,
        fps_milli: 25_000,
        bitrate_bps: 0,
    }
}

/// Publishes a synthetic stream (GOP of 10, one unit every 5 ms) at `node` until cancelled.
pub fn source(node: &Node, stop: CancellationToken) {
    let track = node.relay.publish(&StreamKey::new(CAMERA, "main").unwrap());
    track.set_metadata(metadata());
    tokio::spawn(async move {
        let mut n: i64 = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            track.publish(AccessUnit {
                pts: n * 3600,
                dts: n * 3600,
                keyframe: n % 10 == 0,
                data: Bytes::from(vec![(n % 251) as u8; 1000 + (n as usize % 7) * 100]),
                ingest_unix_us: n,
            });
            n += 1;
        }
    });
}

/// Reads `count` units from `relay`'s `key`, checking order and keyframe start.
pub async fn read_units(relay: &Relay, key: &str, count: usize) -> anyhow::Result<Vec<AccessUnit>> {
    let mut reader = relay.subscribe(key).await?;
    let mut units = Vec::new();
    while units.len() < count {
        let gop = reader
            .next_gop()
            .await
            .ok_or_else(|| anyhow::anyhow!("track ended"))?;
        let mut r = gop.reader();
        let mut first = true;
        while let Some(unit) = r.next().await {
            anyhow::ensure!(
                !first || unit.keyframe,
                "GOP does not start with a keyframe"
            );
            first = false;
            if let Some(last) = units.last() {
                let last: &AccessUnit = last;
                anyhow::ensure!(
                    unit.dts > last.dts,
                    "dts went backwards: {} after {}",
                    unit.dts,
                    last.dts
                );
            }
            units.push(unit);
            if units.len() >= count {
                break;
            }
        }
    }
    Ok(units)
}

pub async fn eventually<F: FnMut() -> bool>(what: &str, timeout: Duration, mut f: F) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
