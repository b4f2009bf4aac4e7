//! The pump: moves records committed with their changes (`audit/pending/...`) into the
//! Merkle log, in key order, then deletes them.
//!
//! Per page of pending keys: append every record (concurrently, so they share group
//! commits and fsyncs), then delete the page's keys **and** set the marker `audit/pump`
//! (`scan_from`) in one store transaction. A crash between the append and that
//! transaction leaves records in the log whose pending keys still exist; each logged record
//! carries its pending key (`details.store_commit.key`), so on start the pump reads the log
//! from `scan_from` on and deletes such keys instead of appending them again. Nothing is
//! lost (a key is deleted only once its record is durable) and nothing is logged twice.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use vfed_audit::{AuditError, AuditRecord};
use vfed_store::{KeyValue, Op, Txn, WatchEvent, WatchItem, watch_with_resync};

use crate::pending::{self, PENDING_PREFIX, PUMP_MARKER, PumpMarker};
use crate::trail::MAX_READ;
use crate::{AuditTrail, AuditingError};

/// Most pending keys handled per page (also bounded by the store's transaction size).
const PAGE: usize = 256;
/// Longest wait between retries after an error.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long the last drain at shutdown may take.
const FINAL_DRAIN: Duration = Duration::from_secs(2);
/// Most bytes of an unreadable pending record kept in its substitute record.
const RAW_KEPT: usize = 4096;

impl AuditTrail {
    /// Moves pending records into the log until `shutdown` (then drains once more, briefly).
    /// Wakes on every new pending key (a watch with resync on `audit/pending/`).
    pub async fn run_pump(&self, shutdown: CancellationToken) {
        let mut pump = Pump::new(self.clone());
        let mut watch = Box::pin(watch_with_resync(
            self.raw_store().clone(),
            PENDING_PREFIX.to_vec(),
            0,
        ));
        loop {
            let item = tokio::select! {
                () = shutdown.cancelled() => break,
                item = watch.next() => item,
            };
            let wake = match item {
                None => break,
                Some(WatchItem::Resync(_)) => true,
                Some(WatchItem::Events(batch)) => {
                    batch.events.iter().any(|e| matches!(e, WatchEvent::Put(_)))
                }
            };
            if wake {
                pump.drain_until_done(&shutdown).await;
            }
        }
        match tokio::time::timeout(FINAL_DRAIN, pump.drain()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(%error, "audit pump: last drain at shutdown failed; pending records stay in the store for the next start");
            }
            Err(_) => tracing::warn!(
                "audit pump: last drain at shutdown timed out; pending records stay in the store for the next start"
            ),
        }
    }
}

/// The pump's state.
pub(crate) struct Pump {
    trail: AuditTrail,
    /// Pending keys whose record is in the log (at that index) but which are not yet deleted.
    logged: HashMap<Vec<u8>, u64>,
    recovered: bool,
}

impl Pump {
    pub(crate) fn new(trail: AuditTrail) -> Self {
        Pump {
            trail,
            logged: HashMap::new(),
            recovered: false,
        }
    }

