//! Who may receive which stream over a QUIC subscription. Nodes are admitted
//! by identity when they connect (configured children, the parent); a
//! **person** (a `user/...` or `tool/...` certificate) is asked about each
//! stream by the relay's [`SubscriberPolicy`] when they subscribe, and again
//! every [`RECHECK`] while they watch: when the answer turns to no (a grant
//! expired, was revoked or shortened, R13) the subscription is closed with
//! `UNAUTHORIZED` and the reason.
//!
//! The relay knows nothing of accounts or grants: the node supplies the
//! policy (`runtime`). Without one, persons are refused ([`NodesOnly`]).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vfed_pki::Identity;
use vfed_proto::relay::v1::ErrorCode;

use crate::link::{Link, send_ended};
use crate::{Relay, RelayError, StreamKey};

/// How often a person's subscriptions are re-checked.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Decides whether a person may receive a stream now. Asked on every
/// subscription of a person and every [`RECHECK`] while it lasts, so it must
/// be cheap (a lock and a lookup).
pub trait SubscriberPolicy: Send + Sync + 'static {
    /// Whether `peer` (a user or tool identity) may receive `key`
    /// (`<device id>/<profile>`, already checked) now; `Err` says why not,
    /// naming the requirement, and is sent to the peer.
    fn check(&self, peer: &Identity, key: &StreamKey) -> Result<(), String>;
}

/// The default: nodes only (admitted by identity when they connect); every
/// person is refused, as a node without accounts cannot tell who may watch.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodesOnly;

impl SubscriberPolicy for NodesOnly {
    fn check(&self, peer: &Identity, _key: &StreamKey) -> Result<(), String> {
        Err(format!(
            "{peer} may not subscribe: this relay has no viewing policy for persons (R13, R15.1)"
        ))
    }
}

/// Every admitted peer may receive every stream: for relay tests and
/// benchmarks that have no accounts. Never used by a node.
#[derive(Clone, Copy, Debug, Default)]
pub struct AdmitAll;

impl SubscriberPolicy for AdmitAll {
    fn check(&self, _peer: &Identity, _key: &StreamKey) -> Result<(), String> {
        Ok(())
    }
}

/// Whether `peer` may subscribe to `key`: nodes yes (admitted already),
/// persons as the policy says.
pub(crate) fn admit(relay: &Relay, peer: &Identity, key: &str) -> Result<(), RelayError> {
    if peer.is_node() {
        return Ok(());
    }
    let key = StreamKey::parse(key)?;
    relay
        .subscriber_policy()
        .check(peer, &key)
        .map_err(|reason| {
            tracing::warn!(%peer, %key, %reason, "relay refused a subscription");
            RelayError::Unauthorized(reason)
        })
}

/// For a person's subscription: re-checks it every [`RECHECK`] until it
/// ends (`serving` cancelled) and, once refused, ends it with
/// `UNAUTHORIZED` and the reason.
pub(crate) fn guard(
    relay: &Relay,
    link: &Arc<Link>,
    request_id: u64,
    key: &str,
    serving: &CancellationToken,
) {
    if link.peer.is_node() {
        return;
    }
    let (relay, link, key, serving) =
        (relay.clone(), link.clone(), key.to_owned(), serving.clone());
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(RECHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                () = serving.cancelled() => return,
                () = link.closed.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = admit(&relay, &link.peer, &key) {
                serving.cancel();
                tracing::info!(peer = %link.peer, %key, reason = %e, "relay ended a subscription");
                send_ended(&link, request_id, ErrorCode::Unauthorized, &e.to_string()).await;
                return;
            }
        }
    });
}

/// The policy of a relay (see [`Relay::set_subscriber_policy`]).
pub(crate) type SharedPolicy = Arc<dyn SubscriberPolicy>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use futures::future::BoxFuture;

    use super::*;
    use crate::{RelayOptions, Resolver, Route};

    struct Nowhere;

    impl Resolver for Nowhere {
        fn resolve<'a>(&'a self, _device_id: &'a str) -> BoxFuture<'a, Route> {
            Box::pin(async { Route::NotFound })
        }
    }

    #[tokio::test]
    async fn by_default_nodes_may_subscribe_and_persons_may_not() {
        let relay = Relay::new(
            "54050000002000000001",
            "vfed",
            None,
            Vec::<String>::new(),
            Arc::new(Nowhere),
            RelayOptions::default(),
        );
        let key = "54050200001320000001/main";
        let node = Identity::node("54050200002000000001").unwrap();
        assert!(admit(&relay, &node, key).is_ok());
        let person = Identity::user("dawa").unwrap();
        match admit(&relay, &person, key) {
            Err(RelayError::Unauthorized(reason)) => {
                assert!(
                    reason.contains("user/dawa") && reason.contains("R13"),
                    "{reason}"
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(matches!(
            admit(&relay, &person, "not-a-key"),
            Err(RelayError::BadKey(_))
        ));
        relay.set_subscriber_policy(Arc::new(AdmitAll));
        assert!(admit(&relay, &person, key).is_ok());
    }
}
