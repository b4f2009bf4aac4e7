//! The SIP connection to one upper: a UDP socket connected to it (the
//! kernel drops datagrams from anyone else) or a TCP connection vfed
//! opens. Inbound messages are parsed with the crate's bounded parser and
//! queued; malformed ones are dropped (UDP) or close the connection (TCP).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::sinks::Transport;
use crate::sip::{Limits, Message, StreamFramer, parse_message};

/// Something from the link.
#[derive(Debug)]
pub(crate) enum LinkEvent {
    /// A message from the upper.
    Message(Message),
    /// The connection ended (TCP), with why.
    Closed(String),
}

#[derive(Debug)]
enum Writer {
    Udp(Arc<UdpSocket>),
    Tcp(mpsc::Sender<Vec<u8>>),
}

/// An open link.
#[derive(Debug)]
pub(crate) struct Link {
    writer: Writer,
    /// Our address as the upper sees it (for Via and Contact).
    pub(crate) local: SocketAddr,
    stop: CancellationToken,
}

/// Messages queued from the link before more are dropped.
const QUEUE: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Link {
    /// Opens the link; its messages go to `events` until it is dropped.
    pub(crate) async fn open(
        transport: Transport,
        local_ip: std::net::IpAddr,
        upper: SocketAddr,
        events: mpsc::Sender<LinkEvent>,
    ) -> io::Result<Self> {
        let stop = CancellationToken::new();
        let limits = Limits::default();
        match transport {
            Transport::Udp => {
                let socket = UdpSocket::bind(SocketAddr::new(local_ip, 0)).await?;
                socket.connect(upper).await?;
                let local = socket.local_addr()?;
                let socket = Arc::new(socket);
                let reader = socket.clone();
                let done = stop.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; limits.max_message + 1];
                    loop {
                        let read = tokio::select! {
                            () = done.cancelled() => return,
                            read = reader.recv(&mut buffer) => read,
                        };
                        match read {
                            Ok(n) => match parse_message(&buffer[..n], &limits, true) {
                                Ok(message) => {
                                    if events.try_send(LinkEvent::Message(message)).is_err() {
                                        debug!("gb28181 upper: queue full, datagram dropped");
                                    }
                                }
                                Err(error) => debug!(%error, "gb28181 upper: datagram refused"),
                            },
                            // ICMP unreachable surfaces here on a connected socket.
                            Err(error) => {
                                debug!(%error, "gb28181 upper: udp receive");
                                tokio::time::sleep(Duration::from_millis(100)).await;
                            }
                        }
                    }
                });
                Ok(Self {
                    writer: Writer::Udp(socket),
                    local,
                    stop,
                })
            }
            Transport::Tcp => {
                let socket = match upper {
                    SocketAddr::V4(_) => TcpSocket::new_v4()?,
                    SocketAddr::V6(_) => TcpSocket::new_v6()?,
                };
                socket.bind(SocketAddr::new(local_ip, 0))?;
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(upper))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
                let local = stream.local_addr()?;
                let (mut read_half, mut write_half) = stream.into_split();
                let (sender, mut outgoing) = mpsc::channel::<Vec<u8>>(QUEUE);
                let done = stop.clone();
                let closed = events.clone();
                tokio::spawn(async move {
                    let mut framer = StreamFramer::new(limits);
                    let mut buffer = vec![0u8; 16 * 1024];
                    let why = loop {
                        let read = tokio::select! {
                            () = done.cancelled() => return,
                            read = read_half.read(&mut buffer) => read,
                        };
                        match read {
                            Ok(0) => break "closed by the upper".to_owned(),
                            Ok(n) => framer.push(&buffer[..n]),
                            Err(error) => break format!("read: {error}"),
                        }
                        let framing = loop {
                            match framer.next_message() {
                                Ok(Some(message)) => {
                                    if events.try_send(LinkEvent::Message(message)).is_err() {
                                        debug!("gb28181 upper: queue full, message dropped");
                                    }
                                }
                                Ok(None) => break None,
                                Err(error) => break Some(format!("framing: {error}")),
                            }
                        };
                        if let Some(why) = framing {
                            break why;
                        }
                    };
                    let _ = closed.send(LinkEvent::Closed(why)).await;
                });
                let done = stop.clone();
                tokio::spawn(async move {
                    loop {
                        let bytes = tokio::select! {
                            () = done.cancelled() => return,
                            bytes = outgoing.recv() => bytes,
                        };
                        let Some(bytes) = bytes else { return };
                        if write_half.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                });
                Ok(Self {
                    writer: Writer::Tcp(sender),
                    local,
                    stop,
                })
            }
        }
    }

    /// `UDP` or `TCP`, for Via.
    pub(crate) fn transport_token(&self) -> &'static str {
        match self.writer {
            Writer::Udp(_) => "UDP",
            Writer::Tcp(_) => "TCP",
        }
    }

    /// Sends one message.
    pub(crate) async fn send(&self, message: &Message) -> io::Result<()> {
        self.send_bytes(message.to_bytes()).await
    }

    /// Sends bytes (a retransmission).
    pub(crate) async fn send_bytes(&self, bytes: Vec<u8>) -> io::Result<()> {
        match &self.writer {
            Writer::Udp(socket) => socket.send(&bytes).await.map(|_| ()),
            Writer::Tcp(sender) => sender.try_send(bytes).map_err(|_| {
                io::Error::new(io::ErrorKind::WouldBlock, "tcp writer full or closed")
            }),
        }
    }

    /// Whether it is UDP (requests are retransmitted).
    pub(crate) fn is_udp(&self) -> bool {
        matches!(self.writer, Writer::Udp(_))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
