//! Loading this node's credentials and checking they name this node.

use vfed_config::Config;
use vfed_pki::{Identity, TlsMaterial};

use crate::NodeError;

/// Loads `config.tls`; the certificate must name `node/<node.id>`.
pub fn load(config: &Config) -> Result<TlsMaterial, NodeError> {
    let tls = &config.tls;
    let material = TlsMaterial::load(&tls.ca, &tls.cert, &tls.key).map_err(NodeError::Tls)?;
    let expected = Identity::node(config.node.id.clone()).map_err(NodeError::Tls)?;
    if *material.identity() != expected {
        return Err(NodeError::Config(format!(
            "tls.cert: {} names {}, but node.id is {} (issue one with `vfed pki issue --node {}`)",
            tls.cert.display(),
            material.identity(),
            expected,
            config.node.id
        )));
    }
    Ok(material)
}
