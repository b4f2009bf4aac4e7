//! H.265 parameter set syntax past what the fMP4 muxer needs: the SPS from
//! its bit depths to the VUI (sub-layer ordering, scaling lists, PCM,
//! reference picture sets, ITU-T H.265 7.3.2.2) for the reordering depth and
//! the frame rate, and the VPS (7.3.2.1) for its timing info.

use crate::bits::BitReader;
use crate::error::MediaError;
use crate::model::Codec;
use crate::nal;
use crate::vui;

/// What the SPS says after its bit depths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpsTail {
    /// `sps_max_num_reorder_pics[HighestTid]`.
    pub max_num_reorder_pics: u32,
    /// Frame rate ×1000 from the VUI timing info, if signalled.
    pub fps_milli: Option<u32>,
}

/// Largest `sps_max_dec_pic_buffering_minus1` (MaxDpbSize is at most 16).
const MAX_DPB_MINUS1: u32 = 15;

/// Reads the SPS from `log2_max_pic_order_cnt_lsb_minus4` on; `r` stands
/// just after `bit_depth_chroma_minus8`.
pub(crate) fn sps_tail(
    r: &mut BitReader<'_>,
    max_sub_layers_minus1: u8,
) -> Result<SpsTail, MediaError> {
    let poc_lsb_bits = r.ue_max(12, "log2_max_pic_order_cnt_lsb_minus4")? + 4;
    let all_sub_layers = r.bit()?; // sps_sub_layer_ordering_info_present_flag
    let first = if all_sub_layers {
        0
    } else {
        max_sub_layers_minus1
    };
    let mut max_num_reorder_pics = 0;
    // The last one read is the highest sub-layer's: the whole stream's.
    for _ in first..=max_sub_layers_minus1 {
        let dpb_minus1 = r.ue_max(MAX_DPB_MINUS1, "sps_max_dec_pic_buffering_minus1")?;
        max_num_reorder_pics = r.ue_max(dpb_minus1, "sps_max_num_reorder_pics")?;
        r.ue()?; // sps_max_latency_increase_plus1
    }
    // log2_min_luma_coding_block_size_minus3, log2_diff_max_min_luma_coding_block_size,
    // log2_min_luma_transform_block_size_minus2, log2_diff_max_min_luma_transform_block_size,
    // max_transform_hierarchy_depth_inter, max_transform_hierarchy_depth_intra
    for _ in 0..6 {
        r.ue()?;
    }
    if r.bit()? && r.bit()? {
        // scaling_list_enabled_flag && sps_scaling_list_data_present_flag
        skip_scaling_list_data(r)?;
    }
    r.skip(2)?; // amp_enabled_flag, sample_adaptive_offset_enabled_flag
    if r.bit()? {
        // pcm_enabled_flag
        r.skip(8)?; // pcm_sample_bit_depth_{luma,chroma}_minus1
        r.ue()?; // log2_min_pcm_luma_coding_block_size_minus3
        r.ue()?; // log2_diff_max_min_pcm_luma_coding_block_size
        r.skip(1)?; // pcm_loop_filter_disabled_flag
    }
    let sets = r.ue_max(64, "num_short_term_ref_pic_sets")?;
    let mut rps: Vec<RefPicSet> = Vec::with_capacity(sets as usize);
    for _ in 0..sets {
        let set = st_ref_pic_set(r, rps.last())?;
        rps.push(set);
    }
    if r.bit()? {
        // long_term_ref_pics_present_flag
        let long_term = r.ue_max(32, "num_long_term_ref_pics_sps")?;
        for _ in 0..long_term {
            // lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
            r.skip(poc_lsb_bits as usize + 1)?;
        }
    }
    r.skip(2)?; // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
    let fps_milli = if r.bit()? {
        vui::h265_fps_milli(r)?
    } else {
        None
    };
    Ok(SpsTail {
        max_num_reorder_pics,
        fps_milli,
    })
}

