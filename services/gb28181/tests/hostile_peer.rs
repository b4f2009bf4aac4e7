//! A peer that is not a well-behaved device: garbage, oversize messages, a
//! bounded flood, forged digests. Each gets an error where SIP allows one
//! and changes nothing; the node keeps serving. Also the digest variant
//! SIPp cannot send: no `algorithm` and no `qop`.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{DOMAIN, Node, PASSWORD, SERVER_ID};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use vfed_gb28181::digest::md5_hex;
use vfed_gb28181::sip::{Limits, Message, parse_message};

const CAMERA: &str = "34020000001320000001";

fn register(cseq: u32, authorization: Option<&str>) -> String {
    let authorization = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "REGISTER sip:{SERVER_ID}@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK{cseq}\r\n\
         From: <sip:{CAMERA}@{DOMAIN}>;tag=7\r\nTo: <sip:{CAMERA}@{DOMAIN}>\r\nCall-ID: hostile\r\n\
         CSeq: {cseq} REGISTER\r\nContact: <sip:{CAMERA}@127.0.0.1:5099>\r\nExpires: 3600\r\n{authorization}\
         Content-Length: 0\r\n\r\n"
    )
}

async fn exchange(socket: &UdpSocket, data: &[u8]) -> String {
    socket.send(data).await.unwrap();
    receive(socket).await
}

async fn receive(socket: &UdpSocket) -> String {
    let mut buffer = vec![0u8; 65_536];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buffer))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

async fn nothing_within(socket: &UdpSocket, wait: Duration) {
    let mut buffer = vec![0u8; 65_536];
    if let Ok(Ok(n)) = tokio::time::timeout(wait, socket.recv(&mut buffer)).await {
        panic!(
            "unexpected answer: {}",
            String::from_utf8_lossy(&buffer[..n])
        );
    }
}

/// The status code (an answer to a request without Call-ID has none either).
fn status(answer: &str) -> u16 {
    assert!(answer.starts_with("SIP/2.0 "), "{answer}");
    answer[8..11].parse().unwrap()
}

fn nonce(challenge: &str) -> String {
    let message = parse_message(challenge.as_bytes(), &Limits::default(), true).unwrap();
    let value = message.headers.get("www-authenticate").unwrap();
    let start = value.find("nonce=\"").unwrap() + 7;
    value[start..].split('"').next().unwrap().to_owned()
}

/// An Authorization header as old devices send it (no algorithm, no qop;
/// the uri naming the server ID), and its response.
fn plain_digest(nonce: &str) -> (String, String) {
    let uri = format!("sip:{SERVER_ID}@{DOMAIN}");
    let ha1 = md5_hex(&format!("{CAMERA}:{DOMAIN}:{PASSWORD}"));
    let ha2 = md5_hex(&format!("REGISTER:{uri}"));
    let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
    let header = format!(
        "Digest username=\"{CAMERA}\", realm=\"{DOMAIN}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\""
    );
    (header, response)
}

async fn device_socket(node: &Node) -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.connect(node.udp).await.unwrap();
    socket
}

/// The digest as old devices send it: no algorithm, no qop.
#[tokio::test]
async fn digest_without_algorithm_or_qop_registers() {
    let node = Node::start(|_| {}).await;
    let device = device_socket(&node).await;
    let challenge = exchange(&device, register(1, None).as_bytes()).await;
    assert_eq!(status(&challenge), 401);
    assert!(challenge.contains("algorithm=MD5"), "{challenge}");
    let nonce = nonce(&challenge);
    let (header, response) = plain_digest(&nonce);
    // A forged response first: 403, nothing registered.
    let forged = header.replace(&response, &md5_hex("forged"));
    assert_eq!(
        status(&exchange(&device, register(2, Some(&forged)).as_bytes()).await),
        403
    );
    // A nonce this node never issued: a fresh challenge.
    let foreign = header.replace(&nonce, "0000000000000000ffffffffffffffffffffffffffffffff");
    let again = exchange(&device, register(3, Some(&foreign)).as_bytes()).await;
    assert_eq!(status(&again), 401);
    assert!(again.contains("stale=TRUE"), "{again}");
    assert_eq!(node.recorder.events(), []);
    let ok = exchange(&device, register(4, Some(&header)).as_bytes()).await;
    assert_eq!(status(&ok), 200, "{ok}");
    assert!(
        ok.contains("Expires: 3600") && ok.contains("Date: "),
        "{ok}"
    );
    assert_eq!(node.recorder.events().len(), 1);
    node.stop().await;
}

