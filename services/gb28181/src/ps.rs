//! MPEG-2 Program Stream demuxing (ISO/IEC 13818-1 §2.5) as GB/T 28181
//! devices send it over RTP: pack headers, system headers, the stream map
//! (PSM: H.264 is stream type 0x1B, H.265 0x24), video PES packets with
//! PTS/DTS; audio, private (Hikvision 0xBD) and padding streams skipped.
//! Input is one RTP frame's payloads put together (all packets of one RTP
//! timestamp); a frame split over several PES packets (the later ones
//! without PTS) is joined. Bytes that are not PS are skipped to the next
//! start code. Bounded: a frame over `max_frame` bytes is refused.

use bytes::{BufMut, Bytes, BytesMut};
use vfed_media::nal::{self, NalClass};
use vfed_media::{AccessUnit, Codec};

/// Why a PS frame is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PsError {
    /// The video of one frame is over the limit.
    #[error("ps: frame of more than {max} bytes")]
    FrameTooLarge {
        /// The limit.
        max: usize,
    },
    /// The ES is not Annex-B H.264/H.265.
    #[error("ps: elementary stream: {0}")]
    Elementary(String),
}

/// The video of one frame, as the device coded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EsFrame {
    /// From the stream map, else sniffed from the first NAL unit.
    pub codec: Codec,
    /// Presentation time, 90 kHz, unwrapped past 2^33.
    pub pts: i64,
    /// Decode time, 90 kHz (the PTS when the PES has none).
    pub dts: i64,
    /// Annex-B bytes.
    pub annexb: Bytes,
}

/// A frame as vfed's media model has it, with the parameter sets it carried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemuxedUnit {
    /// The codec.
    pub codec: Codec,
    /// Length-prefixed NAL units, parameter sets removed; 90 kHz times.
    pub unit: AccessUnit,
    /// VPS NAL units in this frame (H.265).
    pub vps: Vec<Bytes>,
    /// SPS NAL units in this frame.
    pub sps: Vec<Bytes>,
    /// PPS NAL units in this frame.
    pub pps: Vec<Bytes>,
}

/// Demuxes PS frames of one stream.
#[derive(Debug)]
pub struct PsDemuxer {
    mapped: Option<Codec>,
    last_pts: Option<i64>,
    last_dts: Option<i64>,
    max_frame: usize,
}

const WRAP: i64 = 1 << 33;

impl PsDemuxer {
    /// A demuxer refusing frames over `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            mapped: None,
            last_pts: None,
            last_dts: None,
            max_frame,
        }
    }

    /// The video frames in `data` (usually one).
    pub fn demux(&mut self, data: &[u8]) -> Result<Vec<EsFrame>, PsError> {
        let mut frames = Vec::new();
        let mut current: Option<(i64, i64, BytesMut)> = None;
        let mut pos = 0usize;
        while pos + 4 <= data.len() {
            if data[pos..pos + 3] != [0, 0, 1] {
                pos = next_start_code(data, pos + 1).unwrap_or(data.len());
                continue;
            }
            let id = data[pos + 3];
            match id {
                0xBA => pos = pack_header_end(data, pos),
                0xB9 => pos += 4,
                0xBC => {
                    let end = packet_end(data, pos);
                    if let Some(codec) = stream_map_codec(&data[(pos + 6).min(end)..end]) {
                        self.mapped = Some(codec);
                    }
                    pos = end;
                }
                0xE0..=0xEF => {
                    let end = video_packet_end(data, pos);
                    let Some((times, payload)) = pes_payload(&data[pos..end]) else {
                        pos = end;
                        continue;
                    };
                    if let Some((pts, dts)) = times {
                        if let Some(done) = current.take() {
                            frames.push(self.frame(done)?);
                        }
                        let (pts, dts) = self.unwrap(pts, dts);
                        current = Some((pts, dts, BytesMut::new()));
                    }
                    if let Some((_, _, buffer)) = current.as_mut() {
                        if buffer.len() + payload.len() > self.max_frame {
                            return Err(PsError::FrameTooLarge {
                                max: self.max_frame,
                            });
                        }
                        buffer.put_slice(payload);
                    }
                    pos = end;
                }
                0xBB..=0xFF => pos = packet_end(data, pos),
                // A start code of the elementary stream outside a PES: skip.
                _ => pos += 3,
            }
        }
        if let Some(done) = current.take() {
            frames.push(self.frame(done)?);
        }
        Ok(frames)
    }

    fn frame(&self, (pts, dts, buffer): (i64, i64, BytesMut)) -> Result<EsFrame, PsError> {
        let annexb = buffer.freeze();
        let codec = match self.mapped {
            Some(codec) => codec,
            None => sniff(&annexb),
        };
        Ok(EsFrame {
            codec,
            pts,
            dts,
            annexb,
        })
    }

    /// Extends 33-bit times past their wrap, continuing from the last ones.
    fn unwrap(&mut self, pts: i64, dts: i64) -> (i64, i64) {
        let pts = extend(self.last_pts, pts);
        let dts = extend(self.last_dts.or(Some(pts)), dts);
        self.last_pts = Some(pts);
        self.last_dts = Some(dts);
        (pts, dts)
    }
}

