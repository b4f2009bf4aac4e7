//! Validation of a loaded configuration, before anything starts.

use std::collections::HashSet;
use std::time::Duration;

use vfed_gbcode::{AreaCode, GbCode};

use crate::{Config, ConfigError, StoreBackend};

impl Config {
    /// Checks every field; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let node = &self.node;
        let id =
            GbCode::parse_node(&node.id).map_err(|e| ConfigError::new("node.id", e.to_string()))?;
        if node.name.trim().is_empty() || node.name.len() > 128 {
            return Err(ConfigError::new("node.name", "must be 1 to 128 characters"));
        }
        if node.level.is_empty()
            || !node
                .level
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'-')
        {
            return Err(ConfigError::new(
                "node.level",
                "must be a lowercase word such as county, city, province",
            ));
        }
        let area = AreaCode::parse(node.area_code())
            .ok_or_else(|| ConfigError::new("node.area_code", "must be 6 digits"))?;
        if !area.contains(&id.area()) {
            return Err(ConfigError::new(
                "node.area_code",
                format!("area {area} does not contain the node's own code {id}"),
            ));
        }
        if let Some(parent) = &node.parent {
            let pid = GbCode::parse_node(&parent.id)
                .map_err(|e| ConfigError::new("node.parent.id", e.to_string()))?;
            if pid == id {
                return Err(ConfigError::new(
                    "node.parent.id",
                    "a node cannot be its own parent",
                ));
            }
            if !pid.area().contains(&area) {
                return Err(ConfigError::new(
                    "node.parent.id",
                    format!(
                        "parent area {} does not contain this node's area {area}",
                        pid.area()
                    ),
                ));
            }
            check_endpoint("node.parent.endpoint", &parent.endpoint)?;
            if !parent.relay_endpoint.is_empty() {
                check_endpoint("node.parent.relay_endpoint", &parent.relay_endpoint)?;
            }
        }
        let mut seen = HashSet::new();
        for (i, child) in node.children.iter().enumerate() {
            let field = format!("node.children[{i}].id");
            let cid = GbCode::parse_node(&child.id)
                .map_err(|e| ConfigError::new(&field, e.to_string()))?;
            if cid == id || !seen.insert(cid.clone()) {
                return Err(ConfigError::new(
                    field,
                    "duplicate child or the node itself",
                ));
            }
            if !area.contains(&cid.area()) || cid.area() == area {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "child area {} must lie strictly inside this node's area {area}",
                        cid.area()
                    ),
                ));
            }
        }
        if self.listen.grpc == self.listen.http && self.listen.grpc.port() != 0 {
            return Err(ConfigError::new(
                "listen.http",
                "must differ from listen.grpc",
            ));
        }
        match self.store.backend {
            StoreBackend::Embedded if self.store.data_dir.as_os_str().is_empty() => {
                return Err(ConfigError::new(
                    "store.data_dir",
                    "must be set for the embedded backend",
                ));
            }
            StoreBackend::Etcd if self.store.etcd_endpoints.is_empty() => {
                return Err(ConfigError::new(
                    "store.etcd_endpoints",
                    "must list at least one etcd URL",
                ));
            }
            _ => {}
        }
        if self.store.history < 1000 {
            return Err(ConfigError::new(
                "store.history",
                "must be at least 1000 revisions",
            ));
        }
        self.audit.validate(&self.store)?;
        self.connections.validate()?;
        self.archive.validate(&self.store)?;
        self.gb28181.validate(&self.store)?;
        check_duration(
            "liveness.keepalive_period",
            self.liveness.keepalive_period,
            Duration::from_millis(50),
        )?;
        if !(1..=100).contains(&self.liveness.missed_periods) {
            return Err(ConfigError::new(
                "liveness.missed_periods",
                "must be 1 to 100",
            ));
        }
        if !(1..=10_000).contains(&self.federation.batch_size) {
            return Err(ConfigError::new(
                "federation.batch_size",
                "must be 1 to 10000",
            ));
        }
        check_duration(
            "relay.idle_grace",
            self.relay.idle_grace,
            Duration::from_millis(10),
        )?;
        check_duration(
            "federation.heartbeat",
            self.federation.heartbeat,
            Duration::from_millis(50),
        )?;
        check_duration(
            "federation.max_backoff",
            self.federation.max_backoff,
            Duration::from_millis(50),
        )?;
        check_duration(
            "auth.token_ttl",
            self.auth.token_ttl,
            Duration::from_secs(1),
        )?;
        if self.auth.max_token_ttl < self.auth.token_ttl {
            return Err(ConfigError::new(
                "auth.max_token_ttl",
                "must be at least auth.token_ttl",
            ));
        }
        if self.auth.token_key.as_os_str().is_empty() && self.store.data_dir.as_os_str().is_empty()
        {
            return Err(ConfigError::new(
                "auth.token_key",
                "must be set when store.data_dir is empty (R15.1)",
            ));
        }
        check_duration(
            "auth.view_idle",
            self.auth.view_idle,
            Duration::from_secs(1),
        )?;
        let admin = &self.auth.bootstrap_admin;
        if !admin.is_empty()
            && (admin.len() > 64
                || !admin
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)))
        {
            return Err(ConfigError::new(
                "auth.bootstrap_admin",
                "must be 1-64 of a-z, 0-9, '.', '_', '-' (an account name)",
            ));
        }
        if self.auth.bootstrap_password_file.is_some() && admin.is_empty() {
            return Err(ConfigError::new(
                "auth.bootstrap_password_file",
                "needs auth.bootstrap_admin",
            ));
        }
        check_duration(
            "retrieval.default_expiry",
            self.retrieval.default_expiry,
            Duration::from_secs(60),
        )?;
        if self.retrieval.max_expiry < self.retrieval.default_expiry {
            return Err(ConfigError::new(
                "retrieval.max_expiry",
                "must be at least retrieval.default_expiry",
            ));
        }
        let otlp = &self.telemetry.otlp_endpoint;
        if !(otlp.is_empty() || otlp.starts_with("http://") || otlp.starts_with("https://")) {
            return Err(ConfigError::new(
                "telemetry.otlp_endpoint",
                "must be an http:// or https:// URL",
            ));
        }
        Ok(())
    }
}

fn check_endpoint(field: &str, endpoint: &str) -> Result<(), ConfigError> {
    let rest = endpoint
        .strip_prefix("https://")
        .or_else(|| endpoint.strip_prefix("http://"))
        .unwrap_or(endpoint);
    let ok = rest
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format!("{endpoint:?} is not host:port or https://host:port"),
        ))
    }
}

fn check_duration(field: &str, value: Duration, min: Duration) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::new(field, format!("must be at least {min:?}")));
    }
    Ok(())
}
