//! Timestamps RTP does not give, or gives wrong.
//!
//! - [`DecodeTimes`]: RTP carries presentation times only. A stream with
//!   B-frames sends pictures in decode order with presentation times out of
//!   order, and fMP4 needs increasing decode times. They are synthesized
//!   from the reorder depth `N` the SPS signals (`max_num_reorder_frames`,
//!   `sps_max_num_reorder_pics`): the `i`-th picture in decode order is
//!   given the `(i-N)`-th smallest presentation time. With at most `N`
//!   pictures before any picture in decode order and after it in output
//!   order, that time is already known when picture `i` arrives (nothing is
//!   delayed), never exceeds its presentation time, and never decreases.
//!   The first `N` pictures of a session get times one frame apart before
//!   the first one.
//! - [`Retimer`]: some cameras send every packet with the same RTP timestamp,
//!   or timestamps that jump ahead of the clock. Such a stream is re-timed
//!   from its frame rate (signalled by the SPS/VUI or the SDP, else measured
//!   from the arrival times) from the first broken timestamp on, and kept
//!   within a second of the arrival clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;

use crate::frame_rate::FrameRateProbe;
use crate::model::CLOCK_RATE;

/// The largest reorder depth H.264 and H.265 allow (a 16-picture DPB).
pub const MAX_REORDER: usize = 16;

/// One second in 90 kHz ticks.
const SECOND: i64 = CLOCK_RATE as i64;

/// The frame interval (90 kHz ticks) of a frame rate ×1000, or 25 fps's
/// when it is unknown.
pub fn frame_ticks(fps_milli: u32) -> i64 {
    match fps_milli {
        0 => SECOND / 25,
        fps => (SECOND * 1000 / i64::from(fps)).max(1),
    }
}

/// Decode times for one stream's pictures, in decode order.
///
/// When the depth is not signalled (H.264 Main/High without
/// `bitstream_restriction`), it starts at 0 and grows to what the
/// presentation times show: the picture that reveals it gets the next tick
/// after the previous decode time (a negative composition offset, which
/// fMP4 `trun` version 1 carries), and the pictures after it are timed as
/// above.
#[derive(Clone, Debug)]
pub struct DecodeTimes {
    depth: usize,
    /// Whether the depth is learned from the stream rather than signalled.
    learning: bool,
    frame_ticks: i64,
    /// Presentation times seen and not yet used as a decode time.
    pending: BinaryHeap<Reverse<i64>>,
    /// The last presentation times, to learn the depth from.
    recent: VecDeque<i64>,
    /// Presentation time of the session's first picture.
    first_pts: Option<i64>,
    /// Pictures seen in this session.
    seen: usize,
    /// The last decode time given, across sessions.
    last: Option<i64>,
}

impl Default for DecodeTimes {
    fn default() -> Self {
        Self {
            depth: 0,
            learning: true,
            frame_ticks: SECOND / 25,
            pending: BinaryHeap::new(),
            recent: VecDeque::new(),
            first_pts: None,
            seen: 0,
            last: None,
        }
    }
}

impl DecodeTimes {
    /// Decode times for a stream that has not started.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a session (the first, or after a reconnect or a parameter
    /// change at a keyframe): `reorder` is the depth the SPS signals (`None`:
    /// not signalled, learned), `frame_ticks` the frame interval. Decode
    /// times keep increasing across sessions.
    pub fn start(&mut self, reorder: Option<u32>, frame_ticks: i64) {
        let signalled = reorder.map(|r| usize::try_from(r).unwrap_or(MAX_REORDER).min(MAX_REORDER));
        self.depth = signalled.unwrap_or(0);
        self.learning = signalled.is_none();
        self.frame_ticks = frame_ticks.max(1);
        self.pending.clear();
        self.recent.clear();
        self.first_pts = None;
        self.seen = 0;
    }

