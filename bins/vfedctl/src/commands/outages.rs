//! `vfedctl outages list`.

use clap::{Args, Subcommand};
use vfed_proto::registry::v1::ListOutagesRequest;

use crate::output;
use crate::session::Session;
use crate::table::Table;
use crate::timefmt::{duration, now_ms, rfc3339};
use crate::values;
use crate::view::OutageListView;

/// Outage commands.
#[derive(Debug, Subcommand)]
pub enum OutagesCommand {
    /// Offline periods of local devices (3 missed keepalives -> offline).
    #[command(after_help = "\
Examples:
  vfedctl outages list --open
  vfedctl outages list --device 54050200001320000001 --limit 20")]
    List(ListArgs),
}

/// Arguments of `outages list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this device (20-digit device ID).
    #[arg(long, value_name = "ID", value_parser = values::device_id)]
    pub device: Option<String>,

    /// Only outages still in progress.
    #[arg(long)]
    pub open: bool,

    /// At most this many outages (server default when unset).
    #[arg(long)]
    pub limit: Option<u32>,
}

/// Runs an outages command.
pub async fn run(command: OutagesCommand, session: &Session) -> anyhow::Result<()> {
    let OutagesCommand::List(args) = command;
    let mut client = session.registry().await?;
    let response = session
        .call(client.list_outages(ListOutagesRequest {
            device_id: args.device.unwrap_or_default(),
            open_only: args.open,
            limit: args.limit.unwrap_or(0),
        }))
        .await?;
    output::emit(session.format(), &OutageListView::from(&response), || {
        if response.outages.is_empty() {
            return "no outages\n".to_owned();
        }
        let now = now_ms();
        let mut t = Table::new(&["DEVICE", "START", "END", "DURATION", "CAUSE"]);
        for o in &response.outages {
            let (end, took) = if o.end_unix_ms == 0 {
                let so_far = if o.duration_ms > 0 {
                    o.duration_ms
                } else {
                    now.saturating_sub(o.start_unix_ms)
                };
                ("ongoing".to_owned(), format!("{} so far", duration(so_far)))
            } else {
                (
                    rfc3339(o.end_unix_ms).unwrap_or_default(),
                    duration(o.duration_ms),
                )
            };
            t.row([
                o.device_id.clone(),
                rfc3339(o.start_unix_ms).unwrap_or_else(|| "-".to_owned()),
                end,
                took,
                o.cause.clone(),
            ]);
        }
        t.render()
    })
}
