//! A throwaway CA and certificates in a temporary directory.

use std::path::{Path, PathBuf};

use tonic::transport::Channel;
use vfed_pki::{Identity, IssueOptions, ServerExpectation, TlsMaterial};

/// A CA in a temp dir, issuing certificates on demand.
pub struct TestPki {
    dir: tempfile::TempDir,
}

impl TestPki {
    /// A new CA with trust domain `vfed`.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        vfed_pki::init_ca(dir.path(), "vfed", false)?;
        Ok(Self { dir })
    }

    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Certificate and key files for `identity` (issued once).
    pub fn files(&self, identity: &Identity) -> anyhow::Result<(PathBuf, PathBuf)> {
        let stem = identity.file_stem();
        let cert = self.dir.path().join(format!("{stem}.pem"));
        let key = self.dir.path().join(format!("{stem}.key"));
        if !cert.exists() {
            vfed_pki::issue(
                self.dir.path(),
                self.dir.path(),
                identity,
                &IssueOptions::default(),
            )?;
        }
        Ok((cert, key))
    }

    /// Loaded credentials of `identity`.
    pub fn material(&self, identity: &Identity) -> anyhow::Result<TlsMaterial> {
        let (cert, key) = self.files(identity)?;
        Ok(TlsMaterial::load(&self.ca(), &cert, &key)?)
    }

    /// A lazy channel as operator tool `vfed-test` to the node `node_id` at `addr`.
    pub fn tool_channel(
        &self,
        node_id: &str,
        addr: std::net::SocketAddr,
    ) -> anyhow::Result<Channel> {
        let material = self.material(&Identity::tool("vfed-test")?)?;
        let expect = ServerExpectation::Exactly(Identity::node(node_id)?);
        let config = vfed_pki::client_config(&material, expect, vfed_pki::GRPC_ALPN)?;
        Ok(vfed_pki::channel(&format!("https://{addr}"), config)?)
    }
}
