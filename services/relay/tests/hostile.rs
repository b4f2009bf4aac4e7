//! Malformed or hostile peers on the QUIC port get an error and a closed
//! connection; the relay keeps serving everyone else.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::*;
use tokio_util::sync::CancellationToken;
use vfed_pki::{Identity, ServerExpectation};
use vfed_relay::endpoint;
use vfed_relay::link::close_code;
use vfed_relay::wire::{GopHeader, encode_gop_header};

const KEY: &str = "54050200001320000001/main";

async fn raw_connection(
    pki: &Pki,
    identity: Identity,
    addr: std::net::SocketAddr,
) -> quinn::Connection {
    let material = pki.material(&identity);
    let ep = endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let config = endpoint::client_config(
        &material,
        ServerExpectation::Exactly(Identity::node(CITY).unwrap()),
    )
    .unwrap();
    ep.connect_with(config, addr, "vfed-relay")
        .unwrap()
        .await
        .unwrap()
}

async fn closed_with(connection: &quinn::Connection) -> (u64, String) {
    match tokio::time::timeout(Duration::from_secs(10), connection.closed())
        .await
        .expect("not closed within 10 s")
    {
        quinn::ConnectionError::ApplicationClosed(close) => (
            close.error_code.into_inner(),
            String::from_utf8_lossy(&close.reason).into_owned(),
        ),
        other => panic!("closed for another reason: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peers_are_cut_off_and_everyone_else_is_served() {
    let pki = Pki::new();
    let city = city(&pki);
    let county = county(&pki, city.addr);
    let stop = CancellationToken::new();
    source(&county, stop.clone());
    eventually("county linked", Duration::from_secs(10), || {
        city.relay.link(NAIDONG).is_some()
    })
    .await;
    let good = subscriber(&pki, "good-viewer", CITY, city.addr).await;
    let mut reader = good.subscribe(KEY).await.unwrap();
    assert!(reader.next_gop().await.is_some());

    // Garbage on the control stream.
    let c = raw_connection(&pki, Identity::tool("fuzzer").unwrap(), city.addr).await;
    let (mut send, _recv) = c.open_bi().await.unwrap();
    send.write_all(&[0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    let (code, reason) = closed_with(&c).await;
    assert_eq!(code, u64::from(close_code::PROTOCOL), "{reason}");
    assert!(reason.contains("malformed control message"), "{reason}");

    // An oversize length prefix.
    let c = raw_connection(&pki, Identity::tool("fuzzer").unwrap(), city.addr).await;
    let (mut send, _recv) = c.open_bi().await.unwrap();
    send.write_all(&[0x7f, 0xff, 0xff, 0xff]).await.unwrap();
    let (code, reason) = closed_with(&c).await;
    assert_eq!(code, u64::from(close_code::PROTOCOL));
    assert!(reason.contains("exceeds the limit"), "{reason}");

    // A GOP for a subscription nobody asked for.
    let c = raw_connection(&pki, Identity::tool("fuzzer").unwrap(), city.addr).await;
    let (mut send, _recv) = c.open_bi().await.unwrap();
    send.write_all(&vfed_relay::wire::encode_control(
        &vfed_proto::relay::v1::ControlMessage {
            message: Some(vfed_proto::relay::v1::control_message::Message::Hello(
                vfed_proto::relay::v1::Hello {
                    node_id: "x".into(),
                    version: 1,
                },
            )),
        },
    ))
    .await
    .unwrap();
    let mut uni = c.open_uni().await.unwrap();
    uni.write_all(&encode_gop_header(GopHeader {
        request_id: 999,
        gop_seq: 1,
    }))
    .await
    .unwrap();
    let (code, reason) = closed_with(&c).await;
    assert_eq!(code, u64::from(close_code::PROTOCOL));
    assert!(reason.contains("unknown subscription 999"), "{reason}");

    // A valid certificate naming a node that is not a configured child.
    let c = raw_connection(
        &pki,
        Identity::node("54052200002000000001").unwrap(),
        city.addr,
    )
    .await;
    let (code, reason) = closed_with(&c).await;
    assert_eq!(code, u64::from(close_code::UNAUTHORIZED));
    assert!(
        reason.contains("is not a configured child") && reason.contains("R18.4"),
        "{reason}"
    );

    // A certificate from another CA never gets a connection.
    let rogue = Pki::new();
    let material = rogue.material(&Identity::tool("rogue").unwrap());
    let ep = endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let config = endpoint::client_config(&material, ServerExpectation::AnyNode).unwrap();
    let refused = ep
        .connect_with(config, city.addr, "vfed-relay")
        .unwrap()
        .await;
    assert!(refused.is_err(), "a foreign-CA peer connected");

    // The good viewer never noticed.
    for _ in 0..3 {
        let gop = tokio::time::timeout(Duration::from_secs(5), reader.next_gop())
            .await
            .unwrap()
            .unwrap();
        assert!(gop.reader().next().await.unwrap().keyframe);
    }
    stop.cancel();
}
