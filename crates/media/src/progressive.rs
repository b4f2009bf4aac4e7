//! One progressive MP4 from recorded fMP4 fragments, without touching the
//! media: the samples of each fragment's `trun` become the sample tables of
//! a `moov` (`stts`, `stss`, `ctts`, `stsc`, `stsz`, `co64`), and each
//! fragment's `mdat` payload is one chunk of the new `mdat`, copied byte for
//! byte. An edit list (`elst`) starts the presentation at a frame after the
//! first keyframe, so the first frame shown can be any frame (ISO/IEC
//! 14496-12 8.6.6): players decode from the keyframe and show from there.
//!
//! [`moof_samples`] reads a fragment's samples; [`progressive_head`] writes
//! `ftyp` + `moov` + the `mdat` header, which the caller follows with the
//! chunks' bytes in order.

use bytes::Bytes;

use crate::boxes::BoxWriter;
use crate::error::MediaError;
use crate::model::CLOCK_RATE;

/// `sample_is_non_sync_sample` in `sample_flags`.
const NON_SYNC: u32 = 0x0001_0000;

/// One sample (frame) of a fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Duration, in the track's timescale (90 kHz for vfed's files).
    pub duration: u32,
    /// Bytes.
    pub size: u32,
    /// A sync sample (keyframe).
    pub sync: bool,
    /// Composition offset (`pts - dts`).
    pub cts: i32,
}

/// The samples of one `moof` and where their bytes start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragmentSamples {
    /// The samples, in decode order.
    pub samples: Vec<Sample>,
    /// Offset of the first sample's bytes from the start of the `moof`;
    /// the samples' bytes follow each other from there.
    pub data_offset: u64,
}

impl FragmentSamples {
    /// Bytes of all samples.
    pub fn data_len(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.size)).sum()
    }
}

/// One chunk of the output: consecutive samples whose bytes are contiguous.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    /// The samples, in decode order.
    pub samples: Vec<Sample>,
}

impl Chunk {
    /// Bytes of the chunk.
    pub fn len(&self) -> u64 {
        self.samples.iter().map(|s| u64::from(s.size)).sum()
    }

    /// Whether the chunk holds no sample.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// A box: its type and body.
type Boxed<'a> = ([u8; 4], &'a [u8]);

/// The boxes directly inside `data`.
fn boxes(mut data: &[u8]) -> Result<Vec<Boxed<'_>>, MediaError> {
    const WHAT: &str = "MP4 box";
    let mut out = Vec::new();
    while !data.is_empty() {
        let head = data
            .get(..8)
            .ok_or_else(|| MediaError::invalid(WHAT, "truncated box header"))?;
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = [head[4], head[5], head[6], head[7]];
        let (header, total) = match size {
            0 => (8, data.len() as u64),
            1 => {
                let large = data
                    .get(8..16)
                    .ok_or_else(|| MediaError::invalid(WHAT, "truncated largesize"))?;
                let mut b = [0u8; 8];
                b.copy_from_slice(large);
                (16, u64::from_be_bytes(b))
            }
            n => (8, u64::from(n)),
        };
        let total = usize::try_from(total)
            .ok()
            .filter(|&t| t >= header && t <= data.len())
            .ok_or_else(|| MediaError::invalid(WHAT, "box size beyond its parent"))?;
        out.push((kind, &data[header..total]));
        data = &data[total..];
    }
    Ok(out)
}

/// The body of the first child `kind` of `data`.
fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<&'a [u8], MediaError> {
    boxes(data)?
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, body)| body)
        .ok_or_else(|| {
            MediaError::invalid(
                "MP4 box",
                format!("no {} box", String::from_utf8_lossy(kind)),
            )
        })
}

/// Reads big-endian fields in order.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, MediaError> {
        let b = self
            .data
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| MediaError::invalid("MP4 box", "truncated field"))?;
        self.pos += 4;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The samples of a fragment, from its `moof` box (header included): one