impl EsFrame {
    /// The frame as an access unit: NAL units length-prefixed, parameter
    /// sets taken aside, keyframe when it holds an IDR/IRAP slice.
    /// `Ok(None)` when it holds no slice.
    pub fn access_unit(&self, ingest_unix_us: i64) -> Result<Option<DemuxedUnit>, PsError> {
        let bad = |e: vfed_media::MediaError| PsError::Elementary(e.to_string());
        let mut data = BytesMut::with_capacity(self.annexb.len() + 16);
        let (mut vps, mut sps, mut pps) = (Vec::new(), Vec::new(), Vec::new());
        let (mut keyframe, mut slice) = (false, false);
        for unit in nal::split_annexb(&self.annexb).map_err(bad)? {
            let class = nal::header(self.codec, unit).map_err(bad)?.class;
            match class {
                NalClass::Vps => vps.push(Bytes::copy_from_slice(unit)),
                NalClass::Sps => sps.push(Bytes::copy_from_slice(unit)),
                NalClass::Pps => pps.push(Bytes::copy_from_slice(unit)),
                NalClass::Aud => {}
                other => {
                    slice |= other.is_slice();
                    keyframe |= other.is_keyframe();
                    nal::put_length_prefixed(&mut data, unit).map_err(bad)?;
                }
            }
        }
        Ok(slice.then(|| DemuxedUnit {
            codec: self.codec,
            unit: AccessUnit {
                pts: self.pts,
                dts: self.dts,
                keyframe,
                data: data.freeze(),
                ingest_unix_us,
            },
            vps,
            sps,
            pps,
        }))
    }
}

fn next_start_code(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|p| p + from)
}

/// Past a pack header: MPEG-2 (14 bytes and stuffing) or MPEG-1 (12).
fn pack_header_end(data: &[u8], pos: usize) -> usize {
    let Some(&mark) = data.get(pos + 4) else {
        return data.len();
    };
    let end = if mark >> 6 == 0b01 {
        let stuffing = data.get(pos + 13).map_or(0, |b| usize::from(b & 7));
        pos + 14 + stuffing
    } else if mark >> 4 == 0b0010 {
        pos + 12
    } else {
        pos + 4
    };
    end.min(data.len())
}

/// Past a packet with a 16-bit length after its start code.
fn packet_end(data: &[u8], pos: usize) -> usize {
    match data.get(pos + 4..pos + 6) {
        Some(&[hi, lo]) => (pos + 6 + usize::from(u16::from_be_bytes([hi, lo]))).min(data.len()),
        _ => data.len(),
    }
}

/// Past a video PES; length 0 (unbounded) runs to the next pack header.
fn video_packet_end(data: &[u8], pos: usize) -> usize {
    match data.get(pos + 4..pos + 6) {
        Some(&[0, 0]) => {
            let mut from = pos + 6;
            while let Some(at) = next_start_code(data, from) {
                if data.get(at + 3) == Some(&0xBA) {
                    return at;
                }
                from = at + 3;
            }
            data.len()
        }
        _ => packet_end(data, pos),
    }
}

