//! `vfedctl devices decommission`.

use clap::Args;
use vfed_proto::registry::v1::DecommissionDeviceRequest;

use crate::output;
use crate::session::Session;
use crate::values;
use crate::view::DecommissionView;

/// Examples of `devices decommission`.
pub const AFTER_HELP: &str = "\
Refused (R18.11) unless the device's removal request was approved and its report to the \
filing police office recorded (`vfedctl devices removal ...`). Same as \
`devices removal complete <request ID>`.

Examples:
  vfedctl devices decommission 54050200001320000001";

/// Arguments of `devices decommission`.
#[derive(Debug, Args)]
pub struct DecommissionArgs {
    /// Device ID (20 digits) of a local device.
    #[arg(value_name = "ID", value_parser = values::device_id)]
    pub id: String,

    /// Ignored: the removal request's reason is kept.
    #[arg(long, hide = true, default_value = "")]
    pub reason: String,
}

/// Decommissions one device.
pub async fn run(args: DecommissionArgs, session: &Session) -> anyhow::Result<()> {
    let mut client = session.registry().await?;
    let response = session
        .call(client.decommission_device(DecommissionDeviceRequest {
            id: args.id,
            reason: args.reason,
        }))
        .await?;
    let view = DecommissionView::from(&response);
    output::emit(session.format(), &view, || {
        format!(
            "decommissioned {} at {}\n",
            view.id,
            view.decommissioned.as_deref().unwrap_or("-")
        )
    })
}