/// track, data offsets relative to the `moof` (as vfed's muxer writes).
pub fn moof_samples(moof: &[u8]) -> Result<FragmentSamples, MediaError> {
    const WHAT: &str = "moof";
    let top = boxes(moof)?;
    let body = top
        .iter()
        .find(|(k, _)| k == b"moof")
        .map(|(_, b)| *b)
        .ok_or_else(|| MediaError::invalid(WHAT, "not a moof box"))?;
    let traf = child(body, b"traf")?;
    let mut tfhd = Reader {
        data: child(traf, b"tfhd")?,
        pos: 0,
    };
    let tfhd_flags = tfhd.u32()? & 0x00ff_ffff;
    tfhd.u32()?; // track_ID
    if tfhd_flags & 0x01 != 0 {
        return Err(MediaError::unsupported(
            WHAT,
            "absolute base_data_offset (only moof-relative offsets)",
        ));
    }
    if tfhd_flags & 0x02 != 0 {
        tfhd.u32()?;
    }
    let default_duration = if tfhd_flags & 0x08 != 0 {
        tfhd.u32()?
    } else {
        0
    };
    let default_size = if tfhd_flags & 0x10 != 0 {
        tfhd.u32()?
    } else {
        0
    };
    let default_flags = if tfhd_flags & 0x20 != 0 {
        tfhd.u32()?
    } else {
        0
    };
    let trun_body = child(traf, b"trun")?;
    let mut trun = Reader {
        data: trun_body,
        pos: 0,
    };
    let word = trun.u32()?;
    let (version, flags) = (word >> 24, word & 0x00ff_ffff);
    let count = trun.u32()?;
    let data_offset = if flags & 0x01 != 0 {
        u64::try_from(i64::from(trun.u32()?.cast_signed()))
            .map_err(|_| MediaError::unsupported(WHAT, "negative data_offset"))?
    } else {
        u64::try_from(moof.len()).unwrap_or(u64::MAX) + 8
    };
    let first_flags = if flags & 0x04 != 0 {
        Some(trun.u32()?)
    } else {
        None
    };
    // Each sample takes at least 0 bytes in the trun; bound the count by what is there.
    let per_sample = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count()
        * 4;
    if per_sample > 0 && count as usize > trun_body.len() / per_sample {
        return Err(MediaError::invalid(WHAT, "sample_count beyond the trun"));
    }
    let mut samples = Vec::with_capacity(count as usize);
    for i in 0..count {
        let duration = if flags & 0x100 != 0 {
            trun.u32()?
        } else {
            default_duration
        };
        let size = if flags & 0x200 != 0 {
            trun.u32()?
        } else {
            default_size
        };
        let sample_flags = if flags & 0x400 != 0 {
            trun.u32()?
        } else if i == 0
            && let Some(f) = first_flags
        {
            f
        } else {
            default_flags
        };
        let cts = if flags & 0x800 != 0 {
            let raw = trun.u32()?;
            if version == 0 {
                i32::try_from(raw)
                    .map_err(|_| MediaError::unsupported(WHAT, "composition offset above 2^31"))?
            } else {
                raw.cast_signed()
            }
        } else {
            0
        };
        samples.push(Sample {
            duration,
            size,
            sync: sample_flags & NON_SYNC == 0,
            cts,
        });
    }
    Ok(FragmentSamples {
        samples,
        data_offset,
    })
}

/// The `stsd` box (header included) of an init segment.
fn sample_description(init: &[u8]) -> Result<Vec<u8>, MediaError> {
    let moov = child(init, b"moov")?;
    let stbl = child(
        child(child(child(moov, b"trak")?, b"mdia")?, b"minf")?,
        b"stbl",
    )?;
    let stsd = child(stbl, b"stsd")?;
    let size = u32::try_from(stsd.len() + 8)
        .map_err(|_| MediaError::unsupported("stsd", "larger than 4 GiB"))?;
    let mut out = Vec::with_capacity(stsd.len() + 8);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(b"stsd");
    out.extend_from_slice(stsd);
    Ok(out)
}

/// What the progressive file shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presentation {
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Composition time (timescale ticks from the first sample's decode
    /// time) of the first frame shown: the edit list's `media_time`.
    pub start_ticks: u64,
}

/// `ftyp` + `moov` + the `mdat` header of a progressive MP4 whose `mdat`
/// holds `chunks`' bytes in order; `init` is the recorded files' init
/// segment (its sample description is kept verbatim).
pub fn progressive_head(
    init: &[u8],
    chunks: &[Chunk],
    presentation: Presentation,
) -> Result<Bytes, MediaError> {
    let stsd = sample_description(init)?;
    let first = head_with_base(&stsd, chunks, presentation, 0)?;
    head_with_base(&stsd, chunks, presentation, first.len() as u64)
}