    /// The reorder depth used now.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The decode time of the next picture (decode order), given its
    /// presentation time.
    pub fn next(&mut self, pts: i64) -> i64 {
        if self.learning {
            let later = self.recent.iter().filter(|&&p| p > pts).count();
            self.depth = self.depth.max(later.min(MAX_REORDER));
            if self.recent.len() == MAX_REORDER {
                self.recent.pop_front();
            }
            self.recent.push_back(pts);
        }
        let first = *self.first_pts.get_or_insert(pts);
        self.pending.push(Reverse(pts));
        let candidate = if self.pending.len() > self.depth {
            // Every picture of a smaller presentation time has arrived.
            let mut min = pts;
            while self.pending.len() > self.depth {
                if let Some(Reverse(p)) = self.pending.pop() {
                    min = p;
                }
            }
            min
        } else if self.seen < self.depth {
            // The session's first pictures: one frame apart before the first.
            let before = i64::try_from(self.depth - self.seen).unwrap_or(i64::MAX);
            first.saturating_sub(before.saturating_mul(self.frame_ticks))
        } else {
            // The depth just grew: no time is known to be free yet.
            i64::MIN
        };
        self.seen += 1;
        let dts = match self.last {
            Some(last) => candidate.max(last.saturating_add(1)),
            None => candidate,
        };
        self.last = Some(dts);
        dts
    }
}

/// What was wrong with a stream's RTP timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampFault {
    /// Two pictures carried the same timestamp.
    Constant,
    /// The timestamps ran ahead of the clock by this many 90 kHz ticks in one step.
    Jump(i64),
}

impl fmt::Display for TimestampFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Constant => f.write_str("RTP timestamps constant"),
            Self::Jump(ticks) => write!(
                f,
                "RTP timestamps jumped {:.1} s ahead of the clock",
                *ticks as f64 / f64::from(CLOCK_RATE)
            ),
        }
    }
}

/// Where a re-timed stream's frame rate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateSource {
    /// The stream's parameter sets (SPS/VUI, or the VPS) or its SDP.
    Signalled,
    /// The frames' arrival times.
    Arrival,
}

/// A re-timed stream: what was wrong, and the frame rate used now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retiming {
    /// The fault that started the re-timing.
    pub fault: TimestampFault,
    /// Frames per second ×1000 used now.
    pub fps_milli: u32,
    /// Where that rate comes from.
    pub source: RateSource,
}

impl fmt::Display for Retiming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fps = f64::from(self.fps_milli) / 1000.0;
        let source = match self.source {
            RateSource::Signalled => "the stream's signalled rate",
            RateSource::Arrival => "the arrival times",
        };
        write!(f, "{}: re-timed at {fps:.2} fps from {source}", self.fault)
    }
}

/// Replaces broken presentation times of one session by frame-rate times.
#[derive(Clone, Debug)]
pub struct Retimer {
    /// The frame interval and whether it was signalled.
    frame_ticks: i64,
    signalled: bool,
    /// Measures the arrival rate while none is signalled.
    arrival_probe: Option<FrameRateProbe>,
    /// The last input presentation time and its arrival (90 kHz ticks).
    last_in: Option<(i64, i64)>,
    /// The last output time.
    last_out: Option<i64>,
    /// Once broken: the fault, and the output time, arrival and frame
    /// count the re-timing is measured from.
    broken: Option<Broken>,
}

#[derive(Clone, Copy, Debug)]
struct Broken {
    fault: TimestampFault,
    out: i64,
    arrival: i64,
    frames: i64,
}

impl Retimer {
    /// A retimer for a session whose signalled frame rate is `fps_milli`
    /// (0: unknown, measured from the arrival times if needed).
    pub fn new(fps_milli: u32) -> Self {
        Self {
            frame_ticks: frame_ticks(fps_milli),
            signalled: fps_milli != 0,
            arrival_probe: (fps_milli == 0).then(FrameRateProbe::new),
            last_in: None,
            last_out: None,
            broken: None,
        }
    }

    /// The re-timing in effect, if the timestamps were found broken.
    pub fn retiming(&self) -> Option<Retiming> {
        let fault = self.broken?.fault;
        let fps_milli = u32::try_from(SECOND * 1000 / self.frame_ticks.max(1)).unwrap_or(u32::MAX);
        Some(Retiming {
            fault,
            fps_milli,
            source: if self.signalled {
                RateSource::Signalled
            } else {
                RateSource::Arrival
            },
        })
    }