/// Garbage gets no answer (it has no Via to answer to); malformed and
/// oversize requests get 400/413 with a Warning naming the rule; a flood
/// of datagrams is bounded; afterwards the node serves as before and
/// nothing was registered.
#[tokio::test]
async fn garbage_oversize_and_flood_change_nothing() {
    let node = Node::start(|options| {
        options.limits.max_message = 8 * 1024;
        options.limits.max_body = 4 * 1024;
    })
    .await;
    let peer = device_socket(&node).await;
    for garbage in [
        &b"\x00\x01\x02garbage"[..],
        b"\r\n\r\n",
        b"REGISTER\r\n\r\n",
        &[0xff; 1400],
    ] {
        peer.send(garbage).await.unwrap();
    }
    nothing_within(&peer, Duration::from_millis(300)).await;

    let huge_length = register(1, None).replace("Content-Length: 0", "Content-Length: 100000");
    let answer = exchange(&peer, huge_length.as_bytes()).await;
    assert_eq!(status(&answer), 413, "{answer}");
    assert!(
        answer.contains("Warning: 399") && answer.contains("Content-Length"),
        "{answer}"
    );

    let mut oversize = register(2, None).replace("Content-Length: 0", "Content-Length: 9000");
    oversize.push_str(&"x".repeat(9000));
    let answer = exchange(&peer, oversize.as_bytes()).await;
    assert_eq!(status(&answer), 413, "{answer}");

    let no_call_id = register(3, None).replace("Call-ID: hostile\r\n", "");
    let answer = exchange(&peer, no_call_id.as_bytes()).await;
    assert_eq!(status(&answer), 400);
    assert!(answer.contains("Call-ID"), "{answer}");

    let bad_from = register(4, None).replace(
        &format!("<sip:{CAMERA}@{DOMAIN}>;tag=7"),
        "<sip:camera@x>;tag=7",
    );
    let answer = exchange(&peer, bad_from.as_bytes()).await;
    assert_eq!(status(&answer), 400);
    assert!(answer.contains("20-digit"), "{answer}");

    let bad_auth = register(5, Some("Digest username=\"x\", algorithm=SHA-256"));
    assert_eq!(status(&exchange(&peer, bad_auth.as_bytes()).await), 400);

    let invite = register(6, None)
        .replace("REGISTER sip:", "INVITE sip:")
        .replace("6 REGISTER", "6 INVITE");
    assert_eq!(status(&exchange(&peer, invite.as_bytes()).await), 405);
    let bye = register(7, None)
        .replace("REGISTER sip:", "BYE sip:")
        .replace("7 REGISTER", "7 BYE");
    assert_eq!(status(&exchange(&peer, bye.as_bytes()).await), 481);

    // A bounded flood: 20,000 datagrams of noise from several sockets.
    for _ in 0..4 {
        let flooder = device_socket(&node).await;
        for i in 0..5000u32 {
            flooder
                .send(format!("noise {i}\r\n\r\n").as_bytes())
                .await
                .unwrap();
        }
    }
    // The node still answers a real device, and nothing was registered.
    let device = device_socket(&node).await;
    assert_eq!(
        status(&exchange(&device, register(7, None).as_bytes()).await),
        401
    );
    nothing_within(&peer, Duration::from_millis(200)).await;
    assert_eq!(node.recorder.events(), []);
    node.stop().await;
}

