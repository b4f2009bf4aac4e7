//! A fragmented MP4 (ISO/IEC 14496-12, CMAF-style) muxer for one H.264
//! (`avc1` + `avcC`) or H.265 (`hvc1` + `hvcC`, ISO/IEC 14496-15) video
//! track: an init segment per stream, then `moof`+`mdat` media segments.
//!
//! Written here rather than taken from a crate: the candidates found
//! (muxide, mp4, mp4e) either take Annex-B frames with float timestamps and
//! own the segmenting, or write only progressive files; vfed's units are
//! already length-prefixed with 90 kHz timestamps, which map one to one onto
//! `trun` entries.

use bytes::Bytes;

use crate::boxes::BoxWriter;
use crate::error::MediaError;
use crate::model::{AccessUnit, CLOCK_RATE, Codec, StreamMetadata};
use crate::sps::{H264Sps, H265Sps};

/// The track ID of the single video track.
pub const TRACK_ID: u32 = 1;

/// `sample_flags` of a sync sample: depends on no other sample.
const SYNC_SAMPLE_FLAGS: u32 = 0x0200_0000;
/// `sample_flags` of other samples: depends on others, `sample_is_non_sync_sample`.
const NON_SYNC_SAMPLE_FLAGS: u32 = 0x0101_0000;

/// The init segment (`ftyp` + `moov`) for a stream: timescale 90 kHz, empty
/// sample tables, `mvex`/`trex` announcing fragments.
pub fn init_segment(metadata: &StreamMetadata) -> Result<Bytes, MediaError> {
    const WHAT: &str = "init segment";
    let width = u16::try_from(metadata.width)
        .map_err(|_| MediaError::invalid(WHAT, "width above 65535"))?;
    let height = u16::try_from(metadata.height)
        .map_err(|_| MediaError::invalid(WHAT, "height above 65535"))?;
    let (entry, config_box, config): (&[u8; 4], &[u8; 4], Bytes) = match metadata.codec {
        Codec::H264 => (b"avc1", b"avcC", avc_decoder_configuration(metadata)?),
        Codec::H265 => (b"hvc1", b"hvcC", hevc_decoder_configuration(metadata)?),
    };
    let mut w = BoxWriter::default();
    w.boxed(b"ftyp", |w| {
        w.bytes(b"iso6");
        w.u32(0);
        for brand in [b"iso6", b"cmfc", b"isom", b"iso5"] {
            w.bytes(brand);
        }
    });
    w.boxed(b"moov", |w| {
        w.full(b"mvhd", 0, 0, |w| {
            w.zeros(8); // creation, modification time
            w.u32(CLOCK_RATE);
            w.u32(0); // duration: unknown (fragmented)
            w.u32(0x0001_0000); // rate 1.0
            w.u16(0x0100); // volume 1.0
            w.zeros(10);
            w.unity_matrix();
            w.zeros(24); // pre_defined
            w.u32(TRACK_ID + 1); // next_track_ID
        });
        w.boxed(b"trak", |w| {
            w.full(b"tkhd", 0, 0x3, |w| {
                // flags: track_enabled | track_in_movie
                w.zeros(8);
                w.u32(TRACK_ID);
                w.zeros(4);
                w.u32(0); // duration
                w.zeros(8);
                w.zeros(4); // layer, alternate_group
                w.zeros(4); // volume 0 (video), reserved
                w.unity_matrix();
                w.u32(u32::from(width) << 16);
                w.u32(u32::from(height) << 16);
            });
            w.boxed(b"mdia", |w| {
                w.full(b"mdhd", 0, 0, |w| {
                    w.zeros(8);
                    w.u32(CLOCK_RATE);
                    w.u32(0);
                    w.u16(0x55c4); // language "und"
                    w.u16(0);
                });
                w.full(b"hdlr", 0, 0, |w| {
                    w.u32(0);
                    w.bytes(b"vide");
                    w.zeros(12);
                    w.bytes(b"vfed video\0");
                });
                w.boxed(b"minf", |w| {
                    w.full(b"vmhd", 0, 1, |w| w.zeros(8));
                    w.boxed(b"dinf", |w| {
                        w.full(b"dref", 0, 0, |w| {
                            w.u32(1);
                            w.full(b"url ", 0, 1, |_| {}); // media in this file
                        });
                    });
                    w.boxed(b"stbl", |w| {
                        w.full(b"stsd", 0, 0, |w| {
                            w.u32(1);
                            w.boxed(entry, |w| {
                                visual_sample_entry(w, width, height);
                                w.boxed(config_box, |w| w.bytes(&config));
                            });
                        });
                        w.full(b"stts", 0, 0, |w| w.u32(0));
                        w.full(b"stsc", 0, 0, |w| w.u32(0));
                        w.full(b"stsz", 0, 0, |w| w.zeros(8));
                        w.full(b"stco", 0, 0, |w| w.u32(0));
                    });
                });
            });
        });
        w.boxed(b"mvex", |w| {
            w.full(b"trex", 0, 0, |w| {
                w.u32(TRACK_ID);
                w.u32(1); // default_sample_description_index
                w.zeros(12); // default duration, size, flags: every trun says them
            });
        });
    });
    w.finish()
}

