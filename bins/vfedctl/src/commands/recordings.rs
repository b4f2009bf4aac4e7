//! `vfedctl recordings list`, `status` and `play`: what the
//! node's archive holds (service `vfed.archive.v1.Archive`, R14.6). There
//! is no verb that deletes or changes a recording (R18.7).

mod play;

use clap::{Args, Subcommand};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vfed_proto::archive::v1::archive_client::ArchiveClient;
use vfed_proto::archive::v1::{ListSpansRequest, StatusRequest};

use crate::output;
use crate::session::Session;
use crate::table::Table;
use crate::timefmt::{duration, rfc3339};
use crate::values;

/// Recording commands.
#[derive(Debug, Subcommand)]
pub enum RecordingsCommand {
    /// A device's recorded spans and the gaps between them, each gap with
    /// its cause (camera offline, stream error, node down, disk full).
    #[command(after_help = "\
Examples:
  vfedctl --demo /tmp/vfed --node naidong recordings list 54050200001320000001
  vfedctl --demo /tmp/vfed --node naidong recordings list 54050200001320000001 --from 2026-12-02T14:00:00Z -o json")]
    List(ListArgs),
    /// The archive: volume, used, free, retention, oldest recording,
    /// streams recording now, sealing capability and alarms.
    #[command(after_help = "\
Examples:
  vfedctl --demo /tmp/vfed --node naidong recordings status
  vfedctl --demo /tmp/vfed --node naidong -o json recordings status")]
    Status,
    /// The playback URLs of a range (HLS VOD and one MP4), with a token.
    #[command(after_help = play::AFTER_HELP)]
    Play(play::PlayArgs),
}

/// Arguments of `recordings list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The 20-digit device ID.
    #[arg(value_name = "DEVICE_ID", value_parser = values::device_id)]
    pub device: String,
    /// `main` (default) or `sub`.
    #[arg(long, default_value = "main", value_parser = ["main", "sub"])]
    pub profile: String,
    /// From this time (RFC 3339); default: the oldest recording.
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub from: Option<i64>,
    /// Up to this time (RFC 3339); default: now.
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub to: Option<i64>,
}

/// An RFC 3339 time as Unix ms.
fn instant(input: &str) -> Result<i64, String> {
    let t = OffsetDateTime::parse(input.trim(), &Rfc3339)
        .map_err(|e| format!("expected an RFC 3339 time like 2026-12-02T14:00:00Z ({e})"))?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms)
        .ok()
        .filter(|&ms| ms > 0)
        .ok_or_else(|| "must be after 1970".to_owned())
}

#[derive(Serialize)]
struct SpanView {
    start: String,
    end: String,
    start_unix_ms: i64,
    end_unix_ms: i64,
    fragments: u64,
    bytes: u64,
}

#[derive(Serialize)]
struct GapView {
    start: String,
    end: String,
    start_unix_ms: i64,
    end_unix_ms: i64,
    cause: String,
}

#[derive(Serialize)]
struct ListView {
    device_id: String,
    profile: String,
    spans: Vec<SpanView>,
    gaps: Vec<GapView>,
}

#[derive(Serialize)]
struct StreamView {
    key: String,
    current_file: String,
    last_fragment: String,
}

#[derive(Serialize)]
struct StatusView {
    dir: String,
    volume_bytes: u64,
    used_bytes: u64,
    free_bytes: u64,
    retention_seconds: u64,
    oldest: Option<String>,
    files: u64,
    bytes_recorded: u64,
    streams: Vec<StreamView>,
    sealing: bool,
    sealing_detail: String,
    alarms: Vec<String>,
    disk_state: String,
    disk_warn: f64,
    disk_critical: f64,
    held_files: u64,
    files_deleted: u64,
}

fn time_text(ms: i64) -> String {
    rfc3339(ms).unwrap_or_else(|| "-".to_owned())
}

