//! `vfedctl streams list` and `vfedctl streams show`: the live streams a
//! node knows (service `vfed.relay.v1.Streams`).

use clap::Subcommand;
use vfed_proto::relay::v1::{GetStreamRequest, ListStreamsRequest, StreamInfo};

use crate::output;
use crate::render::key_values;
use crate::session::Session;
use crate::table::Table;
use crate::values;
use crate::view::{SourceStatusView, StreamListView, StreamView};

/// Stream commands.
#[derive(Debug, Subcommand)]
pub enum StreamsCommand {
    /// Streams known at the node, one row each: key, the source's state
    /// (`connecting`, `playing`, `retrying`), codec, size, frame rate,
    /// bitrate measured at this node, viewers, source (`local` gateway or
    /// `node/<id>` over the relay), GOPs dropped for slow viewers, upstream
    /// reconnects, flags (`B-frames`) and, when the source fails, why (`401
    /// credentials rejected`, `connection refused`, `404 path not found`...)
    /// with the failed attempts and the time to the next one.
    ///
    /// With `-o json` every field is given raw (`fps_milli`, `bitrate_bps`)
    /// and the codec parameter sets as base64 (`sps_base64`...); the table
    /// leaves the parameter sets out.
    #[command(after_help = "\
Examples:
  vfedctl --demo /tmp/vfed streams list
  vfedctl --demo /tmp/vfed --node naidong streams list
  vfedctl --demo /tmp/vfed -o json streams list | jq '.streams[].key'")]
    List,
    /// One stream in detail (same fields as `list`, one per line, with the
    /// last error in full, the reason a viewer is given, and `Timestamps`:
    /// `from the camera`, or, for a camera whose RTP timestamps are broken
    /// (constant or jumping), what was wrong and the frame rate its frames
    /// are re-timed at).
    #[command(after_help = "\
Examples:
  vfedctl --demo /tmp/vfed streams show 54050200001320000001
  vfedctl --demo /tmp/vfed streams show 54050200001320000001/sub -o json")]
    Show {
        /// `<device id>[/<profile>]`: 20-digit device ID, optionally
        /// followed by `/main` (the default) or `/sub`.
        #[arg(id = "stream", value_name = "DEVICE_ID[/PROFILE]", value_parser = values::stream_key)]
        stream: String,
    },
}

/// Runs a stream command.
pub async fn run(command: StreamsCommand, session: &Session) -> anyhow::Result<()> {
    let mut client = session.streams().await?;
    match command {
        StreamsCommand::List => {
            let mut response = session
                .call(client.list_streams(ListStreamsRequest {}))
                .await?;
            response.streams.sort_by(|a, b| a.key.cmp(&b.key));
            let view = StreamListView {
                streams: response.streams.iter().map(StreamView::from).collect(),
            };
            output::emit(session.format(), &view, || streams_table(&response.streams))
        }
        StreamsCommand::Show { stream: key } => {
            let info = session
                .call(client.get_stream(GetStreamRequest { key }))
                .await?;
            output::emit(session.format(), &StreamView::from(&info), || {
                stream_detail(&info)
            })
        }
    }
}

/// `1280x720`, or `-` when unknown.
fn size(s: &StreamInfo) -> String {
    if s.width == 0 || s.height == 0 {
        "-".to_owned()
    } else {
        format!("{}x{}", s.width, s.height)
    }
}

