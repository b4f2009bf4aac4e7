//! The accounts of a node: stored under `auth/users/<name>`, cached in
//! memory (kept current by a store watch, so replicas on one etcd agree) and
//! turned into principals from tokens or certificates.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;
use vfed_authz::{AuthenticatedBy, Principal, Role};
use vfed_pki::{Identity, IdentityKind};
use vfed_store::{Compare, KeyValue, Op, SharedStore, Txn, WatchEvent, WatchItem};

use crate::account::{Account, validate_name, validate_password};
use crate::clock::now_unix;
use crate::error::AuthError;
use crate::password;
use crate::throttle::{FREE_FAILURES, Hold, LOCK_AFTER, LoginThrottle};
use crate::token::{Claims, TokenKey};

const USERS: &str = "auth/users/";
/// Where earlier versions kept the token key, readable by whoever read the
/// store; deleted on open (docs/security.md).
const LEGACY_TOKEN_KEY: &[u8] = b"auth/token-key";
/// How far in the future a token's `iat` may be (clock skew between replicas).
pub const MAX_CLOCK_SKEW_SECS: i64 = 60;

/// Token lifetimes.
#[derive(Clone, Debug)]
pub struct AccountOptions {
    /// Lifetime of a token when the login asks for none.
    pub token_ttl: Duration,
    /// The longest lifetime a login may ask for.
    pub max_token_ttl: Duration,
}

impl Default for AccountOptions {
    fn default() -> Self {
        AccountOptions {
            token_ttl: Duration::from_secs(3600),
            max_token_ttl: Duration::from_secs(12 * 3600),
        }
    }
}

/// A successful login.
#[derive(Clone, Debug)]
pub struct Login {
    /// The bearer token.
    pub token: String,
    /// When it expires, Unix seconds.
    pub expires_unix: i64,
    /// The account.
    pub account: Account,
}

/// The accounts of a node (cheap to clone).
#[derive(Clone)]
pub struct Accounts {
    inner: Arc<Inner>,
}

struct Inner {
    store: SharedStore,
    node_id: String,
    key: TokenKey,
    options: AccountOptions,
    cache: RwLock<HashMap<String, (Account, i64)>>,
    throttle: LoginThrottle,
}

fn user_key(name: &str) -> Vec<u8> {
    format!("{USERS}{name}").into_bytes()
}

fn decode(kv: &KeyValue) -> Option<Account> {
    match serde_json::from_slice::<Account>(&kv.value) {
        Ok(a) => Some(a),
        Err(e) => {
            tracing::error!(key = %String::from_utf8_lossy(&kv.key), error = %e, "unreadable account record");
            None
        }
    }
}

impl Accounts {
    /// Opens the accounts of `store`, signing tokens with `key` (kept outside
    /// the store: [`crate::load_or_create_token_key`]): reads every account
    /// and keeps them current until `shutdown`.
    pub async fn open(
        store: SharedStore,
        node_id: impl Into<String>,
        key: TokenKey,
        options: AccountOptions,
        shutdown: CancellationToken,
    ) -> Result<Self, AuthError> {
        forget_legacy_key(&store).await?;
        let snapshot = store.snapshot(USERS.as_bytes()).await?;
        let mut cache = HashMap::new();
        for kv in &snapshot.kvs {
            if let Some(a) = decode(kv) {
                cache.insert(a.name.clone(), (a, kv.mod_revision));
            }
        }
        let accounts = Accounts {
            inner: Arc::new(Inner {
                store,
                node_id: node_id.into(),
                key,
                options,
                cache: RwLock::new(cache),
                throttle: LoginThrottle::default(),
            }),
        };
        tokio::spawn(accounts.clone().follow(snapshot.revision + 1, shutdown));
        Ok(accounts)
    }

