//! The relay of one node: its tracks (local sources and upstream pulls), its
//! QUIC links, routing toward a stream's origin, and who may do what.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use vfed_pki::{Identity, IdentityKind};
use vfed_proto::relay::v1::control_message::Message;
use vfed_proto::relay::v1::{Hello, SourceState, SourceStatus, StreamInfo};

use crate::link::{self, Link, close_code};
use crate::routing::{Resolver, Route};
use crate::track::{Track, TrackReader};
use crate::{RelayError, StreamKey};

/// The flag of a stream whose pictures are reordered (B-frames).
pub const B_FRAMES: &str = "B-frames";

/// Relay settings.
#[derive(Clone, Debug)]
pub struct RelayOptions {
    /// How long an upstream pull stays open without readers.
    pub idle_grace: Duration,
    /// Incoming connections open at once (handshakes included); further
    /// ones are refused, so that a flood cannot take the process's file
    /// descriptors and memory.
    pub max_connections: usize,
    /// The node's name as people know it ("Naidong county platform"): it
    /// opens the reasons viewers elsewhere get for a source that fails
    /// here. Empty: `node <id>`.
    pub node_name: String,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            idle_grace: Duration::from_secs(10),
            max_connections: 1024,
            node_name: String::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    Local,
    Upstream(String),
}

impl std::fmt::Display for Source {
    /// `local` or `node/<id>`, as in `StreamInfo.source`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("local"),
            Self::Upstream(peer) => write!(f, "node/{peer}"),
        }
    }
}

struct Entry {
    track: Arc<Track>,
    source: Source,
}

struct Inner {
    node_id: String,
    trust_domain: String,
    parent: Option<String>,
    children: HashSet<String>,
    tracks: Mutex<HashMap<String, Entry>>,
    links: watch::Sender<HashMap<String, Arc<Link>>>,
    resolver: Arc<dyn Resolver>,
    options: RelayOptions,
    policy: std::sync::RwLock<crate::policy::SharedPolicy>,
    recorded: std::sync::RwLock<Option<Arc<dyn crate::recorded::RecordedSource>>>,
}

