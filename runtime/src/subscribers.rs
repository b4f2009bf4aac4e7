//! The relay's subscriber policy in this process: the node's one live-view
//! tracker ([`vfed_authz::LiveViews`], shared with HLS) decides and audits
//! each person's QUIC subscription (R13, R14.5).

use vfed_authz::LiveViews;
use vfed_pki::Identity;
use vfed_relay::{StreamKey, SubscriberPolicy};

/// The live-view tracker, as the relay's subscriber policy.
pub struct Viewers(pub LiveViews);

impl SubscriberPolicy for Viewers {
    fn check(&self, peer: &Identity, key: &StreamKey) -> Result<(), String> {
        self.0
            .check_subscriber(peer, &key.device_id, &key.to_string())
    }
}