    async fn follow(self, from: i64, shutdown: CancellationToken) {
        let stream = vfed_store::watch_with_resync(
            self.inner.store.clone(),
            USERS.as_bytes().to_vec(),
            from,
        );
        tokio::pin!(stream);
        loop {
            let item = tokio::select! {
                () = shutdown.cancelled() => return,
                item = stream.next() => item,
            };
            let Some(item) = item else { return };
            let mut cache = self
                .inner
                .cache
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match item {
                WatchItem::Resync(snapshot) => {
                    cache.clear();
                    for kv in &snapshot.kvs {
                        if let Some(a) = decode(kv) {
                            cache.insert(a.name.clone(), (a, kv.mod_revision));
                        }
                    }
                }
                WatchItem::Events(batch) => {
                    for event in batch.events {
                        match event {
                            WatchEvent::Put(kv) => {
                                if let Some(a) = decode(&kv) {
                                    let newer = cache
                                        .get(&a.name)
                                        .is_none_or(|(_, rev)| *rev <= kv.mod_revision);
                                    if newer {
                                        cache.insert(a.name.clone(), (a, kv.mod_revision));
                                    }
                                }
                            }
                            WatchEvent::Delete { key, .. } => {
                                if let Some(name) = key.strip_prefix(USERS.as_bytes()) {
                                    cache.remove(String::from_utf8_lossy(name).as_ref());
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn cached(&self, name: &str) -> Option<Account> {
        self.inner
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .map(|(a, _)| a.clone())
    }

    fn remember(&self, account: &Account, revision: i64) {
        let mut cache = self
            .inner
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let newer = cache
            .get(&account.name)
            .is_none_or(|(_, rev)| *rev <= revision);
        if newer {
            cache.insert(account.name.clone(), (account.clone(), revision));
        }
    }

    fn principal(account: &Account, by: AuthenticatedBy, expires: Option<i64>) -> Principal {
        Principal {
            name: account.name.clone(),
            role: Some(account.role),
            unit: account.unit.clone(),
            department: account.department.clone(),
            authenticated_by: by,
            token_expires_unix: expires,
        }
    }

    /// The principal a bearer token stands for.
    pub fn authenticate_token(&self, token: &str) -> Result<Principal, AuthError> {
        let now = now_unix();
        let claims = self.inner.key.verify(token, now)?;
        self.check_claims(&claims, now)?;
        let account = self.cached(&claims.sub).ok_or_else(|| {
            AuthError::Unauthenticated(format!("account {} no longer exists", claims.sub))
        })?;
        if account.disabled {
            return Err(AuthError::Unauthenticated(format!(
                "account {} is disabled",
                account.name
            )));
        }
        if claims.iat < account.tokens_valid_after {
            return Err(AuthError::Unauthenticated(
                "token was revoked by a password change; log in again".into(),
            ));
        }
        Ok(Self::principal(
            &account,
            AuthenticatedBy::Token,
            Some(claims.exp),
        ))
    }

    /// What the MAC alone does not prove: that this node issued the token,
    /// for no longer than `auth.max_token_ttl`, and not in the future.
    fn check_claims(&self, claims: &Claims, now: i64) -> Result<(), AuthError> {
        let refused = |why: String| AuthError::Unauthenticated(format!("token refused: {why}"));
        if claims.iss != self.inner.node_id {
            return Err(refused(format!(
                "issued by {:?}, not by this node {}",
                claims.iss, self.inner.node_id
            )));
        }
        let max = i64::try_from(self.inner.options.max_token_ttl.as_secs()).unwrap_or(i64::MAX);
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if lifetime > max {
            return Err(refused(format!(
                "lifetime {lifetime} s (exp - iat) exceeds auth.max_token_ttl {max} s"
            )));
        }
        if claims.iat > now.saturating_add(MAX_CLOCK_SKEW_SECS) {
            return Err(refused(format!(
                "issued {} s in the future (at most {MAX_CLOCK_SKEW_SECS} s of clock skew)",
                claims.iat - now
            )));
        }
        Ok(())
    }

    /// The principal a client certificate stands for: a node for node
    /// identities; for `user/<name>` and `tool/<name>` the enabled account
    /// `<name>`, if there is one.
    pub fn principal_for_certificate(&self, identity: &Identity) -> Option<Principal> {
        match identity.kind {
            IdentityKind::Node => Some(Principal::node(identity.name.clone())),
            IdentityKind::User | IdentityKind::Tool => {
                let by = if identity.kind == IdentityKind::Tool {
                    AuthenticatedBy::ToolCertificate
                } else {
                    AuthenticatedBy::Certificate
                };
                self.cached(&identity.name)
                    .filter(|a| !a.disabled)
                    .map(|a| Self::principal(&a, by, None))
            }
        }
    }

    /// Exchanges a name and password for a token. Failed attempts are
    /// throttled per account and per `client` address ([`crate::throttle`]):
    /// an attempt that comes too early is refused before its password is
    /// checked, with the time to wait.
    pub async fn login(
        &self,
        name: &str,
        pass: &str,
        ttl: Duration,
        client: Option<IpAddr>,
    ) -> Result<Login, AuthError> {
        let throttle = &self.inner.throttle;
        throttle
            .admit(name, client, Instant::now())
            .map_err(|hold| held(name, &hold))?;
        let refused = |failures: u32| {
            let next = if failures >= LOCK_AFTER {
                format!(
                    "; the account is now locked (an admin can unlock it: vfedctl accounts unlock {name})"
                )
            } else if failures >= FREE_FAILURES {
                "; further attempts are delayed".to_owned()
            } else {
                String::new()
            };
            AuthError::Unauthenticated(format!(
                "unknown account or wrong password (failed attempt {failures}){next}"
            ))
        };
        let kv = self.inner.store.get(&user_key(name)).await?;
        let Some(account) = kv.as_ref().and_then(decode) else {
            return Err(refused(throttle.failed(
                name,
                false,
                client,
                Instant::now(),
            )));
        };
        let hash = account.password_hash.clone().ok_or_else(|| {
            AuthError::Unauthenticated(format!(
                "account {name} has no password: it signs in with its certificate"
            ))
        })?;
        let pass = pass.to_owned();
        let ok = tokio::task::spawn_blocking(move || password::verify(&pass, &hash))
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        if !ok {
            return Err(refused(throttle.failed(name, true, client, Instant::now())));
        }
        throttle.succeeded(name);
        if account.disabled {
            return Err(AuthError::Unauthenticated(format!(
                "account {name} is disabled"
            )));
        }
        let (token, expires_unix) = self.sign(&account, ttl)?;
        if let Some(kv) = &kv {
            self.remember(&account, kv.mod_revision);
        }
        Ok(Login {
            token,
            expires_unix,
            account,
        })
    }

    /// Lifts `name`'s lockout after failed logins: (was locked, failures).
    pub async fn unlock(&self, name: &str) -> Result<(bool, u32), AuthError> {
        self.get(name).await?;
        Ok(self.inner.throttle.unlock(name))
    }

    /// A token for `principal` (a person already authenticated otherwise).
    pub fn issue_for(&self, principal: &Principal, ttl: Duration) -> Result<Login, AuthError> {
        if principal.is_node() {
            return Err(AuthError::Unauthenticated(
                "nodes do not get person tokens".into(),
            ));
        }
        let account = self.cached(&principal.name).ok_or_else(|| {
            AuthError::Unauthenticated(format!("account {} no longer exists", principal.name))
        })?;
        let (token, expires_unix) = self.sign(&account, ttl)?;
        Ok(Login {
            token,
            expires_unix,
            account,
        })
    }

    fn sign(&self, account: &Account, ttl: Duration) -> Result<(String, i64), AuthError> {
        let ttl = if ttl.is_zero() {
            self.inner.options.token_ttl
        } else {
            ttl.min(self.inner.options.max_token_ttl)
        };
        let now = now_unix();
        let claims = Claims {
            sub: account.name.clone(),
            iss: self.inner.node_id.clone(),
            iat: now,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        };
        Ok((self.inner.key.issue(&claims)?, claims.exp))
    }

    /// Creates an account; `pass` empty: certificate-only.
    pub async fn create(&self, mut account: Account, pass: &str) -> Result<Account, AuthError> {
        account.validate()?;
        if !pass.is_empty() {
            validate_password("password", pass)?;
            let pass = pass.to_owned();
            account.password_hash = Some(
                tokio::task::spawn_blocking(move || password::hash(&pass))
                    .await
                    .map_err(|e| AuthError::Internal(e.to_string()))??,
            );
        }
        account.created_unix = now_unix();
        let key = user_key(&account.name);
        let value = serde_json::to_vec(&account)
            .map_err(|e| AuthError::Internal(format!("encoding account: {e}")))?;
        let response = self
            .inner
            .store
            .txn(Txn {
                compares: vec![Compare::ModRevision {
                    key: key.clone(),
                    revision: 0,
                }],
                ops: vec![Op::put(key, value)],
            })
            .await?;
        if !response.succeeded {
            return Err(AuthError::AlreadyExists(format!(
                "user.name: account {} exists already",
                account.name
            )));
        }
        self.remember(&account, response.revision);
        Ok(account)
    }

    /// Reads an account.
    pub async fn get(&self, name: &str) -> Result<Account, AuthError> {
        validate_name("name", name)?;
        self.inner
            .store
            .get(&user_key(name))
            .await?
            .as_ref()
            .and_then(decode)
            .ok_or_else(|| AuthError::NotFound(format!("name: no account {name}")))
    }

    /// Every account, by name.
    pub async fn list(&self) -> Result<Vec<Account>, AuthError> {
        let snapshot = self.inner.store.snapshot(USERS.as_bytes()).await?;
        Ok(snapshot.kvs.iter().filter_map(decode).collect())
    }

    /// Changes an account with `change` under compare-and-swap (retried on
    /// a concurrent change).
    pub async fn update(
        &self,
        name: &str,
        change: impl Fn(&mut Account) -> Result<(), AuthError>,
    ) -> Result<Account, AuthError> {
        validate_name("name", name)?;
        let key = user_key(name);
        for _ in 0..8 {
            let kv = self
                .inner
                .store
                .get(&key)
                .await?
                .ok_or_else(|| AuthError::NotFound(format!("name: no account {name}")))?;
            let mut account = decode(&kv)
                .ok_or_else(|| AuthError::Internal(format!("account {name} is unreadable")))?;
            change(&mut account)?;
            account.validate()?;
            let value = serde_json::to_vec(&account)
                .map_err(|e| AuthError::Internal(format!("encoding account: {e}")))?;
            let response = self
                .inner
                .store
                .txn(Txn {
                    compares: vec![Compare::ModRevision {
                        key: key.clone(),
                        revision: kv.mod_revision,
                    }],
                    ops: vec![Op::put(key.clone(), value)],
                })
                .await?;
            if response.succeeded {
                self.remember(&account, response.revision);
                return Ok(account);
            }
        }
        Err(AuthError::Conflict(format!(
            "account {name} keeps changing; try again"
        )))
    }

    /// Hashes a new password (for [`Accounts::update`]).
    pub async fn hash_password(pass: &str) -> Result<String, AuthError> {
        validate_password("password", pass)?;
        let pass = pass.to_owned();
        tokio::task::spawn_blocking(move || password::hash(&pass))
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?
    }

    /// Creates the admin account `name` if it does not exist yet (first
    /// start). Returns whether it was created.
    pub async fn bootstrap_admin(&self, name: &str, pass: Option<&str>) -> Result<bool, AuthError> {
        if self.inner.store.get(&user_key(name)).await?.is_some() {
            return Ok(false);
        }
        let account = Account {
            name: name.to_owned(),
            display_name: "bootstrap administrator".into(),
            role: Role::Admin,
            unit: String::new(),
            department: String::new(),
            disabled: false,
            trainings: Vec::new(),
            password_hash: None,
            tokens_valid_after: 0,
            created_unix: 0,
            created_by: "bootstrap".into(),
        };
        match self.create(account, pass.unwrap_or("")).await {
            Ok(_) => Ok(true),
            Err(AuthError::AlreadyExists(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Why a held attempt is refused.
fn held(name: &str, hold: &Hold) -> AuthError {
    match hold {
        Hold::Wait {
            what,
            failures,
            retry_after,
        } => {
            let secs = retry_after.as_secs().max(1);
            AuthError::Throttled {
                message: format!(
                    "login refused: {failures} failed attempts for {what}; try again in {secs} s (R15.1)"
                ),
                retry_after_secs: secs,
            }
        }
        Hold::Locked { failures } => AuthError::Locked(format!(
            "login refused: account {name} is locked after {failures} failed attempts; an admin can unlock it (vfedctl accounts unlock {name}) (R15.1)"
        )),
    }
}

/// Deletes the token key earlier versions kept in the store: whoever could
/// read the store could sign tokens with it, so tokens it signed stop working.
async fn forget_legacy_key(store: &SharedStore) -> Result<(), AuthError> {
    if store.get(LEGACY_TOKEN_KEY).await?.is_some() {
        store
            .txn(Txn {
                compares: Vec::new(),
                ops: vec![Op::delete(LEGACY_TOKEN_KEY.to_vec())],
            })
            .await?;
        tracing::warn!(
            "deleted the token key an earlier version kept in the store (auth/token-key); tokens it signed no longer work: log in again"
        );
    }
    Ok(())
}
