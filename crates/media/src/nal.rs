//! NAL unit helpers for H.264 and H.265: type extraction, classification,
//! Annex-B start-code splitting and conversion to and from the 4-byte
//! length-prefixed form [`crate::AccessUnit`] carries.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::MediaError;
use crate::model::Codec;

/// What a NAL unit is, across both codecs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NalClass {
    /// Video parameter set (H.265 only).
    Vps,
    /// Sequence parameter set.
    Sps,
    /// Picture parameter set.
    Pps,
    /// Access unit delimiter.
    Aud,
    /// SEI that precedes the slices it applies to (all H.264 SEI, H.265 prefix SEI).
    Sei,
    /// H.265 suffix SEI: follows the slices of its picture.
    SuffixSei,
    /// A slice of an IDR picture (decoding can start here, no leading pictures).
    IdrSlice,
    /// A slice of an H.265 IRAP picture that is not IDR (CRA, BLA).
    IrapSlice,
    /// Any other slice (coded picture data).
    Slice,
    /// End of sequence / end of stream: closes the current access unit.
    EndOfSequence,
    /// Anything else (filler, reserved, unspecified).
    Other,
}

impl NalClass {
    /// SPS, PPS or VPS: belongs in [`crate::StreamMetadata`], not in access units.
    pub fn is_parameter_set(self) -> bool {
        matches!(self, Self::Vps | Self::Sps | Self::Pps)
    }

    /// Coded picture data (a VCL NAL unit).
    pub fn is_slice(self) -> bool {
        matches!(self, Self::IdrSlice | Self::IrapSlice | Self::Slice)
    }

    /// A slice of a picture decoding can start at (IDR, or IRAP for H.265).
    pub fn is_keyframe(self) -> bool {
        matches!(self, Self::IdrSlice | Self::IrapSlice)
    }
}

/// A classified NAL unit header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NalHeader {
    /// `nal_unit_type` (5 bits for H.264, 6 bits for H.265).
    pub nal_type: u8,
    /// What it is.
    pub class: NalClass,
}

/// H.264 `nal_unit_type` values (ITU-T H.264 Table 7-1) vfed looks at.
pub mod h264_type {
    /// Coded slice of a non-IDR picture.
    pub const SLICE: u8 = 1;
    /// Coded slice of an IDR picture.
    pub const IDR: u8 = 5;
    /// Supplemental enhancement information.
    pub const SEI: u8 = 6;
    /// Sequence parameter set.
    pub const SPS: u8 = 7;
    /// Picture parameter set.
    pub const PPS: u8 = 8;
    /// Access unit delimiter.
    pub const AUD: u8 = 9;
}

/// H.265 `nal_unit_type` values (ITU-T H.265 Table 7-1) vfed looks at.
pub mod h265_type {
    /// First IRAP type (BLA_W_LP).
    pub const IRAP_FIRST: u8 = 16;
    /// IDR with leading pictures.
    pub const IDR_W_RADL: u8 = 19;
    /// IDR without leading pictures.
    pub const IDR_N_LP: u8 = 20;
    /// Last IRAP type (RSV_IRAP_VCL23).
    pub const IRAP_LAST: u8 = 23;
    /// Video parameter set.
    pub const VPS: u8 = 32;
    /// Sequence parameter set.
    pub const SPS: u8 = 33;
    /// Picture parameter set.
    pub const PPS: u8 = 34;
    /// Access unit delimiter.
    pub const AUD: u8 = 35;
    /// Prefix SEI.
    pub const PREFIX_SEI: u8 = 39;
    /// Suffix SEI.
    pub const SUFFIX_SEI: u8 = 40;
}

/// Reads and classifies the NAL unit header of `nal` (no start code, no length prefix).
pub fn header(codec: Codec, nal: &[u8]) -> Result<NalHeader, MediaError> {
    const WHAT: &str = "NAL unit header";
    let first = *nal.first().ok_or(MediaError::Truncated { what: WHAT })?;
    if first & 0x80 != 0 {
        return Err(MediaError::invalid(WHAT, "forbidden_zero_bit is set"));
    }
    match codec {
        Codec::H264 => {
            let nal_type = first & 0x1f;
            let class = match nal_type {
                h264_type::IDR => NalClass::IdrSlice,
                1..=4 => NalClass::Slice,
                h264_type::SEI => NalClass::Sei,
                h264_type::SPS => NalClass::Sps,
                h264_type::PPS => NalClass::Pps,
                h264_type::AUD => NalClass::Aud,
                10 | 11 => NalClass::EndOfSequence,
                _ => NalClass::Other,
            };
            Ok(NalHeader { nal_type, class })
        }
        Codec::H265 => {
            if nal.len() < 2 {
                return Err(MediaError::Truncated { what: WHAT });
            }
            let nal_type = (first >> 1) & 0x3f;
            let class = match nal_type {
                h265_type::IDR_W_RADL | h265_type::IDR_N_LP => NalClass::IdrSlice,
                h265_type::IRAP_FIRST..=h265_type::IRAP_LAST => NalClass::IrapSlice,
                0..=31 => NalClass::Slice,
                h265_type::VPS => NalClass::Vps,
                h265_type::SPS => NalClass::Sps,
                h265_type::PPS => NalClass::Pps,
                h265_type::AUD => NalClass::Aud,
                h265_type::PREFIX_SEI => NalClass::Sei,
                h265_type::SUFFIX_SEI => NalClass::SuffixSei,
                36 | 37 => NalClass::EndOfSequence,
                _ => NalClass::Other,
            };
            Ok(NalHeader { nal_type, class })
        }
    }
}

