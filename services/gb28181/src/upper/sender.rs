//! Sending one live stream to an upper: access units from the relay,
//! parameter sets put back before each keyframe, muxed into PS
//! ([`crate::ps::mux_frame`]), cut into RTP packets with the upper's SSRC
//! (marker on a frame's last packet, 90 kHz timestamps), over UDP or TCP
//! (RFC 4571 two-byte framing). Starts at the first keyframe.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vfed_media::nal::length_prefixed_to_annexb;
use vfed_media::{AccessUnit, StreamMetadata};

use super::invite::{MediaMode, Offer};
use super::sources::LiveItem;
use crate::ps::mux_frame;

/// Largest RTP payload (fits a 1500-byte MTU with IP, UDP and RTP headers).
const MAX_PAYLOAD: usize = 1400;
/// How long the upper has to connect (vfed passive) or accept (vfed active).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// UDP send errors in a row (ICMP unreachable: the receiver is gone) that end a session.
const MAX_SEND_ERRORS: u32 = 50;

/// A media path bound before the answer, opened after the ACK.
#[derive(Debug)]
pub(crate) enum Prepared {
    Udp(UdpSocket),
    Connect(SocketAddr, IpAddr),
    Listen(TcpListener),
}

impl Prepared {
    /// Binds what the offer needs on `local_ip`; returns it and the port to answer.
    pub(crate) async fn bind(offer: &Offer, local_ip: IpAddr) -> io::Result<(Self, u16)> {
        let remote = SocketAddr::new(offer.address, offer.port);
        match offer.mode {
            MediaMode::Udp => {
                let socket = UdpSocket::bind(SocketAddr::new(local_ip, 0)).await?;
                socket.connect(remote).await?;
                let port = socket.local_addr()?.port();
                Ok((Self::Udp(socket), port))
            }
            // RFC 4145: the active side answers port 9 (discard).
            MediaMode::TcpActive => Ok((Self::Connect(remote, local_ip), 9)),
            MediaMode::TcpPassive => {
                let listener = TcpListener::bind(SocketAddr::new(local_ip, 0)).await?;
                let port = listener.local_addr()?.port();
                Ok((Self::Listen(listener), port))
            }
        }
    }

    async fn open(self) -> io::Result<Path> {
        let timed_out =
            || io::Error::new(io::ErrorKind::TimedOut, "no media connection within 10 s");
        Ok(match self {
            Self::Udp(socket) => Path::Udp(socket, 0),
            Self::Connect(remote, local_ip) => {
                let socket = match remote {
                    SocketAddr::V4(_) => TcpSocket::new_v4()?,
                    SocketAddr::V6(_) => TcpSocket::new_v6()?,
                };
                socket.bind(SocketAddr::new(local_ip, 0))?;
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, socket.connect(remote))
                    .await
                    .map_err(|_| timed_out())??;
                Path::Tcp(stream)
            }
            Self::Listen(listener) => {
                let (stream, _) = tokio::time::timeout(CONNECT_TIMEOUT, listener.accept())
                    .await
                    .map_err(|_| timed_out())??;
                Path::Tcp(stream)
            }
        })
    }
}

enum Path {
    Udp(UdpSocket, u32),
    Tcp(TcpStream),
}

impl Path {
    async fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        match self {
            Self::Udp(socket, errors) => match socket.send(packet).await {
                Ok(_) => {
                    *errors = 0;
                    Ok(())
                }
                Err(error) => {
                    *errors += 1;
                    if *errors >= MAX_SEND_ERRORS {
                        Err(error)
                    } else {
                        Ok(())
                    }
                }
            },
            Self::Tcp(stream) => {
                let length = u16::try_from(packet.len())
                    .map_err(|_| io::Error::other("rtp packet over 65535 bytes"))?;
                let mut framed = Vec::with_capacity(packet.len() + 2);
                framed.extend_from_slice(&length.to_be_bytes());
                framed.extend_from_slice(packet);
                stream.write_all(&framed).await
            }
        }
    }
}

