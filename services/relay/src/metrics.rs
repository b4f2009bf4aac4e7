//! Per-stream metrics on `/metrics`: viewers, measured bitrate, GOPs dropped
//! for slow readers and upstream reconnects, sampled from the relay.

use std::collections::HashMap;
use std::time::Duration;

use crate::Relay;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Labels of a stream metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StreamLabels {
    /// `<device id>/<profile>`.
    stream: String,
    /// `local` or `node/<id>`.
    source: String,
}

#[derive(Clone, Default)]
struct StreamMetrics {
    viewers: Family<StreamLabels, Gauge>,
    bitrate: Family<StreamLabels, Gauge>,
    gops_dropped: Family<StreamLabels, Gauge>,
    reconnects: Family<StreamLabels, Gauge>,
}

/// Registers the stream metrics and samples `relay` every second until `shutdown`.
pub(crate) fn register(
    registry: &mut Registry,
    relay: Relay,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + use<> {
    let m = StreamMetrics::default();
    registry.register(
        "vfed_stream_viewers",
        "Readers of a stream at this node",
        m.viewers.clone(),
    );
    registry.register(
        "vfed_stream_bitrate_bps",
        "Measured bitrate of a stream into this node",
        m.bitrate.clone(),
    );
    registry.register(
        "vfed_stream_gops_dropped",
        "GOPs skipped for readers that fell behind",
        m.gops_dropped.clone(),
    );
    registry.register(
        "vfed_stream_upstream_reconnects",
        "Times this node re-established a stream's upstream",
        m.reconnects.clone(),
    );
    sample(m, relay, shutdown)
}

async fn sample(m: StreamMetrics, relay: Relay, shutdown: CancellationToken) {
    let mut previous: HashMap<StreamLabels, (u64, Instant)> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        let mut seen = HashMap::new();
        for info in relay.streams() {
            let labels = StreamLabels {
                stream: info.key.clone(),
                source: info.source.clone(),
            };
            let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            m.viewers
                .get_or_create(&labels)
                .set(i64::from(info.viewers));
            m.gops_dropped
                .get_or_create(&labels)
                .set(gauge(info.gops_dropped));
            m.reconnects
                .get_or_create(&labels)
                .set(gauge(info.upstream_reconnects));
            if let Some((bytes, at)) = previous.get(&labels) {
                let secs = now.duration_since(*at).as_secs_f64();
                if secs > 0.0 {
                    let bps = info.bytes_in.saturating_sub(*bytes) as f64 * 8.0 / secs;
                    m.bitrate.get_or_create(&labels).set(bps as i64);
                }
            }
            seen.insert(labels, (info.bytes_in, now));
        }
        for gone in previous.keys().filter(|l| !seen.contains_key(*l)) {
            for family in [&m.viewers, &m.bitrate, &m.gops_dropped, &m.reconnects] {
                family.remove(gone);
            }
        }
        previous = seen;
    }
}
