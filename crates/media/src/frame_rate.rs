//! Measuring a stream's frame rate from its timestamps, for streams whose
//! parameter sets signal none ([`crate::StreamMetadata::signalled_fps_milli`]).

use crate::model::CLOCK_RATE;

/// Frames looked at per measurement (a third of a second at 25 fps).
const SAMPLES: usize = 9;

/// Measures a frame rate from presentation times (90 kHz): the median
/// interval between consecutive distinct times of the first frames, sorted
/// so that reordered (B-) frames do not matter and a lost frame does not
/// halve the result.
#[derive(Clone, Debug, Default)]
pub struct FrameRateProbe {
    pts: Vec<i64>,
    done: bool,
}

impl FrameRateProbe {
    /// A probe that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next frame's presentation time. Returns the frame rate
    /// ×1000 once, when enough frames were seen; `None` before and after.
    pub fn push(&mut self, pts: i64) -> Option<u32> {
        if self.done {
            return None;
        }
        self.pts.push(pts);
        if self.pts.len() < SAMPLES {
            return None;
        }
        let mut times = std::mem::take(&mut self.pts);
        times.sort_unstable();
        times.dedup();
        let mut gaps: Vec<i64> = times
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .collect();
        gaps.sort_unstable();
        // No two distinct times: nothing to measure yet; start over.
        let median = u64::try_from(*gaps.get(gaps.len() / 2)?).ok()?;
        self.done = true;
        u32::try_from(u64::from(CLOCK_RATE) * 1000 / median)
            .ok()
            .filter(|&f| f > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measure(times: impl IntoIterator<Item = i64>) -> Option<u32> {
        let mut probe = FrameRateProbe::new();
        let mut result = None;
        for t in times {
            if let Some(f) = probe.push(t) {
                assert!(result.is_none(), "measured twice");
                result = Some(f);
            }
        }
        result
    }

    #[test]
    fn measures_regular_reordered_and_lossy_timelines() {
        assert_eq!(measure((0..20).map(|n| 1000 + n * 3600)), Some(25_000));
        assert_eq!(measure((0..20).map(|n| n * 3003)), Some(29_970));
        assert_eq!(measure((0..20).map(|n| n * 7200)), Some(12_500));
        // Decode order of IBBP...: presentation times out of order.
        let reordered = [0, 3, 1, 2, 6, 4, 5, 9, 7, 8, 12, 10, 11];
        assert_eq!(measure(reordered.map(|n| n * 3000)), Some(30_000));
        // Two frames lost, one repeated: the median interval still holds.
        let lossy = [0, 1, 2, 4, 5, 6, 6, 7, 10, 11, 12];
        assert_eq!(measure(lossy.map(|n| n * 3600)), Some(25_000));
    }

    #[test]
    fn needs_distinct_times_and_never_panics() {
        assert_eq!(measure([5; 30]), None);
        assert_eq!(measure([0, 1]), None);
        assert_eq!(
            measure([i64::MIN, i64::MAX, 0, 1, 2, 3, 4, 5, 6]),
            Some(90_000_000)
        );
        let mut probe = FrameRateProbe::new();
        for t in [i64::MAX, i64::MIN].repeat(10) {
            let _ = probe.push(t);
        }
    }
}
