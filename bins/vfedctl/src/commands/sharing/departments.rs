//! `vfedctl departments create|list`.

use clap::{Args, Subcommand};
use vfed_proto::sharing::v1 as pb;
use vfed_proto::sharing::v1::sharing_client::SharingClient;

use super::view::{DepartmentListView, DepartmentView};
use crate::output;
use crate::session::Session;

/// Department commands.
#[derive(Debug, Subcommand)]
pub enum DepartmentsCommand {
    /// Create a department that grants can name (admins).
    #[command(after_help = "\
Example:
  vfedctl departments create traffic --display-name 'Shannan Traffic Police Detachment'")]
    Create(CreateArgs),
    /// Every department.
    #[command(
        after_help = "Examples:\n  vfedctl departments list\n  vfedctl -o json departments list"
    )]
    List,
}

/// Arguments of `departments create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Short name: 1 to 64 of a-z 0-9 . _ - (e.g. traffic, urban-mgmt).
    pub name: String,

    /// Full name, e.g. 'Shannan Urban Management Bureau'.
    #[arg(long, value_name = "TEXT")]
    pub display_name: String,
}

/// Runs a department command.
pub async fn run(command: DepartmentsCommand, session: &Session) -> anyhow::Result<()> {
    let mut client = SharingClient::new(session.channel().await?);
    match command {
        DepartmentsCommand::Create(args) => {
            let created = session
                .call(client.create_department(pb::CreateDepartmentRequest {
                    department: Some(pb::Department {
                        name: args.name,
                        display_name: args.display_name,
                        ..pb::Department::default()
                    }),
                }))
                .await?;
            let view = DepartmentView::from(&created);
            output::emit(session.format(), &view, || {
                format!("created department {}\n", created.name)
            })
        }
        DepartmentsCommand::List => {
            let response = session
                .call(client.list_departments(pb::ListDepartmentsRequest {}))
                .await?;
            let view = DepartmentListView::from(&response);
            output::emit(session.format(), &view, || view.table())
        }
    }
}
