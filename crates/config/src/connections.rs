//! The `[connections]` section: how long a peer may hold a connection
//! without using it, and how many connections each listener admits. A peer
//! that is slow, silent or one of a flood must not take the node's file
//! descriptors, and with them every other listener of the process.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Limits of every listener.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionsConfig {
    /// The HTTP port (metrics, health, media egress).
    pub http: HttpLimits,
    /// The gRPC port (mutual TLS).
    pub grpc: GrpcLimits,
    /// The media relay (QUIC).
    pub relay: RelayLimits,
}

/// Limits of the HTTP port.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLimits {
    /// A request's head (request line and headers) must arrive within this
    /// long of the server starting to wait for it: on a new connection, and
    /// between requests of a kept-alive one (HTTP/1).
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// A connection on which no byte moved either way for this long is
    /// closed (silent HTTP/2 clients, viewers that stopped reading).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Connections open at once; further ones are closed on accept.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
        }
    }
}

/// Limits of the gRPC port.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcLimits {
    /// How often the server pings an HTTP/2 connection.
    #[serde(with = "humantime_serde")]
    pub keepalive_interval: Duration,
    /// A ping not acknowledged within this long closes the connection.
    #[serde(with = "humantime_serde")]
    pub keepalive_timeout: Duration,
    /// A connection on which no byte moved either way for this long is
    /// closed, e.g. one that finished the TLS handshake and then said
    /// nothing. Longer than `keepalive_interval`, so that a healthy
    /// connection's pings keep it open.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Connections open at once (handshakes included); further ones are
    /// closed on accept.
    pub max_connections: usize,
    /// Calls in progress at once on one connection.
    pub max_concurrent_streams: u32,
}

impl Default for GrpcLimits {
    fn default() -> Self {
        Self {
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(120),
            max_connections: 1024,
            max_concurrent_streams: 256,
        }
    }
}

/// Limits of the media relay.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RelayLimits {
    /// A QUIC connection silent for this long is closed (the relay's own
    /// keepalives are sent every 2 s); this also bounds a handshake.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Connections open at once (handshakes included); further ones are
    /// refused.
    pub max_connections: usize,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            max_connections: 1024,
        }
    }
}

/// Shortest timeout of any listener (tests use a few hundred ms).
const MIN_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest timeout of any listener: a connection that may sit silent
/// longer than this is a hole, not a setting.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Most connections one listener may admit.
const MAX_CONNECTIONS: usize = 1_000_000;
/// The relay's keepalive period (services/relay/src/endpoint.rs).
const RELAY_KEEPALIVE: Duration = Duration::from_secs(2);

impl ConnectionsConfig {
    /// Checks every field.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let http = &self.http;
        timeout("connections.http.header_timeout", http.header_timeout)?;
        timeout("connections.http.idle_timeout", http.idle_timeout)?;
        count("connections.http.max_connections", http.max_connections)?;
        let grpc = &self.grpc;
        timeout(
            "connections.grpc.keepalive_interval",
            grpc.keepalive_interval,
        )?;
        timeout("connections.grpc.keepalive_timeout", grpc.keepalive_timeout)?;
        timeout("connections.grpc.idle_timeout", grpc.idle_timeout)?;
        if grpc.idle_timeout <= grpc.keepalive_interval {
            return Err(ConfigError::new(
                "connections.grpc.idle_timeout",
                "must be longer than connections.grpc.keepalive_interval",
            ));
        }
        count("connections.grpc.max_connections", grpc.max_connections)?;
        if !(1..=10_000).contains(&grpc.max_concurrent_streams) {
            return Err(ConfigError::new(
                "connections.grpc.max_concurrent_streams",
                "must be 1 to 10000",
            ));
        }
        let relay = &self.relay;
        timeout("connections.relay.idle_timeout", relay.idle_timeout)?;
        if relay.idle_timeout <= RELAY_KEEPALIVE {
            return Err(ConfigError::new(
                "connections.relay.idle_timeout",
                format!("must be longer than the relay keepalive period ({RELAY_KEEPALIVE:?})"),
            ));
        }
        count("connections.relay.max_connections", relay.max_connections)?;
        Ok(())
    }
}

fn timeout(field: &str, value: Duration) -> Result<(), ConfigError> {
    if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&value) {
        return Err(ConfigError::new(
            field,
            format!("must be {MIN_TIMEOUT:?} to {MAX_TIMEOUT:?}"),
        ));
    }
    Ok(())
}

fn count(field: &str, value: usize) -> Result<(), ConfigError> {
    if !(1..=MAX_CONNECTIONS).contains(&value) {
        return Err(ConfigError::new(
            field,
            format!("must be 1 to {MAX_CONNECTIONS}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(config: &ConnectionsConfig) -> Option<String> {
        config.validate().err().map(|e| e.field)
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(field_of(&ConnectionsConfig::default()), None);
    }

    #[test]
    fn each_bound_names_its_field() {
        let mut c = ConnectionsConfig::default();
        c.http.header_timeout = Duration::ZERO;
        assert_eq!(
            field_of(&c).as_deref(),
            Some("connections.http.header_timeout")
        );

        let mut c = ConnectionsConfig::default();
        c.http.idle_timeout = Duration::from_secs(7200);
        assert_eq!(
            field_of(&c).as_deref(),
            Some("connections.http.idle_timeout")
        );

        let mut c = ConnectionsConfig::default();
        c.http.max_connections = 0;
        assert_eq!(
            field_of(&c).as_deref(),
            Some("connections.http.max_connections")
        );

        let mut c = ConnectionsConfig::default();
        c.grpc.idle_timeout = c.grpc.keepalive_interval;
        assert_eq!(
            field_of(&c).as_deref(),
            Some("connections.grpc.idle_timeout")
        );

        let mut c = ConnectionsConfig::default();
        c.grpc.max_concurrent_streams = 0;
        assert_eq!(
            field_of(&c).as_deref(),
            Some("connections.grpc.max_concurrent_streams")
        );

        let mut c = ConnectionsConfig::default();
        c.relay.idle_timeout = Duration::from_secs(2);
        assert_eq!(
            field_of(&c).as_deref(),
            Some("connections.relay.idle_timeout")
        );

        let mut c = ConnectionsConfig::default();
        c.relay.max_connections = MAX_CONNECTIONS + 1;
        assert_eq!(
            field_of(&c).as_deref(),
            Some("connections.relay.max_connections")
        );
    }
}
