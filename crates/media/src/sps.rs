//! Sequence parameter set parsing for H.264 (ITU-T H.264 7.3.2.1) and
//! H.265 (ITU-T H.265 7.3.2.2): what vfed needs for stream metadata (size,
//! frame rate, reordering) and for the `avcC`/`hvcC` boxes of the fMP4 muxer.

use crate::bits::BitReader;
use crate::error::MediaError;
use crate::model::Codec;
use crate::nal;
use crate::{h265, vui};

/// The fields of an H.264 SPS that vfed uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H264Sps {
    /// `profile_idc` (66 baseline, 77 main, 100 high...).
    pub profile_idc: u8,
    /// The byte of `constraint_set0..5_flag` and reserved bits.
    pub constraint_flags: u8,
    /// `level_idc` (31 = level 3.1).
    pub level_idc: u8,
    /// `seq_parameter_set_id`.
    pub sps_id: u32,
    /// `chroma_format_idc` (1 = 4:2:0; implied 1 outside the high profiles).
    pub chroma_format_idc: u32,
    /// `bit_depth_luma_minus8`.
    pub bit_depth_luma_minus8: u32,
    /// `bit_depth_chroma_minus8`.
    pub bit_depth_chroma_minus8: u32,
    /// Displayed width after frame cropping, pixels.
    pub width: u32,
    /// Displayed height after frame cropping, pixels.
    pub height: u32,
    /// Frame rate ×1000 from VUI timing info (`time_scale / (2 * num_units_in_tick)`), if signalled.
    pub fps_milli: Option<u32>,
    /// Pictures that may precede another in decode order and follow it in
    /// output order (B-frames out of order): VUI `max_num_reorder_frames`,
    /// or 0 for profiles without B slices; `None` if not signalled.
    pub max_num_reorder_frames: Option<u32>,
}

/// The fields of an H.265 SPS that vfed uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct H265Sps {
    /// `sps_max_sub_layers_minus1 + 1`.
    pub max_sub_layers: u8,
    /// `sps_temporal_id_nesting_flag`.
    pub temporal_id_nesting: bool,
    /// `general_profile_space`.
    pub profile_space: u8,
    /// `general_tier_flag`.
    pub tier_flag: bool,
    /// `general_profile_idc` (1 = Main, 2 = Main 10).
    pub profile_idc: u8,
    /// `general_profile_compatibility_flag[32]`, flag 0 in the top bit.
    pub profile_compatibility_flags: u32,
    /// The 48 bits from `general_progressive_source_flag` on, right-aligned.
    pub constraint_indicator_flags: u64,
    /// `general_level_idc` (level × 30: 93 = level 3.1).
    pub level_idc: u8,
    /// `sps_seq_parameter_set_id`.
    pub sps_id: u32,
    /// `chroma_format_idc`.
    pub chroma_format_idc: u32,
    /// `bit_depth_luma_minus8`.
    pub bit_depth_luma_minus8: u32,
    /// `bit_depth_chroma_minus8`.
    pub bit_depth_chroma_minus8: u32,
    /// Displayed width after the conformance window, pixels.
    pub width: u32,
    /// Displayed height after the conformance window, pixels.
    pub height: u32,
    /// `sps_max_num_reorder_pics` of the highest sub-layer: pictures that
    /// may precede another in decode order and follow it in output order.
    /// `None` when the SPS past the bit depths could not be read.
    pub max_num_reorder_pics: Option<u32>,
    /// Frame rate ×1000 from VUI timing info (`vui_time_scale /
    /// vui_num_units_in_tick`, one tick per picture), if signalled.
    pub fps_milli: Option<u32>,
}

/// A parsed SPS of either codec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sps {
    /// H.264.
    H264(H264Sps),
    /// H.265.
    H265(H265Sps),
}

impl Sps {
    /// Parses the SPS NAL unit `nal` (with its header, no start code) of `codec`.
    pub fn parse(codec: Codec, nal: &[u8]) -> Result<Self, MediaError> {
        Ok(match codec {
            Codec::H264 => Self::H264(H264Sps::parse(nal)?),
            Codec::H265 => Self::H265(H265Sps::parse(nal)?),
        })
    }

