//! `vfedctl devices show`.

use clap::Args;
use vfed_proto::registry::v1::GetDeviceRequest;

use crate::output;
use crate::render;
use crate::session::Session;
use crate::values;
use crate::view::DeviceView;

/// Examples of `devices show`.
pub const AFTER_HELP: &str = "\
Examples:
  vfedctl devices show 54050200001320000001
  vfedctl -o json devices show 54050200001320000001 | jq .spec > device.json";

/// Arguments of `devices show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Device ID (20 digits).
    #[arg(value_name = "ID", value_parser = values::device_id)]
    pub id: String,
}

/// Fetches and prints one device.
pub async fn run(args: ShowArgs, session: &Session) -> anyhow::Result<()> {
    let mut client = session.registry().await?;
    let device = session
        .call(client.get_device(GetDeviceRequest { id: args.id }))
        .await?;
    output::emit(session.format(), &DeviceView::from(&device), || {
        render::device_detail(&device)
    })
}
