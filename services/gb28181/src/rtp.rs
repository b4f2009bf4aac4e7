//! RTP (RFC 3550) as GB/T 28181 devices send PS over it: the fixed header,
//! CSRCs, an extension and padding skipped; payloads of one timestamp put
//! together into one PS frame. The SSRC is not checked against the offer
//! (Dahua streams SSRC 0 whatever `y=` says, Hikvision NCG its own): the
//! first SSRC seen is followed, packets of any other are dropped.

/// One RTP packet, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Payload type.
    pub payload_type: u8,
    /// Marker bit (last packet of a frame).
    pub marker: bool,
    /// Sequence number.
    pub sequence: u16,
    /// 90 kHz timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload.
    pub payload: &'a [u8],
}

/// Reads one RTP packet; `None` when it is not RTP version 2 or is cut short.
pub fn parse(data: &[u8]) -> Option<RtpPacket<'_>> {
    let first = *data.first()?;
    if first >> 6 != 2 || data.len() < 12 {
        return None;
    }
    let csrcs = usize::from(first & 0x0f);
    let mut start = 12 + 4 * csrcs;
    if first & 0x10 != 0 {
        let words = u16::from_be_bytes([*data.get(start + 2)?, *data.get(start + 3)?]);
        start += 4 + 4 * usize::from(words);
    }
    let mut end = data.len();
    if first & 0x20 != 0 {
        let padding = usize::from(*data.last()?);
        end = end.checked_sub(padding)?;
    }
    Some(RtpPacket {
        payload_type: data[1] & 0x7f,
        marker: data[1] & 0x80 != 0,
        sequence: u16::from_be_bytes([data[2], data[3]]),
        timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
        ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
        payload: data.get(start..end)?,
    })
}

/// Puts the payloads of one timestamp together; a frame is done at the
/// marker bit or when the timestamp changes. Bounded by `max_frame`.
#[derive(Debug)]
pub struct FrameCollector {
    ssrc: Option<u32>,
    timestamp: Option<u32>,
    buffer: Vec<u8>,
    max_frame: usize,
    /// Packets of another SSRC than the one followed.
    pub foreign: u64,
    /// Frames dropped for being over the limit.
    pub oversize: u64,
}

impl FrameCollector {
    /// A collector of frames up to `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            ssrc: None,
            timestamp: None,
            buffer: Vec::new(),
            max_frame,
            foreign: 0,
            oversize: 0,
        }
    }

    /// The SSRC followed (the first seen).
    pub fn ssrc(&self) -> Option<u32> {
        self.ssrc
    }

    /// Adds a packet; returns the frames it completes (at most two: the
    /// previous timestamp's and, with the marker, this one's).
    pub fn push(&mut self, packet: &RtpPacket<'_>) -> Vec<Vec<u8>> {
        let followed = *self.ssrc.get_or_insert(packet.ssrc);
        if followed != packet.ssrc {
            self.foreign += 1;
            return Vec::new();
        }
        let mut done = Vec::new();
        if self.timestamp.is_some_and(|t| t != packet.timestamp) && !self.buffer.is_empty() {
            done.push(std::mem::take(&mut self.buffer));
        }
        self.timestamp = Some(packet.timestamp);
        if self.buffer.len() + packet.payload.len() > self.max_frame {
            self.oversize += 1;
            self.buffer.clear();
            return done;
        }
        self.buffer.extend_from_slice(packet.payload);
        if packet.marker {
            done.push(std::mem::take(&mut self.buffer));
        }
        done
    }
}

/// How RTP packets are framed on a TCP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpFraming {
    /// RFC 4571: a 2-byte length before each packet.
    Rfc4571,
    /// RTSP interleaved style: `$`, a channel byte, a 2-byte length
    /// (Hikvision and gb28181-rs send this).
    Dollar,
}

