//! What a node's GB/T 28181 access point is told: who it is, the device
//! passwords, the liveness rule and the bounds.

use std::collections::HashMap;
use std::time::Duration;

use vfed_gbcode::GbCode;

use crate::sip::Limits;

/// Options of [`crate::run`].
#[derive(Clone)]
pub struct Options {
    /// The platform's 20-digit SIP ID (type 200), the devices' "SIP server ID".
    pub server_id: String,
    /// The SIP domain and digest realm (conventionally the ID's first 10 digits).
    pub domain: String,
    /// The password of devices with no entry in `passwords`; `None` refuses them.
    pub default_password: Option<String>,
    /// Per-device passwords, by device ID (they override the default).
    pub passwords: HashMap<String, String>,
    /// The keepalive interval devices are configured with.
    pub keepalive_interval: Duration,
    /// How many intervals of silence make a device offline (3, R14.3).
    pub keepalive_misses: u32,
    /// Registration lifetime granted when the device asks none.
    pub default_expires: u32,
    /// Shortest and longest registration lifetime granted (asks are clamped).
    pub expires_range: (u32, u32),
    /// How long a digest nonce stays valid.
    pub nonce_max_age: Duration,
    /// How long a catalog may go without a page before it is reported incomplete.
    pub catalog_timeout: Duration,
    /// Query Catalog, DeviceInfo and DeviceStatus when a device registers or moves.
    pub query_on_register: bool,
    /// How often liveness and catalog timeouts are checked.
    pub sweep_period: Duration,
    /// Most registered devices.
    pub max_devices: usize,
    /// Most open TCP connections.
    pub max_connections: usize,
    /// Most catalogs being reassembled at once.
    pub max_pending_catalogs: usize,
    /// Most items kept of one catalog.
    pub max_catalog_items: usize,
    /// Inbound messages queued for the registrar before more are dropped.
    pub queue: usize,
    /// Host put in the Via of requests vfed sends (default: the socket's address).
    pub advertise_host: Option<String>,
    /// SIP message bounds.
    pub limits: Limits,
    /// Ports (inclusive) live-view media sockets are bound in; `None`: any free port.
    pub media_ports: Option<(u16, u16)>,
    /// Counts the requests answered with a refusal (4xx), for metrics.
    pub refusals: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Passwords never reach a log line.
        f.debug_struct("Options")
            .field("server_id", &self.server_id)
            .field("domain", &self.domain)
            .field(
                "default_password",
                &self.default_password.as_ref().map(|_| "<set>"),
            )
            .field("passwords", &self.passwords.len())
            .field("keepalive_interval", &self.keepalive_interval)
            .field("keepalive_misses", &self.keepalive_misses)
            .finish_non_exhaustive()
    }
}

/// Why options are refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    /// A field breaks its rule.
    #[error("gb28181 option {field}: {rule}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The rule.
        rule: String,
    },
}

impl Options {
    /// Options with the defaults: keepalive 60 s x 3, registrations of 3600 s
    /// (60-86400 granted), nonces of 5 min, catalogs timing out after 30 s of silence.
    pub fn new(server_id: impl Into<String>, domain: impl Into<String>) -> Self {
        Self {
            server_id: server_id.into(),
            domain: domain.into(),
            default_password: None,
            passwords: HashMap::new(),
            keepalive_interval: Duration::from_secs(60),
            keepalive_misses: 3,
            default_expires: 3600,
            expires_range: (60, 86_400),
            nonce_max_age: Duration::from_secs(300),
            catalog_timeout: Duration::from_secs(30),
            query_on_register: true,
            sweep_period: Duration::from_secs(1),
            max_devices: 100_000,
            max_connections: 4096,
            max_pending_catalogs: 1024,
            max_catalog_items: 100_000,
            queue: 4096,
            advertise_host: None,
            limits: Limits::default(),
            media_ports: None,
            refusals: std::sync::Arc::default(),
        }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<(), OptionsError> {
        let invalid = |field, rule: &str| {
            Err(OptionsError::Invalid {
                field,
                rule: rule.to_owned(),
            })
        };
        if let Err(e) = GbCode::parse_node(&self.server_id) {
            return Err(OptionsError::Invalid {
                field: "server_id",
                rule: e.to_string(),
            });
        }
        if !is_plain_domain(&self.domain) {
            return invalid("domain", "1-64 letters, digits, '.' or '-'");
        }
        if self.keepalive_interval < Duration::from_millis(100) {
            return invalid("keepalive_interval", "at least 100 ms");
        }
        if !(1..=10).contains(&self.keepalive_misses) {
            return invalid("keepalive_misses", "1-10");
        }
        let (low, high) = self.expires_range;
        if low == 0 || low > high || !(low..=high).contains(&self.default_expires) {
            return invalid("expires_range", "0 < low <= default_expires <= high");
        }
        if self.sweep_period.is_zero() || self.catalog_timeout.is_zero() {
            return invalid(
                "sweep_period",
                "sweep_period and catalog_timeout above zero",
            );
        }
        if self.max_devices == 0 || self.max_connections == 0 || self.queue == 0 {
            return invalid(
                "max_devices",
                "max_devices, max_connections and queue at least 1",
            );
        }
        if self
            .media_ports
            .is_some_and(|(low, high)| low == 0 || low > high)
        {
            return invalid("media_ports", "1 <= low <= high");
        }
        for (device, password) in &self.passwords {
            if GbCode::parse(device).is_err() {
                return invalid("passwords", "keys must be 20-digit device IDs");
            }
            if password.is_empty() || password.len() > 128 {
                return invalid("passwords", "1-128 bytes each");
            }
        }
        if self
            .default_password
            .as_ref()
            .is_some_and(|p| p.is_empty() || p.len() > 128)
        {
            return invalid("default_password", "1-128 bytes");
        }
        Ok(())
    }

    /// The password of `device_id`: its own, else the default.
    pub fn password_of(&self, device_id: &str) -> Option<&str> {
        self.passwords
            .get(device_id)
            .or(self.default_password.as_ref())
            .map(String::as_str)
    }

    /// Silence after which a device is offline.
    pub fn offline_after(&self) -> Duration {
        self.keepalive_interval * self.keepalive_misses
    }
}

/// A SIP domain as GB/T 28181 uses it: 1-64 letters, digits, '.' or '-'.
pub(crate) fn is_plain_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 64
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}
