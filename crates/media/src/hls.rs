//! Live HLS with fMP4 segments: a sliding window of numbered segments cut at
//! keyframes, and the media playlist that lists them (RFC 8216bis).

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;

use crate::error::MediaError;
use crate::fmp4;
use crate::model::{AccessUnit, CLOCK_RATE, Gop, StreamMetadata};

/// Segments a [`SegmentWindow`] keeps unless told otherwise.
pub const DEFAULT_WINDOW: usize = 6;

/// The URI the playlist gives the init segment (`EXT-X-MAP`).
pub const INIT_URI: &str = "init.mp4";

/// One media segment (`moof` + `mdat`), starting with a keyframe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Media sequence number (also the `mfhd` sequence number, modulo 2^32).
    pub sequence: u64,
    /// Decode time of the first sample, 90 kHz (`tfdt`).
    pub base_decode_time: u64,
    /// Duration, 90 kHz ticks.
    pub duration: u64,
    /// Number of access units.
    pub frames: usize,
    /// The segment bytes, shared by every viewer.
    pub data: Bytes,
}

impl Segment {
    /// Duration in seconds.
    pub fn duration_secs(&self) -> f64 {
        self.duration as f64 / f64::from(CLOCK_RATE)
    }

    /// The URI the playlist gives this segment (`segment-<sequence>.m4s`).
    pub fn uri(&self) -> String {
        format!("segment-{}.m4s", self.sequence)
    }
}

/// Cuts access units into fMP4 segments and keeps the newest few for the
/// HTTP layer to serve.
///
/// A segment closes at a keyframe once it spans at least the minimum
/// duration (0 by default: one segment per GOP). Units before the first
/// keyframe are dropped: a segment must be independently decodable.
#[derive(Debug)]
pub struct SegmentWindow {
    init: Bytes,
    capacity: usize,
    min_duration: u64,
    /// Duration given to the last frame of a segment closed before the next
    /// frame is known: the last observed frame interval.
    frame_duration: u64,
    pending: Vec<AccessUnit>,
    segments: VecDeque<Segment>,
    next_sequence: u64,
    target_duration: u64,
    ended: bool,
}

impl SegmentWindow {
    /// A window of [`DEFAULT_WINDOW`] segments, one per GOP, for `metadata`'s stream.
    pub fn new(metadata: &StreamMetadata) -> Result<Self, MediaError> {
        let frame_duration = match metadata.fps_milli {
            0 => u64::from(CLOCK_RATE) / 25,
            fps => u64::from(CLOCK_RATE) * 1000 / u64::from(fps),
        };
        Ok(Self {
            init: fmp4::init_segment(metadata)?,
            capacity: DEFAULT_WINDOW,
            min_duration: 0,
            frame_duration: frame_duration.max(1),
            pending: Vec::new(),
            segments: VecDeque::new(),
            next_sequence: 1,
            target_duration: 1,
            ended: false,
        })
    }

    /// Keeps the newest `segments` segments (at least 1).
    pub fn with_capacity(mut self, segments: usize) -> Self {
        self.capacity = segments.max(1);
        self
    }

    /// Closes a segment only at a keyframe at least `ticks` (90 kHz) after its start,
    /// so short GOPs are merged up to a target duration.
    pub fn with_min_duration(mut self, ticks: u64) -> Self {
        self.min_duration = ticks;
        self
    }

    /// The init segment (`ftyp` + `moov`), served as [`INIT_URI`].
    pub fn init_segment(&self) -> &Bytes {
        &self.init
    }

    /// Adds the next access unit (decode order); returns the sequence number
    /// of the segment it closed, if any.
    pub fn push(&mut self, unit: AccessUnit) -> Result<Option<u64>, MediaError> {
        let Some(first) = self.pending.first() else {
            if unit.keyframe {
                self.pending.push(unit);
            }
            return Ok(None);
        };
        let last_dts = self.pending.last().map_or(first.dts, |u| u.dts);
        let interval = unit
            .dts
            .checked_sub(last_dts)
            .and_then(|d| u64::try_from(d).ok())
            .filter(|&d| d > 0)
            .ok_or_else(|| MediaError::invalid("access unit", "dts not increasing"))?;
        self.frame_duration = interval;
        let spans = u64::try_from(unit.dts.saturating_sub(first.dts)).unwrap_or(0);
        let closed = if unit.keyframe && spans >= self.min_duration {
            Some(self.close(unit.dts)?)
        } else {
            None
        };
        self.pending.push(unit);
        Ok(closed)
    }

