//! `vfedctl filings overdue`.

use clap::{Args, Subcommand};
use vfed_proto::registry::v1::ListOverdueFilingsRequest;

use crate::output;
use crate::session::Session;
use crate::table::Table;
use crate::values;
use crate::view::OverdueListView;

/// Filing commands.
#[derive(Debug, Subcommand)]
pub enum FilingsCommand {
    /// Devices whose filing (30 days after acceptance) or police
    /// verification (30 days after filing) is overdue (R12).
    #[command(after_help = "\
Examples:
  vfedctl filings overdue
  vfedctl filings overdue --as-of 2025-01-31 -o json")]
    Overdue(OverdueArgs),
}

/// Arguments of `filings overdue`.
#[derive(Debug, Args)]
pub struct OverdueArgs {
    /// Evaluate as of this date (YYYY-MM-DD) instead of today.
    #[arg(long, value_name = "DATE", value_parser = values::date)]
    pub as_of: Option<String>,
}

/// Runs a filings command.
pub async fn run(command: FilingsCommand, session: &Session) -> anyhow::Result<()> {
    let FilingsCommand::Overdue(args) = command;
    let mut client = session.registry().await?;
    let response = session
        .call(client.list_overdue_filings(ListOverdueFilingsRequest {
            as_of: args.as_of.unwrap_or_default(),
        }))
        .await?;
    let view = OverdueListView::from(&response);
    output::emit(session.format(), &view, || {
        if view.overdue.is_empty() {
            return "no overdue filings\n".to_owned();
        }
        let mut t = Table::new(&[
            "DEVICE",
            "NAME",
            "UNIT",
            "MISSING",
            "DUE ON",
            "DAYS OVERDUE",
        ]);
        for o in &view.overdue {
            t.row([
                o.device_id.clone(),
                o.device_name.clone(),
                o.unit.clone(),
                o.missing.clone(),
                o.due_on.clone(),
                o.days_overdue.to_string(),
            ]);
        }
        t.render()
    })
}