/// Cuts RTP packets out of a TCP byte stream, in whichever framing the
/// first packet shows (decided once: `$` followed, 4 bytes on, by an RTP
/// version-2 byte). Bounded: at most one packet (64 KiB) is buffered.
#[derive(Debug, Default)]
pub struct TcpDeframer {
    buffer: Vec<u8>,
    framing: Option<TcpFraming>,
}

impl TcpDeframer {
    /// A deframer that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The framing in use, once decided.
    pub fn framing(&self) -> Option<TcpFraming> {
        self.framing
    }

    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// The next whole packet, if buffered.
    pub fn next_packet(&mut self) -> Option<Vec<u8>> {
        let framing = match self.framing {
            Some(framing) => framing,
            None => {
                let decided = match self.buffer.as_slice() {
                    [b'$', _, _, _, rtp, ..] if rtp >> 6 == 2 => TcpFraming::Dollar,
                    [_, _, rtp, ..] if rtp >> 6 == 2 => TcpFraming::Rfc4571,
                    _ => return None,
                };
                *self.framing.insert(decided)
            }
        };
        let (header, length) = match (framing, self.buffer.as_slice()) {
            (TcpFraming::Dollar, [_, _, hi, lo, ..]) => {
                (4, usize::from(u16::from_be_bytes([*hi, *lo])))
            }
            (TcpFraming::Rfc4571, [hi, lo, ..]) => (2, usize::from(u16::from_be_bytes([*hi, *lo]))),
            _ => return None,
        };
        if self.buffer.len() < header + length {
            return None;
        }
        let packet = self.buffer[header..header + length].to_vec();
        self.buffer.drain(..header + length);
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn packet(marker: bool, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80, 96 | if marker { 0x80 } else { 0 }, 0, 1];
        out.extend_from_slice(&timestamp.to_be_bytes());
        out.extend_from_slice(&ssrc.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn collects_frames_and_follows_one_ssrc() {
        let mut collector = FrameCollector::new(100);
        let a = packet(false, 10, 7, b"ab");
        let b = packet(true, 10, 7, b"cd");
        let other = packet(true, 10, 8, b"xx");
        let c = packet(false, 20, 7, b"ef");
        let d = packet(false, 30, 7, b"gh");
        assert!(collector.push(&parse(&a).unwrap()).is_empty());
        assert!(collector.push(&parse(&other).unwrap()).is_empty());
        assert_eq!(collector.push(&parse(&b).unwrap()), vec![b"abcd".to_vec()]);
        assert!(collector.push(&parse(&c).unwrap()).is_empty());
        assert_eq!(collector.push(&parse(&d).unwrap()), vec![b"ef".to_vec()]);
        assert_eq!((collector.ssrc(), collector.foreign), (Some(7), 1));
        assert_eq!(parse(&[0x80, 0, 0]), None);
        let mut padded = packet(false, 1, 1, b"abc\x02");
        padded[0] |= 0x20;
        assert_eq!(parse(&padded).unwrap().payload, b"ab");
    }

    #[test]
    fn deframes_both_tcp_framings_split_anywhere() {
        let one = packet(false, 1, 5, b"first");
        let two = packet(true, 1, 5, b"second");
        for framing in [TcpFraming::Rfc4571, TcpFraming::Dollar] {
            let mut stream = Vec::new();
            for p in [&one, &two] {
                if framing == TcpFraming::Dollar {
                    stream.extend_from_slice(&[b'$', 0]);
                }
                stream.extend_from_slice(&(p.len() as u16).to_be_bytes());
                stream.extend_from_slice(p);
            }
            for cut in 0..stream.len() {
                let mut deframer = TcpDeframer::new();
                let mut got = Vec::new();
                deframer.push(&stream[..cut]);
                while let Some(p) = deframer.next_packet() {
                    got.push(p);
                }
                deframer.push(&stream[cut..]);
                while let Some(p) = deframer.next_packet() {
                    got.push(p);
                }
                assert_eq!(
                    got,
                    vec![one.clone(), two.clone()],
                    "{framing:?} cut at {cut}"
                );
                assert_eq!(deframer.framing(), Some(framing));
            }
        }
    }
}
