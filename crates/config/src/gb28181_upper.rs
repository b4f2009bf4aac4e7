//! One `[[gb28181.upper]]` entry: a GB/T 28181 upper platform the node registers to as a
//! lower platform (issue 12, item 2; docs/gb28181.md, "Cascade to an upper platform").
//! Plain data and its rules; the runtime turns an entry into the gb28181 service's
//! `UpperOptions` (the password read from `password_file`, `local_id` defaulting to
//! `node.id`). Attached to the `[gb28181]` section as `upper`, checked by
//! [`validate_uppers`] when the section is enabled.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vfed_gbcode::GbCode;

use crate::ConfigError;

/// SIP transport to an upper.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UpperTransport {
    /// SIP over UDP.
    #[default]
    Udp,
    /// SIP over TCP (vfed connects).
    Tcp,
}

/// Charset of the MANSCDP bodies sent to an upper.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UpperCharset {
    /// Declared GB2312 (GB18030 bytes), what most uppers expect.
    #[default]
    Gb2312,
    /// Declared UTF-8.
    Utf8,
}

/// One upper platform.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Gb28181UpperConfig {
    /// The upper's 20-digit SIP server ID.
    pub server_id: String,
    /// The upper's SIP domain (its digest realm).
    pub domain: String,
    /// The upper's SIP address, `ip:port`.
    pub address: Option<SocketAddr>,
    /// `udp` or `tcp`.
    pub transport: UpperTransport,
    /// File holding the password the upper holds for this node (0600).
    pub password_file: PathBuf,
    /// This node's ID as the upper knows it; empty: `node.id`.
    pub local_id: String,
    /// Catalog items per MESSAGE (1-64).
    pub catalog_group_size: usize,
    /// Keepalive interval (200 ms - 1 h).
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// Unanswered keepalives that make the upper offline (1-10).
    pub keepalive_misses: u32,
    /// Registration lifetime asked (60 s - 24 h).
    #[serde(with = "humantime_serde")]
    pub register_expires: Duration,
    /// `gb2312` or `utf8`.
    pub charset: UpperCharset,
    /// Live sessions the upper may hold at once (1-256).
    pub max_sessions: usize,
}

impl Default for Gb28181UpperConfig {
    fn default() -> Self {
        Self {
            server_id: String::new(),
            domain: String::new(),
            address: None,
            transport: UpperTransport::Udp,
            password_file: PathBuf::new(),
            local_id: String::new(),
            catalog_group_size: 1,
            keepalive_interval: Duration::from_secs(60),
            keepalive_misses: 3,
            register_expires: Duration::from_secs(3600),
            charset: UpperCharset::Gb2312,
            max_sessions: 16,
        }
    }
}

impl Gb28181UpperConfig {
    /// Checks entry `index` of `gb28181.upper`; errors name `gb28181.upper[index].<field>`.
    pub fn validate(&self, index: usize) -> Result<(), ConfigError> {
        let field = |name: &str| format!("gb28181.upper[{index}].{name}");
        GbCode::parse(&self.server_id)
            .map_err(|e| ConfigError::new(field("server_id"), e.to_string()))?;
        if !self.local_id.is_empty() {
            GbCode::parse_node(&self.local_id)
                .map_err(|e| ConfigError::new(field("local_id"), e.to_string()))?;
        }
        let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
        if self.domain.is_empty() || self.domain.len() > 64 || !self.domain.bytes().all(plain) {
            return Err(ConfigError::new(
                field("domain"),
                "must be 1-64 letters, digits, '.' or '-'",
            ));
        }
        match self.address {
            Some(address) if address.port() != 0 && !address.ip().is_unspecified() => {}
            _ => {
                return Err(ConfigError::new(
                    field("address"),
                    "must be the upper's ip:port (a host address, a port above 0)",
                ));
            }
        }
        if self.password_file.as_os_str().is_empty() || self.password_file.file_name().is_none() {
            return Err(ConfigError::new(
                field("password_file"),
                "must name the file holding the password the upper holds for this node",
            ));
        }
        let ranges: [(&str, bool, &str); 5] = [
            (
                "catalog_group_size",
                (1..=64).contains(&self.catalog_group_size),
                "must be 1-64 items per MESSAGE",
            ),
            (
                "keepalive_interval",
                (Duration::from_millis(200)..=Duration::from_secs(3600))
                    .contains(&self.keepalive_interval),
                "must be between 200ms and 1h",
            ),
            (
                "keepalive_misses",
                (1..=10).contains(&self.keepalive_misses),
                "must be 1-10",
            ),
            (
                "register_expires",
                (Duration::from_secs(60)..=Duration::from_secs(86_400))
                    .contains(&self.register_expires),
                "must be between 1m and 24h",
            ),
            (
                "max_sessions",
                (1..=256).contains(&self.max_sessions),
                "must be 1-256",
            ),
        ];
        for (name, ok, rule) in ranges {
            if !ok {
                return Err(ConfigError::new(field(name), rule));
            }
        }
        Ok(())
    }
}