/// Runs a recordings command.
pub async fn run(command: RecordingsCommand, session: &Session) -> anyhow::Result<()> {
    if let RecordingsCommand::Play(args) = command {
        return play::run(args, session).await;
    }
    let mut client = ArchiveClient::new(session.channel().await?);
    match command {
        RecordingsCommand::List(args) => {
            let r = session
                .call(client.list_spans(ListSpansRequest {
                    device_id: args.device,
                    profile: args.profile,
                    from_unix_ms: args.from.unwrap_or(0),
                    to_unix_ms: args.to.unwrap_or(0),
                }))
                .await?;
            let view = ListView {
                device_id: r.device_id.clone(),
                profile: r.profile.clone(),
                spans: r
                    .spans
                    .iter()
                    .map(|s| SpanView {
                        start: time_text(s.start_unix_ms),
                        end: time_text(s.end_unix_ms),
                        start_unix_ms: s.start_unix_ms,
                        end_unix_ms: s.end_unix_ms,
                        fragments: s.fragments,
                        bytes: s.bytes,
                    })
                    .collect(),
                gaps: r
                    .gaps
                    .iter()
                    .map(|g| GapView {
                        start: time_text(g.start_unix_ms),
                        end: time_text(g.end_unix_ms),
                        start_unix_ms: g.start_unix_ms,
                        end_unix_ms: g.end_unix_ms,
                        cause: g.cause.clone(),
                    })
                    .collect(),
            };
            output::emit(session.format(), &view, || {
                // Spans and gaps in time order, one row each.
                let mut rows: Vec<(i64, [String; 5])> = Vec::new();
                for s in &view.spans {
                    rows.push((
                        s.start_unix_ms,
                        [
                            "span".into(),
                            s.start.clone(),
                            s.end.clone(),
                            duration(s.end_unix_ms - s.start_unix_ms),
                            format!("{} fragments, {} bytes", s.fragments, s.bytes),
                        ],
                    ));
                }
                for g in &view.gaps {
                    rows.push((
                        g.start_unix_ms,
                        [
                            "gap".into(),
                            g.start.clone(),
                            g.end.clone(),
                            duration(g.end_unix_ms - g.start_unix_ms),
                            g.cause.clone(),
                        ],
                    ));
                }
                if rows.is_empty() {
                    return "no recordings in the range\n".to_owned();
                }
                rows.sort_by_key(|r| r.0);
                let mut t = Table::new(&["KIND", "START", "END", "DURATION", "DETAIL"]);
                for (_, row) in rows {
                    t.row(row);
                }
                t.render()
            })
        }
        RecordingsCommand::Play(_) => Ok(()),
        RecordingsCommand::Status => {
            let s = session.call(client.status(StatusRequest {})).await?;
            let view = StatusView {
                dir: s.dir.clone(),
                volume_bytes: s.volume_bytes,
                used_bytes: s.used_bytes,
                free_bytes: s.free_bytes,
                retention_seconds: s.retention_seconds,
                oldest: rfc3339(s.oldest_unix_ms),
                files: s.files,
                bytes_recorded: s.bytes_recorded,
                streams: s
                    .streams
                    .iter()
                    .map(|r| StreamView {
                        key: r.key.clone(),
                        current_file: r.current_file.clone(),
                        last_fragment: time_text(r.last_fragment_unix_ms),
                    })
                    .collect(),
                sealing: s.sealing,
                sealing_detail: s.sealing_detail.clone(),
                alarms: s.alarms.clone(),
                disk_state: s.disk_state.clone(),
                disk_warn: s.disk_warn,
                disk_critical: s.disk_critical,
                held_files: s.held_files,
                files_deleted: s.files_deleted,
            };
            output::emit(session.format(), &view, || {
                let mut t = Table::headless();
                let gib = |b: u64| format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30));
                t.row(["dir".to_owned(), view.dir.clone()]);
                t.row(["volume".to_owned(), gib(view.volume_bytes)]);
                t.row(["used".to_owned(), gib(view.used_bytes)]);
                t.row(["free".to_owned(), gib(view.free_bytes)]);
                t.row([
                    "retention".to_owned(),
                    format!("{} days", view.retention_seconds / 86_400),
                ]);
                t.row([
                    "oldest".to_owned(),
                    view.oldest.clone().unwrap_or_else(|| "-".to_owned()),
                ]);
                t.row([
                    "recorded".to_owned(),
                    format!("{} files, {} bytes", view.files, view.bytes_recorded),
                ]);
                t.row([
                    "sealing".to_owned(),
                    if view.sealing {
                        "on (FS_IMMUTABLE_FL)".to_owned()
                    } else {
                        view.sealing_detail.clone()
                    },
                ]);
                t.row([
                    "disk".to_owned(),
                    format!(
                        "{} (warn at {:.0}%, critical at {:.0}%: recording stops)",
                        view.disk_state,
                        view.disk_warn * 100.0,
                        view.disk_critical * 100.0
                    ),
                ]);
                t.row([
                    "retention sweep".to_owned(),
                    format!(
                        "{} files held by retrieval requests, {} deleted past retention since start",
                        view.held_files, view.files_deleted
                    ),
                ]);
                t.row([
                    "alarms".to_owned(),
                    if view.alarms.is_empty() {
                        "none".to_owned()
                    } else {
                        view.alarms.join("; ")
                    },
                ]);
                let mut out = t.render();
                if view.streams.is_empty() {
                    out.push_str("no stream recording now\n");
                } else {
                    let mut t = Table::new(&["STREAM", "FILE", "LAST FRAGMENT"]);
                    for s in &view.streams {
                        t.row([
                            s.key.clone(),
                            s.current_file.clone(),
                            s.last_fragment.clone(),
                        ]);
                    }
                    out.push_str(&t.render());
                }
                out
            })
        }
    }
}
