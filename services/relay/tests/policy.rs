//! A person's subscription is allowed by the relay's subscriber policy when
//! it starts and re-checked while it lasts: when the policy turns to no (a
//! grant expired or was revoked, R13) the subscription ends with
//! UNAUTHORIZED and the reason, over real QUIC and mutual TLS.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use vfed_pki::Identity;
use vfed_relay::{RelayError, StreamKey, SubscriberPolicy};

const KEY: &str = "54050200001320000001/main";

/// Persons named in `allowed` may watch; the others are refused.
#[derive(Default)]
struct Allowed(Mutex<HashSet<String>>);

impl Allowed {
    fn set(&self, name: &str, allowed: bool) {
        let mut names = self.0.lock().unwrap();
        if allowed {
            names.insert(name.to_owned());
        } else {
            names.remove(name);
        }
    }
}

impl SubscriberPolicy for Allowed {
    fn check(&self, peer: &Identity, key: &StreamKey) -> Result<(), String> {
        if self.0.lock().unwrap().contains(&peer.name) {
            Ok(())
        } else {
            Err(format!("no grant lets {peer} watch {key} (R13)"))
        }
    }
}

fn unauthorized(error: Option<RelayError>) -> String {
    match error {
        Some(RelayError::Unauthorized(reason)) => reason,
        other => panic!("expected UNAUTHORIZED, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_loses_the_stream_within_a_recheck_when_the_policy_says_no() {
    let pki = Pki::new();
    let city = city(&pki);
    let county = county(&pki, city.addr);
    let policy = Arc::new(Allowed::default());
    city.relay.set_subscriber_policy(policy.clone());
    policy.set("dawa", true);
    policy.set("pema", true);
    let stop = CancellationToken::new();
    source(&county, stop.clone());
    eventually("county linked", Duration::from_secs(10), || {
        city.relay.link(NAIDONG).is_some()
    })
    .await;

    // Not allowed: refused when subscribing, with the policy's reason.
    let nyima = subscriber(&pki, "nyima", CITY, city.addr).await;
    let mut refused = nyima.subscribe(KEY).await.unwrap();
    assert!(refused.next_gop().await.is_none());
    let reason = unauthorized(refused.track().end_reason());
    assert!(
        reason.contains("tool/nyima") && reason.contains("R13"),
        "{reason}"
    );

    // Allowed: watches, through the city's node pull from the county.
    let dawa = subscriber(&pki, "dawa", CITY, city.addr).await;
    let pema = subscriber(&pki, "pema", CITY, city.addr).await;
    read_units(&dawa, KEY, 20).await.unwrap();
    let mut watching = dawa.subscribe(KEY).await.unwrap();
    let mut other = pema.subscribe(KEY).await.unwrap();
    assert!(watching.next_gop().await.is_some());

    // The policy turns: the subscription ends within one re-check (1 s) and
    // a little transport time, with the reason.
    policy.set("dawa", false);
    let turned = Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while watching.next_gop().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "still watching 5 s after the policy said no");
    let took = turned.elapsed();
    assert!(took < Duration::from_millis(2500), "ended after {took:?}");
    let reason = unauthorized(watching.track().end_reason());
    assert!(
        reason.contains("tool/dawa") && reason.contains("R13"),
        "{reason}"
    );

    // Everyone else carries on.
    let gop = tokio::time::timeout(Duration::from_secs(5), other.next_gop()).await;
    assert!(matches!(gop, Ok(Some(_))), "pema lost the stream too");
    stop.cancel();
}
