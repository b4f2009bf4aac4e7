//! `vfedctl devices update`.

use anyhow::Context as _;
use clap::Args;
use vfed_proto::registry::v1::{GetDeviceRequest, UpdateDeviceRequest};

use super::fields::DeviceFields;
use crate::exit::usage;
use crate::output::{self, Format};
use crate::render;
use crate::session::Session;
use crate::values;
use crate::view::{DeviceSpecView, DeviceView};

/// Long help of `devices update`.
pub const LONG_ABOUT: &str = "\
Change fields of a local device: vfedctl fetches the device, applies the \
given flags (and --file, flags winning) and sends the result with the \
fetched revision, so a concurrent change makes the update fail instead of \
being overwritten. Fields not given keep their value.";

/// Examples of `devices update`.
pub const AFTER_HELP: &str = "\
Examples:
  vfedctl devices update --id 54050200001320000001 --signage --distance-to-homes 80
  vfedctl devices update --id 54050200001320000001 --filed-on 2024-05-20 --verified-on 2024-06-01
  vfedctl devices update --id 54050200001320000001 --unshared --dry-run";

/// Arguments of `devices update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The device to change (20-digit device ID).
    #[arg(long, value_name = "ID", value_parser = values::device_id)]
    pub id: String,

    /// Print the DeviceSpec that would be sent and stop (the device is
    /// still fetched).
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub fields: DeviceFields,
}

/// Fetches, patches and updates the device.
pub async fn run(args: UpdateArgs, session: &Session) -> anyhow::Result<()> {
    let patch = args.fields.patch()?;
    if patch.sets_nothing_but_id() {
        return Err(usage(
            "nothing to update: give at least one field flag or --file",
        ));
    }
    let mut client = session.registry().await?;
    let current = session
        .call(client.get_device(GetDeviceRequest {
            id: args.id.clone(),
        }))
        .await?;
    let mut spec = current
        .spec
        .clone()
        .with_context(|| format!("the node returned device {} without a spec", args.id))?;
    patch.apply(&mut spec);
    spec.id.clone_from(&args.id);
    if args.dry_run {
        return output::emit(Format::Json, &DeviceSpecView::from(&spec), String::new);
    }
    let device = session
        .call(client.update_device(UpdateDeviceRequest {
            spec: Some(spec),
            expected_revision: current.revision,
        }))
        .await?;
    output::emit(session.format(), &DeviceView::from(&device), || {
        format!(
            "updated {} (revision {} -> {})\n\n{}",
            args.id,
            current.revision,
            device.revision,
            render::device_detail(&device)
        )
    })
}
