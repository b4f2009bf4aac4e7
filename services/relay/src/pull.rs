//! Pulling a stream from a peer (toward its origin) into a local track that
//! every local viewer shares. The pull survives a lost upstream (it
//! resubscribes when the link is back; viewers keep their readers) and ends
//! after an idle grace period without readers.
//!
//! Each attempt is a `relay.pull` span, from waiting for the link to the
//! peer's answer; its trace context travels in the `Subscribe`, so the
//! peer's `relay.subscribe` is its child. The first attempt is a child of
//! the subscription that started the pull; a resubscribe after a lost
//! upstream has no such cause and starts its own trace.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Span;
use vfed_media::AccessUnit;
use vfed_proto::relay::v1::control_message::Message;
use vfed_proto::relay::v1::{ErrorCode, SourceState, SourceStatus, Subscribe, Unsubscribe};

use crate::link::{Link, PullEvent};
use crate::stream_reader::{ReadError, StreamReader};
use crate::track::Track;
use crate::wire::{FRAME_HEADER_LEN, decode_frame_header};
use crate::{Relay, RelayError};

enum End {
    /// Nobody read it for the grace period.
    Idle,
    /// The upstream refused for good (not found, unauthorized).
    Refused(RelayError),
    /// The upstream answered that the stream has no live source now; try
    /// again later, backing off.
    Unavailable(String),
    /// The upstream went away; try again.
    Lost(String),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Idle => f.write_str("idle"),
            Self::Refused(e) => write!(f, "refused: {e}"),
            Self::Unavailable(reason) => write!(f, "unavailable: {reason}"),
            Self::Lost(reason) => write!(f, "lost: {reason}"),
        }
    }
}

/// First wait after an upstream refused ("no live source"): refusals are
/// answers that do not change by resubscribing at once.
const REFUSED_BACKOFF_INITIAL: Duration = Duration::from_millis(500);
/// Longest wait between refused attempts.
const REFUSED_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// First wait after a lost upstream (link closed, source ended).
const LOST_BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// Longest wait after a lost upstream.
const LOST_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Runs the pull of `key` from `peer` into `track` until idle or refused.
/// `cause`: the span of the subscription that started it.
///
/// The idle timer runs over the whole pull, across attempts and backoff
/// waits: a pull nobody reads ends after the grace period whatever its
/// upstream answers (issue 9.3: it used to restart with every attempt).
pub async fn run(relay: Relay, track: Arc<Track>, key: String, peer: String, cause: Span) {
    let grace = relay.options().idle_grace;
    let idle = wait_idle(&track, grace);
    tokio::pin!(idle);
    let mut refused_backoff = REFUSED_BACKOFF_INITIAL;
    let mut lost_backoff = LOST_BACKOFF_INITIAL;
    let mut attempts = 0u32;
    // Held only until the first attempt's span exists: the cause ends then.
    let mut cause = Some(cause);
    loop {
        let span = attempt_span(&relay, &key, &peer, attempts + 1, cause.take());
        let mut connecting = track.status();
        connecting.state = SourceState::Connecting.into();
        track.set_status(connecting, None);
        let link = tokio::select! {
            l = relay.wait_link(&peer) => l,
            () = &mut idle => {
                span.record("outcome", "idle");
                end_idle(&relay, &track, &key, &peer);
                return;
            }
        };
        let (end, delivered) = session(&link, &track, &key, idle.as_mut(), span).await;
        if delivered {
            // The upstream worked: the next trouble starts the waits afresh.
            refused_backoff = REFUSED_BACKOFF_INITIAL;
            lost_backoff = LOST_BACKOFF_INITIAL;
        }
        if delivered {
            attempts = 0;
        }
        attempts += 1;
        let wait = match end {
            End::Idle => {
                end_idle(&relay, &track, &key, &peer);
                return;
            }
            End::Refused(e) => {
                finish(&relay, &track, &key, e);
                return;
            }
            End::Unavailable(reason) => {
                let wait = refused_backoff;
                refused_backoff = (refused_backoff * 2).min(REFUSED_BACKOFF_MAX);
                tracing::info!(%key, %peer, %reason, retry_in = ?wait, "upstream has no live source; retrying");
                // The upstream's words name the node where it fails.
                pull_failed(
                    &track,
                    attempts,
                    "no live source",
                    reason.clone(),
                    reason,
                    wait,
                );
                wait
            }
            End::Lost(reason) => {
                let wait = lost_backoff;
                lost_backoff = (lost_backoff * 2).min(LOST_BACKOFF_MAX);
                tracing::warn!(%key, %peer, %reason, retry_in = ?wait, "upstream lost; resubscribing");
                let said = format!("upstream node/{peer} lost: {reason}");
                pull_failed(&track, attempts, "upstream lost", said.clone(), said, wait);
                wait
            }
        };
        track
            .stats
            .upstream_reconnects
            .fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = &mut idle => {
                end_idle(&relay, &track, &key, &peer);
                return;
            }
        }
    }
}