/// Whether a slice NAL unit starts a new picture: H.264 `first_mb_in_slice == 0`,
/// H.265 `first_slice_segment_in_pic_flag == 1`.
///
/// Both are the first bit after the NAL header (`ue(v)` 0 is the single bit
/// `1`), and that byte can never be an emulation prevention byte.
pub fn is_first_slice_of_picture(codec: Codec, nal: &[u8]) -> Result<bool, MediaError> {
    let header_len = match codec {
        Codec::H264 => 1,
        Codec::H265 => 2,
    };
    let byte = nal.get(header_len).ok_or(MediaError::Truncated {
        what: "slice header",
    })?;
    Ok(byte & 0x80 != 0)
}

/// Splits an Annex-B byte stream into NAL units (without start codes).
///
/// Accepts 3- and 4-byte start codes and any number of leading zero bytes;
/// drops `trailing_zero_8bits` and empty NAL units. Fails if the stream has
/// bytes other than zeros before its first start code, or no start code.
pub fn split_annexb(data: &[u8]) -> Result<Vec<&[u8]>, MediaError> {
    const WHAT: &str = "Annex-B stream";
    let mut nals = Vec::new();
    let Some(first) = find_start_code(data, 0) else {
        if data.iter().all(|&b| b == 0) {
            return Ok(nals);
        }
        return Err(MediaError::invalid(WHAT, "no start code"));
    };
    if data[..first].iter().any(|&b| b != 0) {
        return Err(MediaError::invalid(
            WHAT,
            "data before the first start code",
        ));
    }
    let mut start = first + 3;
    loop {
        let end = find_start_code(data, start).unwrap_or(data.len());
        let mut nal = &data[start..end];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        if !nal.is_empty() {
            nals.push(nal);
        }
        if end == data.len() {
            return Ok(nals);
        }
        start = end + 3;
    }
}

/// Position of the next `00 00 01` at or after `from`.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|p| p + from)
}

/// Splits 4-byte length-prefixed NAL units (as in [`crate::AccessUnit::data`]).
pub fn split_length_prefixed(data: &[u8]) -> Result<Vec<&[u8]>, MediaError> {
    const WHAT: &str = "length-prefixed NAL units";
    let mut nals = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or(MediaError::Truncated { what: WHAT })?;
        let len = usize::try_from(u32::from_be_bytes(*len))
            .map_err(|_| MediaError::invalid(WHAT, "length does not fit in memory"))?;
        if len == 0 {
            return Err(MediaError::invalid(WHAT, "empty NAL unit"));
        }
        if tail.len() < len {
            return Err(MediaError::Truncated { what: WHAT });
        }
        let (nal, tail) = tail.split_at(len);
        nals.push(nal);
        rest = tail;
    }
    Ok(nals)
}

/// Appends `nal` to `out` with a 4-byte big-endian length prefix.
pub fn put_length_prefixed(out: &mut BytesMut, nal: &[u8]) -> Result<(), MediaError> {
    let len = u32::try_from(nal.len())
        .map_err(|_| MediaError::unsupported("NAL unit", "longer than 4 GiB"))?;
    out.put_u32(len);
    out.put_slice(nal);
    Ok(())
}

/// Converts an Annex-B stream to 4-byte length-prefixed form.
pub fn annexb_to_length_prefixed(data: &[u8]) -> Result<Bytes, MediaError> {
    let nals = split_annexb(data)?;
    let mut out = BytesMut::with_capacity(data.len() + 4 * nals.len());
    for nal in nals {
        put_length_prefixed(&mut out, nal)?;
    }
    Ok(out.freeze())
}

