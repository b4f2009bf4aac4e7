//! `DIR/demo.json`, written by `vfed demo --data-dir DIR`: the demo CA,
//! the client certificate of vfedctl and the nodes with their endpoints.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::exit::usage;

/// The demo description (extra fields are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct DemoFile {
    /// CA certificate (PEM).
    pub ca: PathBuf,
    /// vfedctl's client certificate and key.
    pub client: DemoClient,
    /// The demo nodes, top-level first by convention.
    pub nodes: Vec<DemoNode>,
}

/// A client certificate and key.
#[derive(Debug, Clone, Deserialize)]
pub struct DemoClient {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// One node of the demo.
#[derive(Debug, Clone, Deserialize)]
pub struct DemoNode {
    /// 20-digit node ID.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Level, e.g. `city`, `county`.
    pub level: String,
    /// Parent node ID; `None` for the top-level node.
    #[serde(default)]
    pub parent: Option<String>,
    /// gRPC endpoint, e.g. `https://127.0.0.1:40001`.
    pub grpc_endpoint: String,
    /// HTTP endpoint (HLS egress), e.g. `http://127.0.0.1:40002`.
    #[serde(default)]
    pub http_endpoint: Option<String>,
}

impl DemoFile {
    /// Reads `dir/demo.json`; relative paths in it are resolved against `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<DemoFile> {
        let path = dir.join("demo.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            usage(format!(
                "cannot read {}: {e} (start the demo with `vfed demo --data-dir {}`)",
                path.display(),
                dir.display()
            ))
        })?;
        let mut demo = DemoFile::parse(&text)
            .map_err(|e| usage(format!("invalid {}: {e}", path.display())))?;
        for p in [&mut demo.ca, &mut demo.client.cert, &mut demo.client.key] {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        Ok(demo)
    }

    /// Parses the JSON text of a demo file.
    pub fn parse(text: &str) -> Result<DemoFile, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The node `selector` names: an exact ID, else a level, else a unique
    /// case-insensitive name substring. Without a selector, the top-level
    /// node (no parent).
    pub fn select(&self, selector: Option<&str>) -> anyhow::Result<&DemoNode> {
        let Some(wanted) = selector.map(str::trim) else {
            return self
                .nodes
                .iter()
                .find(|n| n.parent.as_deref().is_none_or(str::is_empty))
                .ok_or_else(|| usage("demo.json has no top-level node (parent null)"));
        };
        if let Some(node) = self.nodes.iter().find(|n| n.id == wanted) {
            return Ok(node);
        }
        let lower = wanted.to_lowercase();
        let by_level: Vec<&DemoNode> = self
            .nodes
            .iter()
            .filter(|n| n.level.to_lowercase() == lower)
            .collect();
        let candidates = if by_level.is_empty() {
            self.nodes
                .iter()
                .filter(|n| n.name.to_lowercase().contains(&lower))
                .collect()
        } else {
            by_level
        };
        match candidates.as_slice() {
            [node] => Ok(node),
            [] => Err(usage(format!(
                "--node {wanted:?} matches no demo node; nodes: {}",
                self.describe(self.nodes.iter())
            ))),
            many => Err(usage(format!(
                "--node {wanted:?} is ambiguous; it matches: {} (pass the node ID)",
                self.describe(many.iter().copied())
            ))),
        }
    }

    fn describe<'a>(&self, nodes: impl Iterator<Item = &'a DemoNode>) -> String {
        nodes
            .map(|n| format!("{} {:?} ({})", n.id, n.name, n.level))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const DEMO: &str = r#"{ "ca": "/d/pki/ca.pem", "extra": 1,
      "client": { "cert": "/d/pki/tool-vfedctl.pem", "key": "/d/pki/tool-vfedctl.key" },
      "nodes": [
        { "id": "54050000002000000001", "name": "Shannan city sharing platform", "level": "city",
          "parent": null, "grpc_endpoint": "https://127.0.0.1:40001", "http_endpoint": "http://127.0.0.1:40002" },
        { "id": "54050200002000000001", "name": "Naidong county platform", "level": "county",
          "parent": "54050000002000000001", "grpc_endpoint": "https://127.0.0.1:40011", "pid": 4 },
        { "id": "54052100002000000001", "name": "Zhanang county platform", "level": "county",
          "parent": "54050000002000000001", "grpc_endpoint": "https://127.0.0.1:40021" } ] }"#;

    #[test]
    fn selects_nodes() {
        let demo = DemoFile::parse(DEMO).unwrap();
        assert_eq!(demo.select(None).unwrap().level, "city");
        assert_eq!(
            demo.select(Some("city")).unwrap().id,
            "54050000002000000001"
        );
        assert_eq!(
            demo.select(Some("54052100002000000001")).unwrap().name,
            "Zhanang county platform"
        );
        assert_eq!(demo.select(Some("naidong")).unwrap().level, "county");
        let e = demo.select(Some("county")).unwrap_err().to_string();
        assert!(e.contains("ambiguous"), "{e}");
        let e = demo.select(Some("lhasa")).unwrap_err().to_string();
        assert!(e.contains("matches no demo node"), "{e}");
    }
}
