//! `vfedctl discovered list|adopt`: the channels GB/T 28181 devices
//! reported at the node, and their adoption as devices.

use clap::{Args, Subcommand};
use serde::Serialize;
use vfed_proto::gb28181::v1::discovered_client::DiscoveredClient;
use vfed_proto::gb28181::v1::{AdoptChannelRequest, ListDiscoveredRequest, ListDiscoveredResponse};
use vfed_proto::registry::v1::DeviceSpec;

use super::devices::fields::DeviceFields;
use crate::exit::usage;
use crate::output;
use crate::render;
use crate::session::Session;
use crate::table::Table;
use crate::timefmt::rfc3339;
use crate::values;
use crate::view::DeviceView;

/// Discovered-channel commands.
#[derive(Debug, Subcommand)]
pub enum DiscoveredCommand {
    /// Channels GB/T 28181 devices registered here reported in their catalogs.
    #[command(after_help = "\
Examples:
  vfedctl discovered list
  vfedctl discovered list -o json")]
    List,
    /// File a discovered channel as a device of this node (every registry
    /// rule applies: R6.2, R7, R8, R9, R11, R12); its live view then comes
    /// from the channel.
    #[command(after_help = "\
The device ID is the channel ID; the name defaults to the catalog's. Fields
are those of `devices register` (no stream URLs: the channel is the source).

Examples:
  vfedctl discovered adopt 54050200001310000001 --location-type square \\
      --category crowded-place --unit 'Square management' \\
      --responsible 'Naidong public security bureau' --signage \\
      --acceptance accepted --accepted-on 2024-05-01 --shared")]
    Adopt(Box<AdoptArgs>),
}

/// Arguments of `discovered adopt`.
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The discovered channel's 20-digit ID.
    #[arg(value_name = "CHANNEL_ID", value_parser = values::device_id)]
    pub channel_id: String,

    #[command(flatten)]
    pub fields: DeviceFields,
}

/// One channel, as `-o json` prints it.
#[derive(Debug, Serialize)]
struct ChannelView {
    channel_id: String,
    device_id: String,
    name: String,
    manufacturer: String,
    model: String,
    civil_code: String,
    address: String,
    status: String,
    device_online: bool,
    adopted: bool,
    reported: Option<String>,
}

#[derive(Debug, Serialize)]
struct ListView {
    channels: Vec<ChannelView>,
}

impl From<&ListDiscoveredResponse> for ListView {
    fn from(r: &ListDiscoveredResponse) -> Self {
        Self {
            channels: r
                .channels
                .iter()
                .map(|c| ChannelView {
                    channel_id: c.channel_id.clone(),
                    device_id: c.device_id.clone(),
                    name: c.name.clone(),
                    manufacturer: c.manufacturer.clone(),
                    model: c.model.clone(),
                    civil_code: c.civil_code.clone(),
                    address: c.address.clone(),
                    status: c.status.clone(),
                    device_online: c.device_online,
                    adopted: c.adopted,
                    reported: rfc3339(c.reported_unix_ms),
                })
                .collect(),
        }
    }
}

/// Runs a discovered-channel command.
pub async fn run(command: DiscoveredCommand, session: &Session) -> anyhow::Result<()> {
    let mut client = DiscoveredClient::new(session.channel().await?);
    match command {
        DiscoveredCommand::List => {
            let response = session
                .call(client.list_discovered(ListDiscoveredRequest {}))
                .await?;
            output::emit(session.format(), &ListView::from(&response), || {
                if response.channels.is_empty() {
                    return "no discovered channels\n".to_owned();
                }
                let mut t =
                    Table::new(&["CHANNEL", "DEVICE", "NAME", "STATUS", "ONLINE", "ADOPTED"]);
                for c in &response.channels {
                    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_owned();
                    t.row([
                        c.channel_id.clone(),
                        c.device_id.clone(),
                        c.name.clone(),
                        c.status.clone(),
                        yes_no(c.device_online),
                        yes_no(c.adopted),
                    ]);
                }
                t.render()
            })
        }
        DiscoveredCommand::Adopt(args) => {
            let mut spec = DeviceSpec::default();
            args.fields.patch()?.apply(&mut spec);
            if !spec.id.is_empty() && spec.id != args.channel_id {
                return Err(usage(format!(
                    "\"id\" in --file ({}) is not the channel {}: the device ID is the channel ID",
                    spec.id, args.channel_id
                )));
            }
            let device = session
                .call(client.adopt_channel(AdoptChannelRequest {
                    channel_id: args.channel_id.clone(),
                    spec: Some(spec),
                }))
                .await?;
            output::emit(session.format(), &DeviceView::from(&device), || {
                format!(
                    "adopted {} (revision {})\n\n{}",
                    args.channel_id,
                    device.revision,
                    render::device_detail(&device)
                )
            })
        }
    }
}