/// TCP: a head that never ends, and a declared body over the limit, close
/// the connection (the second after a 413); other connections go on.
#[tokio::test]
async fn tcp_framing_abuse_closes_the_connection() {
    let node = Node::start(|_| {}).await;
    let mut endless = TcpStream::connect(node.tcp).await.unwrap();
    // Writing may fail once the node has closed: that is the point.
    let _ = endless.write_all(&vec![b'a'; 40_000]).await;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), endless.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection stays open");

    let mut huge = TcpStream::connect(node.tcp).await.unwrap();
    let message = register(1, None)
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
        .replace("Content-Length: 0", "Content-Length: 900000");
    huge.write_all(message.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), huge.read_to_end(&mut answer))
        .await
        .expect("closed within 5 s")
        .unwrap();
    assert_eq!(status(&String::from_utf8_lossy(&answer)), 413);

    let mut good = TcpStream::connect(node.tcp).await.unwrap();
    good.write_all(
        register(2, None)
            .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut buffer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), good.read(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status(&String::from_utf8_lossy(&buffer[..n])), 401);
    assert_eq!(node.recorder.events(), []);
    node.stop().await;
}

/// Options are checked before anything is served: each refusal names the field.
#[tokio::test]
async fn bad_options_are_refused_with_the_field() {
    use tokio_util::sync::CancellationToken;
    use vfed_gb28181::{Options, RunError, Sockets, run};
    let sinks = || {
        let recorder = std::sync::Arc::new(support::Recorder::default());
        vfed_gb28181::Sinks {
            devices: recorder.clone(),
            catalog: recorder.clone(),
            media: recorder,
        }
    };
    let cases: [(Options, &str); 3] = [
        (Options::new("34020000001320000001", DOMAIN), "server_id"),
        (Options::new(SERVER_ID, "bad domain!"), "domain"),
        (Options::new(SERVER_ID, DOMAIN), "advertise_host"),
    ];
    for (options, field) in cases {
        let udp = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        let sockets = Sockets {
            udp: Some(udp),
            tcp: None,
        };
        let serving = run(options, sockets, sinks(), CancellationToken::new());
        let error = tokio::time::timeout(Duration::from_secs(5), serving)
            .await
            .expect("refused at once, not served")
            .unwrap_err();
        assert!(matches!(&error, RunError::Options(_)), "{error}");
        assert!(error.to_string().contains(field), "{error}");
    }
    let error = run(
        Options::new(SERVER_ID, DOMAIN),
        Sockets::default(),
        sinks(),
        CancellationToken::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(error, RunError::NoSocket), "{error}");
}

/// A device on a lossy network: it lets the node's queries go unanswered
/// at first. Each is sent again (same Call-ID and CSeq) until answered,
/// and not after.
#[tokio::test]
async fn unanswered_queries_are_sent_again_until_answered() {
    use vfed_gb28181::sip::build::response;
    let node = Node::start(|options| options.query_on_register = true).await;
    let device = device_socket(&node).await;
    let challenge = exchange(&device, register(1, None).as_bytes()).await;
    let (header, _) = plain_digest(&nonce(&challenge));
    assert_eq!(
        status(&exchange(&device, register(2, Some(&header)).as_bytes()).await),
        200
    );

    // Listen 1.8 s without answering: Catalog, DeviceInfo, DeviceStatus, each again.
    let mut seen: Vec<Message> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1800);
    let mut buffer = vec![0u8; 65_536];
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, device.recv(&mut buffer)).await {
        seen.push(parse_message(&buffer[..n], &Limits::default(), true).unwrap());
    }
    let mut calls: Vec<&str> = seen.iter().map(|m| m.call_id().unwrap()).collect();
    calls.sort();
    calls.dedup();
    assert_eq!(calls.len(), 3, "three queries");
    for call in &calls {
        let copies: Vec<&Message> = seen.iter().filter(|m| m.call_id() == Some(call)).collect();
        assert!(
            copies.len() >= 2,
            "query {call} sent {} times",
            copies.len()
        );
        assert!(
            copies.windows(2).all(|p| p[0] == p[1]),
            "a retransmission differs"
        );
    }
    // Answered, they stop.
    for call in &calls {
        let request = seen.iter().find(|m| m.call_id() == Some(call)).unwrap();
        device
            .send(&response(request, 200, "OK", "dev", &[]).to_bytes())
            .await
            .unwrap();
    }
    nothing_within(&device, Duration::from_millis(1500)).await;
    node.stop().await;
}
