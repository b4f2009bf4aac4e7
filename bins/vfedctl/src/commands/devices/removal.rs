//! `vfedctl devices removal ...` and `vfedctl devices relocate`: removing
//! or moving a device as a workflow (service `vfed.registry.v1.Removals`,
//! R18.11): request, approval by another administrator, the report to the
//! filing police office, then the removal or move.

use clap::{Args, Subcommand};
use vfed_proto::registry::v1::removals_client::RemovalsClient;
use vfed_proto::registry::v1::{
    ApproveRemovalRequest, CompleteRemovalRequest, ListRemovalsRequest, LocationType, NewLocation,
    RemovalRequest, ReportRemovalRequest, RequestRelocationRequest, RequestRemovalRequest,
};

use super::removal_view::{RemovalListView, RemovalView};
use crate::enums::EnumParser;
use crate::output;
use crate::session::{NodeChannel, Session};
use crate::values;

/// Steps of a removal or relocation request.
#[derive(Debug, Subcommand)]
pub enum RemovalCommand {
    /// Request that a local device be removed from service (an operator).
    #[command(after_help = "\
Example:
  vfedctl devices removal request 54050200001320000001 --reason 'junction rebuilt, pole taken down'")]
    Request(RequestArgs),
    /// Approve a request (an administrator other than the requester).
    #[command(
        after_help = "Example:\n  vfedctl devices removal approve 54050200001320000001-1764280000000"
    )]
    Approve {
        /// The request ID (`<device ID>-<13-digit unix ms>`).
        id: String,
    },
    /// Record the report to the filing police office (after the approval).
    #[command(after_help = "\
Example:
  vfedctl devices removal report 54050200001320000001-1764280000000 \\
      --office 'Naidong County PSB, filing office' --reference 'ND-BA-2026-0117'")]
    Report(ReportArgs),
    /// Make a reported request take effect: the device leaves the live
    /// catalog (removal) or its location changes (relocation).
    #[command(
        after_help = "Example:\n  vfedctl devices removal complete 54050200001320000001-1764280000000"
    )]
    Complete {
        /// The request ID.
        id: String,
    },
    /// Requests at the node, newest first.
    #[command(after_help = "\
Examples:
  vfedctl devices removal list
  vfedctl devices removal list --device 54050200001320000001 --open -o json")]
    List(ListArgs),
}

/// Arguments of `devices removal request`.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Device ID (20 digits) of a local device.
    #[arg(value_name = "ID", value_parser = values::device_id)]
    pub id: String,
    /// Why the device leaves service (kept in its record).
    #[arg(long)]
    pub reason: String,
}

/// Arguments of `devices removal report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The request ID.
    pub id: String,
    /// The filing police office reported to.
    #[arg(long)]
    pub office: String,
    /// The office's reference (receipt) number.
    #[arg(long)]
    pub reference: String,
    /// When the report was made (unix ms); default now.
    #[arg(long, value_name = "UNIX_MS")]
    pub reported_unix_ms: Option<i64>,
}

/// Arguments of `devices removal list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this device's requests.
    #[arg(long, value_parser = values::device_id)]
    pub device: Option<String>,
    /// Only requests that have not taken effect.
    #[arg(long)]
    pub open: bool,
}

/// Arguments of `devices relocate`.
#[derive(Debug, Args)]
pub struct RelocateArgs {
    /// Device ID (20 digits) of a local device.
    #[arg(value_name = "ID", value_parser = values::device_id)]
    pub id: String,
    /// Kind of the new place; prohibited places are refused (R7).
    #[arg(long, value_name = "TYPE", value_parser = EnumParser::<LocationType>::new())]
    pub location_type: LocationType,
    /// Street address of the new place.
    #[arg(long)]
    pub address: String,
    /// Latitude of the new place.
    #[arg(long, value_parser = values::latitude, allow_hyphen_values = true)]
    pub lat: Option<f64>,
    /// Longitude of the new place.
    #[arg(long, value_parser = values::longitude, allow_hyphen_values = true)]
    pub lon: Option<f64>,
    /// Why the device moves.
    #[arg(long)]
    pub reason: String,
}

/// Examples of `devices relocate`.
pub const RELOCATE_HELP: &str = "\
Files a relocation request; it then goes through `devices removal approve`, \
`report` and `complete` like a removal.

Example:
  vfedctl devices relocate 54050200001320000001 --location-type square \\
      --address 'Zetang Square, north gate' --reason 'junction rebuilt'";

async fn client(session: &Session) -> anyhow::Result<RemovalsClient<NodeChannel>> {
    Ok(RemovalsClient::new(session.channel().await?))
}

fn emit(session: &Session, headline: &str, request: &RemovalRequest) -> anyhow::Result<()> {
    let view = RemovalView::from(request);
    output::emit(session.format(), &view, || {
        format!("{headline}\n\n{}", view.detail())
    })
}

/// Runs `devices relocate`.
pub async fn relocate(args: RelocateArgs, session: &Session) -> anyhow::Result<()> {
    let r = session
        .call(
            client(session)
                .await?
                .request_relocation(RequestRelocationRequest {
                    device_id: args.id,
                    reason: args.reason,
                    new_location: Some(NewLocation {
                        location_type: args.location_type.into(),
                        address: args.address,
                        latitude: args.lat,
                        longitude: args.lon,
                    }),
                }),
        )
        .await?;
    let headline = format!(
        "relocation requested: {}; an administrator other than you approves it next",
        r.id
    );
    emit(session, &headline, &r)
}

/// Runs a `devices removal` command.
pub async fn run(command: RemovalCommand, session: &Session) -> anyhow::Result<()> {
    let mut client = client(session).await?;
    let (headline, r) = match command {
        RemovalCommand::Request(args) => {
            let r = session
                .call(client.request_removal(RequestRemovalRequest {
                    device_id: args.id,
                    reason: args.reason,
                }))
                .await?;
            let headline = format!(
                "removal requested: {}; an administrator other than you approves it next",
                r.id
            );
            (headline, r)
        }
        RemovalCommand::Approve { id } => {
            let r = session
                .call(client.approve_removal(ApproveRemovalRequest { id }))
                .await?;
            let headline = format!(
                "approved {}: record the report to the filing police office next",
                r.id
            );
            (headline, r)
        }
        RemovalCommand::Report(args) => {
            let r = session
                .call(client.report_removal(ReportRemovalRequest {
                    id: args.id,
                    office: args.office,
                    reference: args.reference,
                    reported_unix_ms: args.reported_unix_ms.unwrap_or(0),
                }))
                .await?;
            (format!("reported {}: it may take effect now", r.id), r)
        }
        RemovalCommand::Complete { id } => {
            let r = session
                .call(client.complete_removal(CompleteRemovalRequest { id }))
                .await?;
            (format!("{} took effect", r.id), r)
        }
        RemovalCommand::List(args) => {
            let list = session
                .call(client.list_removals(ListRemovalsRequest {
                    device_id: args.device.unwrap_or_default(),
                    open_only: args.open,
                }))
                .await?;
            let view = RemovalListView {
                requests: list.requests.iter().map(RemovalView::from).collect(),
            };
            return output::emit(session.format(), &view, || view.table());
        }
    };
    emit(session, &headline, &r)
}