/// Frames per second with up to two decimals (`25`, `29.97`), `-` when
/// unknown.
fn fps(fps_milli: u32) -> String {
    if fps_milli == 0 {
        return "-".to_owned();
    }
    let text = format!("{:.2}", f64::from(fps_milli) / 1000.0);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A bitrate in SI units with one decimal: `4.0 Mbit/s`, `512.0 kbit/s`.
pub fn bitrate(bps: u64) -> String {
    // u64 -> f64 is exact below 2^53 bit/s, far above any real stream.
    #[allow(clippy::cast_precision_loss)]
    let value = bps as f64;
    if bps == 0 {
        "-".to_owned()
    } else if value >= 1e9 {
        format!("{:.1} Gbit/s", value / 1e9)
    } else if value >= 1e6 {
        format!("{:.1} Mbit/s", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} kbit/s", value / 1e3)
    } else {
        format!("{bps} bit/s")
    }
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

/// `401 credentials rejected (3 attempts, retry in 2s)`, or `-` when
/// nothing is wrong.
fn problem(status: &SourceStatusView) -> String {
    if status.cause.is_empty() {
        return "-".to_owned();
    }
    let mut text = status.cause.clone();
    let mut details = Vec::new();
    if status.attempts > 0 {
        let plural = if status.attempts == 1 { "" } else { "s" };
        details.push(format!("{} attempt{plural}", status.attempts));
    }
    if let Some(ms) = status.next_retry_ms {
        details.push(format!(
            "retry in {:.1}s",
            f64::from(u32::try_from(ms).unwrap_or(u32::MAX)) / 1000.0
        ));
    }
    if !details.is_empty() {
        text.push_str(&format!(" ({})", details.join(", ")));
    }
    text
}

fn flags(status: &SourceStatusView) -> String {
    if status.flags.is_empty() {
        "-".to_owned()
    } else {
        status.flags.join(",")
    }
}

/// `from the camera`, or what was wrong with them and how they are re-timed.
fn timestamps(status: &SourceStatusView) -> String {
    if status.retiming.is_empty() {
        "from the camera".to_owned()
    } else {
        status.retiming.clone()
    }
}

fn streams_table(streams: &[StreamInfo]) -> String {
    if streams.is_empty() {
        return "no streams\n".to_owned();
    }
    let mut t = Table::new(&[
        "KEY",
        "STATE",
        "CODEC",
        "SIZE",
        "FPS",
        "BITRATE",
        "VIEWERS",
        "SOURCE",
        "DROPPED GOPS",
        "UPSTREAM RECONNECTS",
        "FLAGS",
        "PROBLEM",
    ]);
    for s in streams {
        let status = SourceStatusView::from(s.status.as_ref());
        t.row([
            s.key.clone(),
            status.state.to_owned(),
            or_dash(&s.codec),
            size(s),
            fps(s.fps_milli),
            bitrate(s.bitrate_bps),
            s.viewers.to_string(),
            or_dash(&s.source),
            s.gops_dropped.to_string(),
            s.upstream_reconnects.to_string(),
            flags(&status),
            problem(&status),
        ]);
    }
    t.render()
}

fn stream_detail(s: &StreamInfo) -> String {
    let status = SourceStatusView::from(s.status.as_ref());
    key_values(&[
        ("Key", s.key.clone()),
        ("State", status.state.to_owned()),
        ("Problem", problem(&status)),
        ("Last error", or_dash(&status.last_error)),
        ("Reason for viewers", or_dash(&status.reason)),
        ("Flags", flags(&status)),
        ("Timestamps", timestamps(&status)),
        ("Codec", or_dash(&s.codec)),
        ("Size", size(s)),
        ("FPS", fps(s.fps_milli)),
        ("Bitrate", bitrate(s.bitrate_bps)),
        ("Viewers", s.viewers.to_string()),
        ("Source", or_dash(&s.source)),
        ("Dropped GOPs", s.gops_dropped.to_string()),
        ("Upstream reconnects", s.upstream_reconnects.to_string()),
        (
            "Parameter sets",
            format!(
                "{} VPS, {} SPS, {} PPS (bytes with -o json)",
                s.vps.len(),
                s.sps.len(),
                s.pps.len()
            ),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(bitrate(4_000_000), "4.0 Mbit/s");
        assert_eq!(bitrate(512_000), "512.0 kbit/s");
        assert_eq!(bitrate(999), "999 bit/s");
        assert_eq!(bitrate(0), "-");
        assert_eq!(bitrate(2_500_000_000), "2.5 Gbit/s");
        assert_eq!(fps(25_000), "25");
        assert_eq!(fps(29_970), "29.97");
        assert_eq!(fps(12_500), "12.5");
        assert_eq!(fps(0), "-");
    }

    #[test]
    fn stream_rows() {
        let streams = [StreamInfo {
            key: "54050200001320000001/main".into(),
            codec: "h264".into(),
            width: 1280,
            height: 720,
            fps_milli: 25_000,
            bitrate_bps: 4_000_000,
            viewers: 1,
            source: "node/54050200002000000001".into(),
            sps: vec![vec![0x67, 0x64]],
            ..StreamInfo::default()
        }];
        let text = streams_table(&streams);
        let mut lines = text.lines();
        assert!(lines.next().is_some_and(|h| h.starts_with("KEY ")));
        let row = lines.next().unwrap_or_default();
        for cell in [
            "54050200001320000001/main",
            "h264",
            "1280x720",
            " 25 ",
            "4.0 Mbit/s",
            "node/54050200002000000001",
        ] {
            assert!(row.contains(cell), "{cell} missing from {row:?}");
        }
        assert!(!row.contains("Z2Q"), "no parameter sets in the table");
    }

    #[test]
    fn a_failing_source_says_why() {
        use vfed_proto::relay::v1::{SourceState, SourceStatus};
        let streams = [StreamInfo {
            key: "54050200001320000041/main".into(),
            source: "local".into(),
            status: Some(SourceStatus {
                state: SourceState::Retrying.into(),
                cause: "401 credentials rejected".into(),
                attempts: 3,
                next_retry_ms: 1700,
                flags: vec!["B-frames".into()],
                ..SourceStatus::default()
            }),
            ..StreamInfo::default()
        }];
        let text = streams_table(&streams);
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default();
        assert!(
            header.contains(" STATE ") && header.ends_with("PROBLEM"),
            "{header}"
        );
        let row = lines.next().unwrap_or_default();
        for cell in [
            " retrying ",
            " B-frames ",
            "401 credentials rejected (3 attempts, retry in 1.7s)",
        ] {
            assert!(row.contains(cell), "{cell} missing from {row:?}");
        }
        let view = SourceStatusView::from(streams[0].status.as_ref());
        assert_eq!(view.state, "retrying");
        assert_eq!(timestamps(&view), "from the camera");
        assert_eq!(problem(&SourceStatusView::from(None)), "-");
    }
}
