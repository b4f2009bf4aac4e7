//! The state of this node's links, for `ListLinks` and metrics.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::catalog::now_ms;
use crate::metrics::{LinkLabels, RegistryMetrics};

/// Which side of a link the peer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkRole {
    /// The peer is our parent.
    Parent,
    /// The peer is our child.
    Child,
}

impl LinkRole {
    /// `parent` or `child`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Parent => "parent",
            Self::Child => "child",
        }
    }
}

/// Whether a link works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Connected and streaming.
    Up,
    /// Not connected.
    Down,
    /// Connected, full resync in progress.
    Resyncing,
}

/// What is known of one link.
#[derive(Clone, Debug)]
pub struct LinkStatus {
    /// The peer node.
    pub peer_id: String,
    /// Its name.
    pub peer_name: String,
    /// Its role.
    pub role: LinkRole,
    /// The state.
    pub state: LinkState,
    /// The child's revision last applied at the parent.
    pub applied_revision: i64,
    /// The child's latest revision as last reported.
    pub head_revision: i64,
    /// Last message from the peer (unix ms; 0: never).
    pub last_contact_ms: i64,
    /// Last failure, if any.
    pub last_error: String,
    /// Full resyncs so far.
    pub resyncs: u64,
    /// Entries refused on this link since start.
    pub refused_total: u64,
    /// The latest refused entries, newest last.
    pub refused: VecDeque<RefusedEntry>,
}

/// How many refused entries a link keeps for `nodes list`.
const KEEP_REFUSED: usize = 8;

/// A catalog entry one side of the link would not take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedEntry {
    /// The device.
    pub device_id: String,
    /// The rule it broke, naming the field.
    pub reason: String,
    /// `parent` or `child`.
    pub refused_by: String,
    /// When (unix ms).
    pub at_ms: i64,
}

impl LinkStatus {
    /// Records a refused entry (the link goes on with the rest).
    pub fn refuse(&mut self, entry: RefusedEntry) {
        self.refused_total += 1;
        self.last_error = format!(
            "{} refused device {}: {}",
            entry.refused_by, entry.device_id, entry.reason
        );
        if self.refused.len() == KEEP_REFUSED {
            self.refused.pop_front();
        }
        self.refused.push_back(entry);
    }
}

impl LinkStatus {
    /// Revisions not yet applied at the parent.
    pub fn lag(&self) -> i64 {
        (self.head_revision - self.applied_revision).max(0)
    }
}

/// Every link of this node.
#[derive(Clone)]
pub struct LinkTable {
    links: Arc<Mutex<BTreeMap<(LinkRole, String), LinkStatus>>>,
    metrics: RegistryMetrics,
}

impl LinkTable {
    /// A table with every configured peer, all down.
    pub fn new(
        peers: impl IntoIterator<Item = (LinkRole, String, String)>,
        metrics: RegistryMetrics,
    ) -> Self {
        let links = peers
            .into_iter()
            .map(|(role, peer_id, peer_name)| {
                let status = LinkStatus {
                    peer_id: peer_id.clone(),
                    peer_name,
                    role,
                    state: LinkState::Down,
                    applied_revision: 0,
                    head_revision: 0,
                    last_contact_ms: 0,
                    last_error: String::new(),
                    resyncs: 0,
                    refused_total: 0,
                    refused: VecDeque::new(),
                };
                ((role, peer_id), status)
            })
            .collect();
        Self {
            links: Arc::new(Mutex::new(links)),
            metrics,
        }
    }

    /// Changes one link's status (ignored for unknown peers).
    pub fn update(&self, role: LinkRole, peer_id: &str, change: impl FnOnce(&mut LinkStatus)) {
        let mut links = self
            .links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(status) = links.get_mut(&(role, peer_id.to_owned())) {
            change(status);
            let labels = LinkLabels {
                peer: peer_id.to_owned(),
                role: role.name().to_owned(),
            };
            self.metrics
                .link_up
                .get_or_create(&labels)
                .set(i64::from(status.state != LinkState::Down));
            self.metrics
                .link_lag
                .get_or_create(&labels)
                .set(status.lag());
            self.metrics
                .link_refused
                .get_or_create(&labels)
                .set(i64::try_from(status.refused_total).unwrap_or(i64::MAX));
        }
    }

    /// Records a message from the peer.
    pub fn touch(&self, role: LinkRole, peer_id: &str, change: impl FnOnce(&mut LinkStatus)) {
        self.update(role, peer_id, |s| {
            s.last_contact_ms = now_ms();
            change(s);
        });
    }

    /// A copy of every link.
    pub fn list(&self) -> Vec<LinkStatus> {
        let links = self
            .links
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        links.values().cloned().collect()
    }
}
