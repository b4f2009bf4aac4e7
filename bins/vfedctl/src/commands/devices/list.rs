//! `vfedctl devices list`.

use clap::Args;
use vfed_proto::registry::v1::{DeviceStatus, ListDevicesRequest, LocationType, Scope};

use crate::enums::EnumParser;
use crate::output;
use crate::render;
use crate::session::Session;
use crate::view::DeviceListView;

/// Long help of `devices list`.
pub const LONG_ABOUT: &str = "\
List the devices visible at this node: its own (local) and those received \
from child nodes (remote). Filters combine with AND. One page is fetched \
unless --all is given; the token of the next page is printed on stderr.";

/// Examples of `devices list`.
pub const AFTER_HELP: &str = "\
Examples:
  vfedctl devices list --status offline
  vfedctl devices list --scope remote --shared --all -o json
  vfedctl devices list --division 540502 --name gate --page-size 20";

/// Arguments of `devices list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Local devices, remote (from child nodes) ones, or all.
    #[arg(long, value_parser = EnumParser::<Scope>::new(), default_value = "all")]
    pub scope: Scope,

    /// Only devices with this status.
    #[arg(long, value_parser = EnumParser::<DeviceStatus>::new())]
    pub status: Option<DeviceStatus>,

    /// Only devices shared with the level above.
    #[arg(long, conflicts_with = "unshared")]
    pub shared: bool,

    /// Only devices not shared with the level above.
    #[arg(long)]
    pub unshared: bool,

    /// Only devices at this kind of place.
    #[arg(long, value_name = "TYPE", value_parser = EnumParser::<LocationType>::new())]
    pub location_type: Option<LocationType>,

    /// Only devices of this administrative division (6 digits).
    #[arg(long, value_name = "CODE")]
    pub division: Option<String>,

    /// Only devices of this unit.
    #[arg(long)]
    pub unit: Option<String>,

    /// Only devices whose name contains this text (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,

    /// Devices per page (1..=1000; server default 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: Option<u32>,

    /// Continue from this page token (printed by a previous call).
    #[arg(long, value_name = "TOKEN", conflicts_with = "all")]
    pub page_token: Option<String>,

    /// Follow page tokens and print every page.
    #[arg(long)]
    pub all: bool,
}

impl ListArgs {
    /// The request of the first page.
    fn request(&self) -> ListDevicesRequest {
        ListDevicesRequest {
            scope: self.scope.into(),
            status: self.status.map_or(0, Into::into),
            shared: match (self.shared, self.unshared) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            location_type: self.location_type.map_or(0, Into::into),
            division: self.division.clone().unwrap_or_default(),
            unit: self.unit.clone().unwrap_or_default(),
            name_contains: self.name.clone().unwrap_or_default(),
            page_size: self.page_size.unwrap_or(0),
            page_token: self.page_token.clone().unwrap_or_default(),
        }
    }
}

/// Lists devices, following page tokens with `--all`.
pub async fn run(args: ListArgs, session: &Session) -> anyhow::Result<()> {
    let mut client = session.registry().await?;
    let mut request = args.request();
    let mut devices = Vec::new();
    let next = loop {
        let page = session.call(client.list_devices(request.clone())).await?;
        devices.extend(page.devices);
        let token = page.next_page_token;
        if !args.all || token.is_empty() {
            break token;
        }
        if token == request.page_token {
            anyhow::bail!("the node returned the same page token twice ({token:?})");
        }
        request.page_token = token;
    };
    output::emit(
        session.format(),
        &DeviceListView::new(&devices, next.clone()),
        || render::device_rows(&devices),
    )?;
    if !next.is_empty() && session.format() == output::Format::Table {
        eprintln!("more devices: pass --page-token {next} or --all");
    }
    Ok(())
}
