//! One QUIC connection between two relays (or a relay and a subscriber):
//! the control stream, GOP streams in both directions, and the
//! subscriptions served and pulled over it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vfed_pki::Identity;
use vfed_proto::relay::v1::control_message::Message;
use vfed_proto::relay::v1::{ControlMessage, ErrorCode};

use crate::stream_reader::StreamReader;
use crate::wire::{
    Decoded, GOP_HEADER_LEN, GopHeader, decode_control, decode_gop_header, encode_control,
};
use crate::{Relay, RelayError};

/// QUIC application error codes used when closing.
pub mod close_code {
    /// Normal close.
    pub const NORMAL: u32 = 0;
    /// The peer broke the protocol.
    pub const PROTOCOL: u32 = 1;
    /// The peer is not allowed here.
    pub const UNAUTHORIZED: u32 = 2;
    /// A GOP was dropped (stream reset).
    pub const GOP_DROPPED: u32 = 3;
}

/// What a pull receives over its link.
pub enum PullEvent {
    /// A control message about the subscription (boxed: it is much larger
    /// than a GOP event).
    Control(Box<Message>),
    /// A GOP stream for it.
    Gop(GopHeader, StreamReader),
}

/// A live connection to a peer.
pub struct Link {
    /// Who the peer is (from its certificate).
    pub peer: Identity,
    /// The connection.
    pub connection: quinn::Connection,
    control: mpsc::Sender<ControlMessage>,
    pulls: Mutex<HashMap<u64, mpsc::Sender<PullEvent>>>,
    serving: Mutex<HashMap<u64, CancellationToken>>,
    next_request: AtomicU64,
    /// Cancelled when the link is gone.
    pub closed: CancellationToken,
}

impl Link {
    /// Sends a control message.
    pub async fn send(&self, message: Message) -> Result<(), RelayError> {
        self.control
            .send(ControlMessage {
                message: Some(message),
            })
            .await
            .map_err(|_| RelayError::Transport(format!("link to {} closed", self.peer)))
    }

