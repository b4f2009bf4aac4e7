//! The auth service of a node: its accounts (with the bootstrap admin on
//! first start), the `Accounts` gRPC service, and the layer every call and
//! HTTP egress request passes (authentication, the permission table, live
//! views and their audit records), until shutdown. The node gives it where
//! audit records go ([`AuditSink`]) and who may watch what ([`ViewPolicy`],
//! the sharing service's grants).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vfed_store::SharedStore;

use vfed_authz::{AuditSink, AuthLayer, Gate, HttpGuard, LiveViews, ViewPolicy};

use crate::directory::{AccountOptions, Accounts};
use crate::error::AuthError;
use crate::service::AccountsService;
use crate::token_key_file::load_or_create_token_key;

/// What the auth service of a node is (`[auth]`).
#[derive(Clone, Debug)]
pub struct AuthOptions {
    /// The node's code (tokens name it).
    pub node_id: String,
    /// The token signing key file (created on first start).
    pub token_key: PathBuf,
    /// Token lifetimes.
    pub accounts: AccountOptions,
    /// The admin account created on first start; empty: none.
    pub bootstrap_admin: String,
    /// Its password's file (first line), if it gets one.
    pub bootstrap_password_file: Option<PathBuf>,
    /// An HLS view with no request for this long stops.
    pub view_idle: Duration,
}

/// What the auth service meets of the node's other services.
pub struct AuthPeers {
    /// The node's audit log.
    pub audit: Arc<dyn AuditSink>,
    /// Who may watch what live (the sharing service's grants, R13).
    pub views: Arc<dyn ViewPolicy>,
}

/// Why the auth service could not start.
#[derive(Debug, thiserror::Error)]
pub enum AuthStartError {
    /// The token key file is unusable.
    #[error("{0}")]
    TokenKey(AuthError),
    /// The bootstrap password file cannot be read.
    #[error("auth.bootstrap_password_file: {}: {source}", path.display())]
    BootstrapPassword {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The accounts cannot be opened or the bootstrap admin not created.
    #[error("{0}")]
    Accounts(AuthError),
    /// The layer cannot be built.
    #[error("{0}")]
    Layer(String),
}

/// A running auth service.
pub struct RunningAuth {
    /// The accounts.
    pub accounts: Accounts,
    /// The `Accounts` gRPC service.
    pub service: AccountsService,
    /// The layer in front of every gRPC service.
    pub layer: AuthLayer,
    /// The layer in front of the HTTP port.
    pub http_guard: HttpGuard,
    /// The node's live views (HLS and the relay's QUIC subscriptions).
    pub live_views: LiveViews,
}

/// Opens the accounts in `store` and starts the service; the live-view
/// sweeper runs on `tasks` until `shutdown`.
pub async fn run(
    options: AuthOptions,
    store: SharedStore,
    peers: AuthPeers,
    tasks: &mut JoinSet<()>,
    shutdown: &CancellationToken,
) -> Result<RunningAuth, AuthStartError> {
    let accounts = open_accounts(&options, store, shutdown.clone()).await?;
    let gate = Gate::new(Arc::new(accounts.clone()), peers.audit, peers.views)
        .map_err(AuthStartError::Layer)?;
    let live_views = LiveViews::new(gate.clone());
    tasks.spawn(live_views.clone().run(shutdown.clone()));
    Ok(RunningAuth {
        service: AccountsService::new(accounts.clone()),
        layer: AuthLayer::new(gate),
        http_guard: HttpGuard::new(live_views.clone(), options.view_idle),
        live_views,
        accounts,
    })
}

/// Opens the node's accounts and creates the bootstrap admin on first start.
async fn open_accounts(
    options: &AuthOptions,
    store: SharedStore,
    shutdown: CancellationToken,
) -> Result<Accounts, AuthStartError> {
    let key = load_or_create_token_key(&options.token_key).map_err(AuthStartError::TokenKey)?;
    let accounts = Accounts::open(
        store,
        options.node_id.clone(),
        key,
        options.accounts.clone(),
        shutdown,
    )
    .await
    .map_err(AuthStartError::Accounts)?;
    if !options.bootstrap_admin.is_empty() {
        let password = match &options.bootstrap_password_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| {
                    AuthStartError::BootstrapPassword {
                        path: path.clone(),
                        source,
                    }
                })?;
                Some(text.lines().next().unwrap_or("").to_owned())
            }
            None => None,
        };
        let created = accounts
            .bootstrap_admin(&options.bootstrap_admin, password.as_deref())
            .await
            .map_err(AuthStartError::Accounts)?;
        if created {
            tracing::info!(account = %options.bootstrap_admin, "bootstrap admin account created");
        }
    }
    Ok(accounts)
}
