//! Reads an Annex-B elementary stream (`.h264`, `.h265`) into stream
//! metadata and timestamped access units: what the demo's looping file
//! source plays.

use std::path::Path;

use crate::assembler::AccessUnitAssembler;
use crate::error::MediaError;
use crate::model::{AccessUnit, CLOCK_RATE, Codec, StreamMetadata};
use crate::nal;
use crate::sps::Sps;

/// Frame rate assumed when the bitstream signals none and the caller gives none (25 fps).
pub const DEFAULT_FPS_MILLI: u32 = 25_000;

/// An Annex-B elementary stream file.
///
/// Timestamps assume **no B-frames**: access units are numbered in decode
/// order and `pts == dts == n * 90000 / fps`, starting at 0. A stream with
/// reordered pictures would get wrong presentation times (encode test
/// streams with `-bf 0`; [`StreamMetadata::reorder_frames`] tells). The frame
/// rate comes from the bitstream (SPS VUI timing info, or the H.265 VPS's) or,
/// failing that, from the caller: a file has no timestamps to measure it
/// from. Access units before the first
/// keyframe are dropped, so the result starts with a keyframe and can be
/// looped. `ingest_unix_us` is 0: the source that plays the units sets it.
/// Parameter sets are assumed constant over the file; every distinct one
/// lands in the metadata.
#[derive(Debug, Clone, Copy)]
pub struct AnnexBFile;

impl AnnexBFile {
    /// Reads `path`, taking the codec from its extension (`.h264`, `.264`,
    /// `.avc` or `.h265`, `.265`, `.hevc`) and the frame rate from the
    /// bitstream, else [`DEFAULT_FPS_MILLI`].
    pub fn read(path: impl AsRef<Path>) -> Result<(StreamMetadata, Vec<AccessUnit>), MediaError> {
        let path = path.as_ref();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let codec = match ext.as_deref() {
            Some("h264" | "264" | "avc") => Codec::H264,
            Some("h265" | "265" | "hevc") => Codec::H265,
            _ => {
                return Err(MediaError::unsupported(
                    "Annex-B file name",
                    format!(
                        "{}: extension names no codec; use AnnexBFile::read_as",
                        path.display()
                    ),
                ));
            }
        };
        Self::read_as(path, codec, DEFAULT_FPS_MILLI)
    }

    /// Reads `path` as `codec`; `fallback_fps_milli` applies when the bitstream signals no frame rate.
    pub fn read_as(
        path: impl AsRef<Path>,
        codec: Codec,
        fallback_fps_milli: u32,
    ) -> Result<(StreamMetadata, Vec<AccessUnit>), MediaError> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|source| MediaError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&data, codec, fallback_fps_milli)
    }

    /// Parses an Annex-B stream held in memory (see [`AnnexBFile`] for the rules).
    pub fn parse(
        data: &[u8],
        codec: Codec,
        fallback_fps_milli: u32,
    ) -> Result<(StreamMetadata, Vec<AccessUnit>), MediaError> {
        let mut assembler = AccessUnitAssembler::new(codec);
        let mut assembled = Vec::new();
        for nal in nal::split_annexb(data)? {
            assembled.extend(assembler.push(nal)?);
        }
        assembled.extend(assembler.flush());
        let first_key = assembled
            .iter()
            .position(|u| u.keyframe)
            .ok_or(MediaError::Missing("keyframe in the Annex-B stream"))?;

        let params = assembler.parameter_sets().clone();
        if codec == Codec::H265 && params.vps.is_empty() {
            return Err(MediaError::Missing("VPS in the Annex-B stream"));
        }
        let sps_nal = params
            .sps
            .first()
            .ok_or(MediaError::Missing("SPS in the Annex-B stream"))?;
        if params.pps.is_empty() {
            return Err(MediaError::Missing("PPS in the Annex-B stream"));
        }
        let sps = Sps::parse(codec, sps_nal)?;
        let mut metadata = StreamMetadata {
            codec,
            vps: params.vps,
            sps: params.sps,
            pps: params.pps,
            width: sps.width(),
            height: sps.height(),
            fps_milli: 0,
            bitrate_bps: 0,
        };
        let fps_milli = metadata.signalled_fps_milli().unwrap_or(fallback_fps_milli);
        if fps_milli == 0 {
            return Err(MediaError::invalid("frame rate", "0 fps"));
        }

        let frame_ticks = |n: u64| -> Result<i64, MediaError> {
            let ticks = u128::from(n) * u128::from(CLOCK_RATE) * 1000 / u128::from(fps_milli);
            i64::try_from(ticks).map_err(|_| MediaError::invalid("timestamp", "overflow"))
        };
        let mut units = Vec::with_capacity(assembled.len() - first_key);
        for (n, unit) in (0u64..).zip(assembled.into_iter().skip(first_key)) {
            let ts = frame_ticks(n)?;
            units.push(AccessUnit {
                pts: ts,
                dts: ts,
                keyframe: unit.keyframe,
                data: unit.data,
                ingest_unix_us: 0,
            });
        }
        let total_bits: u128 = units.iter().map(|u| u.data.len() as u128 * 8).sum();
        let bitrate_bps =
            u64::try_from(total_bits * u128::from(fps_milli) / (units.len() as u128 * 1000))
                .unwrap_or(u64::MAX);
        metadata.fps_milli = fps_milli;
        metadata.bitrate_bps = bitrate_bps;
        Ok((metadata, units))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rejects_streams_without_what_they_need() {
        let no_sps = [0, 0, 0, 1, 0x65, 0x88, 0x01];
        assert!(matches!(
            AnnexBFile::parse(&no_sps, Codec::H264, 25_000),
            Err(MediaError::Missing(_))
        ));
        assert!(AnnexBFile::parse(&[], Codec::H264, 25_000).is_err());
        assert!(AnnexBFile::parse(&[0xde, 0xad, 0xbe, 0xef], Codec::H264, 25_000).is_err());
        let garbage_sps = [
            0, 0, 1, 0x67, 0xff, 0, 0, 1, 0x68, 0xce, 0, 0, 1, 0x65, 0x88,
        ];
        assert!(AnnexBFile::parse(&garbage_sps, Codec::H264, 25_000).is_err());
        assert!(AnnexBFile::read("no-such-file.h264").is_err());
        assert!(AnnexBFile::read("clip.mkv").is_err());
    }
}
