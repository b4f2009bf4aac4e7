//! `vfedctl audit tail`: the last entries of the node's audit log, optionally following.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Args;
use vfed_proto::audit::v1::TailRequest;
use vfed_proto::audit::v1::audit_client::AuditClient;

use super::view::{ENTRY_HEADER, EntryView, entries_table};
use crate::exit::{ConnectError, usage};
use crate::output::{self, Format};
use crate::session::Session;

pub const AFTER_HELP: &str = "\
Examples:
  vfedctl --demo /tmp/vfed audit tail
  vfedctl --demo /tmp/vfed audit tail -n 100 -o json | jq 'select(.outcome.kind == \"refused\")'
  vfedctl --demo /tmp/vfed audit tail --from 0 -n 0 -o json > audit.jsonl
  vfedctl --demo /tmp/vfed --node naidong audit tail --follow";

/// Arguments of `audit tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// How many entries: the last N (default 20), or with --from the first N from there
    /// (0: all). At most 10000.
    #[arg(short = 'n', long = "lines", value_name = "N", value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub lines: Option<u32>,
    /// Start at this entry index instead of the end.
    #[arg(long, value_name = "INDEX")]
    pub from: Option<u64>,
    /// Keep printing new entries as the node commits them (Ctrl-C to stop).
    #[arg(short, long)]
    pub follow: bool,
}

/// Runs `audit tail`.
pub async fn run(args: TailArgs, session: &Session) -> anyhow::Result<()> {
    if args.lines == Some(0) && args.from.is_none() {
        return Err(usage(
            "-n 0 (every entry) needs --from INDEX, e.g. --from 0",
        ));
    }
    let mut client = AuditClient::new(session.channel().await?);
    let request = TailRequest {
        limit: args
            .lines
            .unwrap_or(if args.from.is_some() { 0 } else { 20 }),
        from_index: args.from,
        follow: args.follow,
    };
    let mut stream = session.call(client.tail(request)).await?;
    let format = session.format();
    if !args.follow {
        let collect = async {
            let mut entries = Vec::new();
            while let Some(entry) = stream.message().await? {
                entries.push(EntryView::from_wire(&entry));
            }
            Ok::<_, tonic::Status>(entries)
        };
        let entries = tokio::time::timeout(session.timeout(), collect)
            .await
            .map_err(|_| {
                ConnectError(format!(
                    "the log was not read within {} (see --timeout)",
                    humantime::format_duration(session.timeout())
                ))
            })??;
        return match format {
            Format::Json => {
                let mut text = String::new();
                for e in &entries {
                    text.push_str(&serde_json::to_string(e).context("encoding JSON")?);
                    text.push('\n');
                }
                output::write(&text)
            }
            Format::Table => output::write(&entries_table(&entries)),
        };
    }
    if format == Format::Table && !line(&ENTRY_HEADER.join("  "))? {
        return Ok(());
    }
    let mut next_index = args.from;
    while let Some(entry) = stream.message().await? {
        let view = EntryView::from_wire(&entry);
        next_index = Some(entry.index + 1);
        let text = match format {
            Format::Json => serde_json::to_string(&view).context("encoding JSON")?,
            Format::Table => view.cells().join("  "),
        };
        if !line(&text)? {
            return Ok(());
        }
    }
    // A followed log never ends by itself: the node went away.
    Err(ConnectError(format!(
        "the node closed the followed audit log (it stopped or restarted); \
         continue with --follow --from {}",
        next_index.map_or_else(|| "INDEX".to_owned(), |i| i.to_string())
    ))
    .into())
}

/// Writes one line and flushes; `false` once stdout is closed (`| head`).
fn line(text: &str) -> anyhow::Result<bool> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing to stdout"),
    }
}
