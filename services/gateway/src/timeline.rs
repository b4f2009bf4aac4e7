//! One continuous 90 kHz timeline across RTSP sessions.
//!
//! Every RTSP session starts its own RTP clock. Subscribers (the relay, a
//! recorder) want timestamps that keep increasing across reconnects, so each
//! new session is placed after the last delivered frame, shifted by the
//! wall-clock time the outage lasted. `PullEvent::Metadata { new_session: true }`
//! still tells them where the discontinuity is.
//!
//! The first session starts at [`ORIGIN`] rather than 0, so that the decode
//! times synthesized before the first picture of a stream with B-frames
//! (a few frames earlier) are not negative: fMP4 decode times are unsigned.

use std::time::Instant;

use vfed_media::CLOCK_RATE;

/// The output time of the first frame of the first session: 10 s.
pub(crate) const ORIGIN: i64 = 10 * CLOCK_RATE as i64;

/// Maps session timestamps (in the stream's clock) to output timestamps (90 kHz).
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    /// Added to a session's 90 kHz elapsed time; `None` until the session's
    /// first frame.
    offset: Option<i64>,
    /// The largest output timestamp so far and when it was delivered.
    last: Option<(i64, Instant)>,
}

impl Timeline {
    /// Starts a new session: its first frame decides its offset.
    pub(crate) fn new_session(&mut self) {
        self.offset = None;
    }

    /// The output timestamp of a frame `elapsed` ticks of `clock_rate` into the session.
    pub(crate) fn map(&mut self, elapsed: i64, clock_rate: u32, now: Instant) -> i64 {
        let ticks = rescale(elapsed, clock_rate);
        let offset = *self.offset.get_or_insert_with(|| match self.last {
            None => ORIGIN - ticks,
            Some((last, at)) => {
                let gap = now.saturating_duration_since(at);
                let gap_ticks = i64::try_from(gap.as_micros() * u128::from(CLOCK_RATE) / 1_000_000)
                    .unwrap_or(i64::MAX / 4);
                last.saturating_add(gap_ticks.max(1)).saturating_sub(ticks)
            }
        });
        let out = ticks.saturating_add(offset);
        if self.last.is_none_or(|(last, _)| out > last) {
            self.last = Some((out, now));
        }
        out
    }

    /// Notes that `out` was delivered in place of a mapped time (a re-timed
    /// frame), so that the next session continues after it.
    pub(crate) fn delivered(&mut self, out: i64, now: Instant) {
        if self.last.is_none_or(|(last, _)| out > last) {
            self.last = Some((out, now));
        }
    }
}

/// `value` ticks of `clock_rate` in 90 kHz ticks.
fn rescale(value: i64, clock_rate: u32) -> i64 {
    if clock_rate == CLOCK_RATE || clock_rate == 0 {
        return value;
    }
    let scaled = i128::from(value) * i128::from(CLOCK_RATE) / i128::from(clock_rate);
    i64::try_from(scaled).unwrap_or(if scaled < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn first_session_starts_at_the_origin_and_keeps_its_spacing() {
        let mut t = Timeline::default();
        let now = Instant::now();
        t.new_session();
        assert_eq!(t.map(1000, CLOCK_RATE, now), ORIGIN);
        assert_eq!(t.map(4600, CLOCK_RATE, now), ORIGIN + 3600);
    }

    #[test]
    fn a_new_session_continues_after_the_outage() {
        let mut t = Timeline::default();
        let start = Instant::now();
        t.new_session();
        t.map(0, CLOCK_RATE, start);
        let last = t.map(90_000, CLOCK_RATE, start);
        t.new_session();
        // The camera restarted its clock; two seconds passed.
        let first = t.map(500, CLOCK_RATE, start + Duration::from_secs(2));
        assert_eq!(first, last + 180_000);
        assert_eq!(
            t.map(4100, CLOCK_RATE, start + Duration::from_secs(2)),
            first + 3600
        );
    }

    #[test]
    fn a_session_after_retimed_frames_continues_after_them() {
        let mut t = Timeline::default();
        let start = Instant::now();
        t.new_session();
        let first = t.map(0, CLOCK_RATE, start);
        t.map(0, CLOCK_RATE, start);
        t.delivered(first + 90_000, start);
        t.new_session();
        assert_eq!(t.map(0, CLOCK_RATE, start), first + 90_001);
    }

    #[test]
    fn other_clock_rates_are_rescaled() {
        assert_eq!(rescale(1000, 1000), 90_000);
        assert_eq!(rescale(-45, 45_000), -90);
    }
}