    /// The presentation time to use for a picture that carried `pts` and
    /// arrived at `arrival` (both 90 kHz ticks; the arrival on any
    /// monotonic clock). `reorder_window`: how far (ticks) a reordered
    /// picture may lie before the latest one.
    pub fn pts(&mut self, pts: i64, arrival: i64) -> i64 {
        if let Some(probe) = self.arrival_probe.as_mut()
            && let Some(fps) = probe.push(arrival)
        {
            self.arrival_probe = None;
            self.frame_ticks = frame_ticks(fps);
        }
        if self.broken.is_none()
            && let Some((last_pts, last_arrival)) = self.last_in
        {
            let step = pts.saturating_sub(last_pts);
            let elapsed = arrival.saturating_sub(last_arrival);
            let fault = if step == 0 {
                Some(TimestampFault::Constant)
            } else if step.saturating_sub(elapsed) > SECOND {
                Some(TimestampFault::Jump(step.saturating_sub(elapsed)))
            } else {
                None
            };
            if let Some(fault) = fault {
                self.broken = Some(Broken {
                    fault,
                    out: self.last_out.unwrap_or(last_pts),
                    arrival: last_arrival,
                    frames: 0,
                });
            }
        }
        self.last_in = Some((pts, arrival));
        let out = match self.broken.as_mut() {
            None => pts,
            Some(b) => {
                b.frames += 1;
                let last = self.last_out.unwrap_or(b.out);
                // Keep within a second of the arrival clock: a camera that
                // sends faster or slower than it says sets the rate.
                let elapsed = arrival.saturating_sub(b.arrival);
                let media = last.saturating_add(self.frame_ticks).saturating_sub(b.out);
                if (media - elapsed).abs() > SECOND && elapsed > 0 {
                    self.frame_ticks = (elapsed / b.frames).clamp(SECOND / 1000, 10 * SECOND);
                    self.signalled = false;
                }
                last.saturating_add(self.frame_ticks)
            }
        };
        self.last_out = Some(out);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FRAME: i64 = 3600;

    fn decode_times(depth: Option<u32>, order: &[i64]) -> Vec<i64> {
        let mut d = DecodeTimes::new();
        d.start(depth, FRAME);
        order.iter().map(|&n| d.next(n * FRAME)).collect()
    }

    /// Checks what a decoder needs: increasing, never after the presentation time.
    fn check(order: &[i64], dts: &[i64]) {
        for (i, (&n, &d)) in order.iter().zip(dts).enumerate() {
            assert!(d <= n * FRAME, "dts {d} after pts {} at {i}", n * FRAME);
            if i > 0 {
                assert!(d > dts[i - 1], "dts not increasing at {i}: {dts:?}");
            }
        }
    }

    #[test]
    fn without_reordering_decode_times_are_presentation_times() {
        let order: Vec<i64> = (0..10).collect();
        let dts = decode_times(Some(0), &order);
        assert_eq!(dts, order.iter().map(|n| n * FRAME).collect::<Vec<_>>());
    }

    #[test]
    fn two_b_frames_in_decode_order() {
        // I0 P3 B1 B2 P6 B4 B5 I9 B7 B8 (ffmpeg -bf 2), depth 1 (x264 says 2).
        let order = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8];
        for depth in [1, 2, 4] {
            let dts = decode_times(Some(depth), &order);
            check(&order, &dts);
            let d = i64::from(depth);
            assert_eq!(dts[0], -d * FRAME, "first frames before the first pts");
            assert_eq!(dts[usize::try_from(depth).unwrap_or(0)], 0);
        }
        // Depth 2, as x264 signals for -bf 2 with b-pyramid: exact times.
        let dts = decode_times(Some(2), &order);
        assert_eq!(
            dts.iter().map(|d| d / FRAME).collect::<Vec<_>>(),
            [-2, -1, 0, 1, 2, 3, 4, 5, 6, 7]
        );
    }

    #[test]
    fn pyramid_and_open_gop_orders() {
        // B-pyramid: I0 P4 B2 b1 b3 P8 B6 b5 b7, depth 2.
        let order = [0, 4, 2, 1, 3, 8, 6, 5, 7, 12, 10, 9, 11];
        let dts = decode_times(Some(2), &order);
        check(&order, &dts);
    }

