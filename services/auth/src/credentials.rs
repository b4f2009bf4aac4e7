//! The accounts as the layer's [`Credentials`]: tokens and client
//! certificates turned into principals.

use vfed_authz::{Credentials, Principal};
use vfed_pki::Identity;

use crate::directory::Accounts;

impl Credentials for Accounts {
    fn authenticate_token(&self, token: &str) -> Result<Principal, String> {
        Accounts::authenticate_token(self, token).map_err(|e| e.to_string())
    }

    fn principal_for_certificate(&self, identity: &Identity) -> Option<Principal> {
        Accounts::principal_for_certificate(self, identity)
    }
}
