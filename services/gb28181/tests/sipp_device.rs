//! SIPp as GB/T 28181 devices: the digest variants real devices send,
//! refusals, `Expires: 0`, keepalives and offline, a GB2312 catalog split
//! over several MESSAGEs.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::sipp::Scenario;
use support::{DOMAIN, Node, PASSWORD, SERVER_ID};
use vfed_gb28181::{CatalogOutcome, DeviceEvent, RegisterKind, Transport};

const CAMERA: &str = "34020000001320000001";

fn kinds(events: &[DeviceEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            DeviceEvent::Registered { kind, .. } => format!("registered {kind:?}"),
            DeviceEvent::Keepalive { .. } => "keepalive".to_owned(),
            DeviceEvent::Online { .. } => "online".to_owned(),
            DeviceEvent::Offline { .. } => "offline".to_owned(),
            DeviceEvent::Unregistered { .. } => "unregistered".to_owned(),
        })
        .collect()
}

/// qop=auth, `algorithm=MD5`, the digest uri naming the server ID, the
/// username the device ID; over UDP then TCP; the second registration
/// comes from another address, so the device moved.
#[tokio::test]
async fn digest_register_over_udp_and_tcp_and_moving() {
    let node = Node::start(|_| {}).await;
    Scenario::new("register-udp", CAMERA)
        .registered(PASSWORD)
        .run(node.udp)
        .await;
    let events = node.recorder.events();
    let [
        DeviceEvent::Registered {
            device_id,
            address,
            transport,
            expires,
            kind,
        },
    ] = &events[..]
    else {
        panic!("expected one registration, got {events:#?}");
    };
    assert_eq!(
        (device_id.as_str(), *transport, *expires, kind),
        (CAMERA, Transport::Udp, 3600, &RegisterKind::New)
    );
    let first = *address;

    let mut tcp = Scenario::new("register-tcp", CAMERA).registered(PASSWORD);
    tcp.tcp = true;
    tcp.run(node.tcp).await;
    let events = node.recorder.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    match &events[1] {
        DeviceEvent::Registered {
            transport: Transport::Tcp,
            kind: RegisterKind::Moved { from },
            ..
        } => {
            assert_eq!(*from, first);
        }
        other => panic!("expected a move to TCP, got {other:?}"),
    }
    node.stop().await;
}

/// The digest uri differs from the Request-URI (`-auth_uri`): the node
/// checks the uri the device signed.
#[tokio::test]
async fn digest_uri_other_than_the_request_uri() {
    let node = Node::start(|_| {}).await;
    let mut scenario = Scenario::new("register-auth-uri", CAMERA).registered(PASSWORD);
    scenario.extra_args = vec!["-auth_uri".into(), format!("{SERVER_ID}@{DOMAIN}:5060")];
    scenario.run(node.udp).await;
    assert_eq!(kinds(&node.recorder.events()), ["registered New"]);
    node.stop().await;
}

/// A wrong password gets 403 and registers nothing; so does a device with
/// no password of its own when the node has no default; a per-device
/// password overrides the default.
#[tokio::test]
async fn wrong_password_and_per_device_passwords() {
    let own = "34020000001320000002";
    let node = Node::start(|options| {
        options
            .passwords
            .insert(own.to_owned(), "own-secret".to_owned());
    })
    .await;
    Scenario::new("wrong-password", CAMERA)
        .register(1, 3600, None)
        .expect_challenge()
        .register(2, 3600, Some("not-the-password"))
        .expect(403)
        .run(node.udp)
        .await;
    Scenario::new("default-password-for-own", own)
        .register(1, 3600, None)
        .expect_challenge()
        .register(2, 3600, Some(PASSWORD))
        .expect(403)
        .run(node.udp)
        .await;
    assert_eq!(node.recorder.events(), []);
    Scenario::new("own-password", own)
        .registered("own-secret")
        .run(node.udp)
        .await;
    assert_eq!(kinds(&node.recorder.events()), ["registered New"]);
    node.stop().await;

    let strict = Node::start(|options| options.default_password = None).await;
    Scenario::new("no-password", CAMERA)
        .register(1, 3600, None)
        .expect(403)
        .run(strict.udp)
        .await;
    assert_eq!(strict.recorder.events(), []);
    strict.stop().await;
}

/// `Expires: 0` ends the registration; a keepalive after it is refused.
#[tokio::test]
async fn expires_zero_unregisters() {
    let node = Node::start(|_| {}).await;
    Scenario::new("unregister", CAMERA)
        .registered(PASSWORD)
        .register(3, 0, Some(PASSWORD))
        .expect(200)
        .keepalive(4)
        .expect(403)
        .run(node.udp)
        .await;
    assert_eq!(
        kinds(&node.recorder.events()),
        ["registered New", "unregistered"]
    );
    node.stop().await;
}

