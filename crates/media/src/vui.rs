//! Video usability information (`vui_parameters()`, Annex E of ITU-T H.264
//! and H.265): the frame rate a stream signals and, for H.264, how many
//! pictures it may reorder. Everything else in the VUI is skipped.

use crate::bits::BitReader;
use crate::error::MediaError;

/// What vfed reads from an H.264 VUI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct H264Vui {
    /// Frame rate ×1000 from `timing_info`, if signalled.
    pub fps_milli: Option<u32>,
    /// `max_num_reorder_frames` from `bitstream_restriction`, if signalled.
    pub max_num_reorder_frames: Option<u32>,
}

/// Frames per second ×1000 for `time_scale / (ticks_per_picture * num_units_in_tick)`.
fn fps_milli(num_units_in_tick: u32, time_scale: u32, ticks_per_picture: u64) -> Option<u32> {
    if num_units_in_tick == 0 || time_scale == 0 {
        return None;
    }
    let fps_milli =
        u64::from(time_scale) * 1000 / (ticks_per_picture * u64::from(num_units_in_tick));
    u32::try_from(fps_milli).ok().filter(|&f| f > 0)
}

/// Skips the fields both VUIs start with: aspect ratio, overscan, video
/// signal type and chroma location (H.264 E.1.1, H.265 E.2.1).
fn skip_common_head(r: &mut BitReader<'_>) -> Result<(), MediaError> {
    if r.bit()? {
        // aspect_ratio_info_present_flag
        if r.u8()? == 255 {
            r.skip(32)?; // sar_width, sar_height
        }
    }
    if r.bit()? {
        r.skip(1)?; // overscan_appropriate_flag
    }
    if r.bit()? {
        // video_signal_type_present_flag
        r.skip(4)?; // video_format, video_full_range_flag
        if r.bit()? {
            r.skip(24)?; // colour_primaries, transfer_characteristics, matrix_coefficients
        }
    }
    if r.bit()? {
        r.ue()?; // chroma_sample_loc_type_top_field
        r.ue()?; // chroma_sample_loc_type_bottom_field
    }
    Ok(())
}

/// Reads an H.264 VUI (E.1.1) up to `bitstream_restriction`. The frame rate
/// survives a VUI cut short after it: what follows is read best-effort.
pub(crate) fn h264(r: &mut BitReader<'_>) -> Result<H264Vui, MediaError> {
    skip_common_head(r)?;
    let mut vui = H264Vui::default();
    if r.bit()? {
        // timing_info_present_flag
        let num_units_in_tick = r.u32()?;
        let time_scale = r.u32()?;
        // One frame is two ticks (field-based clock, E.2.1).
        vui.fps_milli = fps_milli(num_units_in_tick, time_scale, 2);
        r.skip(1)?; // fixed_frame_rate_flag
    }
    vui.max_num_reorder_frames = h264_reordering(r).unwrap_or(None);
    Ok(vui)
}

/// The H.264 VUI after `timing_info`: HRD parameters, then
/// `bitstream_restriction` with `max_num_reorder_frames`.
fn h264_reordering(r: &mut BitReader<'_>) -> Result<Option<u32>, MediaError> {
    let nal_hrd = r.bit()?;
    if nal_hrd {
        skip_h264_hrd(r)?;
    }
    let vcl_hrd = r.bit()?;
    if vcl_hrd {
        skip_h264_hrd(r)?;
    }
    if nal_hrd || vcl_hrd {
        r.skip(1)?; // low_delay_hrd_flag
    }
    r.skip(1)?; // pic_struct_present_flag
    if !r.bit()? {
        // bitstream_restriction_flag
        return Ok(None);
    }
    r.skip(1)?; // motion_vectors_over_pic_boundaries_flag
    for _ in 0..4 {
        // max_bytes_per_pic_denom, max_bits_per_mb_denom, log2_max_mv_length_{horizontal,vertical}
        r.ue()?;
    }
    let reorder = r.ue_max(16, "max_num_reorder_frames")?;
    r.ue_max(16, "max_dec_frame_buffering")?;
    Ok(Some(reorder))
}

/// Skips H.264 `hrd_parameters()` (E.1.2).
fn skip_h264_hrd(r: &mut BitReader<'_>) -> Result<(), MediaError> {
    let cpb_cnt = r.ue_max(31, "cpb_cnt_minus1")? + 1;
    r.skip(8)?; // bit_rate_scale, cpb_size_scale
    for _ in 0..cpb_cnt {
        r.ue()?; // bit_rate_value_minus1
        r.ue()?; // cpb_size_value_minus1
        r.skip(1)?; // cbr_flag
    }
    r.skip(20) // four delay/offset lengths of 5 bits
}

/// Reads an H.265 VUI (E.2.1) up to `vui_timing_info`: the frame rate ×1000,
/// if signalled. H.265 counts one tick per picture (E.3.1): no factor 2.
pub(crate) fn h265_fps_milli(r: &mut BitReader<'_>) -> Result<Option<u32>, MediaError> {
    skip_common_head(r)?;
    // neutral_chroma_indication_flag, field_seq_flag, frame_field_info_present_flag
    r.skip(3)?;
    if r.bit()? {
        // default_display_window_flag: four offsets
        for _ in 0..4 {
            r.ue()?;
        }
    }
    if !r.bit()? {
        // vui_timing_info_present_flag
        return Ok(None);
    }
    let num_units_in_tick = r.u32()?;
    let time_scale = r.u32()?;
    Ok(fps_milli(num_units_in_tick, time_scale, 1))
}

/// The frame rate ×1000 of an H.265 `vps_timing_info` (7.3.2.1), given the
/// two fields.
pub(crate) fn h265_vps_fps_milli(num_units_in_tick: u32, time_scale: u32) -> Option<u32> {
    fps_milli(num_units_in_tick, time_scale, 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn frame_rates_round_down_and_refuse_zero() {
        assert_eq!(fps_milli(1001, 60_000, 2), Some(29_970));
        assert_eq!(fps_milli(1001, 30_000, 1), Some(29_970));
        assert_eq!(fps_milli(2, 25, 1), Some(12_500));
        assert_eq!(fps_milli(0, 25, 1), None);
        assert_eq!(fps_milli(1, 0, 1), None);
        // 2^32-1 pictures per tick of 1: too many to count, not a wrap.
        assert_eq!(fps_milli(1, u32::MAX, 1), None);
    }
}