/// The `VisualSampleEntry` fields (ISO/IEC 14496-12 12.1.3) before the codec box.
fn visual_sample_entry(w: &mut BoxWriter, width: u16, height: u16) {
    w.zeros(6);
    w.u16(1); // data_reference_index
    w.zeros(16); // pre_defined, reserved
    w.u16(width);
    w.u16(height);
    w.u32(0x0048_0000); // 72 dpi
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1); // frame_count
    w.zeros(32); // compressorname
    w.u16(0x0018); // depth
    w.u16(0xffff); // pre_defined = -1
}

/// One media segment (`moof` + `mdat`) holding `units` in decode order.
///
/// `sequence_number` goes to `mfhd`; `base_decode_time` (90 kHz) to `tfdt`.
/// Sample durations are the differences of consecutive `dts`; the last one
/// runs to `end_dts`, the decode time where the next segment starts (the
/// segmenter knows it; a muxer given only these units could not).
/// Composition offsets (`pts - dts`) are written when any is non-zero.
pub fn media_segment(
    sequence_number: u32,
    units: &[AccessUnit],
    base_decode_time: u64,
    end_dts: i64,
) -> Result<Bytes, MediaError> {
    const WHAT: &str = "media segment";
    if units.is_empty() {
        return Err(MediaError::invalid(WHAT, "no access units"));
    }
    let sample_count = u32::try_from(units.len())
        .map_err(|_| MediaError::unsupported(WHAT, "more than 2^32 samples"))?;
    let mut samples = Vec::with_capacity(units.len());
    for (i, unit) in units.iter().enumerate() {
        let next_dts = units.get(i + 1).map_or(end_dts, |n| n.dts);
        let duration = next_dts
            .checked_sub(unit.dts)
            .and_then(|d| u32::try_from(d).ok())
            .filter(|&d| d > 0)
            .ok_or_else(|| {
                MediaError::invalid(WHAT, format!("dts not increasing at sample {i}"))
            })?;
        let size = u32::try_from(unit.data.len())
            .map_err(|_| MediaError::unsupported(WHAT, "sample larger than 4 GiB"))?;
        let cts = unit
            .pts
            .checked_sub(unit.dts)
            .and_then(|c| i32::try_from(c).ok())
            .ok_or_else(|| {
                MediaError::invalid(WHAT, format!("pts - dts out of range at sample {i}"))
            })?;
        let flags = if unit.keyframe {
            SYNC_SAMPLE_FLAGS
        } else {
            NON_SYNC_SAMPLE_FLAGS
        };
        samples.push((duration, size, flags, cts));
    }
    let with_cts = samples.iter().any(|s| s.3 != 0);
    // data-offset, sample-duration, -size, -flags present; composition offsets if needed.
    let trun_flags =
        0x000001 | 0x000100 | 0x000200 | 0x000400 | if with_cts { 0x000800 } else { 0 };

    let mut w = BoxWriter::default();
    let mut data_offset_pos = 0;
    w.boxed(b"moof", |w| {
        w.full(b"mfhd", 0, 0, |w| w.u32(sequence_number));
        w.boxed(b"traf", |w| {
            // default-base-is-moof: data offsets count from this moof.
            w.full(b"tfhd", 0, 0x02_0000, |w| w.u32(TRACK_ID));
            w.full(b"tfdt", 1, 0, |w| w.u64(base_decode_time));
            // Version 1: signed composition offsets.
            w.full(b"trun", 1, trun_flags, |w| {
                w.u32(sample_count);
                data_offset_pos = w.len();
                w.u32(0);
                for &(duration, size, flags, cts) in &samples {
                    w.u32(duration);
                    w.u32(size);
                    w.u32(flags);
                    if with_cts {
                        w.bytes(&cts.to_be_bytes());
                    }
                }
            });
        });
    });
    let data_offset = u32::try_from(w.len() + 8)
        .map_err(|_| MediaError::unsupported(WHAT, "moof larger than 4 GiB"))?;
    w.patch_u32(data_offset_pos, data_offset);
    w.boxed(b"mdat", |w| {
        for unit in units {
            w.bytes(&unit.data);
        }
    });
    w.finish()
}

