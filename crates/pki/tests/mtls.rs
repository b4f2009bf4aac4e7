//! Mutual TLS over real sockets with a real tonic server.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use rcgen::SanType;
use tokio::net::TcpStream;
use vfed_pki::ca::CertificateAuthority;
use vfed_pki::{GRPC_ALPN, Identity, ServerExpectation, channel, client_config, connect};

#[tokio::test]
async fn node_client_connects_and_server_sees_its_identity() {
    let ca = CertificateAuthority::generate(TD).unwrap();
    let server = TestServer::start(&material(&ca, &node(NODE_A))).await;

    // A node, lazily connected, expecting exactly the server's identity.
    let client = material(&ca, &node(NODE_B));
    let cfg = client_config(&client, ServerExpectation::Exactly(node(NODE_A)), GRPC_ALPN).unwrap();
    let ch = channel(&server.endpoint(), cfg).unwrap();
    health_check(ch).await.unwrap();

    // A tool, eagerly connected, accepting any node, written host:port.
    let tool = Identity::tool("vfedctl").unwrap();
    let cfg = client_config(&material(&ca, &tool), ServerExpectation::AnyNode, GRPC_ALPN).unwrap();
    let ch = connect(&server.addr.to_string(), cfg).await.unwrap();
    health_check(ch).await.unwrap();

    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].identity, node(NODE_B));
    assert_eq!(seen[1].identity, tool);
    for info in &seen {
        assert!(info.remote_addr.ip().is_loopback(), "{info:?}");
        assert_ne!(info.remote_addr, server.addr);
    }
    server.stop().await;
}

#[tokio::test]
async fn client_from_another_ca_is_refused_and_server_keeps_serving() {
    let ca = CertificateAuthority::generate(TD).unwrap();
    let other = CertificateAuthority::generate(TD).unwrap();
    let server = TestServer::start(&material(&ca, &node(NODE_A))).await;

    // The intruder trusts our CA (so it accepts the server) but presents a
    // certificate from another CA.
    let issued = other.issue(&node(NODE_B), &Default::default()).unwrap();
    let bundle = format!("{}{}", ca.cert_pem(), other.cert_pem());
    let intruder = vfed_pki::TlsMaterial::from_pem(
        bundle.as_bytes(),
        issued.cert_pem.as_bytes(),
        issued.key_pem.as_bytes(),
    )
    .unwrap();
    let cfg = client_config(&intruder, ServerExpectation::AnyNode, GRPC_ALPN).unwrap();

    let err = connect(&server.endpoint(), cfg.clone()).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&server.endpoint()), "{text}");
    assert!(text.contains("received fatal alert: UnknownCA"), "{text}");

    let status = health_check(channel(&server.endpoint(), cfg).unwrap())
        .await
        .unwrap_err();
    let text = status_text(&status);
    assert!(text.contains("UnknownCA"), "{text}");

    // A good client is still served.
    let good = client_config(
        &material(&ca, &node(NODE_C)),
        ServerExpectation::AnyNode,
        GRPC_ALPN,
    )
    .unwrap();
    health_check(connect(&server.endpoint(), good).await.unwrap())
        .await
        .unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].identity, node(NODE_C));
    server.stop().await;
}

#[tokio::test]
async fn unexpected_server_identity_is_named_in_the_error() {
    let ca = CertificateAuthority::generate(TD).unwrap();
    let server = TestServer::start(&material(&ca, &node(NODE_B))).await;
    let client = material(&ca, &node(NODE_C));

    let cfg = client_config(&client, ServerExpectation::Exactly(node(NODE_A)), GRPC_ALPN).unwrap();
    let err = connect(&server.endpoint(), cfg.clone()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "server identity node/{NODE_B} is not the expected node/{NODE_A}"
        )),
        "{text}"
    );

    // The lazy channel fails too, and says why.
    let status = health_check(channel(&server.endpoint(), cfg).unwrap())
        .await
        .unwrap_err();
    let text = status_text(&status);
    assert!(text.contains(NODE_A) && text.contains(NODE_B), "{text}");

    // `AnyNode` refuses a server whose identity is not a node (here a tool
    // certificate that is nevertheless valid for server authentication).
    let sim = ca
        .issue_custom(params_with_sans(vec![SanType::URI(
            format!("spiffe://{TD}/tool/sim").try_into().unwrap(),
        )]))
        .unwrap();
    let sim = vfed_pki::TlsMaterial::from_pem(
        ca.cert_pem().as_bytes(),
        sim.cert_pem.as_bytes(),
        sim.key_pem.as_bytes(),
    )
    .unwrap();
    let tool_server = TestServer::start(&sim).await;
    let cfg = client_config(&client, ServerExpectation::AnyNode, GRPC_ALPN).unwrap();
    let err = connect(&tool_server.endpoint(), cfg).await.unwrap_err();
    assert!(
        err.to_string().contains("tool/sim is not a node identity"),
        "{err}"
    );

    assert!(server.seen().is_empty());
    server.stop().await;
    tool_server.stop().await;
}