/// A node's relay (cheap to clone).
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl Relay {
    /// A relay for `node_id` (its own identity is `node/<node_id>`; a pure
    /// subscriber may use any label).
    pub fn new(
        node_id: &str,
        trust_domain: &str,
        parent: Option<String>,
        children: impl IntoIterator<Item = String>,
        resolver: Arc<dyn Resolver>,
        options: RelayOptions,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                node_id: node_id.to_owned(),
                trust_domain: trust_domain.to_owned(),
                parent,
                children: children.into_iter().collect(),
                tracks: Mutex::default(),
                links: watch::channel(HashMap::new()).0,
                resolver,
                options,
                policy: std::sync::RwLock::new(Arc::new(crate::policy::NodesOnly)),
                recorded: std::sync::RwLock::default(),
            }),
        }
    }

    /// Settings.
    pub fn options(&self) -> &RelayOptions {
        &self.inner.options
    }

    /// The node this relay belongs to (the `node` attribute of its spans).
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    fn tracks(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner
            .tracks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A local source's track (the gateway or a demo source publishes into it).
    pub fn publish(&self, key: &StreamKey) -> Arc<Track> {
        let key = key.to_string();
        let mut tracks = self.tracks();
        if let Some(entry) = tracks
            .get(&key)
            .filter(|e| e.source == Source::Local && !e.track.is_ended())
        {
            return entry.track.clone();
        }
        let track = Track::new(key.clone());
        if let Some(old) = tracks.insert(
            key,
            Entry {
                track: track.clone(),
                source: Source::Local,
            },
        ) {
            old.track.end();
        }
        track
    }

    /// Removes a local source.
    pub fn unpublish(&self, key: &StreamKey) {
        if let Some(entry) = self.tracks().remove(&key.to_string()) {
            entry.track.end();
        }
    }

    /// Forgets `track` under `key` (if it is still the registered one).
    pub(crate) fn forget(&self, key: &str, track: &Arc<Track>) {
        let mut tracks = self.tracks();
        if tracks
            .get(key)
            .is_some_and(|e| Arc::ptr_eq(&e.track, track))
        {
            tracks.remove(key);
        }
    }

    /// A reader of `key`: the local track if there is one, otherwise a pull
    /// toward the stream's origin shared by every local reader.
    pub async fn subscribe(&self, key: &str) -> Result<TrackReader, RelayError> {
        self.subscribe_for(key, "local").await
    }

    /// [`Relay::subscribe`] on behalf of `peer` (who asks: `hls`,
    /// `node/<id>`...), traced as a `relay.subscribe` span, child of the
    /// current span.
    pub async fn subscribe_for(&self, key: &str, peer: &str) -> Result<TrackReader, RelayError> {
        let span = self.subscribe_span(key, peer);
        self.subscribe_in(key, &span).instrument(span.clone()).await
    }

    /// The `relay.subscribe` span of a subscription to `key` by `peer`; its
    /// `source` (and `error`) are recorded by [`Relay::subscribe_in`].
    pub(crate) fn subscribe_span(&self, key: &str, peer: &str) -> tracing::Span {
        tracing::info_span!(
            "relay.subscribe",
            node = %self.inner.node_id,
            key,
            peer,
            source = tracing::field::Empty,
            error = tracing::field::Empty,
        )
    }

    /// The subscription itself, recorded in `span`; a new upstream pull is
    /// started as a child of `span`, so the peer's handling joins its trace.
    pub(crate) async fn subscribe_in(
        &self,
        key: &str,
        span: &tracing::Span,
    ) -> Result<TrackReader, RelayError> {
        let result = self.lookup(key, span).await;
        if let Err(e) = &result {
            span.record("error", tracing::field::display(e));
        }
        result
    }

    async fn lookup(&self, key: &str, span: &tracing::Span) -> Result<TrackReader, RelayError> {
        let parsed = StreamKey::parse(key)?;
        let key = parsed.to_string();
        if let Some(entry) = self.tracks().get(&key).filter(|e| !e.track.is_ended()) {
            span.record("source", entry.source.to_string());
            return Ok(entry.track.reader());
        }
        match self.inner.resolver.resolve(&parsed.device_id).await {
            Route::NotFound => Err(RelayError::NotFound(key)),
            Route::Local => Err(RelayError::Unavailable {
                reason: format!(
                    "{}: camera {key} has no live source (no stream URL registered, or its gateway has not started it yet)",
                    self.display_name()
                ),
                key,
            }),
            Route::Peer(peer) => {
                let mut tracks = self.tracks();
                if let Some(entry) = tracks.get(&key).filter(|e| !e.track.is_ended()) {
                    span.record("source", entry.source.to_string());
                    return Ok(entry.track.reader());
                }
                let track = Track::new(key.clone());
                let reader = track.reader();
                let source = Source::Upstream(peer.clone());
                span.record("source", source.to_string());
                tracks.insert(
                    key.clone(),
                    Entry {
                        track: track.clone(),
                        source,
                    },
                );
                drop(tracks);
                tracing::info!(%key, %peer, "opening upstream pull");
                tokio::spawn(crate::pull::run(
                    self.clone(),
                    track,
                    key,
                    peer,
                    span.clone(),
                ));
                Ok(reader)
            }
        }
    }

    /// The node as viewers elsewhere read it in reasons.
    fn display_name(&self) -> String {
        if self.inner.options.node_name.is_empty() {
            format!("node {}", self.inner.node_id)
        } else {
            self.inner.options.node_name.clone()
        }
    }

    /// The status of `track`'s source as this node reports it: flags from
    /// the stream's parameters, and for a local source failing here, the
    /// reason in one sentence naming this node.
    fn source_status(&self, track: &Track, local: bool) -> SourceStatus {
        let mut status = track.status();
        let metadata = track.metadata();
        if status.state == i32::from(SourceState::Unspecified) && metadata.is_some() {
            // A source that reports nothing (the demo's looping clip) plays
            // once it has parameters.
            status.state = SourceState::Playing.into();
        }
        if metadata
            .as_ref()
            .and_then(vfed_media::StreamMetadata::reorder_frames)
            .is_some_and(|r| r > 0)
            && !status.flags.iter().any(|f| f == B_FRAMES)
        {
            status.flags.push(B_FRAMES.to_owned());
        }
        if local {
            status.reason =
                if status.state == i32::from(SourceState::Playing) || status.cause.is_empty() {
                    String::new()
                } else {
                    format!(
                        "{}: camera {} not reachable: {}",
                        self.display_name(),
                        track.key(),
                        status.cause
                    )
                };
        }
        status
    }

    /// Base info (key, counters, source, status) of a track, without
    /// codec fields.
    pub(crate) fn stream_info(&self, track: &Track) -> StreamInfo {
        let source = self.tracks().get(track.key()).map(|e| e.source.clone());
        let local = source.as_ref().is_none_or(|s| *s == Source::Local);
        let source = source.map_or_else(String::new, |s| s.to_string());
        StreamInfo {
            status: Some(self.source_status(track, local)),
            key: track.key().to_owned(),
            viewers: u32::try_from(track.readers()).unwrap_or(u32::MAX),
            source,
            gops_dropped: track
                .stats
                .gops_dropped
                .load(std::sync::atomic::Ordering::Relaxed),
            upstream_reconnects: track
                .stats
                .upstream_reconnects
                .load(std::sync::atomic::Ordering::Relaxed),
            bytes_in: track
                .stats
                .bytes_in
                .load(std::sync::atomic::Ordering::Relaxed),
            ..StreamInfo::default()
        }
    }

    /// Every stream present here, with metadata, viewer counts, the
    /// bitrate measured here and the source's status.
    pub fn streams(&self) -> Vec<StreamInfo> {
        let tracks: Vec<Arc<Track>> = self.tracks().values().map(|e| e.track.clone()).collect();
        let mut out: Vec<StreamInfo> = tracks
            .iter()
            .map(|t| {
                let base = self.stream_info(t);
                let mut info = t
                    .metadata()
                    .map_or(base.clone(), |m| crate::info(&base, &m));
                let measured = t.bitrate_bps();
                if measured > 0 {
                    info.bitrate_bps = measured;
                }
                info
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// The live link to `peer`, if any.
    pub fn link(&self, peer: &str) -> Option<Arc<Link>> {
        self.inner.links.borrow().get(peer).cloned()
    }

    /// Waits until a link to `peer` is up.
    pub async fn wait_link(&self, peer: &str) -> Arc<Link> {
        let mut links = self.inner.links.subscribe();
        loop {
            if let Some(link) = links
                .borrow_and_update()
                .get(peer)
                .filter(|l| !l.closed.is_cancelled())
            {
                return link.clone();
            }
            if links.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    fn add_link(&self, peer: String, link: Arc<Link>) {
        self.inner.links.send_modify(|links| {
            if let Some(old) = links.insert(peer, link) {
                old.close(close_code::NORMAL, "replaced by a newer connection");
            }
        });
    }

    fn remove_link(&self, peer: &str, link: &Arc<Link>) {
        self.inner.links.send_modify(|links| {
            if links.get(peer).is_some_and(|l| Arc::ptr_eq(l, link)) {
                links.remove(peer);
            }
        });
    }

    /// Accepts connections on `endpoint` until `shutdown`: configured
    /// children (node identities) and subscribers (user/tool identities).
    pub async fn accept(self, endpoint: quinn::Endpoint, shutdown: CancellationToken) {
        let slots = Arc::new(tokio::sync::Semaphore::new(
            self.inner.options.max_connections,
        ));
        loop {
            let incoming = tokio::select! {
                () = shutdown.cancelled() => break,
                i = endpoint.accept() => i,
            };
            let Some(incoming) = incoming else { break };
            // A slot is held from the first packet until the connection is
            // closed (the handshake is bounded by the idle timeout).
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                tracing::warn!(addr = %incoming.remote_address(), "relay: connection limit reached; refused");
                incoming.refuse();
                continue;
            };
            let relay = self.clone();
            tokio::spawn(async move {
                let _slot = slot;
                match incoming.await {
                    Ok(connection) => {
                        let watch = connection.clone();
                        relay.admit(connection).await;
                        watch.closed().await;
                    }
                    Err(e) => tracing::warn!(error = %e, "relay: incoming connection failed"),
                }
            });
        }
        endpoint.close(
            quinn::VarInt::from_u32(close_code::NORMAL),
            b"relay shutting down",
        );
    }

    async fn admit(&self, connection: quinn::Connection) {
        let peer = match crate::endpoint::peer_identity(&connection, &self.inner.trust_domain) {
            Ok(p) => p,
            Err(e) => {
                connection.close(
                    quinn::VarInt::from_u32(close_code::UNAUTHORIZED),
                    e.to_string().as_bytes(),
                );
                return;
            }
        };
        let child = peer.kind == IdentityKind::Node && self.inner.children.contains(&peer.name);
        let subscriber = matches!(peer.kind, IdentityKind::User | IdentityKind::Tool);
        if !child && !subscriber {
            let reason = format!(
                "{peer} is not a configured child of node {} (R18.4)",
                self.inner.node_id
            );
            tracing::warn!(%reason, addr = %connection.remote_address(), "relay refused a peer");
            connection.close(
                quinn::VarInt::from_u32(close_code::UNAUTHORIZED),
                reason.as_bytes(),
            );
            return;
        }
        let control = tokio::time::timeout(Duration::from_secs(10), connection.accept_bi()).await;
        let Ok(Ok((send, recv))) = control else {
            connection.close(
                quinn::VarInt::from_u32(close_code::PROTOCOL),
                b"no control stream",
            );
            return;
        };
        // Children push nothing up on their own: we pull from them. Subscribers pull from us.
        let link = link::start(
            self.clone(),
            peer.clone(),
            connection,
            send,
            recv,
            subscriber,
        );
        if child {
            tracing::info!(child = %peer, "relay link from child up");
            self.add_link(peer.name.clone(), link.clone());
            link.closed.cancelled().await;
            self.remove_link(&peer.name, &link);
            tracing::info!(child = %peer, "relay link from child down");
        }
    }

    /// Dials `addr` expecting node `peer_id`, and keeps the link registered
    /// under `peer_id` until it closes. `may_subscribe`: whether the peer
    /// may pull our streams (true toward our parent).
    pub async fn connect(
        &self,
        endpoint: &quinn::Endpoint,
        config: quinn::ClientConfig,
        addr: SocketAddr,
        peer_id: &str,
        may_subscribe: bool,
    ) -> Result<Arc<Link>, RelayError> {
        let connecting = endpoint
            .connect_with(config, addr, "vfed-relay")
            .map_err(|e| RelayError::Transport(format!("relay connect {addr}: {e}")))?;
        let connection = connecting
            .await
            .map_err(|e| RelayError::Transport(format!("relay connect {addr}: {e}")))?;
        let peer = crate::endpoint::peer_identity(&connection, &self.inner.trust_domain)?;
        let (send, recv) = connection
            .open_bi()
            .await
            .map_err(|e| RelayError::Transport(format!("relay control stream: {e}")))?;
        let link = link::start(self.clone(), peer, connection, send, recv, may_subscribe);
        link.send(Message::Hello(Hello {
            node_id: self.inner.node_id.clone(),
            version: 1,
        }))
        .await?;
        self.add_link(peer_id.to_owned(), link.clone());
        let relay = self.clone();
        let registered = link.clone();
        let peer_id = peer_id.to_owned();
        tokio::spawn(async move {
            registered.closed.cancelled().await;
            relay.remove_link(&peer_id, &registered);
        });
        Ok(link)
    }

    /// Keeps a link to the parent relay at `addr` until `shutdown`,
    /// reconnecting with capped backoff.
    pub async fn uplink(
        self,
        endpoint: quinn::Endpoint,
        config: quinn::ClientConfig,
        addr: SocketAddr,
        shutdown: CancellationToken,
    ) {
        let Some(parent) = self.inner.parent.clone() else {
            return;
        };
        let mut backoff = Duration::from_millis(100);
        loop {
            match self
                .connect(&endpoint, config.clone(), addr, &parent, true)
                .await
            {
                Ok(link) => {
                    tracing::info!(%parent, %addr, "relay uplink up");
                    backoff = Duration::from_millis(100);
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            link.close(close_code::NORMAL, "shutting down");
                            return;
                        }
                        () = link.closed.cancelled() => tracing::warn!(%parent, "relay uplink lost; reconnecting"),
                    }
                }
                Err(e) => tracing::warn!(%parent, error = %e, "relay uplink failed; retrying"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// This node's identity as the relay knows it.
    pub fn identity(&self) -> Result<Identity, RelayError> {
        Identity::node(self.inner.node_id.clone()).map_err(|e| RelayError::Transport(e.to_string()))
    }

    /// Decides which persons (user/tool identities) may receive which
    /// stream, now and while they watch (default: none,
    /// [`crate::policy::NodesOnly`]).
    pub fn set_subscriber_policy(&self, policy: Arc<dyn crate::policy::SubscriberPolicy>) {
        *self
            .inner
            .policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = policy;
    }

    /// Answers the parent's requests for recorded bytes (default: none,
    /// every request gets 404).
    pub fn set_recorded_source(&self, source: Arc<dyn crate::recorded::RecordedSource>) {
        *self
            .inner
            .recorded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(source);
    }

    /// The source of recorded bytes, if any.
    pub(crate) fn recorded_source(&self) -> Option<Arc<dyn crate::recorded::RecordedSource>> {
        self.inner
            .recorded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The current subscriber policy.
    pub(crate) fn subscriber_policy(&self) -> crate::policy::SharedPolicy {
        self.inner
            .policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
