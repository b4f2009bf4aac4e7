//! The `[gb28181]` section: GB/T 28181 device access (SIP registrar for
//! site NVRs and cameras, docs/gb28181.md): where it listens, who it is to
//! devices, their passwords, the keepalive rule (R14.3) and the media ports.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, Gb28181UpperConfig, StoreConfig, validate_uppers};

/// GB/T 28181 device access settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Gb28181Config {
    /// Serve GB/T 28181 device access.
    pub enabled: bool,
    /// SIP over UDP, `host:port`; empty: not served.
    pub listen_udp: String,
    /// SIP over TCP, `host:port`; empty: not served.
    pub listen_tcp: String,
    /// Host devices are told to send to (Via, SDP); required when a listen
    /// address is a wildcard (`0.0.0.0`); empty: the listen address.
    pub advertise_host: String,
    /// SIP domain and digest realm; empty: the first 10 digits of `node.id`.
    pub domain: String,
    /// File holding the password of devices without their own (first line);
    /// empty: `<store.data_dir>/gb28181-password`, generated (mode 0600) if missing.
    pub default_password_file: PathBuf,
    /// Optional TOML file of per-device passwords, `"<device id>" = "<password>"`
    /// (mode 0600); they override the default. Empty: none.
    pub device_passwords_file: PathBuf,
    /// The keepalive interval devices are configured with; a device silent
    /// for 3 intervals goes offline with an outage (R14.3).
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// Ports live-view media (PS over RTP) is received on, `low-high`;
    /// empty: any free port.
    pub media_ports: String,
    /// Upper platforms this node registers to as a GB/T 28181 lower
    /// platform (`[[gb28181.upper]]`, docs/gb28181.md, "Cascade").
    pub upper: Vec<Gb28181UpperConfig>,
}

impl Default for Gb28181Config {
    fn default() -> Self {
        Self {
            enabled: false,
            listen_udp: "127.0.0.1:5060".into(),
            listen_tcp: "127.0.0.1:5060".into(),
            advertise_host: String::new(),
            domain: String::new(),
            default_password_file: PathBuf::new(),
            device_passwords_file: PathBuf::new(),
            keepalive_interval: Duration::from_secs(60),
            media_ports: String::new(),
            upper: Vec::new(),
        }
    }
}

impl Gb28181Config {
    /// The SIP domain for node `node_id`.
    pub fn domain_for(&self, node_id: &str) -> String {
        if self.domain.is_empty() {
            node_id.chars().take(10).collect()
        } else {
            self.domain.clone()
        }
    }

    /// The effective default password file.
    pub fn default_password_file_for(&self, store: &StoreConfig) -> PathBuf {
        if self.default_password_file.as_os_str().is_empty() {
            store.data_dir.join("gb28181-password")
        } else {
            self.default_password_file.clone()
        }
    }

    /// The UDP and TCP listen addresses (validated).
    pub fn listen(&self) -> Result<(Option<SocketAddr>, Option<SocketAddr>), ConfigError> {
        let parse = |field: &str, value: &str| -> Result<Option<SocketAddr>, ConfigError> {
            if value.is_empty() {
                return Ok(None);
            }
            value.parse().map(Some).map_err(|_| {
                ConfigError::new(
                    format!("gb28181.{field}"),
                    format!("{value:?} is not host:port with an IP address"),
                )
            })
        };
        Ok((
            parse("listen_udp", &self.listen_udp)?,
            parse("listen_tcp", &self.listen_tcp)?,
        ))
    }

    /// The media port range (validated).
    pub fn media_port_range(&self) -> Result<Option<(u16, u16)>, ConfigError> {
        if self.media_ports.is_empty() {
            return Ok(None);
        }
        let bad = || {
            ConfigError::new(
                "gb28181.media_ports",
                format!(
                    "{:?} is not low-high with 1 <= low <= high <= 65535",
                    self.media_ports
                ),
            )
        };
        let (low, high) = self.media_ports.split_once('-').ok_or_else(bad)?;
        let low: u16 = low.trim().parse().map_err(|_| bad())?;
        let high: u16 = high.trim().parse().map_err(|_| bad())?;
        if low == 0 || low > high {
            return Err(bad());
        }
        Ok(Some((low, high)))
    }

