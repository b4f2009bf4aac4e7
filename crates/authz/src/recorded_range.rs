//! The time range of a playback request (`?start=<RFC 3339>&end=<RFC
//! 3339>`), parsed once for the HTTP guard (which checks it against the
//! viewer's grants, R13) and for the playback handlers (which serve it), so
//! both read the same range.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The value of `name` in a query string.
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Parses an RFC 3339 time from the query (`%3A` and `+`/`%2B` decoded),
/// as Unix ms; the error names the field.
fn time_param(query: &str, name: &'static str) -> Result<i64, String> {
    let raw = query_param(query, name)
        .ok_or_else(|| format!("{name}: required, an RFC 3339 time (e.g. 2026-12-02T14:00:00Z)"))?;
    let decoded = raw
        .replace("%3A", ":")
        .replace("%3a", ":")
        .replace("%2B", "+")
        .replace("%2b", "+");
    let t = OffsetDateTime::parse(&decoded, &Rfc3339).map_err(|e| {
        format!(
            "{name}: {:?} is not an RFC 3339 time ({e})",
            raw.chars().take(64).collect::<String>()
        )
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("{name}: out of range"))
}

/// `[start, end)` of a playback query, Unix ms; `end` after `start` and at
/// most `max_ms` later. Each error names the field and the rule.
pub fn recorded_range(query: &str, max_ms: i64) -> Result<(i64, i64), String> {
    let start = time_param(query, "start")?;
    let end = time_param(query, "end")?;
    if end <= start {
        return Err("end: must be after start".into());
    }
    if end - start > max_ms {
        return Err(format!(
            "end: at most {} after start",
            if max_ms % 3_600_000 == 0 {
                format!("{} h", max_ms / 3_600_000)
            } else {
                format!("{} s", max_ms / 1000)
            }
        ));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_bounds_ranges() {
        let q = "start=2026-12-02T14:00:00Z&end=2026-12-02T14%3A00%3A10%2B00:00&token=x";
        assert_eq!(
            recorded_range(q, 3_600_000),
            Ok((1_796_220_000_000, 1_796_220_010_000))
        );
        assert!(
            recorded_range("end=2026-12-02T14:00:00Z", 1).is_err_and(|e| e.starts_with("start:"))
        );
        assert!(
            recorded_range("start=2026-12-02T14:00:00Z&end=x", 1)
                .is_err_and(|e| e.starts_with("end:"))
        );
        let q = "start=2026-12-02T14:00:10Z&end=2026-12-02T14:00:00Z";
        assert!(recorded_range(q, 3_600_000).is_err_and(|e| e.contains("after start")));
        let q = "start=2026-12-02T14:00:00Z&end=2026-12-02T16:00:00Z";
        assert_eq!(
            recorded_range(q, 3_600_000),
            Err("end: at most 1 h after start".into())
        );
    }
}