fn head_with_base(
    stsd: &[u8],
    chunks: &[Chunk],
    p: Presentation,
    base: u64,
) -> Result<Bytes, MediaError> {
    const WHAT: &str = "progressive MP4";
    let width = u16::try_from(p.width).map_err(|_| MediaError::invalid(WHAT, "width"))?;
    let height = u16::try_from(p.height).map_err(|_| MediaError::invalid(WHAT, "height"))?;
    let samples: Vec<&Sample> = chunks.iter().flat_map(|c| &c.samples).collect();
    let count = u32::try_from(samples.len())
        .map_err(|_| MediaError::unsupported(WHAT, "more than 2^32 samples"))?;
    let media_duration: u64 = samples.iter().map(|s| u64::from(s.duration)).sum();
    // The presentation ends where the last frame shown ends: with B-frames
    // that is after the decode duration, by the frames' composition offsets.
    let mut decode_time: i64 = 0;
    let mut presentation_end: i64 = 0;
    for s in &samples {
        let end = decode_time + i64::from(s.cts) + i64::from(s.duration);
        presentation_end = presentation_end.max(end);
        decode_time += i64::from(s.duration);
    }
    let presentation_end = u64::try_from(presentation_end)
        .unwrap_or(0)
        .max(media_duration);
    let shown = presentation_end.saturating_sub(p.start_ticks);
    let data_len: u64 = chunks.iter().map(Chunk::len).sum();
    let mut stts: Vec<(u32, u32)> = Vec::new();
    for s in &samples {
        match stts.last_mut() {
            Some((n, d)) if *d == s.duration => *n += 1,
            _ => stts.push((1, s.duration)),
        }
    }
    let mut ctts: Vec<(u32, i32)> = Vec::new();
    for s in &samples {
        match ctts.last_mut() {
            Some((n, c)) if *c == s.cts => *n += 1,
            _ => ctts.push((1, s.cts)),
        }
    }
    let all_sync = samples.iter().all(|s| s.sync);
    let mut stsc: Vec<(u32, u32)> = Vec::new();
    for (i, c) in chunks.iter().enumerate() {
        let n = c.samples.len() as u32;
        if stsc.last().is_none_or(|&(_, last)| last != n) {
            stsc.push((i as u32 + 1, n));
        }
    }
    let mut w = BoxWriter::default();
    w.boxed(b"ftyp", |w| {
        w.bytes(b"isom");
        w.u32(0x200);
        for brand in [b"isom", b"iso2", b"mp41"] {
            w.bytes(brand);
        }
    });
    w.boxed(b"moov", |w| {
        w.full(b"mvhd", 1, 0, |w| {
            w.zeros(16); // creation, modification time
            w.u32(CLOCK_RATE);
            w.u64(shown);
            w.u32(0x0001_0000); // rate 1.0
            w.u16(0x0100); // volume 1.0
            w.zeros(10);
            w.unity_matrix();
            w.zeros(24);
            w.u32(2); // next_track_ID
        });
        w.boxed(b"trak", |w| {
            w.full(b"tkhd", 1, 0x3, |w| {
                w.zeros(16);
                w.u32(1); // track_ID
                w.zeros(4);
                w.u64(shown);
                w.zeros(8);
                w.zeros(4);
                w.zeros(4);
                w.unity_matrix();
                w.u32(u32::from(width) << 16);
                w.u32(u32::from(height) << 16);
            });
            w.boxed(b"edts", |w| {
                w.full(b"elst", 1, 0, |w| {
                    w.u32(1);
                    w.u64(shown); // segment_duration (movie timescale)
                    w.u64(p.start_ticks); // media_time
                    w.u16(1); // media_rate 1.0
                    w.u16(0);
                });
            });
            w.boxed(b"mdia", |w| {
                w.full(b"mdhd", 1, 0, |w| {
                    w.zeros(16);
                    w.u32(CLOCK_RATE);
                    w.u64(media_duration);
                    w.u16(0x55c4); // "und"
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
                            w.full(b"url ", 0, 1, |_| {});
                        });
                    });
                    w.boxed(b"stbl", |w| {
                        w.bytes(stsd);
                        w.full(b"stts", 0, 0, |w| {
                            w.u32(stts.len() as u32);
                            for &(n, d) in &stts {
                                w.u32(n);
                                w.u32(d);
                            }
                        });
                        if !all_sync {
                            let sync: Vec<u32> = samples
                                .iter()
                                .enumerate()
                                .filter(|(_, s)| s.sync)
                                .map(|(i, _)| i as u32 + 1)
                                .collect();
                            w.full(b"stss", 0, 0, |w| {
                                w.u32(sync.len() as u32);
                                for n in sync {
                                    w.u32(n);
                                }
                            });
                        }
                        if ctts.iter().any(|&(_, c)| c != 0) {
                            // Version 1: signed offsets.
                            w.full(b"ctts", 1, 0, |w| {
                                w.u32(ctts.len() as u32);
                                for &(n, c) in &ctts {
                                    w.u32(n);
                                    w.bytes(&c.to_be_bytes());
                                }
                            });
                        }
                        w.full(b"stsc", 0, 0, |w| {
                            w.u32(stsc.len() as u32);
                            for &(first, n) in &stsc {
                                w.u32(first);
                                w.u32(n);
                                w.u32(1); // sample_description_index
                            }
                        });
                        w.full(b"stsz", 0, 0, |w| {
                            w.u32(0);
                            w.u32(count);
                            for s in &samples {
                                w.u32(s.size);
                            }
                        });
                        w.full(b"co64", 0, 0, |w| {
                            w.u32(chunks.len() as u32);
                            let mut offset = base;
                            for c in chunks {
                                w.u64(offset);
                                offset += c.len();
                            }
                        });
                    });
                });
            });
        });
    });
    // mdat with a 64-bit size, so the head's length does not depend on it.
    w.u32(1);
    w.bytes(b"mdat");
    w.u64(16 + data_len);
    w.finish()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::fmp4::{init_segment, media_segment};
    use crate::model::AccessUnit;

    fn unit(dts: i64, keyframe: bool, len: usize) -> AccessUnit {
        AccessUnit {
            dts,
            pts: dts,
            keyframe,
            data: Bytes::from(vec![7u8; len]),
            ingest_unix_us: 0,
        }
    }

    #[test]
    fn reads_the_samples_the_muxer_wrote_and_writes_their_tables() {
        let units = vec![
            unit(0, true, 100),
            unit(3600, false, 20),
            unit(7200, false, 30),
        ];
        let seg = media_segment(1, &units, 0, 10_800).unwrap();
        let moof_len = u32::from_be_bytes([seg[0], seg[1], seg[2], seg[3]]) as usize;
        let frag = moof_samples(&seg[..moof_len]).unwrap();
        assert_eq!(frag.samples.len(), 3);
        assert!(frag.samples[0].sync && !frag.samples[1].sync);
        assert_eq!(frag.samples[2].duration, 3600);
        assert_eq!(frag.data_len(), 150);
        let start = usize::try_from(frag.data_offset).unwrap();
        assert_eq!(&seg[start..start + 150], &[7u8; 150][..]);

        let init = init_segment(&crate::fmp4::tests::h264_metadata()).unwrap();
        let chunk = Chunk {
            samples: frag.samples,
        };
        let head = progressive_head(
            &init,
            &[chunk.clone(), chunk],
            Presentation {
                width: 1280,
                height: 720,
                start_ticks: 3600,
            },
        )
        .unwrap();
        let top = boxes(&head[..head.len() - 16]).unwrap();
        assert_eq!(
            top.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            [*b"ftyp", *b"moov"]
        );
        let co64 = head.windows(4).position(|w| w == b"co64").unwrap();
        let first = u64::from_be_bytes(head[co64 + 12..co64 + 20].try_into().unwrap());
        assert_eq!(first, head.len() as u64, "the first chunk follows the head");
        let large = u64::from_be_bytes(head[head.len() - 8..].try_into().unwrap());
        assert_eq!(large, 16 + 300);
    }

    #[test]
    fn refuses_garbage() {
        assert!(moof_samples(b"\0\0\0\x08moov").is_err());
        assert!(moof_samples(b"\0\0\0\xffmoof").is_err());
        assert!(moof_samples(&[]).is_err());
    }
}