/// The first SPS of `metadata`, or an error.
fn first_sps(metadata: &StreamMetadata) -> Result<&Bytes, MediaError> {
    metadata
        .sps
        .first()
        .ok_or(MediaError::Missing("SPS in the stream metadata"))
}

/// Appends `u16` length + bytes of each parameter set.
fn put_parameter_sets(w: &mut BoxWriter, sets: &[Bytes]) -> Result<(), MediaError> {
    for set in sets {
        let len = u16::try_from(set.len())
            .map_err(|_| MediaError::unsupported("parameter set", "longer than 65535 bytes"))?;
        w.u16(len);
        w.bytes(set);
    }
    Ok(())
}

/// The `AVCDecoderConfigurationRecord` (ISO/IEC 14496-15 5.3.3.1) of an H.264 stream.
pub fn avc_decoder_configuration(metadata: &StreamMetadata) -> Result<Bytes, MediaError> {
    const WHAT: &str = "avcC";
    let sps = H264Sps::parse(first_sps(metadata)?)?;
    if metadata.pps.is_empty() {
        return Err(MediaError::Missing("PPS in the stream metadata"));
    }
    let num_sps = u8::try_from(metadata.sps.len())
        .ok()
        .filter(|&n| n <= 31)
        .ok_or_else(|| MediaError::unsupported(WHAT, "more than 31 SPS"))?;
    let num_pps = u8::try_from(metadata.pps.len())
        .map_err(|_| MediaError::unsupported(WHAT, "more than 255 PPS"))?;
    let mut w = BoxWriter::default();
    w.u8(1); // configurationVersion
    w.u8(sps.profile_idc);
    w.u8(sps.constraint_flags);
    w.u8(sps.level_idc);
    w.u8(0xfc | 3); // lengthSizeMinusOne = 3
    w.u8(0xe0 | num_sps);
    put_parameter_sets(&mut w, &metadata.sps)?;
    w.u8(num_pps);
    put_parameter_sets(&mut w, &metadata.pps)?;
    if matches!(sps.profile_idc, 100 | 110 | 122 | 144) {
        // Values validated by the SPS parser (chroma <= 3, depths <= 6).
        w.u8(0xfc | (sps.chroma_format_idc & 3) as u8);
        w.u8(0xf8 | (sps.bit_depth_luma_minus8 & 7) as u8);
        w.u8(0xf8 | (sps.bit_depth_chroma_minus8 & 7) as u8);
        w.u8(0); // numOfSequenceParameterSetExt
    }
    w.finish()
}

/// The `HEVCDecoderConfigurationRecord` (ISO/IEC 14496-15 8.3.3.1) of an H.265 stream.
pub fn hevc_decoder_configuration(metadata: &StreamMetadata) -> Result<Bytes, MediaError> {
    const WHAT: &str = "hvcC";
    let sps = H265Sps::parse(first_sps(metadata)?)?;
    if metadata.vps.is_empty() {
        return Err(MediaError::Missing("VPS in the stream metadata"));
    }
    if metadata.pps.is_empty() {
        return Err(MediaError::Missing("PPS in the stream metadata"));
    }
    let mut w = BoxWriter::default();
    w.u8(1); // configurationVersion
    w.u8((sps.profile_space << 6) | (u8::from(sps.tier_flag) << 5) | sps.profile_idc);
    w.u32(sps.profile_compatibility_flags);
    w.bytes(&sps.constraint_indicator_flags.to_be_bytes()[2..]);
    w.u8(sps.level_idc);
    w.u16(0xf000); // min_spatial_segmentation_idc = 0
    w.u8(0xfc); // parallelismType = 0 (unknown)
    // Values validated by the SPS parser (chroma <= 3, depths <= 8).
    w.u8(0xfc | (sps.chroma_format_idc & 3) as u8);
    w.u8(0xf8 | (sps.bit_depth_luma_minus8 & 7) as u8);
    w.u8(0xf8 | (sps.bit_depth_chroma_minus8 & 7) as u8);
    w.u16(0); // avgFrameRate: unspecified
    // constantFrameRate 0, numTemporalLayers, temporalIdNested, lengthSizeMinusOne 3
    w.u8(((sps.max_sub_layers & 7) << 3) | (u8::from(sps.temporal_id_nesting) << 2) | 3);
    w.u8(3); // numOfArrays
    for (nal_type, sets) in [
        (32u8, &metadata.vps),
        (33, &metadata.sps),
        (34, &metadata.pps),
    ] {
        w.u8(0x80 | nal_type); // array_completeness = 1
        let count = u16::try_from(sets.len())
            .map_err(|_| MediaError::unsupported(WHAT, "more than 65535 parameter sets"))?;
        w.u16(count);
        put_parameter_sets(&mut w, sets)?;
    }
    w.finish()
}

