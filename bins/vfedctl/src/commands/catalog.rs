//! `vfedctl catalog tree`.

use clap::{Args, Subcommand};
use vfed_proto::registry::v1::{CatalogTree, GetCatalogTreeRequest};

use crate::enums::kebab_number;
use crate::output;
use crate::session::Session;
use crate::table::Table;
use crate::view::CatalogView;

/// Catalog commands.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Print the catalog as an indented tree: division -> unit -> device.
    #[command(after_help = "\
Examples:
  vfedctl catalog tree
  vfedctl catalog tree --division 540502
  vfedctl -o json catalog tree | jq '.divisions[].units[].devices | length'")]
    Tree(TreeArgs),
}

/// Arguments of `catalog tree`.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Only this administrative division (6 digits).
    #[arg(long, value_name = "CODE")]
    pub division: Option<String>,
}

/// Runs a catalog command.
pub async fn run(command: CatalogCommand, session: &Session) -> anyhow::Result<()> {
    let CatalogCommand::Tree(args) = command;
    let mut client = session.registry().await?;
    let tree = session
        .call(client.get_catalog_tree(GetCatalogTreeRequest {
            division: args.division.unwrap_or_default(),
        }))
        .await?;
    output::emit(session.format(), &CatalogView::from(&tree), || {
        render(&tree)
    })
}

/// The tree as indented text.
fn render(tree: &CatalogTree) -> String {
    if tree.divisions.is_empty() {
        return "catalog is empty\n".to_owned();
    }
    let mut out = String::new();
    for division in &tree.divisions {
        out.push_str(&format!("{} ({})\n", division.code, division.name));
        for unit in &division.units {
            let unit_name = if unit.name.is_empty() {
                "(no unit)"
            } else {
                &unit.name
            };
            out.push_str(&format!("  {unit_name}\n"));
            let mut devices = Table::headless().indent(4);
            for d in &unit.devices {
                devices.row([
                    d.id.clone(),
                    d.name.clone(),
                    kebab_number::<vfed_proto::registry::v1::DeviceStatus>(d.status),
                    if d.remote { "remote" } else { "" }.to_owned(),
                ]);
            }
            out.push_str(&devices.render());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfed_proto::registry::v1::{CatalogDeviceRef, CatalogDivision, CatalogUnit, DeviceStatus};

    #[test]
    fn renders_indented_tree() {
        let tree = CatalogTree {
            divisions: vec![CatalogDivision {
                code: "540502".into(),
                name: "Naidong".into(),
                units: vec![CatalogUnit {
                    name: "Traffic police".into(),
                    devices: vec![
                        CatalogDeviceRef {
                            id: "54050200001320000001".into(),
                            name: "Gate".into(),
                            status: DeviceStatus::Online.into(),
                            remote: false,
                        },
                        CatalogDeviceRef {
                            id: "54050200001320000002".into(),
                            name: "Square east".into(),
                            status: DeviceStatus::Offline.into(),
                            remote: true,
                        },
                    ],
                }],
            }],
        };
        assert_eq!(
            render(&tree),
            "540502 (Naidong)\n  Traffic police\n    \
             54050200001320000001  Gate         online\n    \
             54050200001320000002  Square east  offline  remote\n"
        );
    }
}
