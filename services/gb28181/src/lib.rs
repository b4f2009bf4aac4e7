//! vfed-gb28181: GB/T 28181 device access.
//!
//! Site NVRs and cameras register here by SIP (UDP and TCP) with digest
//! authentication, keep alive by MANSCDP MESSAGEs and answer catalog,
//! device info and status queries. [`run`] serves one node's SIP sockets
//! and reports what it learns to three [`Sinks`]: device events
//! (registered, keepalive, offline, unregistered: liveness, R14.3),
//! catalogs and device information (discovered channels), and the access
//! units of live sessions started through a [`Handle`] (the relay; [`serve`]).
//! See docs/gb28181.md.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod catalog;
mod core;
#[cfg(feature = "device-sim")]
pub mod device_sim;
pub mod digest;
pub mod discovered;
mod inbox;
mod live;
pub mod manscdp;
mod options;
pub mod ps;
mod register;
mod retransmit;
pub mod rtp;
pub mod sdp;
mod sinks;
pub mod sip;
mod transport;
pub mod upper;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use catalog::{CatalogOutcome, CatalogReport};
pub use live::{Control, Handle, MediaTransport, PlayError, PlayStarted, control};
pub use options::{Options, OptionsError};
pub use sinks::{CatalogSink, DeviceEvent, DeviceSink, MediaSink, RegisterKind, Sinks, Transport};

/// The sockets [`run`] serves, bound by the caller (any may be absent).
#[derive(Debug, Default)]
pub struct Sockets {
    /// SIP over UDP.
    pub udp: Option<UdpSocket>,
    /// SIP over TCP.
    pub tcp: Option<TcpListener>,
}

/// Why [`run`] cannot start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The options break a rule.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// Neither socket was given.
    #[error("gb28181: no socket to serve (give a UDP socket, a TCP listener or both)")]
    NoSocket,
    /// A socket's address cannot be read.
    #[error("gb28181: socket address: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves GB/T 28181 device access on `sockets` until `shutdown` is
/// cancelled, reporting to `sinks` (no live view: see [`serve`]).
pub async fn run(
    options: Options,
    sockets: Sockets,
    sinks: Sinks,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    let (_, control) = control();
    serve(options, sockets, sinks, shutdown, control).await
}

/// [`run`], with live view driven by the [`Handle`] paired with `control`.
pub async fn serve(
    options: Options,
    sockets: Sockets,
    sinks: Sinks,
    shutdown: CancellationToken,
    control: Control,
) -> Result<(), RunError> {
    options.validate()?;
    if sockets.udp.is_none() && sockets.tcp.is_none() {
        return Err(RunError::NoSocket);
    }
    let sent_by = |address: std::net::SocketAddr| match &options.advertise_host {
        Some(host) => format!("{host}:{}", address.port()),
        None => address.to_string(),
    };
    let udp_address = sockets
        .udp
        .as_ref()
        .map(UdpSocket::local_addr)
        .transpose()?;
    let tcp_address = sockets
        .tcp
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    let wildcard = [udp_address, tcp_address]
        .into_iter()
        .flatten()
        .any(|a| a.ip().is_unspecified());
    if wildcard && options.advertise_host.is_none() {
        return Err(OptionsError::Invalid {
            field: "advertise_host",
            rule: "required when a socket is bound to a wildcard address (devices must be told where to send)".into(),
        }
        .into());
    }
    let sent_by = core::SentBy {
        udp: udp_address.map(sent_by),
        tcp: tcp_address.map(sent_by),
        media_ip: udp_address.or(tcp_address).map(|a| a.ip()),
    };
    let (queue, inbound) = mpsc::channel(options.queue);
    let out = transport::start(
        sockets.udp,
        sockets.tcp,
        options.limits,
        options.max_connections,
        queue,
        shutdown.clone(),
    );
    core::Core::new(options, sinks, out, sent_by)
        .run(inbound, control.commands, shutdown)
        .await;
    Ok(())
}
