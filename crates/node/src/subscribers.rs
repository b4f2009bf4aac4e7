//! Which persons may receive which stream over the relay's QUIC port: the
//! account their certificate names, its role, and for department viewers
//! an active grant of their department (R13). The relay asks when a person
//! subscribes and every second while they watch, so a grant that expires,
//! is revoked or shortened ends the subscription.

use vfed_auth::{Accounts, Permission, ViewPolicy};
use vfed_pki::Identity;
use vfed_relay::{StreamKey, SubscriberPolicy};
use vfed_sharing::GrantBook;

/// Accounts and grants, as the relay's subscriber policy.
pub struct Viewers {
    accounts: Accounts,
    grants: GrantBook,
}

impl Viewers {
    /// The policy from the node's `accounts` and `grants`.
    pub fn new(accounts: Accounts, grants: GrantBook) -> Self {
        Self { accounts, grants }
    }
}

impl SubscriberPolicy for Viewers {
    fn check(&self, peer: &Identity, key: &StreamKey) -> Result<(), String> {
        let principal = self
            .accounts
            .principal_for_certificate(peer)
            .ok_or_else(|| {
                format!("certificate identity {peer} has no enabled account on this node (R15.1)")
            })?;
        if !principal.allows(Permission::LiveView) {
            return Err(format!(
                "{} ({}) does not hold permission {} ({})",
                principal.actor(),
                principal.role.map_or("no role", |r| r.name()),
                Permission::LiveView,
                Permission::LiveView.requirement()
            ));
        }
        self.grants
            .check_live(&principal, &key.device_id)
            .map(drop)
            .map_err(|refusal| refusal.to_string())
    }
}
