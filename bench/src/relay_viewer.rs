//! A viewer of the relay benchmark: one QUIC connection (its own UDP socket,
//! mutual TLS as a `tool/...` identity, like a separate machine would have)
//! speaking `vfed-relay/1` directly (docs/relay-protocol.md): `Hello`, one
//! `Subscribe` per key, then GOP streams read frame by frame with the
//! relay's own sans-IO decoders. It only counts what arrives and, for a
//! latency probe, hands each frame's arrival time to a callback.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;
use vfed_pki::{Identity, ServerExpectation, TlsMaterial};
use vfed_proto::relay::v1::control_message::Message;
use vfed_proto::relay::v1::{ControlMessage, Hello, Subscribe};
use vfed_relay::endpoint;
use vfed_relay::wire::{
    Decoded, FRAME_HEADER_LEN, FrameHeader, GOP_HEADER_LEN, decode_control, decode_frame_header,
    decode_gop_header, encode_control,
};

use crate::relay_source::unix_us;

/// Called for every complete frame: its header, payload and arrival (unix µs).
pub type OnFrame = Arc<dyn Fn(&FrameHeader, &Bytes, i64) + Send + Sync>;

/// What a viewer received.
#[derive(Debug, Default)]
pub struct ViewerStats {
    /// Frame bytes (29-byte headers and payloads).
    pub bytes: AtomicU64,
    /// Complete frames.
    pub frames: AtomicU64,
    /// GOP streams read to their end.
    pub gops: AtomicU64,
    /// GOP streams the relay reset (dropped because this viewer was behind).
    pub gops_cut: AtomicU64,
    /// `SubscribeOk` answers.
    pub subscribed: AtomicU64,
    /// `SubscribeError` or `SubscriptionEnded` messages.
    pub refused: AtomicU64,
    /// The last refusal's message.
    pub last_refusal: std::sync::Mutex<Option<String>>,
}

/// A connected viewer; closing happens on drop.
pub struct Viewer {
    _endpoint: quinn::Endpoint,
    connection: quinn::Connection,
    /// Counters.
    pub stats: Arc<ViewerStats>,
    tasks: Vec<JoinHandle<()>>,
}

impl Viewer {
    /// Connects to the relay of node `node_id` at `addr` and subscribes to
    /// `keys`; `on_frame` sees every frame. Call from the runtime that
    /// should run the viewer.
    pub async fn start(
        material: &TlsMaterial,
        node_id: &str,
        addr: SocketAddr,
        keys: &[String],
        on_frame: Option<OnFrame>,
    ) -> anyhow::Result<Self> {
        let endpoint = endpoint::client("127.0.0.1:0".parse()?)?;
        let config = endpoint::client_config(
            material,
            ServerExpectation::Exactly(Identity::node(node_id)?),
        )?;
        let connection = endpoint
            .connect_with(config, addr, "vfed-relay")?
            .await
            .with_context(|| format!("QUIC connect to {addr}"))?;
        let (mut send, recv) = connection.open_bi().await?;
        let mut hello = encode_control(&ControlMessage {
            message: Some(Message::Hello(Hello {
                node_id: "bench".into(),
                version: 1,
            })),
        })
        .to_vec();
        for (i, key) in keys.iter().enumerate() {
            hello.extend_from_slice(&encode_control(&ControlMessage {
                message: Some(Message::Subscribe(Subscribe {
                    request_id: i as u64 + 1,
                    key: key.clone(),
                    ..Subscribe::default()
                })),
            }));
        }
        send.write_all(&hello).await?;
        let stats = Arc::new(ViewerStats::default());
        let tasks = vec![
            tokio::spawn(control(send, recv, stats.clone())),
            tokio::spawn(gops(connection.clone(), stats.clone(), on_frame)),
        ];
        Ok(Self {
            _endpoint: endpoint,
            connection,
            stats,
            tasks,
        })
    }

    /// Frames received so far.
    pub fn frames(&self) -> u64 {
        self.stats.frames.load(Ordering::Relaxed)
    }