/// Records a failed attempt in the track's status.
fn pull_failed(
    track: &Track,
    attempts: u32,
    cause: &str,
    last_error: String,
    reason: String,
    wait: Duration,
) {
    let previous = track.status();
    track.set_status(
        SourceStatus {
            state: SourceState::Retrying.into(),
            last_error,
            cause: cause.to_owned(),
            attempts,
            next_retry_ms: 0,
            flags: previous.flags,
            reason,
            retiming: previous.retiming,
        },
        std::time::Instant::now().checked_add(wait),
    );
}

fn end_idle(relay: &Relay, track: &Arc<Track>, key: &str, peer: &str) {
    finish(
        relay,
        track,
        key,
        RelayError::Unavailable {
            key: key.to_owned(),
            reason: "idle".into(),
        },
    );
    tracing::info!(%key, %peer, "upstream pull closed after idle grace");
}

/// The span of one attempt to pull `key` from `peer`: a child of `cause`,
/// or the root of a new trace.
fn attempt_span(relay: &Relay, key: &str, peer: &str, attempt: u32, cause: Option<Span>) -> Span {
    let parent = cause.as_ref().and_then(Span::id);
    tracing::info_span!(
        parent: parent,
        "relay.pull",
        node = %relay.node_id(),
        key,
        upstream = %format_args!("node/{peer}"),
        attempt,
        outcome = tracing::field::Empty,
    )
}

fn finish(relay: &Relay, track: &Arc<Track>, key: &str, reason: RelayError) {
    relay.forget(key, track);
    track.end_with(reason);
}

async fn wait_idle(track: &Track, grace: Duration) {
    let mut readers = track.watch_readers();
    loop {
        if *readers.borrow_and_update() == 0 {
            tokio::select! {
                () = tokio::time::sleep(grace) => {
                    if track.readers() == 0 { return; }
                }
                r = readers.changed() => if r.is_err() { return; },
            }
        } else if readers.changed().await.is_err() {
            return;
        }
    }
}

/// The idle timer of a pull, shared by its attempts.
type Idle<'a> = Pin<&'a mut (dyn Future<Output = ()> + Send)>;

/// One attempt: subscribe, receive until it ends. Also says whether any
/// frame arrived (the upstream worked).
async fn session(
    link: &Arc<Link>,
    track: &Arc<Track>,
    key: &str,
    idle: Idle<'_>,
    span: Span,
) -> (End, bool) {
    let (request_id, mut events) = link.register_pull();
    let mut delivered = false;
    let end = receive(
        link,
        track,
        key,
        request_id,
        &mut events,
        idle,
        span,
        &mut delivered,
    )
    .await;
    link.unregister_pull(request_id);
    if !link.closed.is_cancelled() {
        let _ = link
            .send(Message::Unsubscribe(Unsubscribe { request_id }))
            .await;
    }
    (end, delivered)
}

type GopFrames = mpsc::Receiver<AccessUnit>;

#[allow(clippy::too_many_arguments)]
async fn receive(
    link: &Arc<Link>,
    track: &Arc<Track>,
    key: &str,
    request_id: u64,
    events: &mut mpsc::Receiver<PullEvent>,
    idle: Idle<'_>,
    span: Span,
    delivered: &mut bool,
) -> End {
    let trace_context = vfed_telemetry::propagation::inject_map(&span);
    if link
        .send(Message::Subscribe(Subscribe {
            request_id,
            key: key.to_owned(),
            trace_context,
        }))
        .await
        .is_err()
    {
        span.record("outcome", "link closed");
        return End::Lost("link closed".into());
    }
    // Open until the peer answers (or the attempt ends without an answer).
    let mut span = Some(span);
    let end = receive_loop(link, track, key, events, idle, &mut span, delivered).await;
    if let Some(span) = span {
        span.record("outcome", tracing::field::display(&end));
    }
    end
}