    /// Drains, retrying with backoff after errors, until nothing is pending or `shutdown`.
    async fn drain_until_done(&mut self, shutdown: &CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.drain().await {
                Ok(0) => return,
                Ok(n) => {
                    tracing::debug!(records = n, "audit pump: pending records logged");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "audit pump failed; pending records stay in the store");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Moves every pending record into the log; returns how many were appended.
    pub(crate) async fn drain(&mut self) -> Result<usize, AuditingError> {
        if !self.recovered {
            self.recover().await?;
            self.recovered = true;
        }
        let page_size = PAGE.min(
            self.trail
                .raw_store()
                .max_txn_ops()
                .saturating_sub(1)
                .max(1),
        );
        let mut total = 0;
        loop {
            let page = self
                .trail
                .raw_store()
                .list(PENDING_PREFIX, None, page_size)
                .await?;
            if page.kvs.is_empty() {
                return Ok(total);
            }
            total += self.append_page(&page.kvs).await?;
            self.delete_logged(&page.kvs).await?;
        }
    }

    /// Appends the records of `kvs` not yet in the log, in key order; remembers each one
    /// appended. Returns how many were appended; on a failed append, the others are still
    /// remembered (and so deleted, never appended twice) before the error is returned.
    pub(crate) async fn append_page(&mut self, kvs: &[KeyValue]) -> Result<usize, AuditingError> {
        let records: Vec<(Vec<u8>, AuditRecord)> = kvs
            .iter()
            .filter(|kv| !self.logged.contains_key(&kv.key))
            .map(|kv| (kv.key.clone(), self.to_record(kv)))
            .collect();
        let this = &*self;
        let appends = records.into_iter().map(|(key, record)| async move {
            let result = this.append_or_substitute(record, &key).await;
            (key, result)
        });
        let results = futures::future::join_all(appends).await;
        let mut first_error = None;
        let mut appended = 0;
        for (key, result) in results {
            match result {
                Ok(index) => {
                    self.logged.insert(key, index);
                    appended += 1;
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => {
                self.delete_logged(kvs).await?;
                Err(error)
            }
            None => Ok(appended),
        }
    }

    /// Deletes the keys of `kvs` whose records are in the log, and moves the marker, in one
    /// transaction.
    async fn delete_logged(&mut self, kvs: &[KeyValue]) -> Result<(), AuditingError> {
        let done: Vec<&Vec<u8>> = kvs
            .iter()
            .map(|kv| &kv.key)
            .filter(|key| self.logged.contains_key(*key))
            .collect();
        if done.is_empty() {
            return Ok(());
        }
        // Records logged but not deleted by this transaction must stay at or after the
        // marker; otherwise everything up to the current size is settled.
        let scan_from = self
            .logged
            .iter()
            .filter(|(key, _)| !done.contains(key))
            .map(|(_, index)| *index)
            .min()
            .unwrap_or_else(|| self.trail.size());
        let mut txn = Txn::new().then(Op::put(
            PUMP_MARKER.to_vec(),
            PumpMarker { scan_from }.encode(),
        ));
        for key in &done {
            txn = txn.then(Op::delete((*key).clone()));
        }
        self.trail.raw_store().txn(txn).await?;
        for key in kvs.iter().map(|kv| &kv.key) {
            self.logged.remove(key);
        }
        Ok(())
    }

    /// The record of a pending key, stamped with its key and revision; an unreadable value
    /// becomes a refused record saying so (the pump must not stall on it).
    fn to_record(&self, kv: &KeyValue) -> AuditRecord {
        let key = String::from_utf8_lossy(&kv.key).into_owned();
        let mut record = match pending::decode(&kv.value) {
            Ok(record) => record,
            Err(error) => {
                tracing::error!(key = %key, %error, "audit pump: unreadable pending record; logging what is left of it");
                let raw = String::from_utf8_lossy(&kv.value);
                let raw: String = raw.chars().take(RAW_KEPT).collect();
                AuditRecord::new(
                    format!("node/{}", self.trail.node_id()),
                    "audit.pending.unreadable",
                    key.clone(),
                )
                .refused(format!("pending record does not parse: {error}"), "R18.6")
                .with_details(json!({ "raw": raw }))
            }
        };
        pending::stamp(&mut record, &key, kv.mod_revision);
        record
    }

    /// Appends `record`; one the log rejects (too large once stamped) is replaced by a
    /// record saying so. Returns the index.
    async fn append_or_substitute(
        &self,
        record: AuditRecord,
        key: &[u8],
    ) -> Result<u64, AuditingError> {
        let action = record.action.clone();
        match self.trail.record(record).await {
            Ok(receipt) => Ok(receipt.index),
            Err(AuditingError::Log(AuditError::RecordRejected(why))) => {
                let key = String::from_utf8_lossy(key).into_owned();
                let mut substitute = AuditRecord::new(
                    format!("node/{}", self.trail.node_id()),
                    "audit.pending.rejected",
                    key.clone(),
                )
                .refused(
                    format!("record of {action} rejected by the log: {why}"),
                    "R18.6",
                );
                pending::stamp(&mut substitute, &key, 0);
                Ok(self.trail.record(substitute).await?.index)
            }
            Err(error) => Err(error),
        }
    }

    /// After a crash: finds pending keys whose records were appended but not deleted (read
    /// from the log from the marker on), so that they are deleted, not appended again.
    async fn recover(&mut self) -> Result<(), AuditingError> {
        let store = self.trail.raw_store().clone();
        if store.list(PENDING_PREFIX, None, 1).await?.kvs.is_empty() {
            return Ok(());
        }
        let marker = match store.get(PUMP_MARKER).await? {
            Some(kv) => PumpMarker::decode(&kv.value)?,
            None => PumpMarker::default(),
        };
        let end = self.trail.size();
        let mut from = marker.scan_from.min(end);
        let mut candidates = Vec::new();
        while from < end {
            let entries = self.trail.read(from, MAX_READ).await?;
            let Some(last) = entries.last() else { break };
            from = last.index + 1;
            for entry in entries {
                let record = AuditRecord::from_bytes(&entry.record).map_err(|e| {
                    AuditingError::Corrupt(format!("audit entry {}: {e}", entry.index))
                })?;
                if let Some(key) = pending::pumped_from(&record)
                    && key.as_bytes().starts_with(PENDING_PREFIX)
                {
                    candidates.push((key.as_bytes().to_vec(), entry.index));
                }
            }
        }
        for (key, index) in candidates {
            if store.get(&key).await?.is_some() {
                self.logged.insert(key, index);
            }
        }
        if !self.logged.is_empty() {
            tracing::warn!(
                records = self.logged.len(),
                scan_from = marker.scan_from,
                "audit pump: records already logged before a crash still had their pending keys; deleting the keys without logging them again"
            );
        }
        Ok(())
    }
}

/// Test hooks: the pump's stages one by one, to simulate a crash between them.
#[doc(hidden)]
pub mod testing {
    use super::*;

    /// Appends every pending record to the log **without** deleting the pending keys, as a
    /// pump that crashed right after its appends would leave things. Returns how many.
    pub async fn append_without_delete(trail: &AuditTrail) -> Result<usize, AuditingError> {
        let mut pump = Pump::new(trail.clone());
        pump.recovered = true;
        let page = trail.raw_store().list(PENDING_PREFIX, None, 0).await?;
        let mut records: Vec<(Vec<u8>, AuditRecord)> = page
            .kvs
            .iter()
            .map(|kv| (kv.key.clone(), pump.to_record(kv)))
            .collect();
        records.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, record) in records {
            pump.append_or_substitute(record, &key).await?;
        }
        Ok(page.kvs.len())
    }

    /// One full drain, as the running pump does on each wake-up (recovery first).
    pub async fn drain(trail: &AuditTrail) -> Result<usize, AuditingError> {
        Pump::new(trail.clone()).drain().await
    }
}
