//! Groups a sequence of NAL units (from an Annex-B file, or later from RTP)
//! into access units, taking the parameter sets aside.

use bytes::{Bytes, BytesMut};

use crate::error::MediaError;
use crate::model::Codec;
use crate::nal::{self, NalClass};

/// The parameter sets seen so far, each distinct one once, in arrival order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParameterSets {
    /// VPS NAL units (H.265).
    pub vps: Vec<Bytes>,
    /// SPS NAL units.
    pub sps: Vec<Bytes>,
    /// PPS NAL units.
    pub pps: Vec<Bytes>,
}

impl ParameterSets {
    fn insert(&mut self, class: NalClass, nal: &[u8]) {
        let list = match class {
            NalClass::Vps => &mut self.vps,
            NalClass::Sps => &mut self.sps,
            _ => &mut self.pps,
        };
        if !list.iter().any(|p| p.as_ref() == nal) {
            list.push(Bytes::copy_from_slice(nal));
        }
    }
}

/// One access unit put together by [`AccessUnitAssembler`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssembledUnit {
    /// 4-byte length-prefixed NAL units, parameter sets removed.
    pub data: Bytes,
    /// Whether it holds an IDR (H.264) or IRAP (H.265) slice.
    pub keyframe: bool,
}

/// Groups NAL units into access units (ITU-T H.264 7.4.1.2.3, H.265 7.4.2.4.4).
///
/// A new access unit starts at an access unit delimiter, at the first slice
/// of a new picture (H.264 `first_mb_in_slice == 0`, H.265
/// `first_slice_segment_in_pic_flag`), or at a parameter set or prefix SEI
/// that follows a slice. Parameter sets are collected in
/// [`AccessUnitAssembler::parameter_sets`] and left out of the units, as
/// [`crate::AccessUnit`] requires. Units without any slice are dropped.
#[derive(Debug)]
pub struct AccessUnitAssembler {
    codec: Codec,
    current: BytesMut,
    has_slice: bool,
    keyframe: bool,
    parameter_sets: ParameterSets,
}

impl AccessUnitAssembler {
    /// An assembler for `codec`.
    pub fn new(codec: Codec) -> Self {
        Self {
            codec,
            current: BytesMut::new(),
            has_slice: false,
            keyframe: false,
            parameter_sets: ParameterSets::default(),
        }
    }

    /// The parameter sets seen so far.
    pub fn parameter_sets(&self) -> &ParameterSets {
        &self.parameter_sets
    }

    /// Adds the next NAL unit (no start code, no length prefix); returns the
    /// previous access unit if this NAL unit starts a new one.
    pub fn push(&mut self, nal: &[u8]) -> Result<Option<AssembledUnit>, MediaError> {
        let class = nal::header(self.codec, nal)?.class;
        let starts_new = match class {
            NalClass::Aud => true,
            NalClass::Vps | NalClass::Sps | NalClass::Pps | NalClass::Sei => self.has_slice,
            // Checked on every slice, so a slice without a header is refused.
            c if c.is_slice() => nal::is_first_slice_of_picture(self.codec, nal)? && self.has_slice,
            _ => false,
        };
        let finished = if starts_new { self.flush() } else { None };
        if class.is_parameter_set() {
            self.parameter_sets.insert(class, nal);
        } else {
            nal::put_length_prefixed(&mut self.current, nal)?;
            self.has_slice |= class.is_slice();
            self.keyframe |= class.is_keyframe();
        }
        Ok(finished)
    }

    /// Ends the current access unit (at end of input) and returns it, if it has a slice.
    pub fn flush(&mut self) -> Option<AssembledUnit> {
        let data = self.current.split().freeze();
        let unit = self.has_slice.then_some(AssembledUnit {
            data,
            keyframe: self.keyframe,
        });
        self.has_slice = false;
        self.keyframe = false;
        unit
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn groups_h264_pictures_and_strips_parameter_sets() {
        let mut a = AccessUnitAssembler::new(Codec::H264);
        let sps = [0x67, 0x42, 0x00, 0x1f];
        assert_eq!(a.push(&sps).unwrap(), None);
        assert_eq!(a.push(&[0x68, 0xce]).unwrap(), None);
        assert_eq!(a.push(&[0x06, 0x05]).unwrap(), None);
        assert_eq!(a.push(&[0x65, 0x88, 0x01]).unwrap(), None);
        // second slice of the same picture (first_mb_in_slice != 0)
        assert_eq!(a.push(&[0x65, 0x40, 0x02]).unwrap(), None);
        let idr = a.push(&[0x41, 0x9a, 0x03]).unwrap().unwrap();
        assert!(idr.keyframe);
        assert_eq!(nal::split_length_prefixed(&idr.data).unwrap().len(), 3);
        assert_eq!(a.parameter_sets().sps, vec![Bytes::copy_from_slice(&sps)]);
        // an AUD closes the P picture even before its next slice
        let p = a.push(&[0x09, 0xf0]).unwrap().unwrap();
        assert!(!p.keyframe);
        assert_eq!(a.flush(), None, "an AUD alone is no access unit");
    }

    #[test]
    fn rejects_malformed_nal_units() {
        let mut a = AccessUnitAssembler::new(Codec::H265);
        assert!(a.push(&[]).is_err());
        assert!(a.push(&[0x26]).is_err());
        assert!(a.push(&[0x26, 0x01]).is_err(), "slice without slice header");
        assert!(a.push(&[0xff, 0xff, 0xff]).is_err());
    }
}