/// Skips `scaling_list_data()` (7.3.4).
fn skip_scaling_list_data(r: &mut BitReader<'_>) -> Result<(), MediaError> {
    for size_id in 0..4u32 {
        let step = if size_id == 3 { 3 } else { 1 };
        for _ in (0..6).step_by(step) {
            if r.bit()? {
                // scaling_list_pred_mode_flag: explicit coefficients
                if size_id > 1 {
                    r.se()?; // scaling_list_dc_coef_minus8
                }
                let coefficients = (1u32 << (4 + (size_id << 1))).min(64);
                for _ in 0..coefficients {
                    r.se()?; // scaling_list_delta_coef
                }
            } else {
                r.ue_max(5, "scaling_list_pred_matrix_id_delta")?;
            }
        }
    }
    Ok(())
}

/// The picture order count deltas of a short-term reference picture set:
/// `DeltaPocS0` (negative, nearest first) and `DeltaPocS1` (positive).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RefPicSet {
    negative: Vec<i64>,
    positive: Vec<i64>,
}

/// Reads `st_ref_pic_set(stRpsIdx)` of the SPS (7.3.7), predicted from
/// `previous` (the set before it, the only one an SPS set may predict from).
fn st_ref_pic_set(
    r: &mut BitReader<'_>,
    previous: Option<&RefPicSet>,
) -> Result<RefPicSet, MediaError> {
    let predicted = match previous {
        Some(reference) if r.bit()? => reference, // inter_ref_pic_set_prediction_flag
        _ => return explicit_ref_pic_set(r),
    };
    let negative_sign = r.bit()?; // delta_rps_sign
    let magnitude = i64::from(r.ue_max((1 << 15) - 1, "abs_delta_rps_minus1")?) + 1;
    let delta_rps = if negative_sign { -magnitude } else { magnitude };
    // One flag pair per picture of the reference set, then one for delta_rps itself.
    let count = predicted.negative.len() + predicted.positive.len();
    let mut use_delta = Vec::with_capacity(count + 1);
    for _ in 0..=count {
        let used_by_curr_pic = r.bit()?;
        use_delta.push(used_by_curr_pic || r.bit()?);
    }
    let uses = |j: usize| use_delta.get(j).copied().unwrap_or(false);
    let (neg, pos) = (&predicted.negative, &predicted.positive);
    let mut set = RefPicSet::default();
    // Equations 7-61 and 7-62.
    for (j, d) in pos.iter().enumerate().rev() {
        if d + delta_rps < 0 && uses(neg.len() + j) {
            set.negative.push(d + delta_rps);
        }
    }
    if delta_rps < 0 && uses(count) {
        set.negative.push(delta_rps);
    }
    for (j, d) in neg.iter().enumerate() {
        if d + delta_rps < 0 && uses(j) {
            set.negative.push(d + delta_rps);
        }
    }
    for (j, d) in neg.iter().enumerate().rev() {
        if d + delta_rps > 0 && uses(j) {
            set.positive.push(d + delta_rps);
        }
    }
    if delta_rps > 0 && uses(count) {
        set.positive.push(delta_rps);
    }
    for (j, d) in pos.iter().enumerate() {
        if d + delta_rps > 0 && uses(neg.len() + j) {
            set.positive.push(d + delta_rps);
        }
    }
    if set.negative.len() + set.positive.len() > MAX_DPB_MINUS1 as usize {
        return Err(MediaError::invalid(
            "H.265 SPS",
            "a reference picture set larger than the decoded picture buffer",
        ));
    }
    Ok(set)
}

/// A reference picture set coded without prediction.
fn explicit_ref_pic_set(r: &mut BitReader<'_>) -> Result<RefPicSet, MediaError> {
    let negatives = r.ue_max(MAX_DPB_MINUS1, "num_negative_pics")?;
    let positives = r.ue_max(MAX_DPB_MINUS1 - negatives, "num_positive_pics")?;
    let mut set = RefPicSet::default();
    let mut poc = 0i64;
    for _ in 0..negatives {
        poc -= i64::from(r.ue_max((1 << 15) - 1, "delta_poc_s0_minus1")?) + 1;
        r.skip(1)?; // used_by_curr_pic_s0_flag
        set.negative.push(poc);
    }
    poc = 0;
    for _ in 0..positives {
        poc += i64::from(r.ue_max((1 << 15) - 1, "delta_poc_s1_minus1")?) + 1;
        r.skip(1)?; // used_by_curr_pic_s1_flag
        set.positive.push(poc);
    }
    Ok(set)
}

