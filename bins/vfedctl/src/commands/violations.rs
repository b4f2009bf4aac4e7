//! `vfedctl reports violations` and `vfedctl violations set-deadline|close`:
//! violations per unit for the police (service `vfed.violations.v1.Violations`, R24).

use clap::{Args, Subcommand};
use serde::Serialize;
use vfed_proto::violations::v1 as pb;
use vfed_proto::violations::v1::violations_client::ViolationsClient;

use crate::exit::usage;
use crate::output::{self, OutputArg};
use crate::session::{NodeChannel, Session};
use crate::table::Table;
use crate::timefmt::rfc3339;
use crate::values;

/// Reports.
#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Violations per unit that the police can act on (R24): prohibited-location attempts (R7),
    /// missing signs (R8), no responsible unit (R9), unaccepted systems in use (R11), overdue
    /// filing or verification (R12), access refused (R17); with the deadline and its state.
    /// `-o json`, or `-o html` for a page to print.
    #[command(after_help = "\
Examples:
  vfedctl reports violations
  vfedctl reports violations --unit 'Naidong Traffic Police' -o json
  vfedctl reports violations -o html > violations.html")]
    Violations(ReportArgs),
}

/// Arguments of `reports violations`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only this unit's violations (its exact name).
    #[arg(long)]
    pub unit: Option<String>,
    /// Also the closed and rectified ones.
    #[arg(long)]
    pub all: bool,
}

/// The police's decisions on violations (officers).
#[derive(Debug, Subcommand)]
pub enum ViolationsCommand {
    /// Set (or move) the rectification deadline of a violation.
    #[command(after_help = "\
Example:
  vfedctl violations set-deadline missing-signage:54050200001320000001 --deadline 2027-01-15 \\
      --note 'notice ND-2026-31'")]
    SetDeadline(DeadlineArgs),
    /// Close a violation: the notice is settled.
    #[command(after_help = "\
Example:
  vfedctl violations close missing-signage:54050200001320000001 --note 'sign posted, checked on site'")]
    Close(CloseArgs),
}

/// Arguments of `violations set-deadline`.
#[derive(Debug, Args)]
pub struct DeadlineArgs {
    /// The violation ID (`<kind>:<device ID or audit index>`).
    pub id: String,
    /// The deadline, YYYY-MM-DD.
    #[arg(long, value_parser = values::date)]
    pub deadline: String,
    /// A note (e.g. the notice's number).
    #[arg(long, default_value = "")]
    pub note: String,
}

/// Arguments of `violations close`.
#[derive(Debug, Args)]
pub struct CloseArgs {
    /// The violation ID.
    pub id: String,
    /// Why it is closed.
    #[arg(long)]
    pub note: String,
}

/// One violation, for JSON and text.
#[derive(Debug, Serialize)]
pub struct ViolationView {
    pub id: String,
    pub kind: String,
    pub requirement: String,
    pub unit: String,
    pub device_id: String,
    pub description: String,
    pub observed: Option<String>,
    pub state: String,
    pub deadline: String,
    pub deadline_set_by: String,
    pub note: String,
    pub closed_by: String,
    pub closed: Option<String>,
}

/// The report.
#[derive(Debug, Serialize)]
pub struct ReportView {
    pub unit: String,
    pub violations: Vec<ViolationView>,
    pub audit_entries_scanned: u64,
    pub truncated: bool,
}

fn name(text: &str, prefix: &str) -> String {
    text.trim_start_matches(prefix)
        .to_lowercase()
        .replace('_', "-")
}

impl From<&pb::Violation> for ViolationView {
    fn from(v: &pb::Violation) -> Self {
        ViolationView {
            id: v.id.clone(),
            kind: name(v.kind().as_str_name(), "VIOLATION_KIND_"),
            requirement: v.requirement.clone(),
            unit: v.unit.clone(),
            device_id: v.device_id.clone(),
            description: v.description.clone(),
            observed: rfc3339(v.observed_unix_ms),
            state: name(v.state().as_str_name(), "VIOLATION_STATE_"),
            deadline: v.deadline.clone(),
            deadline_set_by: v.deadline_set_by.clone(),
            note: v.note.clone(),
            closed_by: v.closed_by.clone(),
            closed: rfc3339(v.closed_unix_ms),
        }
    }
}

impl ReportView {
    fn table(&self) -> String {
        if self.violations.is_empty() {
            return "no violations\n".to_owned();
        }
        let more = if self.truncated {
            "(more violations than shown: narrow with --unit)\n"
        } else {
            ""
        };
        let mut t = Table::new(&[
            "UNIT",
            "REQ",
            "KIND",
            "ID",
            "STATE",
            "DEADLINE",
            "DESCRIPTION",
        ]);
        for v in &self.violations {
            t.row([
                v.unit.clone(),
                v.requirement.clone(),
                v.kind.clone(),
                v.id.clone(),
                v.state.clone(),
                v.deadline.clone(),
                v.description.clone(),
            ]);
        }
        format!("{}{more}", t.render())
    }
}

async fn client(session: &Session) -> anyhow::Result<ViolationsClient<NodeChannel>> {
    Ok(ViolationsClient::new(session.channel().await?))
}

/// Runs `reports ...`.
pub async fn reports(command: ReportsCommand, session: &Session) -> anyhow::Result<()> {
    let ReportsCommand::Violations(args) = command;
    let html = match session.output_arg() {
        Some(OutputArg::Path(path)) if path.as_os_str() == "html" => true,
        Some(OutputArg::Path(path)) => {
            return Err(usage(format!(
                "invalid value {:?} for -o/--output: expected table, json or html",
                path.display().to_string()
            )));
        }
        _ => false,
    };
    let unit = args.unit.unwrap_or_default();
    let response = session
        .call(
            client(session)
                .await?
                .list_violations(pb::ListViolationsRequest {
                    unit: unit.clone(),
                    include_closed: args.all,
                }),
        )
        .await?;
    let view = ReportView {
        unit,
        violations: response
            .violations
            .iter()
            .map(ViolationView::from)
            .collect(),
        audit_entries_scanned: response.audit_entries_scanned,
        truncated: response.truncated,
    };
    if html {
        return output::write(&super::violations_html::page(&view));
    }
    output::emit(session.format(), &view, || view.table())
}

/// Runs `violations ...`.
pub async fn run(command: ViolationsCommand, session: &Session) -> anyhow::Result<()> {
    let mut client = client(session).await?;
    let (headline, v) = match command {
        ViolationsCommand::SetDeadline(args) => {
            let v = session
                .call(client.set_deadline(pb::SetDeadlineRequest {
                    id: args.id,
                    deadline: args.deadline,
                    note: args.note,
                }))
                .await?;
            (format!("{}: rectify by {}", v.id, v.deadline), v)
        }
        ViolationsCommand::Close(args) => {
            let v = session
                .call(client.close_violation(pb::CloseViolationRequest {
                    id: args.id,
                    note: args.note,
                }))
                .await?;
            (format!("{} closed", v.id), v)
        }
    };
    let view = ViolationView::from(&v);
    output::emit(session.format(), &view, || {
        format!(
            "{headline} ({}, {}, {})\n",
            view.unit, view.requirement, view.state
        )
    })
}