    /// Displayed width, pixels.
    pub fn width(&self) -> u32 {
        match self {
            Self::H264(s) => s.width,
            Self::H265(s) => s.width,
        }
    }

    /// Displayed height, pixels.
    pub fn height(&self) -> u32 {
        match self {
            Self::H264(s) => s.height,
            Self::H265(s) => s.height,
        }
    }

    /// Frame rate ×1000 signalled by the VUI timing info, if any.
    pub fn fps_milli(&self) -> Option<u32> {
        match self {
            Self::H264(s) => s.fps_milli,
            Self::H265(s) => s.fps_milli,
        }
    }

    /// How many pictures may be reordered (0: decode order is output
    /// order, no B-frames out of order), if the SPS says.
    pub fn reorder_frames(&self) -> Option<u32> {
        match self {
            Self::H264(s) => s.max_num_reorder_frames,
            Self::H265(s) => s.max_num_reorder_pics,
        }
    }
}

/// Largest picture dimension accepted, pixels (H.264 level 6.2 allows 8192x4320).
const MAX_DIMENSION: u32 = 16_384;

/// `SubWidthC`, `SubHeightC` for a `ChromaArrayType` (H.264 Table 6-1, H.265 Table 6-1).
fn chroma_subsampling(chroma_array_type: u32) -> (u32, u32) {
    match chroma_array_type {
        1 => (2, 2),
        2 => (2, 1),
        _ => (1, 1),
    }
}

/// Applies a crop window given in luma samples; fails if it eats the picture.
fn crop(
    what: &'static str,
    size: (u32, u32),
    horizontal: (u32, u32),
    vertical: (u32, u32),
) -> Result<(u32, u32), MediaError> {
    let shrink = |len: u32, a: u32, b: u32| {
        a.checked_add(b)
            .and_then(|total| len.checked_sub(total))
            .filter(|&left| left > 0)
    };
    let width = shrink(size.0, horizontal.0, horizontal.1)
        .ok_or_else(|| MediaError::invalid(what, "cropping wider than the picture"))?;
    let height = shrink(size.1, vertical.0, vertical.1)
        .ok_or_else(|| MediaError::invalid(what, "cropping taller than the picture"))?;
    Ok((width, height))
}

