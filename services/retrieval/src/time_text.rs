//! Unix seconds as text in messages.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `t` as RFC 3339 UTC, or `unix <t>` when out of range.
pub fn at(t: i64) -> String {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| d.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("unix {t}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::at(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::at(i64::MAX), format!("unix {}", i64::MAX));
    }
}
