//! Graded networking (R6.1) over real mutual TLS on loopback: three levels,
//! restarts during load, and refused peers (R18.4).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use vfed_proto::registry::v1::registry_client::RegistryClient;
use vfed_proto::registry::v1::{Scope, UpdateDeviceRequest};
use vfed_tests::{NodeOptions, TestNode, TestPki, eventually, register_request};

const WAIT: Duration = Duration::from_secs(30);

/// The first error the node behind `channel` reports on its parent link.
async fn parent_link_error(
    what: &str,
    channel: &tonic::transport::Channel,
) -> anyhow::Result<String> {
    eventually(what, WAIT, || async {
        let parent = links(channel)
            .await?
            .into_iter()
            .find(|l| l.role == "parent");
        let parent = parent.ok_or_else(|| anyhow::anyhow!("no parent link listed"))?;
        Ok((!parent.last_error.is_empty()).then_some(parent.last_error))
    })
    .await
}

/// province -> city -> county, all started and linked.
async fn chain(pki: &TestPki) -> anyhow::Result<(TestNode, TestNode, TestNode)> {
    let province = TestNode::start(
        pki,
        NodeOptions::new(PROVINCE, "province").children(&[CITY]),
    )
    .await?;
    let city = TestNode::start(
        pki,
        NodeOptions::new(CITY, "city")
            .parent(PROVINCE, province.grpc_addr)
            .children(&[NAIDONG, ZHANANG]),
    )
    .await?;
    let county = TestNode::start(
        pki,
        NodeOptions::new(NAIDONG, "county").parent(CITY, city.grpc_addr),
    )
    .await?;
    Ok((province, city, county))
}

#[tokio::test]
async fn shared_device_reaches_the_top_and_unshared_stays_home() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let (province, city, county) = chain(&pki).await?;
    let mut registry = RegistryClient::new(county.channel(&pki)?);
    let unshared = naidong_camera(1);
    let shared = naidong_camera(2);
    registry
        .register_device(register_request(&unshared, false))
        .await?;
    registry
        .register_device(register_request(&shared, true))
        .await?;

    let top = province.channel(&pki)?;
    let device = eventually("shared device at the province", WAIT, || async {
        get_device(&top, &shared).await
    })
    .await?;
    assert!(device.remote);
    assert_eq!(device.origin_node_id, NAIDONG);
    // Changes travel in order: the unshared one was registered first and
    // would have arrived before the shared one.
    assert!(
        get_device(&top, &unshared).await?.is_none(),
        "unshared device left the county"
    );
    assert!(
        get_device(&city.channel(&pki)?, &unshared).await?.is_none(),
        "unshared device left the county"
    );
    assert_eq!(
        all_ids(&county.channel(&pki)?, Scope::Local).await?.len(),
        2
    );
    let parent = links(&county.channel(&pki)?)
        .await?
        .into_iter()
        .find(|l| l.role == "parent")
        .unwrap();
    assert_eq!(
        parent.peer_name,
        format!("city node {CITY}"),
        "the child knows its parent's name"
    );

    // Unsharing removes it upstream (at every level).
    let mut spec = vfed_tests::device_spec(&shared, false);
    spec.name = "now private".into();
    registry
        .update_device(UpdateDeviceRequest {
            spec: Some(spec),
            expected_revision: 0,
        })
        .await?;
    eventually("unshared device gone from the province", WAIT, || async {
        Ok(get_device(&top, &shared).await?.is_none().then_some(()))
    })
    .await?;
    assert!(get_device(&city.channel(&pki)?, &shared).await?.is_none());
    drop(city);
    Ok(())
}