    /// Checks the section (only when enabled; upper entries need it enabled).
    pub(crate) fn validate(&self, store: &StoreConfig) -> Result<(), ConfigError> {
        if !self.enabled {
            if !self.upper.is_empty() {
                return Err(ConfigError::new(
                    "gb28181.upper",
                    "upper platforms need gb28181.enabled = true",
                ));
            }
            return Ok(());
        }
        let (udp, tcp) = self.listen()?;
        if udp.is_none() && tcp.is_none() {
            return Err(ConfigError::new(
                "gb28181.listen_udp",
                "listen_udp or listen_tcp must be set when gb28181 is enabled",
            ));
        }
        let wildcard = [udp, tcp]
            .into_iter()
            .flatten()
            .any(|a| a.ip().is_unspecified());
        if wildcard && self.advertise_host.is_empty() {
            return Err(ConfigError::new(
                "gb28181.advertise_host",
                "required when a listen address is a wildcard (devices must be told where to send)",
            ));
        }
        if self.advertise_host.len() > 253
            || !self
                .advertise_host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        {
            return Err(ConfigError::new(
                "gb28181.advertise_host",
                "must be a host name or IP address",
            ));
        }
        if !self.domain.is_empty()
            && (self.domain.len() > 64
                || !self
                    .domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
        {
            return Err(ConfigError::new(
                "gb28181.domain",
                "must be 1-64 letters, digits, '.' or '-'",
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&self.keepalive_interval)
        {
            return Err(ConfigError::new(
                "gb28181.keepalive_interval",
                "must be between 1s and 1h (R14.3)",
            ));
        }
        if self.default_password_file.as_os_str().is_empty()
            && store.data_dir.as_os_str().is_empty()
        {
            return Err(ConfigError::new(
                "gb28181.default_password_file",
                "must be set when store.data_dir is empty",
            ));
        }
        self.media_port_range()?;
        validate_uppers(&self.upper)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn enabled() -> Gb28181Config {
        Gb28181Config {
            enabled: true,
            ..Gb28181Config::default()
        }
    }

    fn field(config: &Gb28181Config) -> String {
        let store = StoreConfig::default();
        config.validate(&store).unwrap_err().field
    }

    #[test]
    fn each_refusal_names_its_field() {
        let store = StoreConfig::default();
        enabled().validate(&store).unwrap();
        let mut c = enabled();
        c.listen_udp = "nowhere".into();
        assert_eq!(field(&c), "gb28181.listen_udp");
        let mut c = enabled();
        c.listen_tcp = "0.0.0.0:5060".into();
        assert_eq!(field(&c), "gb28181.advertise_host");
        let mut c = enabled();
        c.domain = "a b".into();
        assert_eq!(field(&c), "gb28181.domain");
        let mut c = enabled();
        c.keepalive_interval = Duration::from_millis(10);
        assert_eq!(field(&c), "gb28181.keepalive_interval");
        let mut c = enabled();
        c.media_ports = "20000-10000".into();
        assert_eq!(field(&c), "gb28181.media_ports");
        c.media_ports = "10000-10099".into();
        assert_eq!(c.media_port_range().unwrap(), Some((10000, 10099)));
        let mut c = enabled();
        c.listen_udp = String::new();
        c.listen_tcp = String::new();
        assert_eq!(field(&c), "gb28181.listen_udp");
        // Each upper entry is checked with the section, named by its index.
        let mut c = enabled();
        c.upper = vec![Gb28181UpperConfig::default()];
        assert_eq!(field(&c), "gb28181.upper[0].server_id");
        c.enabled = false;
        assert_eq!(field(&c), "gb28181.upper");
    }

    #[test]
    fn the_domain_defaults_to_the_node_id_s_first_ten_digits() {
        assert_eq!(
            Gb28181Config::default().domain_for("54050200002000000001"),
            "5405020000"
        );
    }
}
