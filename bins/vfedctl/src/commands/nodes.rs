//! `vfedctl nodes list` and `vfedctl nodes info`.

use clap::Subcommand;
use vfed_proto::federation::v1::{GetNodeInfoRequest, Link, ListLinksRequest, NodeInfo};

use crate::enums::kebab_number;
use crate::output;
use crate::render::key_values;
use crate::session::Session;
use crate::table::Table;
use crate::timefmt::{ago, now_ms};
use crate::view::{LinkView, NodeInfoView, NodeLinksView};

/// Node commands.
#[derive(Debug, Subcommand)]
pub enum NodesCommand {
    /// This node and its federation links: peer, role, state, lag, last
    /// contact, applied revision and last error.
    #[command(after_help = "\
Examples:
  vfedctl --demo /tmp/vfed nodes list
  vfedctl --demo /tmp/vfed --node county -o json nodes list")]
    List,
    /// Who this node is: ID, name, level, area, parent, store, version.
    #[command(after_help = "\
Examples:
  vfedctl --endpoint https://10.0.0.5:7100 --ca ca.pem --cert me.pem --key me.key nodes info")]
    Info,
}

/// Runs a node command.
pub async fn run(command: NodesCommand, session: &Session) -> anyhow::Result<()> {
    let mut client = session.node().await?;
    let info = session
        .call(client.get_node_info(GetNodeInfoRequest {}))
        .await?;
    match command {
        NodesCommand::Info => output::emit(session.format(), &NodeInfoView::from(&info), || {
            info_text(&info)
        }),
        NodesCommand::List => {
            let links = session.call(client.list_links(ListLinksRequest {})).await?;
            let view = NodeLinksView {
                node: NodeInfoView::from(&info),
                links: links.links.iter().map(LinkView::from).collect(),
            };
            output::emit(session.format(), &view, || {
                format!(
                    "node {} {} ({})\n\n{}",
                    info.id,
                    info.name,
                    info.level,
                    links_table(&links.links, now_ms())
                )
            })
        }
    }
}

fn info_text(info: &NodeInfo) -> String {
    let or_dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    key_values(&[
        ("ID", info.id.clone()),
        ("Name", info.name.clone()),
        ("Level", info.level.clone()),
        ("Area code", info.area_code.clone()),
        ("Parent", or_dash(&info.parent_id)),
        ("Store", info.store_backend.clone()),
        ("Version", info.version.clone()),
    ])
}

fn links_table(links: &[Link], now: i64) -> String {
    if links.is_empty() {
        return "no federation links\n".to_owned();
    }
    let mut t = Table::new(&[
        "PEER ID",
        "NAME",
        "ROLE",
        "STATE",
        "LAG",
        "LAST CONTACT",
        "APPLIED REV",
        "LAST ERROR",
    ]);
    for l in links {
        t.row([
            l.peer_id.clone(),
            l.peer_name.clone(),
            l.role.clone(),
            kebab_number::<vfed_proto::federation::v1::LinkState>(l.state),
            l.lag_revisions.to_string(),
            ago(l.last_contact_unix_ms, now),
            l.applied_revision.to_string(),
            if l.last_error.is_empty() {
                "-".to_owned()
            } else {
                l.last_error.clone()
            },
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vfed_proto::federation::v1::LinkState;

    #[test]
    fn link_rows() {
        let links = [Link {
            peer_id: "54050000002000000001".into(),
            peer_name: "Shannan".into(),
            role: "parent".into(),
            state: LinkState::Up.into(),
            lag_revisions: 2,
            last_contact_unix_ms: 10_000,
            applied_revision: 41,
            ..Link::default()
        }];
        let text = links_table(&links, 13_000);
        let mut lines = text.lines();
        assert!(lines.next().is_some_and(|h| h.starts_with("PEER ID")));
        assert_eq!(
            lines.next(),
            Some("54050000002000000001  Shannan  parent  up     2    3s ago        41           -")
        );
    }
}
