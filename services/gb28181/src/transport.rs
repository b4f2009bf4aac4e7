//! SIP over UDP and TCP: reading messages into the registrar's queue and
//! writing what it answers. Bounded: datagrams over the size limit, a full
//! queue (UDP: dropped), too many connections (refused), a stream that
//! breaks framing (answered if possible, then closed).

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::sinks::Transport;
use crate::sip::parse::head_for_answer;
use crate::sip::{Limits, Message, ParseError, StreamFramer, parse_message};

/// Where a message came from, and where its answer goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A UDP source address.
    Udp(SocketAddr),
    /// A TCP connection.
    Tcp {
        /// The connection's number.
        connection: u64,
        /// Its remote address.
        address: SocketAddr,
    },
}

impl Peer {
    /// The remote address.
    pub fn address(&self) -> SocketAddr {
        match self {
            Self::Udp(address) | Self::Tcp { address, .. } => *address,
        }
    }

    /// UDP or TCP.
    pub fn transport(&self) -> Transport {
        match self {
            Self::Udp(_) => Transport::Udp,
            Self::Tcp { .. } => Transport::Tcp,
        }
    }
}

/// A message refused by the parser, with its head when one could be read
/// (so a request can still be answered with the error).
#[derive(Debug)]
pub struct Rejected {
    /// Why.
    pub error: ParseError,
    /// The start line and headers, body empty.
    pub head: Option<Message>,
}

/// One thing read from the network.
#[derive(Debug)]
pub struct Inbound {
    /// From where.
    pub peer: Peer,
    /// The message, or why it was refused.
    pub message: Result<Message, Rejected>,
}

type Connections = Arc<Mutex<HashMap<u64, mpsc::Sender<Vec<u8>>>>>;

/// Sends bytes to peers.
#[derive(Clone, Debug)]
pub struct Outbound {
    udp: Option<Arc<UdpSocket>>,
    connections: Connections,
}

impl Outbound {
    /// Sends `bytes` to `peer`.
    pub async fn send(&self, peer: &Peer, bytes: Vec<u8>) -> io::Result<()> {
        match peer {
            Peer::Udp(address) => match &self.udp {
                Some(socket) => socket.send_to(&bytes, address).await.map(|_| ()),
                None => Err(io::Error::new(io::ErrorKind::NotConnected, "no UDP socket")),
            },
            Peer::Tcp { connection, .. } => {
                let sender = self
                    .connections
                    .lock()
                    .map_err(|_| io::Error::other("connection table poisoned"))?
                    .get(connection)
                    .cloned();
                match sender {
                    Some(sender) => sender.try_send(bytes).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::WouldBlock,
                            "connection writer full or closed",
                        )
                    }),
                    None => Err(io::Error::new(
                        io::ErrorKind::NotConnected,
                        "connection closed",
                    )),
                }
            }
        }
    }
}

/// Starts reading `socket` into `queue`; returns the sender side.
pub fn start_udp(
    socket: UdpSocket,
    limits: Limits,
    queue: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
) -> Arc<UdpSocket> {
    let socket = Arc::new(socket);
    let reader = socket.clone();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; limits.max_message + 1];
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => return,
                r = reader.recv_from(&mut buffer) => r,
            };
            let (length, from) = match received {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port unreachable from an earlier send surfaces here.
                    debug!(error = %e, "gb28181: udp receive");
                    continue;
                }
            };
            let data = &buffer[..length];
            let message = if length > limits.max_message {
                Err(Rejected {
                    error: ParseError::TooLarge {
                        size: length,
                        max: limits.max_message,
                    },
                    head: head_for_answer(data, &limits),
                })
            } else {
                parse_message(data, &limits, true).map_err(|error| Rejected {
                    error,
                    head: head_for_answer(data, &limits),
                })
            };
            if queue
                .try_send(Inbound {
                    peer: Peer::Udp(from),
                    message,
                })
                .is_err()
            {
                debug!(%from, "gb28181: queue full, datagram dropped");
            }
        }
    });
    socket
}

/// Starts accepting on `listener`.
pub fn start_tcp(
    listener: TcpListener,
    limits: Limits,
    max_connections: usize,
    queue: mpsc::Sender<Inbound>,
    connections: Connections,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut next = 0u64;
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => return,
                r = listener.accept() => r,
            };
            let (stream, address) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "gb28181: tcp accept");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let open = connections.lock().map_or(usize::MAX, |c| c.len());
            if open >= max_connections {
                warn!(%address, max_connections, "gb28181: connection refused, too many open");
                drop(stream);
                continue;
            }
            next += 1;
            let (sender, receiver) = mpsc::channel(64);
            if let Ok(mut table) = connections.lock() {
                table.insert(next, sender);
            }
            tokio::spawn(serve_connection(
                stream,
                Peer::Tcp {
                    connection: next,
                    address,
                },
                limits,
                queue.clone(),
                receiver,
                connections.clone(),
                shutdown.clone(),
            ));
        }
    });
}

async fn serve_connection(
    stream: TcpStream,
    peer: Peer,
    limits: Limits,
    queue: mpsc::Sender<Inbound>,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
    connections: Connections,
    shutdown: CancellationToken,
) {
    let (mut reader, mut writer) = stream.into_split();
    let mut framer = StreamFramer::new(limits);
    let mut buffer = vec![0u8; 16 * 1024];
    let mut closing = false;
    while !closing {
        tokio::select! {
            () = shutdown.cancelled() => break,
            bytes = outgoing.recv() => match bytes {
                Some(bytes) => if writer.write_all(&bytes).await.is_err() { break },
                None => break,
            },
            read = reader.read(&mut buffer) => {
                let length = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                framer.push(&buffer[..length]);
                loop {
                    let message = match framer.next_message() {
                        Ok(Some(message)) => Ok(message),
                        Ok(None) => break,
                        Err(error) => {
                            closing = true;
                            Err(Rejected { error, head: framer.pending_head() })
                        }
                    };
                    let stop = message.is_err();
                    if queue.send(Inbound { peer, message }).await.is_err() {
                        closing = true;
                    }
                    if stop {
                        break;
                    }
                }
            }
        }
    }
    // Let the registrar's answer to a refused message out before closing.
    if closing
        && let Ok(Some(bytes)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), outgoing.recv()).await
    {
        let _ = writer.write_all(&bytes).await;
    }
    let _ = writer.shutdown().await;
    if let Peer::Tcp { connection, .. } = peer
        && let Ok(mut table) = connections.lock()
    {
        table.remove(&connection);
    }
}

/// Starts the transports: returns what sends.
pub fn start(
    udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
    limits: Limits,
    max_connections: usize,
    queue: mpsc::Sender<Inbound>,
    shutdown: CancellationToken,
) -> Outbound {
    let connections: Connections = Arc::default();
    let udp = udp.map(|socket| start_udp(socket, limits, queue.clone(), shutdown.clone()));
    if let Some(listener) = tcp {
        start_tcp(
            listener,
            limits,
            max_connections,
            queue,
            connections.clone(),
            shutdown,
        );
    }
    Outbound { udp, connections }
}