/// Skips `profile_tier_level(1, max_sub_layers_minus1)` (7.3.3).
pub(crate) fn skip_profile_tier_level(
    r: &mut BitReader<'_>,
    max_sub_layers_minus1: u8,
) -> Result<(), MediaError> {
    r.skip(96)?; // the general profile, tier and level
    let mut sub_layers = Vec::with_capacity(usize::from(max_sub_layers_minus1));
    for _ in 0..max_sub_layers_minus1 {
        sub_layers.push((r.bit()?, r.bit()?));
    }
    if max_sub_layers_minus1 > 0 {
        r.skip(2 * (8 - usize::from(max_sub_layers_minus1)))?; // reserved_zero_2bits
    }
    for (profile_present, level_present) in sub_layers {
        if profile_present {
            r.skip(88)?;
        }
        if level_present {
            r.skip(8)?;
        }
    }
    Ok(())
}

/// The frame rate ×1000 a VPS NAL unit (2-byte header included) signals in
/// its `vps_timing_info`, if any.
pub fn vps_fps_milli(nal: &[u8]) -> Result<Option<u32>, MediaError> {
    const WHAT: &str = "H.265 VPS";
    let header = nal::header(Codec::H265, nal)?;
    if header.nal_type != nal::h265_type::VPS {
        return Err(MediaError::invalid(
            WHAT,
            format!("nal_unit_type {}", header.nal_type),
        ));
    }
    let rbsp = nal::rbsp(nal);
    let mut r = BitReader::new(rbsp.get(2..).unwrap_or_default(), WHAT);
    // vps_video_parameter_set_id, vps_base_layer_internal_flag,
    // vps_base_layer_available_flag, vps_max_layers_minus1
    r.skip(12)?;
    let max_sub_layers_minus1 = r.bits(3)? as u8; // 3 bits: lossless
    if max_sub_layers_minus1 > 6 {
        return Err(MediaError::invalid(WHAT, "vps_max_sub_layers_minus1 = 7"));
    }
    r.skip(17)?; // vps_temporal_id_nesting_flag, vps_reserved_0xffff_16bits
    skip_profile_tier_level(&mut r, max_sub_layers_minus1)?;
    let first = if r.bit()? { 0 } else { max_sub_layers_minus1 };
    for _ in first..=max_sub_layers_minus1 {
        // vps_max_dec_pic_buffering_minus1, vps_max_num_reorder_pics, vps_max_latency_increase_plus1
        for _ in 0..3 {
            r.ue()?;
        }
    }
    let max_layer_id = r.bits(6)? as usize; // 6 bits: lossless
    let layer_sets_minus1 = r.ue_max(1023, "vps_num_layer_sets_minus1")? as usize;
    r.skip(layer_sets_minus1 * (max_layer_id + 1))?; // layer_id_included_flag
    if !r.bit()? {
        // vps_timing_info_present_flag
        return Ok(None);
    }
    let num_units_in_tick = r.u32()?;
    let time_scale = r.u32()?;
    Ok(vui::h265_vps_fps_milli(num_units_in_tick, time_scale))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::bits::{BitWriter, hex};
    use crate::sps::H265Sps;

    /// Parameter sets of x265 (ffmpeg 5.1, `-preset ultrafast`), 320x240
    /// testsrc2 at the rate named; `ffprobe` reads the same `r_frame_rate`
    /// and `has_b_frames` from the streams they came from.
    const X265: &[(&str, &str, Option<u32>, u32)] = &[
        // default B-frames
        (
            "30 fps",
            "42010101600000030090000003000003003ca00a080f16595952930bc05a020000030002000003003c10",
            Some(30_000),
            2,
        ),
        // bframes=0
        (
            "12.5 fps",
            "42010101600000030090000003000003003ca00a080f165ba4a4c2f016808000000301000003000c84",
            Some(12_500),
            0,
        ),
        (
            "30000/1001 fps",
            "42010101600000030090000003000003003ca00a080f16595952930bc05a02000007d20000ea6010",
            Some(29_970),
            2,
        ),
        // vui-timing-info=0: no timing in the stream (ffprobe guesses 25)
        (
            "no timing",
            "42010101600000030090000003000003003ca00a080f165ba4a4c2f0168008",
            None,
            0,
        ),
        // sar, full range, BT.709, chroma location, overscan, HRD (VBV), 25 fps
        (
            "full VUI and HRD",
            "42010101600000030090000003000003003ca00a080f16595992930bc3adc0404069040000030004000003006580525978003d090007a122",
            Some(25_000),
            2,
        ),
        // scaling-list=default, 50 fps
        (
            "scaling lists",
            "42010101600000030090000003000003003fa00a080f165959129385e02d010000030001000003003208",
            Some(50_000),
            2,
        ),
    ];

    #[test]
    fn reads_frame_rate_and_reordering_of_x265_streams() {
        for (name, sps, fps, reorder) in X265 {
            let s = H265Sps::parse(&hex(sps)).unwrap();
            assert_eq!((s.width, s.height), (320, 240), "{name}");
            assert_eq!(s.fps_milli, *fps, "{name}");
            assert_eq!(s.max_num_reorder_pics, Some(*reorder), "{name}");
        }
    }

    #[test]
    fn x265_vps_carries_no_timing() {
        for vps in [
            "40010c01ffff01600000030090000003000003003c959409",
            "40010c01ffff01600000030090000003000003003cba0240",
        ] {
            assert_eq!(vps_fps_milli(&hex(vps)).unwrap(), None);
        }
    }

    /// `profile_tier_level` fields of Main, level 2, written `times` times
    /// (the general one, then sub-layers').
    fn main_profile(w: &mut BitWriter) {
        w.u(2, 0)
            .u(1, 0)
            .u(5, 1)
            .u(32, 0x6000_0000)
            .u(48, 0x9000_0000_0000);
    }

    /// An SPS with what x265 never writes: two sub-layers, explicit scaling
    /// lists, PCM, three short-term reference picture sets (two predicted,
    /// one dropping a zero delta), long-term pictures and a VUI with every
    /// optional part before its timing (23.976 fps). `ffmpeg -bsf:v
    /// trace_headers` reads these same values from it.
    fn handmade_sps() -> Vec<u8> {
        let mut w = BitWriter::default();
        w.u(16, 0x4201).u(4, 0).u(3, 1).u(1, 1);
        main_profile(&mut w);
        w.u(8, 60).u(1, 1).u(1, 1).u(14, 0);
        main_profile(&mut w);
        w.u(8, 60);
        w.ue(0).ue(1).ue(320).ue(240).u(1, 0).ue(0).ue(0); // id, 4:2:0, size, bit depths
        w.ue(4).u(1, 1).ue(2).ue(0).ue(0).ue(5).ue(3).ue(0); // POC lsb, sub-layer ordering
        w.ue(0).ue(3).ue(0).ue(3).ue(1).ue(1); // block sizes, transform depths
        w.u(1, 1).u(1, 1); // scaling_list_enabled_flag, sps_scaling_list_data_present_flag
        for size_id in 0..4 {
            let step = if size_id == 3 { 3 } else { 1 };
            for matrix_id in (0..6).step_by(step) {
                if matrix_id == 0 {
                    w.u(1, 1);
                    if size_id > 1 {
                        w.se(-2);
                    }
                    for i in 0..(1 << (4 + (size_id << 1))).min(64) {
                        w.se(if i == 1 { 3 } else { 0 });
                    }
                } else {
                    w.u(1, 0).ue(if size_id == 3 { 1 } else { 0 });
                }
            }
        }
        w.u(1, 1).u(1, 1); // amp, sao
        w.u(1, 1).u(4, 7).u(4, 7).ue(0).ue(1).u(1, 1); // pcm
        w.ue(3);
        w.ue(2).ue(1).ue(0).u(1, 1).ue(1).u(1, 1).ue(1).u(1, 1); // {-1, -3}, {2}
        w.u(1, 1).u(1, 1).ue(0); // predicted, delta_rps -1
        w.u(1, 1).u(1, 0).u(1, 1).u(1, 0).u(1, 0).u(1, 1); // -> {-1, -2, -4}, {}
        w.u(1, 1).u(1, 0).ue(1); // predicted, delta_rps +2
        for _ in 0..4 {
            w.u(1, 1); // -> {-2}, {1, 2}; -2 + 2 = 0 is no picture
        }
        w.u(1, 1).ue(2).u(8, 17).u(1, 1).u(8, 200).u(1, 0); // long-term
        w.u(1, 1).u(1, 1); // temporal MVP, strong intra smoothing
        w.u(1, 1); // vui_parameters_present_flag
        w.u(1, 1).u(8, 255).u(16, 4).u(16, 3); // SAR 4:3
        w.u(1, 1).u(1, 1); // overscan
        w.u(1, 1).u(3, 5).u(1, 0).u(1, 1).u(24, 0x01_01_01); // video signal type
        w.u(1, 1).ue(1).ue(1); // chroma location
        w.u(3, 0).u(1, 1).ue(0).ue(0).ue(2).ue(2); // default display window
        w.u(1, 1).u(32, 1001).u(32, 24_000).u(1, 0).u(1, 0); // timing, no HRD
        w.u(1, 0).u(1, 0); // bitstream_restriction_flag, sps_extension_present_flag
        w.nal()
    }

    #[test]
    fn reads_reference_picture_sets_scaling_lists_pcm_and_a_full_vui() {
        let nal = handmade_sps();
        let s = H265Sps::parse(&nal).unwrap();
        assert_eq!((s.width, s.height, s.max_sub_layers), (320, 240, 2));
        assert_eq!(s.max_num_reorder_pics, Some(3), "the highest sub-layer's");
        assert_eq!(s.fps_milli, Some(23_976));
        // The tail is best-effort: cut anywhere, never a panic; cut after
        // the bit depths, the size is still there.
        let mut sizes = 0;
        for len in 0..nal.len() {
            if let Ok(cut) = H265Sps::parse(&nal[..len]) {
                assert_eq!((cut.width, cut.height), (320, 240));
                assert!(matches!(cut.fps_milli, None | Some(23_976)), "cut at {len}");
                sizes += 1;
            }
        }
        assert!(sizes > 20, "{sizes}");
    }

    /// A VPS with two sub-layers, three layer sets and timing info (50 fps),
    /// as `ffmpeg -bsf:v trace_headers` reads it too.
    fn handmade_vps() -> Vec<u8> {
        let mut w = BitWriter::default();
        w.u(16, 0x4001)
            .u(4, 0)
            .u(1, 1)
            .u(1, 1)
            .u(6, 0)
            .u(3, 1)
            .u(1, 1)
            .u(16, 0xffff);
        main_profile(&mut w);
        w.u(8, 60).u(1, 1).u(1, 0).u(14, 0);
        main_profile(&mut w);
        w.u(1, 1); // vps_sub_layer_ordering_info_present_flag
        for _ in 0..2 {
            w.ue(4).ue(2).ue(0);
        }
        w.u(6, 2).ue(2).u(6, 0b101_011); // max layer id 2, two more layer sets
        w.u(1, 1).u(32, 1).u(32, 50).u(1, 0).ue(0); // timing: 50 fps, no HRD
        w.u(1, 0); // vps_extension_flag
        w.nal()
    }

    #[test]
    fn reads_the_timing_of_a_vps() {
        let vps = handmade_vps();
        assert_eq!(vps_fps_milli(&vps).unwrap(), Some(50_000));
        for len in 0..vps.len() {
            let _ = vps_fps_milli(&vps[..len]);
        }
        assert!(vps_fps_milli(&handmade_sps()).is_err(), "an SPS is no VPS");
    }

    #[test]
    #[ignore = "prints the hand-made parameter sets for checking with ffmpeg"]
    fn print_handmade() {
        let print = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        println!("VPS {}", print(&handmade_vps()));
        println!("SPS {}", print(&handmade_sps()));
    }
}