    /// Bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.stats.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.connection
            .close(quinn::VarInt::from_u32(0), b"viewer done");
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Reads control messages: counts answers; keeps the send side open.
async fn control(_send: quinn::SendStream, mut recv: quinn::RecvStream, stats: Arc<ViewerStats>) {
    let mut buf = BytesMut::new();
    loop {
        while let Ok(Decoded::Value(message, used)) = decode_control(&buf) {
            let _ = buf.split_to(used);
            match message.message {
                Some(Message::SubscribeOk(_)) => {
                    stats.subscribed.fetch_add(1, Ordering::Relaxed);
                }
                Some(Message::SubscribeError(e)) => refused(&stats, e.message),
                Some(Message::Ended(e)) => refused(&stats, e.message),
                _ => {}
            }
        }
        match recv.read_chunk(64 * 1024, true).await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk.bytes),
            _ => return,
        }
    }
}

fn refused(stats: &ViewerStats, message: String) {
    stats.refused.fetch_add(1, Ordering::Relaxed);
    *stats
        .last_refusal
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(message);
}

/// Accepts GOP streams, one task each.
async fn gops(connection: quinn::Connection, stats: Arc<ViewerStats>, on_frame: Option<OnFrame>) {
    while let Ok(stream) = connection.accept_uni().await {
        tokio::spawn(gop(stream, stats.clone(), on_frame.clone()));
    }
}

/// Exact reads over a stream's chunks (a frame within one chunk is sliced, not copied).
struct Chunks {
    stream: quinn::RecvStream,
    pending: Bytes,
}

enum End {
    Finished,
    Reset,
}

impl Chunks {
    async fn exact(&mut self, n: usize) -> Result<Bytes, End> {
        if self.pending.len() >= n {
            return Ok(self.pending.split_to(n));
        }
        let mut out = BytesMut::with_capacity(n);
        out.extend_from_slice(&std::mem::take(&mut self.pending));
        while out.len() < n {
            match self.stream.read_chunk(usize::MAX, true).await {
                Ok(Some(mut chunk)) => {
                    let need = n - out.len();
                    if chunk.bytes.len() > need {
                        self.pending = chunk.bytes.split_off(need);
                    }
                    out.extend_from_slice(&chunk.bytes);
                }
                Ok(None) => return Err(End::Finished),
                Err(_) => return Err(End::Reset),
            }
        }
        Ok(out.freeze())
    }
}

async fn gop(stream: quinn::RecvStream, stats: Arc<ViewerStats>, on_frame: Option<OnFrame>) {
    let mut chunks = Chunks {
        stream,
        pending: Bytes::new(),
    };
    let end: Result<(), End> = async {
        let header = chunks.exact(GOP_HEADER_LEN).await?;
        if !matches!(decode_gop_header(&header), Ok(Decoded::Value(..))) {
            return Err(End::Reset);
        }
        loop {
            let raw = chunks.exact(FRAME_HEADER_LEN).await?;
            let mut fixed = [0u8; FRAME_HEADER_LEN];
            fixed.copy_from_slice(&raw);
            let header = decode_frame_header(&fixed).map_err(|_| End::Reset)?;
            let payload = chunks.exact(header.len).await.map_err(|_| End::Reset)?;
            let arrived = unix_us();
            stats.frames.fetch_add(1, Ordering::Relaxed);
            stats
                .bytes
                .fetch_add((FRAME_HEADER_LEN + header.len) as u64, Ordering::Relaxed);
            if let Some(f) = &on_frame {
                f(&header, &payload, arrived);
            }
        }
    }
    .await;
    match end {
        Ok(()) | Err(End::Finished) => stats.gops.fetch_add(1, Ordering::Relaxed),
        Err(End::Reset) => stats.gops_cut.fetch_add(1, Ordering::Relaxed),
    };
}

/// Waits until every viewer has received a frame.
pub async fn wait_all_playing(viewers: &[Viewer], timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let waiting = viewers.iter().filter(|v| v.frames() == 0).count();
        if waiting == 0 {
            return Ok(());
        }
        let refused: u64 = viewers
            .iter()
            .filter(|v| v.frames() == 0)
            .map(|v| v.stats.refused.load(Ordering::Relaxed))
            .sum();
        if tokio::time::Instant::now() >= deadline || refused as usize == waiting {
            anyhow::bail!(
                "{waiting} of {} viewers not playing (waited up to {timeout:?}; {refused} refused{})",
                viewers.len(),
                viewers
                    .iter()
                    .find_map(|v| v.stats.last_refusal.lock().ok()?.clone())
                    .map_or_else(String::new, |m| format!(": {m}"))
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