/// Converts 4-byte length-prefixed NAL units to Annex-B (4-byte start codes).
pub fn length_prefixed_to_annexb(data: &[u8]) -> Result<Bytes, MediaError> {
    let nals = split_length_prefixed(data)?;
    let mut out = BytesMut::with_capacity(data.len());
    for nal in nals {
        out.put_slice(&[0, 0, 0, 1]);
        out.put_slice(nal);
    }
    Ok(out.freeze())
}

/// The RBSP of a NAL unit: the payload with emulation prevention bytes
/// (`00 00 03` -> `00 00`) removed. Includes the NAL header bytes.
pub fn rbsp(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Whether a length-prefixed access unit holds a slice decoding can start
/// at (H.264 IDR; H.265 IDR, CRA or BLA). Malformed data counts as "no".
pub fn contains_keyframe(codec: Codec, length_prefixed: &[u8]) -> bool {
    split_length_prefixed(length_prefixed)
        .map(|nals| {
            nals.iter()
                .any(|nal| header(codec, nal).is_ok_and(|h| h.class.is_keyframe()))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn classifies_h264() {
        let c = |b: u8| header(Codec::H264, &[b]).unwrap().class;
        assert_eq!(c(0x67), NalClass::Sps);
        assert_eq!(c(0x68), NalClass::Pps);
        assert_eq!(c(0x65), NalClass::IdrSlice);
        assert_eq!(c(0x41), NalClass::Slice);
        assert_eq!(c(0x06), NalClass::Sei);
        assert_eq!(c(0x09), NalClass::Aud);
        assert!(c(0x67).is_parameter_set());
        assert!(c(0x65).is_keyframe() && c(0x65).is_slice());
        assert!(!c(0x41).is_keyframe());
    }

    #[test]
    fn classifies_h265() {
        let c = |b: u8| header(Codec::H265, &[b, 0x01]).unwrap().class;
        assert_eq!(c(0x40), NalClass::Vps);
        assert_eq!(c(0x42), NalClass::Sps);
        assert_eq!(c(0x44), NalClass::Pps);
        assert_eq!(c(0x26), NalClass::IdrSlice); // 19
        assert_eq!(c(0x2a), NalClass::IrapSlice); // 21 CRA
        assert_eq!(c(0x02), NalClass::Slice); // 1 TRAIL_R
        assert_eq!(c(0x46), NalClass::Aud);
        assert_eq!(c(0x4e), NalClass::Sei);
        assert_eq!(c(0x50), NalClass::SuffixSei);
    }

    #[test]
    fn rejects_bad_headers() {
        assert!(header(Codec::H264, &[]).is_err());
        assert!(header(Codec::H264, &[0x80]).is_err());
        assert!(header(Codec::H265, &[0x40]).is_err());
        assert!(is_first_slice_of_picture(Codec::H265, &[0x26, 0x01]).is_err());
        assert!(is_first_slice_of_picture(Codec::H264, &[0x65, 0x88]).unwrap());
        assert!(!is_first_slice_of_picture(Codec::H264, &[0x65, 0x48]).unwrap());
    }

    #[test]
    fn splits_annexb_with_3_and_4_byte_start_codes() {
        let data = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 0, 1, 0x65, 4, 0,
        ];
        let nals = split_annexb(&data).unwrap();
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4]]);
        let lp = annexb_to_length_prefixed(&data).unwrap();
        assert_eq!(&lp[..7], &[0, 0, 0, 3, 0x67, 1, 2]);
        let back = length_prefixed_to_annexb(&lp).unwrap();
        assert_eq!(split_annexb(&back).unwrap(), nals);
        assert!(split_annexb(&[]).unwrap().is_empty());
    }

    #[test]
    fn rejects_garbage_annexb_and_truncated_length_prefix() {
        assert!(split_annexb(&[0x12, 0, 0, 1, 0x67]).is_err());
        assert!(split_annexb(&[0xff; 16]).is_err());
        assert!(split_length_prefixed(&[0, 0, 0, 5, 1, 2]).is_err());
        assert!(split_length_prefixed(&[0, 0]).is_err());
        assert!(split_length_prefixed(&[0, 0, 0, 0]).is_err());
        assert!(length_prefixed_to_annexb(&[0xff, 0xff, 0xff, 0xff, 1]).is_err());
    }

    #[test]
    fn removes_emulation_prevention() {
        assert_eq!(
            rbsp(&[0x67, 0, 0, 3, 1, 0, 0, 3]),
            vec![0x67, 0, 0, 1, 0, 0]
        );
        assert_eq!(rbsp(&[0, 0, 3, 0, 0, 3]), vec![0, 0, 0, 0]);
    }
}