    /// Adds a whole GOP and closes its segment at once (if the minimum
    /// duration is reached), giving its last frame the last frame interval,
    /// rather than waiting for the next keyframe. Returns the closed segment's sequence.
    pub fn push_gop(&mut self, gop: &Gop) -> Result<Option<u64>, MediaError> {
        let mut closed = None;
        for unit in &gop.units {
            closed = self.push(unit.clone())?.or(closed);
        }
        let Some(first) = self.pending.first() else {
            return Ok(closed);
        };
        let end = self.estimated_end()?;
        if u64::try_from(end.saturating_sub(first.dts)).unwrap_or(0) >= self.min_duration {
            closed = Some(self.close(end)?);
        }
        Ok(closed)
    }

    /// Closes what is pending (end of stream) and marks the playlist ended
    /// (`EXT-X-ENDLIST`). Returns the closed segment's sequence, if any.
    pub fn finish(&mut self) -> Result<Option<u64>, MediaError> {
        self.ended = true;
        if self.pending.is_empty() {
            return Ok(None);
        }
        let end = self.estimated_end()?;
        self.close(end).map(Some)
    }

    /// The segments in the window, oldest first.
    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    /// The segment numbered `sequence`, if still in the window.
    pub fn segment(&self, sequence: u64) -> Option<&Segment> {
        let first = self.segments.front()?.sequence;
        self.segments
            .get(usize::try_from(sequence.checked_sub(first)?).ok()?)
    }

    /// The media playlist describing the window now.
    pub fn playlist(&self) -> MediaPlaylist {
        MediaPlaylist {
            target_duration: self.target_duration,
            media_sequence: self
                .segments
                .front()
                .map_or(self.next_sequence, |s| s.sequence),
            init_uri: INIT_URI.to_owned(),
            entries: self
                .segments
                .iter()
                .map(|s| PlaylistEntry {
                    uri: s.uri(),
                    duration_secs: s.duration_secs(),
                })
                .collect(),
            ended: self.ended,
        }
    }

    fn estimated_end(&self) -> Result<i64, MediaError> {
        let last = self.pending.last().map_or(0, |u| u.dts);
        i64::try_from(self.frame_duration)
            .ok()
            .and_then(|d| last.checked_add(d))
            .ok_or_else(|| MediaError::invalid("access unit", "dts overflow"))
    }

    /// Muxes the pending units into a segment ending at `end_dts`.
    fn close(&mut self, end_dts: i64) -> Result<u64, MediaError> {
        let first_dts = self.pending.first().map_or(0, |u| u.dts);
        let base_decode_time = u64::try_from(first_dts)
            .map_err(|_| MediaError::invalid("access unit", "negative dts"))?;
        let sequence = self.next_sequence;
        // mfhd holds 32 bits; wrapping is harmless, players order by playlist.
        let data = fmp4::media_segment(sequence as u32, &self.pending, base_decode_time, end_dts)?;
        let units = std::mem::take(&mut self.pending);
        let duration = u64::try_from(end_dts.saturating_sub(first_dts)).unwrap_or(0);
        let ticks = u64::from(CLOCK_RATE);
        // EXTINF rounded must not exceed the target; never lower it while live.
        self.target_duration = self.target_duration.max(duration.div_ceil(ticks));
        self.segments.push_back(Segment {
            sequence,
            base_decode_time,
            duration,
            frames: units.len(),
            data,
        });
        while self.segments.len() > self.capacity {
            self.segments.pop_front();
        }
        self.next_sequence += 1;
        Ok(sequence)
    }
}

/// One `#EXTINF` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct PlaylistEntry {
    /// Segment URI, relative to the playlist.
    pub uri: String,
    /// Real duration, seconds.
    pub duration_secs: f64,
}