/// Keepalives keep the device online; silent for interval x 3 it goes
/// offline; the next keepalive brings it back; a refresh is a renewal.
#[tokio::test]
async fn keepalives_offline_and_back() {
    let node = Node::start(|_| {}).await;
    Scenario::new("keepalive", CAMERA)
        .registered(PASSWORD)
        .keepalive(3)
        .expect(200)
        .pause(500)
        .keepalive(4)
        .expect(200)
        .pause(4500)
        .keepalive(5)
        .expect(200)
        .register(6, 3600, Some(PASSWORD))
        .expect(200)
        .run(node.udp)
        .await;
    let events = node.recorder.events();
    assert_eq!(
        kinds(&events),
        [
            "registered New",
            "keepalive",
            "keepalive",
            "offline",
            "online",
            "keepalive",
            "registered Renewed"
        ]
    );
    let DeviceEvent::Offline {
        silent_for, cause, ..
    } = &events[3]
    else {
        unreachable!()
    };
    assert!(
        *silent_for > Duration::from_secs(3),
        "offline after {silent_for:?}"
    );
    assert!(
        *silent_for < Duration::from_millis(4500),
        "offline after {silent_for:?}"
    );
    assert!(cause.contains("R14.3"), "{cause}");
    node.stop().await;
}

/// A keepalive from a device that never registered is refused and changes nothing.
#[tokio::test]
async fn unknown_device_is_refused() {
    let node = Node::start(|_| {}).await;
    Scenario::new("unknown-device", "34020000001320000099")
        .keepalive(1)
        .expect(403)
        .run(node.udp)
        .await;
    assert_eq!(node.recorder.events(), []);
    node.stop().await;
}

/// A 7-channel catalog in GB2312 over three MESSAGEs, out of order, one
/// page sent twice: reassembled by SN and SumNum, names decoded.
#[tokio::test]
async fn gb2312_catalog_over_several_messages() {
    let node = Node::start(|_| {}).await;
    let names = [
        "大门",
        "后门",
        "停车场",
        "一号楼大厅",
        "电梯厅",
        "周界东",
        "周界西",
    ];
    let joined = names.join(";");
    let (csv, _, _) = encoding_rs::GB18030.encode(&joined);
    let page = |items: std::ops::Range<usize>| {
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"GB2312\"?>\n<Response>\n<CmdType>Catalog</CmdType>\n<SN>4711</SN>\n\
             <DeviceID>{CAMERA}</DeviceID>\n<SumNum>7</SumNum>\n<DeviceList Num=\"{}\">\n",
            items.len()
        );
        for i in items {
            xml.push_str(&format!(
                "<Item>\n<DeviceID>3402000000131000000{}</DeviceID>\n<Name>[field{i}]</Name>\n\
                 <Manufacturer>SIPp</Manufacturer>\n<Status>ON</Status>\n<ParentID>{CAMERA}</ParentID>\n</Item>\n",
                i + 1
            ));
        }
        xml.push_str("</DeviceList>\n</Response>");
        xml
    };
    let mut scenario = Scenario::new("catalog-gb2312", CAMERA)
        .registered(PASSWORD)
        .manscdp(3, &page(0..3))
        .expect(200)
        .manscdp(4, &page(6..7))
        .expect(200)
        .manscdp(5, &page(0..3))
        .expect(200)
        .manscdp(6, &page(3..6))
        .expect(200);
    let mut line = csv.into_owned();
    line.push(b'\n');
    scenario.csv = Some(line);
    scenario.run(node.udp).await;
    node.recorder
        .wait("the catalog", Duration::from_secs(5), |r| {
            !r.catalogs().is_empty()
        })
        .await;
    let catalogs = node.recorder.catalogs();
    assert_eq!(catalogs.len(), 1);
    let report = &catalogs[0];
    assert_eq!(report.outcome, CatalogOutcome::Complete);
    assert_eq!(
        (
            report.device_id.as_str(),
            report.sn,
            report.sum_num,
            report.pages
        ),
        (CAMERA, 4711, Some(7), 4)
    );
    let mut got: Vec<(String, String)> = report
        .items
        .iter()
        .map(|i| (i.device_id.clone(), i.name.clone().unwrap_or_default()))
        .collect();
    got.sort();
    let want: Vec<(String, String)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("3402000000131000000{}", i + 1), (*n).to_owned()))
        .collect();
    assert_eq!(got, want);
    node.stop().await;
}

/// Pages stop coming: after the timeout the catalog is reported
/// incomplete with what is missing.
#[tokio::test]
async fn incomplete_catalog_is_reported() {
    let node = Node::start(|options| options.catalog_timeout = Duration::from_millis(500)).await;
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><CmdType>Catalog</CmdType><SN>9</SN>\
         <DeviceID>{CAMERA}</DeviceID><SumNum>64</SumNum><DeviceList Num=\"1\"><Item><DeviceID>34020000001310000001</DeviceID>\
         <Name>one</Name></Item></DeviceList></Response>"
    );
    Scenario::new("catalog-incomplete", CAMERA)
        .registered(PASSWORD)
        .manscdp(3, &body)
        .expect(200)
        .run(node.udp)
        .await;
    node.recorder
        .wait("the incomplete catalog", Duration::from_secs(5), |r| {
            !r.catalogs().is_empty()
        })
        .await;
    let report = &node.recorder.catalogs()[0];
    assert_eq!(report.items.len(), 1);
    match &report.outcome {
        CatalogOutcome::Incomplete { missing, reason } => {
            assert_eq!(*missing, Some(63));
            assert!(reason.contains("1 of 64"), "{reason}");
        }
        other => panic!("expected incomplete, got {other:?}"),
    }
    node.stop().await;
}
