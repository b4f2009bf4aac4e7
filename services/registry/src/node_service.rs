//! The `Node` gRPC service: who this node is and how its links are.

use tonic::{Request, Response, Status};
use vfed_proto::federation::v1 as fed;
use vfed_proto::federation::v1::node_server::Node;

use crate::federation::{LinkState, LinkTable};

/// Static facts about this node.
#[derive(Clone, Debug)]
pub struct NodeFacts {
    /// Node code.
    pub id: String,
    /// Name.
    pub name: String,
    /// Level label.
    pub level: String,
    /// Area code.
    pub area_code: String,
    /// Parent code, empty at the top.
    pub parent_id: String,
    /// Store backend name.
    pub store_backend: String,
}

/// The `Node` service.
#[derive(Clone)]
pub struct NodeService {
    facts: NodeFacts,
    links: LinkTable,
}

impl NodeService {
    /// A service reporting `facts` and `links`.
    pub fn new(facts: NodeFacts, links: LinkTable) -> Self {
        Self { facts, links }
    }
}

#[tonic::async_trait]
impl Node for NodeService {
    async fn get_node_info(
        &self,
        _request: Request<fed::GetNodeInfoRequest>,
    ) -> Result<Response<fed::NodeInfo>, Status> {
        let f = &self.facts;
        Ok(Response::new(fed::NodeInfo {
            id: f.id.clone(),
            name: f.name.clone(),
            level: f.level.clone(),
            area_code: f.area_code.clone(),
            parent_id: f.parent_id.clone(),
            store_backend: f.store_backend.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        }))
    }

    async fn list_links(
        &self,
        _request: Request<fed::ListLinksRequest>,
    ) -> Result<Response<fed::ListLinksResponse>, Status> {
        let links = self
            .links
            .list()
            .into_iter()
            .map(|s| fed::Link {
                lag_revisions: s.lag(),
                peer_id: s.peer_id,
                peer_name: s.peer_name,
                role: s.role.name().to_owned(),
                state: match s.state {
                    LinkState::Up => fed::LinkState::Up,
                    LinkState::Down => fed::LinkState::Down,
                    LinkState::Resyncing => fed::LinkState::Resyncing,
                }
                .into(),
                last_contact_unix_ms: s.last_contact_ms,
                applied_revision: s.applied_revision,
                last_error: s.last_error,
                resyncs: s.resyncs,
                refused_total: s.refused_total,
                refused: s
                    .refused
                    .into_iter()
                    .map(|r| fed::RefusedEntry {
                        device_id: r.device_id,
                        reason: r.reason,
                        refused_by: r.refused_by,
                        at_unix_ms: r.at_ms,
                    })
                    .collect(),
            })
            .collect();
        Ok(Response::new(fed::ListLinksResponse { links }))
    }
}