    #[test]
    fn an_unsignalled_depth_is_learned() {
        let order = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 12, 10, 11];
        let mut d = DecodeTimes::new();
        d.start(None, FRAME);
        let dts: Vec<i64> = order.iter().map(|&n| d.next(n * FRAME)).collect();
        assert_eq!(d.depth(), 1);
        for w in dts.windows(2) {
            assert!(w[1] > w[0], "{dts:?}");
        }
        // After the picture that revealed it, no decode time follows its pts.
        for (i, (&n, &t)) in order.iter().zip(&dts).enumerate().skip(4) {
            assert!(t <= n * FRAME, "at {i}: {dts:?}");
        }
    }

    #[test]
    fn decode_times_keep_increasing_across_sessions_and_bad_input() {
        let mut d = DecodeTimes::new();
        d.start(Some(2), FRAME);
        let a: Vec<i64> = [100, 103, 101, 102]
            .iter()
            .map(|&n| d.next(n * FRAME))
            .collect();
        // A reconnect whose first times lie close to the last session's.
        d.start(Some(2), FRAME);
        let b = d.next(103 * FRAME);
        assert!(b > a[3]);
        // Pictures that break the signalled depth, repeats, extremes: still increasing.
        let mut last = b;
        for p in [0, 0, i64::MAX, i64::MIN, 5, 5, -7] {
            let t = d.next(p);
            assert!(t > last || last == i64::MAX);
            last = t;
        }
        d.start(Some(u32::MAX), 0);
        assert_eq!(d.depth(), MAX_REORDER);
    }

    fn retime(r: &mut Retimer, frames: &[(i64, i64)]) -> Vec<i64> {
        frames.iter().map(|&(p, a)| r.pts(p, a)).collect()
    }

    #[test]
    fn good_timestamps_pass_through() {
        let mut r = Retimer::new(25_000);
        // Jitter and a burst after a network stall are not faults.
        let frames: Vec<(i64, i64)> = (0..50)
            .map(|n| {
                (
                    n * FRAME,
                    if n < 20 {
                        n * FRAME + 700
                    } else {
                        200_000 + n * 10
                    },
                )
            })
            .collect();
        let out = retime(&mut r, &frames);
        assert_eq!(out, frames.iter().map(|f| f.0).collect::<Vec<_>>());
        assert_eq!(r.retiming(), None);
        // B-frames going back in presentation order are no fault either.
        let mut r = Retimer::new(25_000);
        let order = [0, 3, 1, 2, 6, 4, 5];
        for (i, n) in order.iter().enumerate() {
            let arrival = i64::try_from(i).unwrap() * FRAME;
            assert_eq!(r.pts(n * FRAME, arrival), n * FRAME);
        }
        assert_eq!(r.retiming(), None);
    }

    #[test]
    fn constant_timestamps_are_retimed_from_the_signalled_rate() {
        let mut r = Retimer::new(25_000);
        let frames: Vec<(i64, i64)> = (0..100).map(|n| (777, n * FRAME)).collect();
        let out = retime(&mut r, &frames);
        assert_eq!(out, (0..100).map(|n| 777 + n * FRAME).collect::<Vec<_>>());
        let retiming = r.retiming().unwrap();
        assert_eq!(retiming.fault, TimestampFault::Constant);
        assert_eq!(
            (retiming.fps_milli, retiming.source),
            (25_000, RateSource::Signalled)
        );
        assert_eq!(
            retiming.to_string(),
            "RTP timestamps constant: re-timed at 25.00 fps from the stream's signalled rate"
        );
    }

    #[test]
    fn unsignalled_or_wrong_rates_follow_the_arrival_clock() {
        // No rate signalled, frames arrive at 10 fps.
        let mut r = Retimer::new(0);
        let frames: Vec<(i64, i64)> = (0..100).map(|n| (5, n * 9000)).collect();
        let out = retime(&mut r, &frames);
        assert_eq!(out[99] - out[98], 9000);
        assert_eq!(r.retiming().unwrap().source, RateSource::Arrival);
        // Signalled 25 fps, but frames come at 50 fps for a minute: the
        // media clock stays within about a second of the arrival clock.
        let mut r = Retimer::new(25_000);
        let frames: Vec<(i64, i64)> = (0..3000).map(|n| (0, n * 1800)).collect();
        let out = retime(&mut r, &frames);
        let drift = (out[2999] - out[0]) - 2999 * 1800;
        assert!(drift.abs() <= 2 * SECOND, "drift {drift}");
        assert!(out.windows(2).all(|w| w[1] > w[0]));
        assert_eq!(r.retiming().unwrap().source, RateSource::Arrival);
    }

    #[test]
    fn a_jump_ahead_of_the_clock_is_retimed() {
        let mut r = Retimer::new(25_000);
        let mut frames: Vec<(i64, i64)> = (0..10).map(|n| (n * FRAME, n * FRAME)).collect();
        frames.extend((10..20).map(|n| (n * FRAME + 3600 * SECOND, n * FRAME)));
        let out = retime(&mut r, &frames);
        assert_eq!(out, (0..20).map(|n| n * FRAME).collect::<Vec<_>>());
        assert!(matches!(
            r.retiming().unwrap().fault,
            TimestampFault::Jump(t) if t > 3599 * SECOND
        ));
    }
}
