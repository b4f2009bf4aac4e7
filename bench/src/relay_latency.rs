//! Latency added by a relay hop, measured the same way for vfed and for
//! GStreamer: two probe viewers on one machine (one clock), one pulling the
//! stream straight from its source, one through the relay under test. A
//! frame's arrival through the relay minus its arrival straight from the
//! source is what the hop added. Frames are paired by an id (vfed: the
//! presentation timestamp; RTSP: a hash of the picture's bytes, which a relay
//! that does not re-encode leaves unchanged). vfed frames also carry their
//! ingest time, so vfed's absolute ingest -> egress latency is recorded too.
//!
//! The probes run on a thread of their own (a single-threaded runtime), so
//! that the load viewers on the main runtime do not delay their clocks.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::oneshot;

/// Which probe saw a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Straight from the source.
    Direct,
    /// Through the relay under test.
    Relayed,
}

/// Samples of one window, microseconds.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Relayed arrival minus direct arrival, per paired frame.
    pub hop_us: Vec<f64>,
    /// Direct arrival minus ingest stamp (vfed: one hop, the source relay).
    pub direct_us: Vec<f64>,
    /// Relayed arrival minus ingest stamp (vfed: two hops).
    pub relayed_us: Vec<f64>,
}

#[derive(Default)]
struct Pending {
    direct: HashMap<u64, i64>,
    relayed: HashMap<u64, i64>,
    samples: Samples,
}

/// Pairs the two probes' frames.
#[derive(Default)]
pub struct Latency {
    recording: AtomicBool,
    pending: Mutex<Pending>,
}

/// Arrivals older than this are forgotten unpaired (a GOP one probe lost;
/// a looped clip repeats its pictures only every few seconds).
const PAIR_WINDOW_US: i64 = 1_500_000;

impl Latency {
    /// A frame `id` arrived at `arrived_us` on `path`; `ingest_us` if stamped.
    pub fn frame(&self, path: Path, id: u64, arrived_us: i64, ingest_us: Option<i64>) {
        let recording = self.recording.load(Ordering::Relaxed);
        let mut p = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let p = &mut *p;
        if recording && let Some(ingest) = ingest_us.filter(|i| *i > 0) {
            let age = (arrived_us - ingest) as f64;
            match path {
                Path::Direct => p.samples.direct_us.push(age),
                Path::Relayed => p.samples.relayed_us.push(age),
            }
        }
        let (mine, other) = match path {
            Path::Direct => (&mut p.direct, &mut p.relayed),
            Path::Relayed => (&mut p.relayed, &mut p.direct),
        };
        match other.remove(&id) {
            Some(then) if (arrived_us - then).abs() < PAIR_WINDOW_US => {
                if recording {
                    let (direct, relayed) = match path {
                        Path::Direct => (arrived_us, then),
                        Path::Relayed => (then, arrived_us),
                    };
                    p.samples.hop_us.push((relayed - direct) as f64);
                }
            }
            _ => {
                mine.insert(id, arrived_us);
            }
        }
        if mine.len() + other.len() > 1000 {
            p.direct.retain(|_, t| arrived_us - *t < PAIR_WINDOW_US);
            p.relayed.retain(|_, t| arrived_us - *t < PAIR_WINDOW_US);
        }
    }

    /// Starts a window (forgets earlier samples).
    pub fn start(&self) {
        let mut p = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        p.samples = Samples::default();
        self.recording.store(true, Ordering::Relaxed);
    }

    /// Ends the window: its samples.
    pub fn stop(&self) -> Samples {
        self.recording.store(false, Ordering::Relaxed);
        std::mem::take(
            &mut self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .samples,
        )
    }
}

/// A thread running a single-threaded runtime for the probes; tasks spawned
/// on it stop when it is dropped.
pub struct ProbeThread {
    handle: tokio::runtime::Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProbeThread {
    /// Starts the thread.
    pub fn start() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("latency-probes".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where to spawn probe tasks.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for ProbeThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