    /// A new request id and the channel its events arrive on.
    pub fn register_pull(&self) -> (u64, mpsc::Receiver<PullEvent>) {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel(16);
        self.pulls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id, tx);
        (id, rx)
    }

    /// Forgets a pull.
    pub fn unregister_pull(&self, id: u64) {
        self.pulls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }

    fn pull_sender(&self, id: u64) -> Option<mpsc::Sender<PullEvent>> {
        self.pulls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Closes the connection with `code` and a reason the peer sees.
    pub fn close(&self, code: u32, reason: &str) {
        self.connection
            .close(quinn::VarInt::from_u32(code), reason.as_bytes());
        self.closed.cancel();
    }

    /// Number of subscriptions this link serves.
    pub fn serving(&self) -> usize {
        self.serving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// Starts a link over an established connection and its control stream.
/// `may_subscribe`: whether the peer may pull our streams.
pub fn start(
    relay: Relay,
    peer: Identity,
    connection: quinn::Connection,
    control_send: quinn::SendStream,
    control_recv: quinn::RecvStream,
    may_subscribe: bool,
) -> Arc<Link> {
    let (tx, rx) = mpsc::channel(64);
    let relay_for_recorded = relay.clone();
    let link = Arc::new(Link {
        peer,
        connection,
        control: tx,
        pulls: Mutex::default(),
        serving: Mutex::default(),
        next_request: AtomicU64::new(0),
        closed: CancellationToken::new(),
    });
    tokio::spawn(write_control(link.clone(), control_send, rx));
    tokio::spawn(read_control(
        relay,
        link.clone(),
        control_recv,
        may_subscribe,
    ));
    tokio::spawn(accept_gops(link.clone()));
    // Requests for recorded bytes (the parent asks its child, R13 playback through the tree).
    tokio::spawn(crate::recorded::serve(
        relay_for_recorded,
        link.clone(),
        may_subscribe,
    ));
    link
}

async fn write_control(
    link: Arc<Link>,
    mut send: quinn::SendStream,
    mut rx: mpsc::Receiver<ControlMessage>,
) {
    loop {
        let message = tokio::select! {
            () = link.closed.cancelled() => return,
            m = rx.recv() => m,
        };
        let Some(message) = message else { return };
        if let Err(e) = send.write_all(&encode_control(&message)).await {
            tracing::debug!(peer = %link.peer, error = %e, "relay control write failed");
            link.closed.cancel();
            return;
        }
    }
}

async fn read_control(
    relay: Relay,
    link: Arc<Link>,
    mut recv: quinn::RecvStream,
    may_subscribe: bool,
) {
    let mut buf = BytesMut::new();
    let outcome: Result<(), RelayError> = async {
        loop {
            while let Decoded::Value(message, used) =
                decode_control(&buf).map_err(|e| RelayError::Protocol(e.to_string()))?
            {
                let _ = buf.split_to(used);
                if let Some(message) = message.message {
                    handle(&relay, &link, message, may_subscribe).await?;
                }
            }
            let chunk = tokio::select! {
                () = link.closed.cancelled() => return Ok(()),
                c = recv.read_chunk(64 * 1024, true) => c,
            };
            match chunk {
                Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
                Ok(None) => return Ok(()),
                Err(e) => return Err(RelayError::Transport(e.to_string())),
            }
        }
    }
    .await;
    match outcome {
        Err(RelayError::Protocol(reason)) => {
            tracing::warn!(peer = %link.peer, %reason, "relay peer broke the protocol; closing");
            link.close(close_code::PROTOCOL, &reason);
        }
        Err(e) => {
            tracing::debug!(peer = %link.peer, error = %e, "relay link ended");
            link.closed.cancel();
        }
        Ok(()) => link.closed.cancel(),
    }
    for (_, token) in link
        .serving
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .drain()
    {
        token.cancel();
    }
}

async fn handle(
    relay: &Relay,
    link: &Arc<Link>,
    message: Message,
    may_subscribe: bool,
) -> Result<(), RelayError> {
    match message {
        Message::Hello(_) => Ok(()),
        Message::Subscribe(s) => {
            if !may_subscribe {
                let e = RelayError::Unauthorized(format!(
                    "{} may not pull streams from this node",
                    link.peer
                ));
                return send_error(link, s.request_id, &e).await;
            }
            // R13: a person may receive only what the node's policy allows.
            if let Err(e) = crate::policy::admit(relay, &link.peer, &s.key) {
                return send_error(link, s.request_id, &e).await;
            }
            let token = CancellationToken::new();
            {
                let mut serving = link
                    .serving
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if serving.contains_key(&s.request_id) {
                    return Err(RelayError::Protocol(format!(
                        "request id {} reused",
                        s.request_id
                    )));
                }
                serving.insert(s.request_id, token.clone());
            }
            crate::policy::guard(relay, link, s.request_id, &s.key, &token);
            tokio::spawn(crate::serve::serve(
                relay.clone(),
                link.clone(),
                crate::serve::Request {
                    id: s.request_id,
                    key: s.key,
                    trace_context: s.trace_context,
                },
                token,
            ));
            Ok(())
        }
        Message::Unsubscribe(u) => {
            if let Some(token) = link
                .serving
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .remove(&u.request_id)
            {
                token.cancel();
            }
            Ok(())
        }
        Message::SubscribeOk(ref m) => forward(link, m.request_id, message.clone()).await,
        Message::SubscribeError(ref m) => forward(link, m.request_id, message.clone()).await,
        Message::Metadata(ref m) => forward(link, m.request_id, message.clone()).await,
        Message::Ended(ref m) => forward(link, m.request_id, message.clone()).await,
    }
}

async fn forward(link: &Link, request_id: u64, message: Message) -> Result<(), RelayError> {
    if let Some(tx) = link.pull_sender(request_id) {
        let _ = tx.send(PullEvent::Control(Box::new(message))).await;
    }
    Ok(())
}

/// Sends a subscribe error.
pub async fn send_error(
    link: &Link,
    request_id: u64,
    error: &RelayError,
) -> Result<(), RelayError> {
    use vfed_proto::relay::v1::SubscribeError;
    link.send(Message::SubscribeError(SubscribeError {
        request_id,
        code: error.code().into(),
        message: error.to_string(),
    }))
    .await
}

/// Ends a served subscription.
pub async fn send_ended(link: &Link, request_id: u64, code: ErrorCode, message: &str) {
    use vfed_proto::relay::v1::SubscriptionEnded;
    let _ = link
        .send(Message::Ended(SubscriptionEnded {
            request_id,
            code: code.into(),
            message: message.into(),
        }))
        .await;
}

/// Marks a served subscription finished.
pub fn served_done(link: &Link, request_id: u64) {
    if let Some(token) = link
        .serving
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&request_id)
    {
        // Whatever watched over the subscription (its guard) stops too.
        token.cancel();
    }
}

async fn accept_gops(link: Arc<Link>) {
    loop {
        let stream = tokio::select! {
            () = link.closed.cancelled() => return,
            s = link.connection.accept_uni() => s,
        };
        let Ok(stream) = stream else {
            link.closed.cancel();
            return;
        };
        let link = link.clone();
        tokio::spawn(async move {
            let mut reader = StreamReader::new(stream, Bytes::new());
            let header = match tokio::time::timeout(
                Duration::from_secs(10),
                reader.read_exact(GOP_HEADER_LEN),
            )
            .await
            {
                Ok(Ok(bytes)) => bytes,
                _ => return,
            };
            let header = match decode_gop_header(&header) {
                Ok(Decoded::Value(h, _)) => h,
                Ok(Decoded::NeedMore(_)) => return,
                Err(e) => {
                    link.close(close_code::PROTOCOL, &format!("bad GOP stream: {e}"));
                    return;
                }
            };
            match link.pull_sender(header.request_id) {
                Some(tx) => {
                    let _ = tx.send(PullEvent::Gop(header, reader)).await;
                }
                None if header.request_id == 0
                    || header.request_id > link.next_request.load(Ordering::Relaxed) =>
                {
                    // Never asked for: a hostile or broken peer.
                    link.close(
                        close_code::PROTOCOL,
                        &format!("GOP for unknown subscription {}", header.request_id),
                    );
                }
                None => reader.stop(), // a subscription we already ended
            }
        });
    }
}