/// RTP packetizer state.
pub(crate) struct Packetizer {
    ssrc: u32,
    payload_type: u8,
    sequence: u16,
}

impl Packetizer {
    pub(crate) fn new(ssrc: u32, payload_type: u8) -> Self {
        Self {
            ssrc,
            payload_type,
            sequence: rand::random(),
        }
    }

    /// The RTP packets of one PS frame.
    pub(crate) fn packets(&mut self, ps: &[u8], pts: i64) -> Vec<Vec<u8>> {
        let timestamp = pts.rem_euclid(1 << 32) as u32;
        let chunks: Vec<&[u8]> = ps.chunks(MAX_PAYLOAD).collect();
        let last = chunks.len().saturating_sub(1);
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let mut packet = Vec::with_capacity(12 + chunk.len());
                packet.push(0x80);
                packet.push(self.payload_type | if i == last { 0x80 } else { 0 });
                packet.extend_from_slice(&self.sequence.to_be_bytes());
                packet.extend_from_slice(&timestamp.to_be_bytes());
                packet.extend_from_slice(&self.ssrc.to_be_bytes());
                packet.extend_from_slice(chunk);
                self.sequence = self.sequence.wrapping_add(1);
                packet
            })
            .collect()
    }
}

/// The Annex-B bytes of `unit`, with the parameter sets first on a keyframe.
fn annexb(metadata: &StreamMetadata, unit: &AccessUnit) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(unit.data.len() + 128);
    if unit.keyframe {
        let sets: [&Vec<Bytes>; 3] = [&metadata.vps, &metadata.sps, &metadata.pps];
        for nal in sets.into_iter().flatten() {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
    }
    let body = length_prefixed_to_annexb(&unit.data).map_err(|e| format!("access unit: {e}"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Streams `items` to the upper until `stop`, the source ends or the
/// path fails; returns why it ended when not stopped.
pub(crate) async fn stream(
    prepared: Prepared,
    mut items: mpsc::Receiver<LiveItem>,
    mut packetizer: Packetizer,
    stop: CancellationToken,
) -> Option<String> {
    let opened = tokio::select! {
        () = stop.cancelled() => return None,
        opened = prepared.open() => opened,
    };
    let mut path = match opened {
        Ok(path) => path,
        Err(error) => return Some(format!("media connection: {error}")),
    };
    let mut metadata: Option<StreamMetadata> = None;
    let mut started = false;
    loop {
        let item = tokio::select! {
            () = stop.cancelled() => return None,
            item = items.recv() => item,
        };
        let unit = match item {
            None => return Some("the live source ended".into()),
            Some(LiveItem::Metadata(m)) => {
                started &= metadata.as_ref().is_some_and(|old| old.codec == m.codec);
                metadata = Some(m);
                continue;
            }
            Some(LiveItem::Unit(unit)) => unit,
        };
        let Some(meta) = metadata.as_ref() else {
            continue;
        };
        if !started && !unit.keyframe {
            continue;
        }
        started = true;
        let es = match annexb(meta, &unit) {
            Ok(es) => es,
            Err(why) => return Some(why),
        };
        let ps = mux_frame(meta.codec, unit.pts, &es, unit.keyframe);
        for packet in packetizer.packets(&ps, unit.pts) {
            if let Err(error) = path.send(&packet).await {
                return Some(format!("media send: {error}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::rtp::{FrameCollector, parse};

    #[test]
    fn packets_reassemble_into_the_frame() {
        let ps: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let mut packetizer = Packetizer::new(0x0100_0001, 96);
        let packets = packetizer.packets(&ps, 90_000);
        assert_eq!(packets.len(), 4);
        let mut collector = FrameCollector::new(1 << 20);
        let mut frames = Vec::new();
        for packet in &packets {
            let parsed = parse(packet).unwrap();
            assert_eq!(
                (parsed.ssrc, parsed.payload_type, parsed.timestamp),
                (0x0100_0001, 96, 90_000)
            );
            frames.extend(collector.push(&parsed));
        }
        assert_eq!(frames, vec![ps]);
    }
}