/// The RFC 6381 `CODECS` value of a stream (`avc1.64001f`, `hvc1.1.6.L93.90`),
/// for an HLS multivariant playlist or a `Content-Type`.
pub fn codecs_string(metadata: &StreamMetadata) -> Result<String, MediaError> {
    let sps = first_sps(metadata)?;
    match metadata.codec {
        Codec::H264 => {
            let s = H264Sps::parse(sps)?;
            Ok(format!(
                "avc1.{:02x}{:02x}{:02x}",
                s.profile_idc, s.constraint_flags, s.level_idc
            ))
        }
        Codec::H265 => {
            let s = H265Sps::parse(sps)?;
            let space = ["", "A", "B", "C"][usize::from(s.profile_space & 3)];
            let tier = if s.tier_flag { 'H' } else { 'L' };
            let mut out = format!(
                "hvc1.{space}{}.{:x}.{tier}{}",
                s.profile_idc,
                s.profile_compatibility_flags.reverse_bits(),
                s.level_idc
            );
            let constraints = s.constraint_indicator_flags.to_be_bytes();
            let used = constraints[2..]
                .iter()
                .rposition(|&b| b != 0)
                .map_or(0, |p| p + 1);
            for b in &constraints[2..2 + used] {
                out.push_str(&format!(".{b:02X}"));
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// x264 high profile 1280x720 SPS and its PPS.
    pub(crate) fn h264_metadata() -> StreamMetadata {
        StreamMetadata {
            codec: Codec::H264,
            vps: vec![],
            sps: vec![Bytes::from_static(&[
                0x67, 0x64, 0x00, 0x1f, 0xac, 0xb2, 0x00, 0xa0, 0x0b, 0x76, 0x02, 0x20, 0x00, 0x00,
                0x03, 0x00, 0x20, 0x00, 0x00, 0x06, 0x41, 0xe3, 0x06, 0x49,
            ])],
            pps: vec![Bytes::from_static(&[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0])],
            width: 1280,
            height: 720,
            fps_milli: 25_000,
            bitrate_bps: 0,
        }
    }

    fn unit(dts: i64, keyframe: bool, len: usize) -> AccessUnit {
        let mut data = vec![0u8; len + 4];
        data[..4].copy_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
        data[4] = if keyframe { 0x65 } else { 0x41 };
        AccessUnit {
            pts: dts,
            dts,
            keyframe,
            data: data.into(),
            ingest_unix_us: 0,
        }
    }

    /// (type, payload) of the top-level boxes.
    fn top_boxes(mut data: &[u8]) -> Vec<([u8; 4], &[u8])> {
        let mut out = Vec::new();
        while data.len() >= 8 {
            let size = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
            out.push((data[4..8].try_into().unwrap(), &data[8..size]));
            data = &data[size..];
        }
        assert!(data.is_empty());
        out
    }

    #[test]
    fn init_segment_has_ftyp_and_moov_with_avcc() {
        let init = init_segment(&h264_metadata()).unwrap();
        let boxes = top_boxes(&init);
        assert_eq!(
            boxes.iter().map(|b| &b.0).collect::<Vec<_>>(),
            [b"ftyp", b"moov"]
        );
        let find = |needle: &[u8]| init.windows(needle.len()).any(|w| w == needle);
        for fourcc in [
            b"mvhd", b"tkhd", b"mdhd", b"hdlr", b"vmhd", b"dref", b"stsd", b"avc1", b"avcC",
            b"stts", b"stsc", b"stsz", b"stco", b"mvex", b"trex",
        ] {
            assert!(find(fourcc), "{}", String::from_utf8_lossy(fourcc));
        }
        let avcc = avc_decoder_configuration(&h264_metadata()).unwrap();
        assert_eq!(&avcc[..6], &[1, 0x64, 0x00, 0x1f, 0xff, 0xe1]);
        assert_eq!(codecs_string(&h264_metadata()).unwrap(), "avc1.64001f");
    }

    #[test]
    fn media_segment_offsets_point_into_mdat() {
        let units = [
            unit(0, true, 100),
            unit(3600, false, 20),
            unit(7200, false, 30),
        ];
        let seg = media_segment(7, &units, 0, 10_800).unwrap();
        let boxes = top_boxes(&seg);
        assert_eq!(
            boxes.iter().map(|b| &b.0).collect::<Vec<_>>(),
            [b"moof", b"mdat"]
        );
        let moof_len = boxes[0].1.len() + 8;
        assert_eq!(boxes[1].1.len(), 104 + 24 + 34);
        // trun: full header, count, data offset, then per sample
        let trun = seg.windows(4).position(|w| w == b"trun").unwrap();
        let field = |i: usize| {
            u32::from_be_bytes(seg[trun + 4 + 4 * i..trun + 8 + 4 * i].try_into().unwrap())
        };
        assert_eq!(field(0), 0x0100_0701);
        assert_eq!(field(1), 3);
        assert_eq!(field(2) as usize, moof_len + 8);
        assert_eq!(
            (field(3), field(4), field(5)),
            (3600, 104, SYNC_SAMPLE_FLAGS)
        );
        assert_eq!(
            (field(6), field(7), field(8)),
            (3600, 24, NON_SYNC_SAMPLE_FLAGS)
        );
        assert_eq!(field(9), 3600, "last sample runs to end_dts");
    }

    #[test]
    fn b_frames_carry_signed_composition_offsets() {
        // I0 P3 B1 B2 in decode order, decode times from a reorder depth of 1.
        let frame = 3600;
        let order = [0i64, 3, 1, 2];
        let mut times = crate::DecodeTimes::new();
        times.start(Some(1), frame);
        let mut units: Vec<AccessUnit> = order
            .iter()
            .enumerate()
            .map(|(i, &n)| AccessUnit {
                pts: 10 * frame + n * frame,
                dts: times.next(10 * frame + n * frame),
                ..unit(0, i == 0, 10)
            })
            .collect();
        // One negative offset too (a picture decoded after its presentation time).
        units[3].pts = units[3].dts - 100;
        let base = u64::try_from(units[0].dts).unwrap();
        let seg = media_segment(1, &units, base, units[3].dts + frame).unwrap();
        let trun = seg.windows(4).position(|w| w == b"trun").unwrap();
        let word = |i: usize| {
            u32::from_be_bytes(seg[trun + 4 + 4 * i..trun + 8 + 4 * i].try_into().unwrap())
        };
        assert_eq!(
            word(0),
            0x0100_0f01,
            "version 1, composition offsets present"
        );
        // Per sample: duration, size, flags, offset (signed).
        let offsets: Vec<i32> = (0..4).map(|s| word(3 + 4 * s + 3) as i32).collect();
        assert_eq!(offsets, [i32::try_from(frame).unwrap(), 3 * 3600, 0, -100]);
        let durations: Vec<u32> = (0..4).map(|s| word(3 + 4 * s)).collect();
        assert_eq!(durations, [3600; 4]);
    }

    #[test]
    fn refuses_bad_input() {
        assert!(media_segment(1, &[], 0, 0).is_err());
        let units = [unit(3600, true, 10), unit(3600, false, 10)];
        assert!(media_segment(1, &units, 0, 7200).is_err(), "repeated dts");
        assert!(
            media_segment(1, &units[..1], 0, 0).is_err(),
            "end before last dts"
        );
        let mut garbage = h264_metadata();
        garbage.sps = vec![Bytes::from_static(&[0x67, 0xff])];
        assert!(init_segment(&garbage).is_err());
        garbage.sps.clear();
        assert!(init_segment(&garbage).is_err());
        let mut hevc = h264_metadata();
        hevc.codec = Codec::H265;
        assert!(init_segment(&hevc).is_err(), "H.264 SPS is no H.265 SPS");
        let mut huge = h264_metadata();
        huge.width = 70_000;
        assert!(init_segment(&huge).is_err());
    }
}