/// The PTS/DTS (if the PES has them) and payload of a PES packet: MPEG-2
/// (`10` flags byte, PTS_DTS flags, header length), or the short form
/// gb28181-rs 0.14 writes (no `10` byte: PTS_DTS flags, header length,
/// timestamps, one filler byte), told apart by the byte after the flags.
#[allow(clippy::type_complexity)]
fn pes_payload(packet: &[u8]) -> Option<(Option<(i64, i64)>, &[u8])> {
    let (b6, b7) = (*packet.get(6)?, *packet.get(7)?);
    let b8 = packet.get(8).copied().unwrap_or(0);
    let short = b6 >> 6 != 0b10 || (matches!(b7, 5 | 10) && matches!(b8 >> 4, 2 | 3));
    let (times, header_length, at) = if short {
        (b6 >> 6, usize::from(b7), 8)
    } else {
        (b7 >> 6, usize::from(b8), 9)
    };
    let payload = packet.get(at + header_length..)?;
    let timestamp = |at: usize| -> Option<i64> {
        let b = packet.get(at..at + 5)?;
        Some(
            (i64::from(b[0] >> 1 & 0x07) << 30)
                | (i64::from(b[1]) << 22)
                | (i64::from(b[2] >> 1) << 15)
                | (i64::from(b[3]) << 7)
                | i64::from(b[4] >> 1),
        )
    };
    let times = match times {
        0b10 if header_length >= 5 => timestamp(at).map(|pts| (pts, pts)),
        0b11 if header_length >= 10 => timestamp(at).zip(timestamp(at + 5)),
        _ => None,
    };
    Some((times, payload))
}

/// The video codec a program stream map declares.
fn stream_map_codec(map: &[u8]) -> Option<Codec> {
    let info_length = usize::from(u16::from_be_bytes([*map.get(2)?, *map.get(3)?]));
    let at = 4 + info_length;
    let es_length = usize::from(u16::from_be_bytes([*map.get(at)?, *map.get(at + 1)?]));
    let entries = map.get(at + 2..(at + 2 + es_length).min(map.len()))?;
    let mut pos = 0;
    while pos + 4 <= entries.len() {
        let (stream_type, id) = (entries[pos], entries[pos + 1]);
        let info = usize::from(u16::from_be_bytes([entries[pos + 2], entries[pos + 3]]));
        if (0xE0..=0xEF).contains(&id) {
            match stream_type {
                0x1B => return Some(Codec::H264),
                0x24 => return Some(Codec::H265),
                _ => {}
            }
        }
        pos += 4 + info;
    }
    None
}

/// H.265 when the first NAL unit's header reads as an H.265 parameter
/// set, AUD, SEI or slice with layer 0 and temporal id 1; else H.264.
fn sniff(annexb: &[u8]) -> Codec {
    let Some(at) = next_start_code(annexb, 0) else {
        return Codec::H264;
    };
    match (annexb.get(at + 3), annexb.get(at + 4)) {
        (Some(&first), Some(&1))
            if matches!((first >> 1) & 0x3f, 0..=21 | 32..=35 | 39) && first & 0x81 == 0 =>
        {
            // H.264 types whose header byte can look the same (0x40, 0x42...)
            // are followed by a profile or slice byte, rarely exactly 0x01.
            Codec::H265
        }
        _ => Codec::H264,
    }
}

/// `raw` (33 bits) moved by multiples of 2^33 to be nearest `previous`.
fn extend(previous: Option<i64>, raw: i64) -> i64 {
    let Some(previous) = previous else {
        return raw;
    };
    let base = previous - previous.rem_euclid(WRAP);
    [base - WRAP + raw, base + raw, base + WRAP + raw]
        .into_iter()
        .min_by_key(|candidate| (candidate - previous).abs())
        .unwrap_or(raw)
}

