//! Serving a subscription to a peer: one unidirectional QUIC stream per GOP,
//! newest first (higher priority); a subscriber that falls two GOPs behind
//! has the older GOP reset, so latency stays bounded instead of growing.
//!
//! The answer (lookup, first metadata, `SubscribeOk` or the error) is traced
//! as a `relay.subscribe` span, child of the trace context the subscriber
//! sent; the GOPs that follow are not traced.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use vfed_proto::relay::v1::control_message::Message;
use vfed_proto::relay::v1::{ErrorCode, Metadata, SubscribeOk};

use crate::link::{Link, close_code, send_ended, send_error, served_done};
use crate::track::{SharedGop, TrackReader};
use crate::wire::{GopHeader, encode_frame, encode_gop_header};
use crate::{Relay, RelayError, info};

/// How long a new subscription waits for the source's first parameters.
const METADATA_WAIT: Duration = Duration::from_secs(10);

/// A peer's `Subscribe`.
pub struct Request {
    /// Its request id on the link.
    pub id: u64,
    /// The stream.
    pub key: String,
    /// The subscriber's trace context.
    pub trace_context: HashMap<String, String>,
}

/// Serves `request` to `link` until cancelled or the track ends.
pub async fn serve(relay: Relay, link: Arc<Link>, request: Request, cancel: CancellationToken) {
    let span = relay.subscribe_span(&request.key, &link.peer.to_string());
    vfed_telemetry::propagation::set_parent(
        &span,
        vfed_telemetry::propagation::extract_map(&request.trace_context),
    );
    let (request_id, key) = (request.id, request.key.as_str());
    let answered = answer(&relay, &link, request_id, key, &cancel, &span)
        .instrument(span.clone())
        .await;
    if let Err(e) = &answered {
        span.record("error", tracing::field::display(e));
    }
    drop(span);
    let outcome = match answered {
        Ok(Some((reader, metadata))) => {
            stream_gops(&relay, &link, request_id, &cancel, reader, metadata).await
        }
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = outcome {
        tracing::debug!(peer = %link.peer, %key, error = %e, "subscription refused or failed");
        let _ = send_error(&link, request_id, &e).await;
    }
    served_done(&link, request_id);
}

/// Looks the stream up, waits for its first parameters and accepts: the
/// reader and metadata watch to stream from, or `None` if cancelled first.
async fn answer(
    relay: &Relay,
    link: &Arc<Link>,
    request_id: u64,
    key: &str,
    cancel: &CancellationToken,
    span: &tracing::Span,
) -> Result<Option<(TrackReader, MetadataWatch)>, RelayError> {
    let reader = relay.subscribe_in(key, span).await?;
    let track = reader.track().clone();
    let mut metadata = track.watch_metadata();
    let mut status = track.watch_status();
    // Accept once the source has parameters, or is known to fail (the
    // subscriber learns why from the status and keeps the subscription,
    // so it gets the media as soon as the source is back), or after a
    // while in any case.
    let waited = tokio::time::timeout(METADATA_WAIT, async {
        loop {
            if metadata.borrow_and_update().is_some() || track.is_failing() {
                return;
            }
            tokio::select! {
                r = metadata.changed() => if r.is_err() { return; },
                r = status.changed() => if r.is_err() { return; },
            }
        }
    });
    tokio::select! {
        () = cancel.cancelled() => return Ok(None),
        () = track.ended() => {
            return Err(track.end_reason().unwrap_or(RelayError::Unavailable { key: key.into(), reason: "the source ended".into() }));
        }
        _ = waited => {}
    }
    link.send(Message::SubscribeOk(SubscribeOk {
        request_id,
        info: Some(current_info(relay, &track)),
    }))
    .await?;
    tracing::info!(peer = %link.peer, %key, request_id, "serving stream");
    Ok(Some((reader, metadata)))
}

/// What a subscriber is told about `track`: counters, status and, once
/// known, the codec parameters.
fn current_info(relay: &Relay, track: &crate::track::Track) -> vfed_proto::relay::v1::StreamInfo {
    let base = relay.stream_info(track);
    track.metadata().map_or(base.clone(), |m| info(&base, &m))
}

type MetadataWatch = tokio::sync::watch::Receiver<Option<vfed_media::StreamMetadata>>;

/// Sends the track's GOPs (and metadata changes) until cancelled or it ends.
async fn stream_gops(
    relay: &Relay,
    link: &Arc<Link>,
    request_id: u64,
    cancel: &CancellationToken,
    mut reader: TrackReader,
    mut metadata: MetadataWatch,
) -> Result<(), RelayError> {
    let track = reader.track().clone();
    let mut status = track.watch_status();
    status.borrow_and_update();
    let mut inflight: VecDeque<(u64, CancellationToken, JoinHandle<()>)> = VecDeque::new();
    loop {
        tokio::select! {
            () = cancel.cancelled() => break,
            () = link.closed.cancelled() => break,
            changed = metadata.changed() => {
                if changed.is_err() { break; }
                if metadata.borrow_and_update().is_some() {
                    let info = Some(current_info(relay, &track));
                    link.send(Message::Metadata(Metadata { request_id, info })).await?;
                }
            }
            changed = status.changed() => {
                if changed.is_err() { break; }
                status.borrow_and_update();
                let info = Some(current_info(relay, &track));
                link.send(Message::Metadata(Metadata { request_id, info })).await?;
            }
            gop = reader.next_gop() => {
                let Some(gop) = gop else {
                    let reason = track.end_reason().map_or_else(|| "the source ended".to_owned(), |e| e.to_string());
                    let code = track.end_reason().map_or(ErrorCode::Unavailable, |e| e.code());
                    send_ended(link, request_id, code, &reason).await;
                    break;
                };
                inflight.retain(|(_, _, task)| !task.is_finished());
                // Keep at most the previous GOP in flight: anything older is
                // dropped whole rather than delaying the newest.
                while inflight.front().is_some_and(|(seq, _, _)| seq + 1 < gop.seq) {
                    if let Some((_, token, _)) = inflight.pop_front() {
                        token.cancel();
                        track.stats.gops_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let token = CancellationToken::new();
                let task = tokio::spawn(send_gop(link.clone(), request_id, gop.clone(), token.clone()));
                inflight.push_back((gop.seq, token, task));
            }
        }
    }
    for (_, token, _) in inflight {
        token.cancel();
    }
    Ok(())
}

async fn send_gop(
    link: Arc<Link>,
    request_id: u64,
    gop: Arc<SharedGop>,
    cancel: CancellationToken,
) {
    let Ok(mut stream) = link.connection.open_uni().await else {
        return;
    };
    // Newer GOPs first: QUIC sends higher-priority streams' data before others.
    let _ = stream.set_priority(i32::try_from(gop.seq % (i32::MAX as u64)).unwrap_or(i32::MAX));
    let header = encode_gop_header(GopHeader {
        request_id,
        gop_seq: gop.seq,
    });
    if stream.write_all(&header).await.is_err() {
        return;
    }
    let mut reader = gop.reader();
    loop {
        let unit = tokio::select! {
            () = cancel.cancelled() => {
                let _ = stream.reset(quinn::VarInt::from_u32(close_code::GOP_DROPPED));
                return;
            }
            u = reader.next() => u,
        };
        let Some(unit) = unit else {
            let _ = stream.finish();
            return;
        };
        let mut chunks = [encode_frame(&unit), unit.data];
        let written = tokio::select! {
            () = cancel.cancelled() => {
                let _ = stream.reset(quinn::VarInt::from_u32(close_code::GOP_DROPPED));
                return;
            }
            w = stream.write_all_chunks(&mut chunks) => w,
        };
        if written.is_err() {
            return;
        }
    }
}