#[tokio::test]
async fn restarting_the_middle_during_1000_registrations_loses_and_duplicates_nothing()
-> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let (province, mut city, county) = chain(&pki).await?;
    let county_channel = county.channel(&pki)?;

    let writer = tokio::spawn({
        let channel = county_channel.clone();
        async move {
            let mut registry = RegistryClient::new(channel);
            let mut expected = BTreeSet::new();
            for n in 0..1000u32 {
                let id = naidong_camera(n);
                let shared = n % 3 != 0;
                registry
                    .register_device(register_request(&id, shared))
                    .await?;
                if shared {
                    expected.insert(id);
                }
            }
            // Take some back: removals must travel too.
            for n in (1..1000u32).step_by(50) {
                let id = naidong_camera(n);
                let spec = vfed_tests::device_spec(&id, false);
                registry
                    .update_device(UpdateDeviceRequest {
                        spec: Some(spec),
                        expected_revision: 0,
                    })
                    .await?;
                expected.remove(&id);
            }
            anyhow::Ok(expected)
        }
    });

    // Kill and restart the middle node twice while the county writes.
    let county_store = county.store()?;
    for threshold in [150, 600] {
        eventually("county progress", WAIT, || {
            let store = county_store.clone();
            async move { Ok((store.current_revision().await? >= threshold).then_some(())) }
        })
        .await?;
        city.kill().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        city.restart().await?;
    }
    let expected = writer.await??;
    // 666 shared, minus the 13 shared ones among the 20 taken back.
    assert_eq!(expected.len(), 653, "test set-up");

    let top = province.channel(&pki)?;
    let middle = city.channel(&pki)?;
    eventually(
        "province holds exactly the shared set",
        Duration::from_secs(60),
        || async {
            let at_top = remote_set(&top).await?;
            Ok((at_top == expected).then_some(()))
        },
    )
    .await?;
    assert_eq!(remote_set(&middle).await?, expected);
    // And the link says so.
    let link = links(&top)
        .await?
        .into_iter()
        .find(|l| l.peer_id == CITY)
        .unwrap();
    assert_eq!(
        link.state,
        i32::from(vfed_proto::federation::v1::LinkState::Up)
    );
    Ok(())
}

#[tokio::test]
async fn a_child_certificate_from_another_ca_is_refused_and_leaves_no_trace() -> anyhow::Result<()>
{
    let pki = TestPki::new()?;
    let rogue_pki = TestPki::new()?;
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let before = city.store()?.current_revision().await?;
    let rogue = TestNode::start(
        &rogue_pki,
        NodeOptions::new(NAIDONG, "county").parent(CITY, city.grpc_addr),
    )
    .await?;
    RegistryClient::new(rogue.channel(&rogue_pki)?)
        .register_device(register_request(&naidong_camera(7), true))
        .await?;

    let rogue_channel = rogue.channel(&rogue_pki)?;
    let error = parent_link_error("the rogue county reports a TLS failure", &rogue_channel).await?;
    assert!(
        error.to_lowercase().contains("certificate")
            || error.contains("UnknownIssuer")
            || error.contains("UnknownCA"),
        "unclear error: {error}"
    );
    let city_link = links(&city.channel(&pki)?)
        .await?
        .into_iter()
        .find(|l| l.peer_id == NAIDONG)
        .unwrap();
    assert_eq!(
        city_link.state,
        i32::from(vfed_proto::federation::v1::LinkState::Down)
    );
    assert_eq!(
        city.store()?.current_revision().await?,
        before,
        "the city's store changed"
    );
    assert!(remote_set(&city.channel(&pki)?).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_valid_certificate_with_the_wrong_node_identity_is_refused_and_leaves_no_trace()
-> anyhow::Result<()> {
    let pki = TestPki::new()?;
    // The city expects Naidong only; Gonggar has a good certificate but is not a configured child.
    let city = TestNode::start(&pki, NodeOptions::new(CITY, "city").children(&[NAIDONG])).await?;
    let before = city.store()?.current_revision().await?;
    let gonggar = TestNode::start(
        &pki,
        NodeOptions::new(GONGGAR, "county").parent(CITY, city.grpc_addr),
    )
    .await?;
    RegistryClient::new(gonggar.channel(&pki)?)
        .register_device(register_request("54052200001320000001", true))
        .await?;
    let channel = gonggar.channel(&pki)?;
    let error = parent_link_error("the county reports the refusal", &channel).await?;
    assert!(
        error.contains("PermissionDenied") || error.contains("permission"),
        "{error}"
    );
    assert!(error.contains("is not a configured child"), "{error}");
    assert!(error.contains("R18.4"), "{error}");
    assert_eq!(
        city.store()?.current_revision().await?,
        before,
        "the city's store changed"
    );

    // And a parent that is not who the child expects is refused by the child.
    let impostor = TestNode::start(
        &pki,
        NodeOptions::new(PROVINCE, "province").children(&[NAIDONG]),
    )
    .await?;
    let county = TestNode::start(
        &pki,
        NodeOptions::new(NAIDONG, "county").parent(CITY, impostor.grpc_addr),
    )
    .await;
    // Naidong's parent must be a city; the config is valid, the impostor's certificate is not the city's.
    let county = county?;
    let channel = county.channel(&pki)?;
    let error = parent_link_error("the child refuses the impostor parent", &channel).await?;
    assert!(
        error.contains(&format!("node/{PROVINCE}")) && error.contains(&format!("node/{CITY}")),
        "{error}"
    );
    assert!(remote_set(&impostor.channel(&pki)?).await?.is_empty());
    Ok(())
}