#[tokio::test]
async fn client_cert_without_identity_or_in_wrong_trust_domain_is_refused() {
    let ca = CertificateAuthority::generate(TD).unwrap();
    let server = TestServer::start(&material(&ca, &node(NODE_A))).await;

    let no_uri = ca
        .issue_custom(params_with_sans(vec![SanType::DnsName(
            "localhost".try_into().unwrap(),
        )]))
        .unwrap();
    let wrong_domain = ca
        .issue_custom(params_with_sans(vec![SanType::URI(
            format!("spiffe://other.test/node/{NODE_B}")
                .try_into()
                .unwrap(),
        )]))
        .unwrap();
    let two_uris = ca
        .issue_custom(params_with_sans(vec![
            SanType::URI(format!("spiffe://{TD}/node/{NODE_B}").try_into().unwrap()),
            SanType::URI(format!("spiffe://{TD}/node/{NODE_C}").try_into().unwrap()),
        ]))
        .unwrap();

    for (name, issued) in [
        ("no URI SAN", &no_uri),
        ("wrong trust domain", &wrong_domain),
        ("two URI SANs", &two_uris),
    ] {
        let cfg = raw_client_config(&ca, issued);
        let err = connect(&server.endpoint(), cfg.clone()).await;
        assert!(err.is_err(), "{name}: connect succeeded");
        let status = health_check(channel(&server.endpoint(), cfg).unwrap()).await;
        assert!(status.is_err(), "{name}: call succeeded");
        // TlsMaterial refuses such a certificate outright.
        let loaded = vfed_pki::TlsMaterial::from_pem(
            ca.cert_pem().as_bytes(),
            issued.cert_pem.as_bytes(),
            issued.key_pem.as_bytes(),
        );
        assert!(loaded.is_err(), "{name}: material accepted");
    }

    // The server keeps serving good clients.
    let good = client_config(
        &material(&ca, &node(NODE_C)),
        ServerExpectation::AnyNode,
        GRPC_ALPN,
    )
    .unwrap();
    health_check(channel(&server.endpoint(), good).unwrap())
        .await
        .unwrap();
    assert_eq!(server.seen().len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn server_cert_without_identity_is_refused_by_client() {
    let ca = CertificateAuthority::generate(TD).unwrap();
    // Build a server config by hand around a certificate with no URI SAN.
    let issued = ca
        .issue_custom(params_with_sans(vec![SanType::IpAddress(
            std::net::Ipv4Addr::LOCALHOST.into(),
        )]))
        .unwrap();
    let chain = rustls_pemfile::certs(&mut issued.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pemfile::private_key(&mut issued.key_pem.as_bytes())
        .unwrap()
        .unwrap();
    let mut server_cfg = rustls::ServerConfig::builder_with_provider(vfed_pki::crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    server_cfg.alpn_protocols = vec![b"h2".to_vec()];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(server_cfg));
    let accept = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        acceptor.accept(tcp).await.map(|_| ())
    });

    let client = material(&ca, &node(NODE_C));
    let cfg = client_config(&client, ServerExpectation::AnyNode, GRPC_ALPN).unwrap();
    let err = connect(&addr.to_string(), cfg).await.unwrap_err();
    assert!(err.to_string().contains("no URI SAN identity"), "{err}");
    assert!(accept.await.unwrap().is_err());
}

#[tokio::test]
async fn a_silent_client_does_not_block_other_accepts() {
    let ca = CertificateAuthority::generate(TD).unwrap();
    let server = TestServer::start(&material(&ca, &node(NODE_A))).await;

    // Open connections that never start a handshake, and one that sends garbage.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    let mut garbage = TcpStream::connect(server.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut garbage, b"GET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();

    let good = client_config(
        &material(&ca, &node(NODE_B)),
        ServerExpectation::AnyNode,
        GRPC_ALPN,
    )
    .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        health_check(connect(&server.endpoint(), good).await.unwrap())
            .await
            .unwrap();
    })
    .await
    .expect("good client blocked by silent clients");
    assert_eq!(server.seen().len(), 1);
    drop(idle);
    server.stop().await;
}

#[tokio::test]
async fn connect_reports_unreachable_and_bad_endpoints() {
    let ca = CertificateAuthority::generate(TD).unwrap();
    let cfg = client_config(
        &material(&ca, &node(NODE_B)),
        ServerExpectation::AnyNode,
        GRPC_ALPN,
    )
    .unwrap();
    // A port with nothing listening: bind, learn the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = connect(&format!("127.0.0.1:{port}"), cfg.clone())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(matches!(
        channel("ftp://x:1", cfg),
        Err(vfed_pki::PkiError::InvalidEndpoint { .. })
    ));
}

#[tokio::test]
async fn incoming_ends_on_shutdown_and_closes_listener_on_drop() {
    use tokio_stream::StreamExt;
    let ca = CertificateAuthority::generate(TD).unwrap();
    let cfg = vfed_pki::server_config(&material(&ca, &node(NODE_A)), GRPC_ALPN).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token = tokio_util::sync::CancellationToken::new();
    let mut stream = vfed_pki::incoming_with_shutdown(listener, cfg.clone(), token.clone());
    token.cancel();
    let next = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("stream did not end on shutdown");
    assert!(next.is_none());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = vfed_pki::incoming(listener, cfg);
    assert_eq!(stream.local_addr(), Some(addr));
    drop(stream);
    // The accept task is aborted and the listener closed: connections are
    // refused (bounded retries while the runtime drops the task).
    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "listener still open after the stream was dropped");
}