/// An HLS media playlist for fMP4 segments.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaPlaylist {
    /// `EXT-X-TARGETDURATION`, whole seconds.
    pub target_duration: u64,
    /// `EXT-X-MEDIA-SEQUENCE`: sequence number of the first entry.
    pub media_sequence: u64,
    /// `EXT-X-MAP` URI of the init segment.
    pub init_uri: String,
    /// The segments, oldest first.
    pub entries: Vec<PlaylistEntry>,
    /// Whether to end with `EXT-X-ENDLIST` (no more segments will come).
    pub ended: bool,
}

impl MediaPlaylist {
    /// The playlist text.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for MediaPlaylist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "#EXTM3U")?;
        // Version 7: EXT-X-MAP in a media playlist without I-frames only (6+).
        writeln!(f, "#EXT-X-VERSION:7")?;
        writeln!(f, "#EXT-X-TARGETDURATION:{}", self.target_duration)?;
        writeln!(f, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence)?;
        writeln!(f, "#EXT-X-INDEPENDENT-SEGMENTS")?;
        writeln!(f, "#EXT-X-MAP:URI=\"{}\"", self.init_uri)?;
        for entry in &self.entries {
            writeln!(f, "#EXTINF:{:.3},", entry.duration_secs)?;
            writeln!(f, "{}", entry.uri)?;
        }
        if self.ended {
            writeln!(f, "#EXT-X-ENDLIST")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::fmp4::tests::h264_metadata;

    fn unit(n: i64, keyframe: bool) -> AccessUnit {
        AccessUnit {
            pts: n * 3600,
            dts: n * 3600,
            keyframe,
            data: Bytes::from_static(&[0, 0, 0, 2, 0x41, 0x9a]),
            ingest_unix_us: 0,
        }
    }

    #[test]
    fn cuts_one_segment_per_gop_and_slides() {
        let mut w = SegmentWindow::new(&h264_metadata())
            .unwrap()
            .with_capacity(2);
        assert_eq!(
            w.push(unit(-1, false)).unwrap(),
            None,
            "dropped: no keyframe yet"
        );
        let mut closed = vec![];
        for n in 0..200 {
            closed.extend(w.push(unit(n, n % 50 == 0)).unwrap());
        }
        assert_eq!(closed, vec![1, 2, 3]);
        assert_eq!(w.finish().unwrap(), Some(4));
        let segs: Vec<_> = w
            .segments()
            .map(|s| (s.sequence, s.frames, s.duration))
            .collect();
        assert_eq!(segs, vec![(3, 50, 180_000), (4, 50, 180_000)]);
        assert!(w.segment(2).is_none() && w.segment(4).is_some());
        let text = w.playlist().render();
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:3\n\
             #EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"init.mp4\"\n\
             #EXTINF:2.000,\nsegment-3.m4s\n#EXTINF:2.000,\nsegment-4.m4s\n#EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn merges_short_gops_up_to_the_minimum_and_takes_whole_gops() {
        let mut w = SegmentWindow::new(&h264_metadata())
            .unwrap()
            .with_min_duration(4 * u64::from(CLOCK_RATE));
        for n in 0..250 {
            w.push(unit(n, n % 25 == 0)).unwrap();
        }
        let frames: Vec<_> = w.segments().map(|s| s.frames).collect();
        assert_eq!(frames, vec![100, 100]);
        assert_eq!(w.playlist().target_duration, 4);

        let mut w = SegmentWindow::new(&h264_metadata()).unwrap();
        let gop = Gop {
            units: (0..10).map(|n| unit(n, n == 0)).collect(),
        };
        assert_eq!(w.push_gop(&gop).unwrap(), Some(1));
        assert_eq!(w.segment(1).unwrap().duration, 36_000);
    }

    #[test]
    fn refuses_time_going_backwards() {
        let mut w = SegmentWindow::new(&h264_metadata()).unwrap();
        w.push(unit(5, true)).unwrap();
        assert!(w.push(unit(4, false)).is_err());
        assert!(w.push(unit(5, false)).is_err());
    }
}
