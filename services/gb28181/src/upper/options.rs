//! What one upper platform entry says: who the upper is, where, how to
//! reach it, the password, and how vfed behaves towards it. Validated
//! before anything is sent; each refusal names the field.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use vfed_gbcode::GbCode;

use crate::sinks::Transport;

/// The charset of the MANSCDP bodies vfed sends an upper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyCharset {
    /// Declared and encoded GB2312 (GB18030 bytes; what most uppers expect).
    Gb2312,
    /// Declared and encoded UTF-8.
    Utf8,
}

/// One upper platform vfed registers to as a lower platform.
#[derive(Clone)]
pub struct UpperOptions {
    /// The upper's 20-digit SIP server ID.
    pub server_id: String,
    /// The upper's SIP domain (its realm; conventionally 10 digits).
    pub domain: String,
    /// Where the upper's SIP service listens.
    pub address: SocketAddr,
    /// UDP or TCP.
    pub transport: Transport,
    /// The password the upper holds for this node.
    pub password: String,
    /// This node's 20-digit ID as the upper knows it (type 200: a platform).
    pub local_id: String,
    /// The local address to send from (unspecified: the system's choice).
    pub local_ip: IpAddr,
    /// Catalog items per MESSAGE (1-64; LiveGBS offers 1/2/4/8, WVP 1).
    pub catalog_group_size: usize,
    /// Interval of keepalive MESSAGEs.
    pub keepalive_interval: Duration,
    /// Unanswered keepalives in a row that make the upper offline (1-10).
    pub keepalive_misses: u32,
    /// Registration lifetime asked, seconds (60-86400); refreshed at 3/4.
    pub register_expires: u32,
    /// Charset of bodies sent.
    pub charset: BodyCharset,
    /// First wait before re-registering after a failure, doubled up to `retry_max`.
    pub retry_min: Duration,
    /// Longest wait between registration attempts.
    pub retry_max: Duration,
    /// Most live sessions the upper may hold at once.
    pub max_sessions: usize,
}

impl std::fmt::Debug for UpperOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password never reaches a log line.
        f.debug_struct("UpperOptions")
            .field("server_id", &self.server_id)
            .field("domain", &self.domain)
            .field("address", &self.address)
            .field("transport", &self.transport)
            .field("local_id", &self.local_id)
            .field("catalog_group_size", &self.catalog_group_size)
            .field("keepalive_interval", &self.keepalive_interval)
            .finish_non_exhaustive()
    }
}

/// Why upper options are refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("gb28181 upper {server_id}: {field}: {rule}")]
pub struct UpperOptionsError {
    /// The upper's server ID as given.
    pub server_id: String,
    /// The field.
    pub field: &'static str,
    /// The rule it breaks.
    pub rule: String,
}

impl UpperOptions {
    /// An upper at `address` with the defaults: UDP, group size 1, keepalive
    /// 60 s x 3, registration 3600 s, GB2312, retry 1-60 s, 16 sessions.
    pub fn new(
        server_id: &str,
        domain: &str,
        address: SocketAddr,
        local_id: &str,
        password: &str,
    ) -> Self {
        Self {
            server_id: server_id.to_owned(),
            domain: domain.to_owned(),
            address,
            transport: Transport::Udp,
            password: password.to_owned(),
            local_id: local_id.to_owned(),
            local_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            catalog_group_size: 1,
            keepalive_interval: Duration::from_secs(60),
            keepalive_misses: 3,
            register_expires: 3600,
            charset: BodyCharset::Gb2312,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            max_sessions: 16,
        }
    }

    /// Checks every field; the error names the first one broken.
    pub fn validate(&self) -> Result<(), UpperOptionsError> {
        let invalid = |field, rule: String| {
            Err(UpperOptionsError {
                server_id: self.server_id.chars().take(40).collect(),
                field,
                rule,
            })
        };
        if let Err(e) = GbCode::parse(&self.server_id) {
            return invalid("server_id", format!("a 20-digit GB/T 28181 ID: {e}"));
        }
        if let Err(e) = GbCode::parse_node(&self.local_id) {
            return invalid("local_id", e.to_string());
        }
        if !crate::options::is_plain_domain(&self.domain) {
            return invalid("domain", "1-64 letters, digits, '.' or '-'".into());
        }
        if self.address.port() == 0 || self.address.ip().is_unspecified() {
            return invalid("address", "a host address and a port above 0".into());
        }
        if self.password.is_empty() || self.password.len() > 128 {
            return invalid("password", "1-128 bytes".into());
        }
        if !(1..=64).contains(&self.catalog_group_size) {
            return invalid("catalog_group_size", "1-64 items per MESSAGE".into());
        }
        if self.keepalive_interval < Duration::from_millis(200)
            || self.keepalive_interval > Duration::from_secs(3600)
        {
            return invalid("keepalive_interval", "200 ms to 3600 s".into());
        }
        if !(1..=10).contains(&self.keepalive_misses) {
            return invalid("keepalive_misses", "1-10".into());
        }
        if !(60..=86_400).contains(&self.register_expires) {
            return invalid("register_expires", "60-86400 s".into());
        }
        if self.retry_min.is_zero() || self.retry_min > self.retry_max {
            return invalid("retry_min", "above zero and at most retry_max".into());
        }
        if self.retry_max > Duration::from_secs(3600) {
            return invalid("retry_max", "at most 3600 s".into());
        }
        if !(1..=256).contains(&self.max_sessions) {
            return invalid("max_sessions", "1-256".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> UpperOptions {
        UpperOptions::new(
            "44010000002000000001",
            "4401000000",
            "127.0.0.1:5060"
                .parse()
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5060))),
            "34020000002000000001",
            "secret",
        )
    }

    type Breaker = fn(&mut UpperOptions);

    #[test]
    fn names_the_field() {
        assert_eq!(good().validate(), Ok(()));
        let cases: [(&str, Breaker); 8] = [
            ("server_id", |o| o.server_id = "12".into()),
            ("local_id", |o| o.local_id = "34020000001320000001".into()),
            ("domain", |o| o.domain = "a b".into()),
            ("address", |o| o.address.set_port(0)),
            ("password", |o| o.password.clear()),
            ("catalog_group_size", |o| o.catalog_group_size = 0),
            ("keepalive_interval", |o| {
                o.keepalive_interval = Duration::ZERO
            }),
            ("register_expires", |o| o.register_expires = 10),
        ];
        for (field, break_it) in cases {
            let mut options = good();
            break_it(&mut options);
            let error = options.validate().err().map(|e| e.field);
            assert_eq!(error, Some(field));
        }
    }
}
