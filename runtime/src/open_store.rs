//! Opening the configured store backend.

use std::sync::Arc;
use std::time::Duration;

use vfed_config::{Config, StoreBackend};
use vfed_store::SharedStore;
use vfed_store::embedded::{EmbeddedOptions, EmbeddedStore};
use vfed_store::etcd::{EtcdOptions, EtcdStore};

use crate::NodeError;

/// Ops per transaction on the embedded store: large, since federation
/// applies whole batches atomically and redb has no such limit of its own.
const EMBEDDED_MAX_TXN_OPS: usize = 4096;

/// An open store, with what is needed to close it.
pub struct OpenedStore {
    /// The store.
    pub store: SharedStore,
    /// The embedded store, which holds a file lock until closed.
    embedded: Option<Arc<EmbeddedStore>>,
}

impl OpenedStore {
    /// Closes the store so that its files can be reopened in this process.
    pub async fn close(&self) {
        if let Some(embedded) = &self.embedded {
            embedded.close().await;
        }
    }
}

/// Opens the store `config.store` names.
pub async fn open_store(config: &Config) -> Result<OpenedStore, NodeError> {
    let store = &config.store;
    match store.backend {
        StoreBackend::Embedded => {
            vfed_private_fs::create_dir_all(&store.data_dir).map_err(NodeError::Io)?;
            let options = EmbeddedOptions {
                history: store.history as u64,
                max_txn_ops: EMBEDDED_MAX_TXN_OPS,
                ..EmbeddedOptions::default()
            };
            let opened = EmbeddedStore::open(&store.data_dir, options).map_err(NodeError::Store)?;
            Ok(OpenedStore {
                store: opened.clone(),
                embedded: Some(opened),
            })
        }
        StoreBackend::Etcd => {
            let root_prefix = if store.etcd_prefix.is_empty() {
                format!("/vfed/{}/", config.node.id)
            } else {
                store.etcd_prefix.clone()
            };
            let options = EtcdOptions {
                endpoints: store.etcd_endpoints.clone(),
                root_prefix,
                connect_timeout: Duration::from_secs(5),
                ..EtcdOptions::default()
            };
            let connected = EtcdStore::connect(options)
                .await
                .map_err(NodeError::Store)?;
            Ok(OpenedStore {
                store: connected,
                embedded: None,
            })
        }
    }
}
