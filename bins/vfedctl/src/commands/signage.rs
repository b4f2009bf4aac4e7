//! `vfedctl signage missing`.

use clap::Subcommand;
use vfed_proto::registry::v1::ListMissingSignageRequest;

use crate::output;
use crate::render;
use crate::session::Session;
use crate::view::DeviceListView;

/// Signage commands.
#[derive(Debug, Subcommand)]
pub enum SignageCommand {
    /// Public-area devices without a posted warning sign (R8).
    #[command(after_help = "\
Examples:
  vfedctl signage missing
  vfedctl -o json signage missing | jq -r '.devices[].spec.id'")]
    Missing,
}

/// Runs a signage command.
pub async fn run(command: SignageCommand, session: &Session) -> anyhow::Result<()> {
    let SignageCommand::Missing = command;
    let mut client = session.registry().await?;
    let response = session
        .call(client.list_missing_signage(ListMissingSignageRequest {}))
        .await?;
    output::emit(
        session.format(),
        &DeviceListView::new(&response.devices, response.next_page_token.clone()),
        || {
            if response.devices.is_empty() {
                "every public-area device has its warning sign\n".to_owned()
            } else {
                render::device_rows(&response.devices)
            }
        },
    )
}