async fn receive_loop(
    link: &Arc<Link>,
    track: &Arc<Track>,
    key: &str,
    events: &mut mpsc::Receiver<PullEvent>,
    mut idle: Idle<'_>,
    span: &mut Option<Span>,
    delivered: &mut bool,
) -> End {
    // GOPs being received, oldest first; frames are published from the
    // oldest only, so GOPs never interleave in the track.
    let mut gops: BTreeMap<u64, (GopFrames, JoinHandle<()>)> = BTreeMap::new();
    loop {
        let oldest = gops.keys().next().copied();
        tokio::select! {
            () = link.closed.cancelled() => return End::Lost("link closed".into()),
            () = &mut idle => return End::Idle,
            event = events.recv() => match event {
                None => return End::Lost("link closed".into()),
                Some(PullEvent::Control(message)) => match *message {
                    Message::SubscribeOk(ok) => {
                        if let Some(span) = span.take() {
                            span.record("outcome", "ok");
                        }
                        apply_info(track, ok.info.as_ref());
                    }
                    Message::Metadata(m) => apply_info(track, m.info.as_ref()),
                    Message::SubscribeError(e) => {
                        let error = RelayError::from_wire(key, e.code, e.message);
                        return match error {
                            RelayError::Unavailable { reason, .. } => End::Unavailable(reason),
                            other => End::Refused(other),
                        };
                    }
                    Message::Ended(e) if e.code == i32::from(ErrorCode::NotFound) => {
                        return End::Refused(RelayError::NotFound(key.to_owned()));
                    }
                    Message::Ended(e) => return End::Lost(format!("source ended: {}", e.message)),
                    _ => {}
                },
                Some(PullEvent::Gop(header, reader)) => {
                    if oldest.is_some_and(|o| header.gop_seq <= o) {
                        continue; // stale: dropping the reader stops the stream
                    }
                    let (tx, rx) = mpsc::channel(512);
                    let task = tokio::spawn(read_gop(reader, tx));
                    gops.insert(header.gop_seq, (rx, task));
                    // More than two GOPs in flight: the oldest is too late to matter.
                    while gops.len() > 2 {
                        if let Some((_, (_, task))) = gops.pop_first() {
                            task.abort();
                            track.stats.gops_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            },
            frame = next_frame(&mut gops, oldest) => match frame {
                Some(unit) => {
                    *delivered = true;
                    track.publish(unit);
                }
                None => { if let Some(o) = oldest { gops.remove(&o); } }
            },
        }
    }
}

async fn next_frame(
    gops: &mut BTreeMap<u64, (GopFrames, JoinHandle<()>)>,
    oldest: Option<u64>,
) -> Option<AccessUnit> {
    match oldest.and_then(|o| gops.get_mut(&o)) {
        Some((rx, _)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Takes the upstream's parameters and its source's status.
fn apply_info(track: &Track, info: Option<&vfed_proto::relay::v1::StreamInfo>) {
    if let Some(m) = info.and_then(crate::info::metadata) {
        track.set_metadata(m);
    }
    if let Some(status) = info.and_then(|i| i.status.clone()) {
        let retry_at = (status.next_retry_ms > 0)
            .then(|| std::time::Instant::now() + Duration::from_millis(status.next_retry_ms));
        track.set_status(status, retry_at);
    }
}

async fn read_gop(mut reader: StreamReader, tx: mpsc::Sender<AccessUnit>) {
    loop {
        let header = match reader.read_exact(FRAME_HEADER_LEN).await {
            Ok(h) => h,
            Err(ReadError::Finished { .. } | ReadError::Failed(_)) => return,
        };
        let mut fixed = [0u8; FRAME_HEADER_LEN];
        fixed.copy_from_slice(&header);
        let Ok(header) = decode_frame_header(&fixed) else {
            reader.stop();
            return;
        };
        let Ok(payload) = reader.read_exact(header.len).await else {
            return;
        };
        if tx.send(header.unit(payload)).await.is_err() {
            return;
        }
    }
}
