//! Stored logins, kept the way kubectl keeps its kubeconfig: one file
//! (`$VFEDCONFIG`, default `~/.vfed/config.json`, mode 0600) with named
//! contexts — where a node is, the client certificate to reach it, and the
//! token of the person logged in there — and a current context used when
//! no `--endpoint`/`--demo` is given.

use std::path::PathBuf;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::exit::usage;

/// One context.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredContext {
    /// `<user>@<node id or endpoint>`.
    pub name: String,
    /// gRPC endpoint.
    pub endpoint: String,
    /// CA certificate (absolute path).
    pub ca: PathBuf,
    /// Client certificate (absolute path).
    pub cert: PathBuf,
    /// Client key (absolute path).
    pub key: PathBuf,
    /// Pinned node identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    /// HTTP (HLS) endpoint, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_endpoint: Option<String>,
    /// The account logged in.
    pub user: String,
    /// Its token.
    pub token: String,
    /// When the token expires, Unix seconds.
    pub expires_unix: i64,
}

/// What [`Credentials::login_for`] found for a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredLogin<'a> {
    /// A login whose token is still valid.
    Fresh(&'a StoredContext),
    /// Only a login whose token has expired.
    Expired(&'a StoredContext),
    /// No login for the node.
    None,
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The context used without `--endpoint`/`--demo`.
    #[serde(default)]
    pub current_context: String,
    /// Every context.
    #[serde(default)]
    pub contexts: Vec<StoredContext>,
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl StoredContext {
    /// Whether its token is still valid.
    pub fn is_fresh(&self) -> bool {
        !self.token.is_empty() && self.expires_unix > now_unix()
    }
}

impl Credentials {
    /// Where the file is.
    pub fn path() -> anyhow::Result<PathBuf> {
        if let Some(path) = std::env::var_os("VFEDCONFIG").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(path));
        }
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| usage("neither VFEDCONFIG nor HOME is set: nowhere to keep logins"))?;
        Ok(PathBuf::from(home).join(".vfed").join("config.json"))
    }

    /// Reads the file (empty if it does not exist).
    pub fn load() -> anyhow::Result<Credentials> {
        let path = Self::path()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| usage(format!("{}: not a vfedctl config: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Credentials::default()),
            Err(e) => Err(usage(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Writes the file atomically, readable by its owner only.
    pub fn save(&self) -> anyhow::Result<PathBuf> {
        let path = Self::path()?;
        let dir = path
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        vfed_private_fs::create_dir_all(&dir)
            .with_context(|| format!("creating {}", dir.display()))?;
        let text = serde_json::to_string_pretty(self)?;
        vfed_private_fs::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// The current context.
    pub fn current(&self) -> Option<&StoredContext> {
        self.contexts
            .iter()
            .find(|c| c.name == self.current_context)
    }

    /// The best context for `endpoint`: the current one if it is for that
    /// endpoint, else the first fresh one.
    pub fn for_endpoint(&self, endpoint: &str) -> Option<&StoredContext> {
        self.current()
            .filter(|c| c.endpoint == endpoint)
            .or_else(|| {
                self.contexts
                    .iter()
                    .find(|c| c.endpoint == endpoint && c.is_fresh())
            })
    }

    /// The stored login for `endpoint`: a fresh one ([`Credentials::for_endpoint`]),
    /// else the expired one that would have been used (the current
    /// context's, else the latest to expire), else none.
    pub fn login_for(&self, endpoint: &str) -> StoredLogin<'_> {
        if let Some(context) = self.for_endpoint(endpoint).filter(|c| c.is_fresh()) {
            return StoredLogin::Fresh(context);
        }
        let expired = self
            .current()
            .filter(|c| c.endpoint == endpoint && !c.token.is_empty())
            .or_else(|| {
                self.contexts
                    .iter()
                    .filter(|c| c.endpoint == endpoint && !c.token.is_empty())
                    .max_by_key(|c| c.expires_unix)
            });
        match expired {
            Some(context) => StoredLogin::Expired(context),
            None => StoredLogin::None,
        }
    }

    /// Adds or replaces `context` and makes it current.
    pub fn upsert(&mut self, context: StoredContext) {
        self.current_context.clone_from(&context.name);
        match self.contexts.iter_mut().find(|c| c.name == context.name) {
            Some(existing) => *existing = context,
            None => self.contexts.push(context),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ctx(name: &str, endpoint: &str, expires_unix: i64) -> StoredContext {
        StoredContext {
            name: name.into(),
            endpoint: endpoint.into(),
            user: "u".into(),
            token: "t".into(),
            expires_unix,
            ..Default::default()
        }
    }

    #[test]
    fn current_context_wins_for_its_endpoint() {
        let mut c = Credentials::default();
        c.upsert(ctx("a", "https://x", i64::MAX));
        c.upsert(ctx("b", "https://y", i64::MAX));
        assert_eq!(c.current().unwrap().name, "b");
        assert_eq!(c.for_endpoint("https://x").unwrap().name, "a");
        c.upsert(ctx("a", "https://x", 1));
        assert_eq!(c.current_context, "a");
        assert_eq!(c.contexts.len(), 2);
        assert!(!c.current().unwrap().is_fresh());
    }

    #[test]
    fn an_expired_login_is_reported_not_skipped() {
        let mut c = Credentials::default();
        c.upsert(ctx("old", "https://x", 1));
        assert!(matches!(c.login_for("https://x"), StoredLogin::Expired(e) if e.name == "old"));
        assert_eq!(c.login_for("https://y"), StoredLogin::None);
        c.upsert(ctx("new", "https://x", i64::MAX));
        assert!(matches!(c.login_for("https://x"), StoredLogin::Fresh(f) if f.name == "new"));
        c.upsert(ctx("elsewhere", "https://y", i64::MAX));
        assert!(matches!(c.login_for("https://x"), StoredLogin::Fresh(f) if f.name == "new"));
    }
}
