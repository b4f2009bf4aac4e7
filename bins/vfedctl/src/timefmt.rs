//! Timestamps (unix milliseconds) as RFC 3339, as "3s ago", and durations.

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `ms` as RFC 3339 UTC; `None` for 0 (unset) or out-of-range values.
pub fn rfc3339(ms: i64) -> Option<String> {
    if ms == 0 {
        return None;
    }
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

/// How long before `now` the instant `ms` was: `3s ago`, `5m ago`, `never`
/// for 0, `in 2s` for (skewed) future instants.
pub fn ago(ms: i64, now: i64) -> String {
    if ms == 0 {
        return "never".to_owned();
    }
    let delta = now.saturating_sub(ms);
    if delta >= 0 {
        format!("{} ago", coarse(delta))
    } else {
        format!("in {}", coarse(delta.saturating_neg()))
    }
}

/// The largest unit of a duration: `45s`, `12m`, `3h`, `2d`.
fn coarse(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// A duration in milliseconds as `1h 2m 3s` (`0s` for less than a second).
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m, s) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (s, "s")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".to_owned()
    } else {
        parts.join(" ")
    }
}

/// `ms` as RFC 3339 followed by how long ago, or `-` when unset.
pub fn instant(ms: i64, now: i64) -> String {
    rfc3339(ms).map_or_else(|| "-".to_owned(), |t| format!("{t} ({})", ago(ms, now)))
}

/// Unix seconds as RFC 3339 UTC; `-` for 0 or out-of-range values.
pub fn unix_seconds(seconds: i64) -> String {
    rfc3339(seconds.saturating_mul(1000)).unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(rfc3339(0), None);
        assert_eq!(
            rfc3339(1_700_000_000_123).as_deref(),
            Some("2023-11-14T22:13:20.123Z")
        );
        assert_eq!(ago(10_000, 13_500), "3s ago");
        assert_eq!(ago(0, 13_500), "never");
        assert_eq!(ago(1, 7_200_001), "2h ago");
        assert_eq!(ago(5_000, 1_000), "in 4s");
        assert_eq!(duration(3_723_000), "1h 2m 3s");
        assert_eq!(duration(500), "0s");
        assert_eq!(duration(90_061_000), "1d 1h 1m 1s");
        assert_eq!(instant(0, 5), "-");
    }
}
