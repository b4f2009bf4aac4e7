//! Frame rate and bitrate measured over a sliding window of arrivals.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Arrivals (time, payload bytes) within the last `length`, and the rates
/// they make.
#[derive(Debug, Clone)]
pub struct RateWindow {
    length: Duration,
    arrivals: VecDeque<(Instant, usize)>,
}

impl RateWindow {
    /// An empty window of `length`.
    pub fn new(length: Duration) -> Self {
        Self {
            length,
            arrivals: VecDeque::new(),
        }
    }

    /// Records `bytes` arriving at `now`.
    pub fn add(&mut self, now: Instant, bytes: usize) {
        self.arrivals.push_back((now, bytes));
        self.prune(now);
    }

    fn prune(&mut self, now: Instant) {
        while self
            .arrivals
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > self.length)
        {
            self.arrivals.pop_front();
        }
    }

    /// Arrivals per second and bits per second as of `now` (0 without two
    /// recent arrivals): the span between the first and the last arrival
    /// holds `n - 1` intervals, and the bytes of all but the first.
    pub fn rates(&mut self, now: Instant) -> (f64, u64) {
        self.prune(now);
        let (Some((first, _)), Some((last, _))) = (self.arrivals.front(), self.arrivals.back())
        else {
            return (0.0, 0);
        };
        let span = last.saturating_duration_since(*first).as_secs_f64();
        if self.arrivals.len() < 2 || span <= 0.0 {
            return (0.0, 0);
        }
        // Counts and byte sums far below 2^52: exact as f64.
        #[allow(clippy::cast_precision_loss)]
        let intervals = (self.arrivals.len() - 1) as f64;
        let bits: usize = self.arrivals.iter().skip(1).map(|(_, b)| b * 8).sum();
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let bps = (bits as f64 / span) as u64;
        (intervals / span, bps)
    }

    /// Bits per second as of `now`.
    pub fn bitrate_bps(&mut self, now: Instant) -> u64 {
        self.rates(now).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_window() {
        let mut w = RateWindow::new(Duration::from_secs(5));
        let start = Instant::now();
        for i in 0..26u32 {
            w.add(start + Duration::from_millis(40) * i, 1000);
        }
        let (fps, bps) = w.rates(start + Duration::from_secs(1));
        assert!((fps - 25.0).abs() < 0.01, "{fps}");
        assert_eq!(bps, 200_000);
        assert_eq!(w.rates(start + Duration::from_secs(10)), (0.0, 0));
    }
}