impl H264Sps {
    /// Parses an H.264 SPS NAL unit (header byte included).
    pub fn parse(nal: &[u8]) -> Result<Self, MediaError> {
        const WHAT: &str = "H.264 SPS";
        let header = nal::header(Codec::H264, nal)?;
        if header.nal_type != nal::h264_type::SPS {
            return Err(MediaError::invalid(
                WHAT,
                format!("nal_unit_type {}", header.nal_type),
            ));
        }
        let rbsp = nal::rbsp(nal);
        let mut r = BitReader::new(rbsp.get(1..).unwrap_or_default(), WHAT);
        let profile_idc = r.u8()?;
        let constraint_flags = r.u8()?;
        let level_idc = r.u8()?;
        let sps_id = r.ue_max(31, "seq_parameter_set_id")?;
        let (mut chroma_format_idc, mut separate_colour_plane) = (1, false);
        let (mut bit_depth_luma_minus8, mut bit_depth_chroma_minus8) = (0, 0);
        if matches!(
            profile_idc,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            chroma_format_idc = r.ue_max(3, "chroma_format_idc")?;
            if chroma_format_idc == 3 {
                separate_colour_plane = r.bit()?;
            }
            bit_depth_luma_minus8 = r.ue_max(6, "bit_depth_luma_minus8")?;
            bit_depth_chroma_minus8 = r.ue_max(6, "bit_depth_chroma_minus8")?;
            r.skip(1)?; // qpprime_y_zero_transform_bypass_flag
            if r.bit()? {
                // seq_scaling_matrix_present_flag
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if r.bit()? {
                        skip_scaling_list(&mut r, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        r.ue_max(12, "log2_max_frame_num_minus4")?;
        match r.ue_max(2, "pic_order_cnt_type")? {
            0 => {
                r.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")?;
            }
            1 => {
                r.skip(1)?; // delta_pic_order_always_zero_flag
                r.se()?; // offset_for_non_ref_pic
                r.se()?; // offset_for_top_to_bottom_field
                let cycle = r.ue_max(255, "num_ref_frames_in_pic_order_cnt_cycle")?;
                for _ in 0..cycle {
                    r.se()?;
                }
            }
            _ => {}
        }
        r.ue()?; // max_num_ref_frames
        r.skip(1)?; // gaps_in_frame_num_value_allowed_flag
        let width_mbs = r.ue_max(MAX_DIMENSION / 16 - 1, "pic_width_in_mbs_minus1")? + 1;
        let height_map_units =
            r.ue_max(MAX_DIMENSION / 16 - 1, "pic_height_in_map_units_minus1")? + 1;
        let frame_mbs_only = r.bit()?;
        if !frame_mbs_only {
            r.skip(1)?; // mb_adaptive_frame_field_flag
        }
        r.skip(1)?; // direct_8x8_inference_flag
        let field_factor = if frame_mbs_only { 1 } else { 2 };
        let mut size = (width_mbs * 16, field_factor * height_map_units * 16);
        if r.bit()? {
            // frame_cropping_flag: offsets in crop units (7.4.2.1.1)
            let chroma_array_type = if separate_colour_plane {
                0
            } else {
                chroma_format_idc
            };
            let (sub_w, sub_h) = chroma_subsampling(chroma_array_type);
            let (unit_x, unit_y) = (sub_w, sub_h * field_factor);
            let mut offset = |unit: u32| -> Result<u32, MediaError> {
                r.ue_max(MAX_DIMENSION, "frame_crop_offset")
                    .map(|v| v * unit)
            };
            let (left, right) = (offset(unit_x)?, offset(unit_x)?);
            let (top, bottom) = (offset(unit_y)?, offset(unit_y)?);
            size = crop(WHAT, size, (left, right), (top, bottom))?;
        }
        let vui = if r.bit()? {
            vui::h264(&mut r)?
        } else {
            vui::H264Vui::default()
        };
        // Baseline and CAVLC 4:4:4 Intra have no B slices; High 10, 4:2:2
        // and 4:4:4 Intra (constraint_set3_flag) no inter prediction (A.2).
        let intra_only = matches!(profile_idc, 110 | 122 | 244) && constraint_flags & 0x10 != 0;
        let without_b = matches!(profile_idc, 66 | 44) || intra_only;
        let max_num_reorder_frames = vui.max_num_reorder_frames.or(without_b.then_some(0));
        Ok(Self {
            profile_idc,
            constraint_flags,
            level_idc,
            sps_id,
            chroma_format_idc,
            bit_depth_luma_minus8,
            bit_depth_chroma_minus8,
            width: size.0,
            height: size.1,
            fps_milli: vui.fps_milli,
            max_num_reorder_frames,
        })
    }
}

/// Skips `scaling_list()` (H.264 7.3.2.1.1.1): only the syntax, not the values.
fn skip_scaling_list(r: &mut BitReader<'_>, size: usize) -> Result<(), MediaError> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            let delta = i64::from(r.se()?);
            next = (last + delta).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

impl H265Sps {
    /// Parses an H.265 SPS NAL unit (2-byte header included). Everything up
    /// to the bit depths must be valid; what follows (reordering, VUI timing)
    /// is read best-effort and left `None` when it cannot be.
    pub fn parse(nal: &[u8]) -> Result<Self, MediaError> {
        const WHAT: &str = "H.265 SPS";
        let header = nal::header(Codec::H265, nal)?;
        if header.nal_type != nal::h265_type::SPS {
            return Err(MediaError::invalid(
                WHAT,
                format!("nal_unit_type {}", header.nal_type),
            ));
        }
        let rbsp = nal::rbsp(nal);
        let mut r = BitReader::new(rbsp.get(2..).unwrap_or_default(), WHAT);
        r.skip(4)?; // sps_video_parameter_set_id
        let max_sub_layers_minus1 = r.bits(3)? as u8; // 3 bits: lossless
        if max_sub_layers_minus1 > 6 {
            return Err(MediaError::invalid(WHAT, "sps_max_sub_layers_minus1 = 7"));
        }
        let temporal_id_nesting = r.bit()?;
        // profile_tier_level(1, sps_max_sub_layers_minus1), 7.3.3
        let profile_space = r.bits(2)? as u8; // 2 bits: lossless
        let tier_flag = r.bit()?;
        let profile_idc = r.bits(5)? as u8; // 5 bits: lossless
        let profile_compatibility_flags = r.u32()?;
        let constraint_indicator_flags = r.bits(48)?;
        let level_idc = r.u8()?;
        let mut sub_layer_present = Vec::with_capacity(usize::from(max_sub_layers_minus1));
        for _ in 0..max_sub_layers_minus1 {
            sub_layer_present.push((r.bit()?, r.bit()?));
        }
        if max_sub_layers_minus1 > 0 {
            r.skip(2 * (8 - usize::from(max_sub_layers_minus1)))?; // reserved_zero_2bits
        }
        for (profile_present, level_present) in sub_layer_present {
            if profile_present {
                r.skip(88)?;
            }
            if level_present {
                r.skip(8)?;
            }
        }
        let sps_id = r.ue_max(15, "sps_seq_parameter_set_id")?;
        let chroma_format_idc = r.ue_max(3, "chroma_format_idc")?;
        let separate_colour_plane = chroma_format_idc == 3 && r.bit()?;
        let width = r.ue_max(MAX_DIMENSION, "pic_width_in_luma_samples")?;
        let height = r.ue_max(MAX_DIMENSION, "pic_height_in_luma_samples")?;
        if width == 0 || height == 0 {
            return Err(MediaError::invalid(WHAT, "zero picture size"));
        }
        let mut size = (width, height);
        if r.bit()? {
            // conformance_window_flag: offsets in chroma units (7.4.3.2.1)
            let chroma_array_type = if separate_colour_plane {
                0
            } else {
                chroma_format_idc
            };
            let (sub_w, sub_h) = chroma_subsampling(chroma_array_type);
            let mut offset = |unit: u32| -> Result<u32, MediaError> {
                r.ue_max(MAX_DIMENSION, "conf_win_offset").map(|v| v * unit)
            };
            let (left, right) = (offset(sub_w)?, offset(sub_w)?);
            let (top, bottom) = (offset(sub_h)?, offset(sub_h)?);
            size = crop(WHAT, size, (left, right), (top, bottom))?;
        }
        let bit_depth_luma_minus8 = r.ue_max(8, "bit_depth_luma_minus8")?;
        let bit_depth_chroma_minus8 = r.ue_max(8, "bit_depth_chroma_minus8")?;
        let tail = h265::sps_tail(&mut r, max_sub_layers_minus1).ok();
        Ok(Self {
            max_sub_layers: max_sub_layers_minus1 + 1,
            temporal_id_nesting,
            profile_space,
            tier_flag,
            profile_idc,
            profile_compatibility_flags,
            constraint_indicator_flags,
            level_idc,
            sps_id,
            chroma_format_idc,
            bit_depth_luma_minus8,
            bit_depth_chroma_minus8,
            width: size.0,
            height: size.1,
            max_num_reorder_pics: tail.map(|t| t.max_num_reorder_pics),
            fps_milli: tail.and_then(|t| t.fps_milli),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::bits::{BitWriter, hex};

    /// x264 high profile 1280x720 25 fps (ffmpeg testsrc2, `-c:v libx264`).
    const X264_720P: &[u8] = &[
        0x67, 0x64, 0x00, 0x1f, 0xac, 0xb2, 0x00, 0xa0, 0x0b, 0x76, 0x02, 0x20, 0x00, 0x00, 0x03,
        0x00, 0x20, 0x00, 0x00, 0x06, 0x41, 0xe3, 0x06, 0x49,
    ];
    /// x264 main profile 1920x1080 (coded 1088, cropped), 25 fps.
    const X264_1080P: &[u8] = &[
        0x67, 0x4d, 0x40, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03,
        0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x60, 0xc9, 0x20,
    ];
    /// x264 high profile 640x360 (coded 368, cropped), 30000/1001 fps.
    const X264_360P_NTSC: &[u8] = &[
        0x67, 0x64, 0x00, 0x1e, 0xac, 0xb2, 0x01, 0x40, 0x5f, 0xf2, 0xe0, 0x22, 0x00, 0x00, 0x07,
        0xd2, 0x00, 0x01, 0xd4, 0xc0, 0x1e, 0x2c, 0x5c, 0x90,
    ];
    /// x265 Main 1280x720.
    const X265_720P: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x5d, 0xa0, 0x02, 0x80, 0x80, 0x2d, 0x16, 0x59, 0x2a, 0x49, 0x32, 0xbc, 0x05,
        0xa0, 0x20, 0x00, 0x00, 0x03, 0x00, 0x20, 0x00, 0x00, 0x03, 0x03, 0x21,
    ];
    /// x265 Main 1270x714 (coded 1272x720, conformance window).
    const X265_1270X714: &[u8] = &[
        0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
        0x03, 0x00, 0x5d, 0xa0, 0x02, 0x7c, 0x80, 0x2d, 0x1d, 0x49, 0x96, 0x4a, 0x92, 0x4c, 0xaf,
        0x01, 0x68, 0x08, 0x00, 0x00, 0x03, 0x00, 0x08, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x40,
    ];

    #[test]
    fn parses_x264_sps() {
        let s = H264Sps::parse(X264_720P).unwrap();
        assert_eq!(
            (s.profile_idc, s.level_idc, s.chroma_format_idc),
            (100, 31, 1)
        );
        assert_eq!((s.width, s.height, s.fps_milli), (1280, 720, Some(25_000)));
        let s = H264Sps::parse(X264_1080P).unwrap();
        assert_eq!((s.profile_idc, s.level_idc), (77, 40));
        assert_eq!((s.width, s.height, s.fps_milli), (1920, 1080, Some(25_000)));
        let s = H264Sps::parse(X264_360P_NTSC).unwrap();
        assert_eq!((s.width, s.height, s.fps_milli), (640, 360, Some(29_970)));
    }

    #[test]
    fn reads_h264_reordering() {
        // x264 320x240 30 fps; ffprobe says has_b_frames 2, 0, 0 and 2.
        for (name, sps, reorder) in [
            (
                "High, default B-frames",
                "6764000dacd94141fb0110000003001000000303c0f1429960",
                2,
            ),
            (
                "High, -bf 0",
                "6764000dacb20283f60220000003002000000781e28549",
                0,
            ),
            (
                "Constrained Baseline",
                "6742c00dd90141fb0110000003001000000303c0f142a480",
                0,
            ),
            (
                "High with NAL HRD (VBV)",
                "67640014acd94141fb0110000003001000000303c604000f424001e84a4c30078a14cb",
                2,
            ),
        ] {
            let s = H264Sps::parse(&hex(sps)).unwrap();
            assert_eq!(
                (s.width, s.height, s.fps_milli),
                (320, 240, Some(30_000)),
                "{name}"
            );
            assert_eq!(s.max_num_reorder_frames, Some(reorder), "{name}");
        }
        assert_eq!(
            H264Sps::parse(X264_1080P).unwrap().max_num_reorder_frames,
            Some(0)
        );
    }

    #[test]
    fn parses_x265_sps() {
        let s = H265Sps::parse(X265_720P).unwrap();
        assert_eq!((s.profile_idc, s.level_idc, s.tier_flag), (1, 93, false));
        assert_eq!((s.width, s.height, s.chroma_format_idc), (1280, 720, 1));
        assert_eq!(s.profile_compatibility_flags, 0x6000_0000);
        assert_eq!(s.constraint_indicator_flags >> 44, 0b1001);
        let s = H265Sps::parse(X265_1270X714).unwrap();
        assert_eq!((s.width, s.height), (1270, 714));
        let any = Sps::parse(Codec::H265, X265_720P).unwrap();
        // testsrc2's default rate in the VUI; encoded with bframes=0.
        assert_eq!(
            (
                any.width(),
                any.height(),
                any.fps_milli(),
                any.reorder_frames()
            ),
            (1280, 720, Some(25_000), Some(0))
        );
    }

    #[test]
    fn parses_high_422_with_scaling_lists_cropping_and_timing() {
        let mut w = BitWriter::default();
        w.u(8, 0x67).u(8, 122).u(8, 0).u(8, 40).ue(0); // High 4:2:2, level 4.0
        w.ue(2).ue(2).ue(2).u(1, 0); // 4:2:2, 10 bit
        w.u(1, 1); // seq_scaling_matrix_present_flag
        w.u(1, 1); // list 0 explicit: 16 deltas
        for _ in 0..16 {
            w.se(3);
        }
        w.u(1, 0).u(1, 0).u(1, 0).u(1, 0).u(1, 0);
        w.u(1, 1).se(-8); // list 6 falls back to the default (nextScale 0)
        w.u(1, 0);
        w.ue(0).ue(1).u(1, 0).se(-1).se(2).ue(2).se(1).se(-1); // poc type 1
        w.ue(4).u(1, 0).ue(119).ue(67).u(1, 1).u(1, 1); // 1920x1088 frame
        w.u(1, 1).ue(0).ue(0).ue(0).ue(8); // crop 8 rows (SubHeightC 1 for 4:2:2)
        w.u(1, 1); // vui
        w.u(1, 1).u(8, 255).u(16, 1).u(16, 1); // aspect ratio: extended SAR
        w.u(1, 0).u(1, 1).u(3, 5).u(1, 0).u(1, 1).u(24, 0x01_01_01);
        w.u(1, 0).u(1, 1).u(32, 1001).u(32, 120_000).u(1, 1);
        let nal = w.bytes();
        let s = H264Sps::parse(&nal).unwrap();
        assert_eq!((s.chroma_format_idc, s.bit_depth_luma_minus8), (2, 2));
        assert_eq!((s.width, s.height, s.fps_milli), (1920, 1080, Some(59_940)));
        // High 4:2:2 may reorder; a VUI that ends after its timing does not say.
        assert_eq!(s.max_num_reorder_frames, None);
    }

    #[test]
    fn refuses_truncated_and_garbage_sps() {
        for sps in [X264_720P, X264_1080P, X265_720P, X265_1270X714] {
            let codec = if sps[0] == 0x67 {
                Codec::H264
            } else {
                Codec::H265
            };
            // Every prefix short of the bit depths must fail, never panic.
            for len in 0..sps.len() {
                let _ = Sps::parse(codec, &sps[..len]);
            }
            assert!(Sps::parse(codec, &sps[..sps.len() / 2]).is_err());
        }
        assert!(
            H264Sps::parse(&[0x68, 0x64, 0x00]).is_err(),
            "a PPS is no SPS"
        );
        assert!(
            H265Sps::parse(&[0x40, 0x01, 0xff]).is_err(),
            "a VPS is no SPS"
        );
        let mut garbage = vec![0x67];
        garbage.extend([0xff; 12]);
        assert!(H264Sps::parse(&garbage).is_err());
        let mut garbage = vec![0x42, 0x01];
        garbage.extend([0x00; 40]);
        assert!(H265Sps::parse(&garbage).is_err());
        // Cropping larger than the picture.
        let mut w = BitWriter::default();
        w.u(8, 0x67)
            .u(8, 66)
            .u(8, 0)
            .u(8, 30)
            .ue(0)
            .ue(0)
            .ue(0)
            .ue(0)
            .ue(1)
            .u(1, 0);
        w.ue(0)
            .ue(0)
            .u(1, 1)
            .u(1, 0)
            .u(1, 1)
            .ue(9)
            .ue(0)
            .ue(0)
            .ue(0)
            .u(1, 0);
        assert!(matches!(
            H264Sps::parse(&w.bytes()),
            Err(MediaError::Invalid { .. })
        ));
    }
}