/// Writes a PS frame the way GB/T 28181 devices do (pack header, PSM on
/// keyframes, PES packets of at most 65,000 bytes, only the first with a
/// PTS). What vfed sends upper platforms ([`crate::upper`]), and the
/// tests' and fuzz seeds' input.
pub fn mux_frame(codec: Codec, pts: i64, annexb: &[u8], with_map: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(annexb.len() + 64);
    let scr = pts.rem_euclid(WRAP) as u64;
    out.extend_from_slice(&[0, 0, 1, 0xBA]);
    out.push(0x44 | ((scr >> 27) as u8 & 0x38) | ((scr >> 28) as u8 & 0x03));
    out.push((scr >> 20) as u8);
    out.push(0x04 | ((scr >> 12) as u8 & 0xF8) | ((scr >> 13) as u8 & 0x03));
    out.push((scr >> 5) as u8);
    out.extend_from_slice(&[
        0x04 | ((scr << 3) as u8 & 0xF8),
        0x01,
        0x01,
        0x89,
        0xC3,
        0xF8,
    ]);
    if with_map {
        let stream_type = match codec {
            Codec::H264 => 0x1B,
            Codec::H265 => 0x24,
        };
        let map = [0xE0, 0xFF, 0, 0, 0, 4, stream_type, 0xE0, 0, 0, 0, 0, 0, 0];
        out.extend_from_slice(&[0, 0, 1, 0xBC, 0, map.len() as u8]);
        out.extend_from_slice(&map);
    }
    for (i, chunk) in annexb.chunks(65_000).enumerate() {
        let header: Vec<u8> = if i == 0 {
            let t = pts.rem_euclid(WRAP) as u64;
            vec![
                0x21 | ((t >> 29) as u8 & 0x0E),
                (t >> 22) as u8,
                0x01 | ((t >> 14) as u8 & 0xFE),
                (t >> 7) as u8,
                0x01 | ((t << 1) as u8 & 0xFE),
            ]
        } else {
            Vec::new()
        };
        let length = 3 + header.len() + chunk.len();
        out.extend_from_slice(&[0, 0, 1, 0xE0]);
        out.extend_from_slice(&(length as u16).to_be_bytes());
        out.extend_from_slice(&[0x80, if i == 0 { 0x80 } else { 0 }, header.len() as u8]);
        out.extend_from_slice(&header);
        out.extend_from_slice(chunk);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const H264_IDR: &[u8] = &[
        0, 0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x38, 0x80, 0, 0, 1, 0x65, 0x88,
        0x84,
    ];
    const H265_IDR: &[u8] = &[
        0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 0, 1, 0x42, 0x01, 0x01, 0, 0, 0, 1, 0x44, 0x01, 0xc1,
        0, 0, 1, 0x26, 0x01, 0xaf, 0x09,
    ];

    #[test]
    fn demuxes_h264_and_h265_with_and_without_a_map() {
        for (codec, es) in [(Codec::H264, H264_IDR), (Codec::H265, H265_IDR)] {
            for with_map in [true, false] {
                let mut demuxer = PsDemuxer::new(1 << 20);
                let frames = demuxer
                    .demux(&mux_frame(codec, 3600, es, with_map))
                    .unwrap();
                assert_eq!(frames.len(), 1);
                assert_eq!((frames[0].codec, frames[0].pts), (codec, 3600));
                assert_eq!(&frames[0].annexb[..], es);
                let unit = frames[0].access_unit(0).unwrap().unwrap();
                assert!(unit.unit.keyframe);
                assert_eq!(unit.sps.len(), 1);
                assert_eq!(
                    nal::split_length_prefixed(&unit.unit.data).unwrap().len(),
                    1
                );
            }
        }
    }

    #[test]
    fn joins_split_pes_skips_garbage_and_unwraps_time() {
        let mut big = H264_IDR.to_vec();
        big.extend(std::iter::repeat_n(0x55, 150_000));
        let mut data = b"junk".to_vec();
        data.extend(mux_frame(Codec::H264, WRAP - 1800, &big, true));
        let mut demuxer = PsDemuxer::new(1 << 20);
        let frames = demuxer.demux(&data).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].annexb.len(), big.len());
        let next = demuxer
            .demux(&mux_frame(Codec::H264, 1800, &[0, 0, 1, 0x41, 0x9a], false))
            .unwrap();
        assert_eq!(next[0].pts, WRAP + 1800);
        assert!(!next[0].access_unit(0).unwrap().unwrap().unit.keyframe);
        assert_eq!(
            PsDemuxer::new(1000).demux(&mux_frame(Codec::H264, 0, &big, true)),
            Err(PsError::FrameTooLarge { max: 1000 })
        );
    }
}
