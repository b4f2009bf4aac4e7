//! Who a caller is: the layer asks the node's accounts through this trait
//! (the auth service implements it over its directory), so the layer knows
//! no account store, password or token format.

use vfed_pki::Identity;

use crate::principal::Principal;

/// Turns credentials into a principal; must be cheap (called per request).
pub trait Credentials: Send + Sync + 'static {
    /// The principal a bearer token stands for; `Err` says why not (an
    /// expired, forged or unknown token, a disabled account).
    fn authenticate_token(&self, token: &str) -> Result<Principal, String>;

    /// The principal a client certificate's identity names (a person's or
    /// tool's enabled account, or a node); `None` when it names none.
    fn principal_for_certificate(&self, identity: &Identity) -> Option<Principal>;
}