/// Checks every `[[gb28181.upper]]` entry, and that no upper is listed twice.
pub fn validate_uppers(uppers: &[Gb28181UpperConfig]) -> Result<(), ConfigError> {
    for (index, upper) in uppers.iter().enumerate() {
        upper.validate(index)?;
        if uppers[..index]
            .iter()
            .any(|u| u.server_id == upper.server_id)
        {
            return Err(ConfigError::new(
                format!("gb28181.upper[{index}].server_id"),
                format!(
                    "{} is listed twice (each upper platform once)",
                    upper.server_id
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[derive(Deserialize)]
    struct Section {
        upper: Vec<Gb28181UpperConfig>,
    }

    #[derive(Deserialize)]
    struct File {
        gb28181: Section,
    }

    const TOML: &str = r#"
[[gb28181.upper]]
server_id = "44010000002000000001"
domain = "4401000000"
address = "10.1.2.3:5060"
transport = "tcp"
password_file = "/var/lib/vfed/gb28181/upper-4401.password"
catalog_group_size = 8
keepalive_interval = "30s"
charset = "utf8"

[[gb28181.upper]]
server_id = "45010000002000000001"
domain = "4501000000"
address = "10.9.9.9:5060"
password_file = "upper-4501.password"
"#;

    #[test]
    fn reads_entries_with_defaults() {
        let file: File = toml::from_str(TOML).unwrap();
        let uppers = file.gb28181.upper;
        validate_uppers(&uppers).unwrap();
        assert_eq!(uppers[0].transport, UpperTransport::Tcp);
        assert_eq!(uppers[0].keepalive_interval, Duration::from_secs(30));
        assert_eq!(uppers[0].charset, UpperCharset::Utf8);
        assert_eq!(
            (
                uppers[1].transport,
                uppers[1].catalog_group_size,
                uppers[1].keepalive_misses
            ),
            (UpperTransport::Udp, 1, 3)
        );
        assert!(toml::from_str::<File>(&format!("{TOML}colour = \"red\"\n")).is_err());
    }

    #[test]
    fn errors_name_the_entry_and_field() {
        let file: File = toml::from_str(TOML).unwrap();
        let good = file.gb28181.upper;
        type Breaker = fn(&mut Gb28181UpperConfig);
        let cases: [(&str, Breaker); 7] = [
            ("server_id", |u| u.server_id = "4401".into()),
            ("local_id", |u| u.local_id = "34020000001320000001".into()),
            ("domain", |u| u.domain = "no spaces".into()),
            ("address", |u| u.address = None),
            ("password_file", |u| u.password_file = PathBuf::new()),
            ("catalog_group_size", |u| u.catalog_group_size = 65),
            ("keepalive_interval", |u| {
                u.keepalive_interval = Duration::ZERO
            }),
        ];
        for (name, break_it) in cases {
            let mut uppers = good.clone();
            break_it(&mut uppers[1]);
            let error = validate_uppers(&uppers).unwrap_err();
            assert_eq!(error.field, format!("gb28181.upper[1].{name}"));
        }
        let mut twice = good.clone();
        twice[1].server_id = twice[0].server_id.clone();
        assert_eq!(
            validate_uppers(&twice).unwrap_err().field,
            "gb28181.upper[1].server_id"
        );
    }
}
