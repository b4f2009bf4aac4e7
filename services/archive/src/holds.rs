//! Holds: recordings an approved retrieval request (R16, R17) needs are
//! kept past their retention until the request expires. The archive does
//! not know the retrieval workflow; the node hands it a [`Holds`] that
//! says which devices and ranges are held now, and by which request.

use std::future::Future;
use std::pin::Pin;

/// A future the [`Holds`] trait returns.
pub type HoldsFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Hold>, String>> + Send + 'a>>;

/// Devices and a recorded range held by one request until it lapses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The request that holds them.
    pub request_id: String,
    /// The devices held.
    pub device_ids: Vec<String>,
    /// Start of the held range, Unix ms.
    pub from_unix_ms: i64,
    /// End of the held range, Unix ms.
    pub to_unix_ms: i64,
    /// When the hold ends (the request's expiry), Unix ms.
    pub until_unix_ms: i64,
}

impl Hold {
    /// Whether this hold covers any part of `device_id`'s `[start, end]`
    /// at `now` (all Unix ms).
    pub fn covers(&self, device_id: &str, start: i64, end: i64, now: i64) -> bool {
        now < self.until_unix_ms
            && self.device_ids.iter().any(|d| d == device_id)
            && start <= self.to_unix_ms
            && end >= self.from_unix_ms
    }
}

/// What is held now. An error makes the archive delete nothing on that
/// pass (a hold it cannot see must not be broken).
pub trait Holds: Send + Sync {
    /// The holds in force (expired ones may be included: [`Hold::covers`]
    /// checks the time).
    fn active(&self) -> HoldsFuture<'_>;
}

/// No holds (a node without a retrieval service, tests).
pub struct NoHolds;

impl Holds for NoHolds {
    fn active(&self) -> HoldsFuture<'_> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// The request holding `device_id`'s `[start, end]` at `now`, if any.
pub fn held_by<'a>(
    holds: &'a [Hold],
    device_id: &str,
    start: i64,
    end: i64,
    now: i64,
) -> Option<&'a str> {
    holds
        .iter()
        .find(|h| h.covers(device_id, start, end, now))
        .map(|h| h.request_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_covers_its_devices_and_overlapping_ranges_until_it_lapses() {
        let hold = Hold {
            request_id: "r".into(),
            device_ids: vec!["a".into()],
            from_unix_ms: 100,
            to_unix_ms: 200,
            until_unix_ms: 1000,
        };
        assert!(hold.covers("a", 150, 300, 0));
        assert!(hold.covers("a", 0, 100, 0));
        assert!(hold.covers("a", 200, 250, 999));
        assert!(!hold.covers("a", 201, 300, 0), "after the range");
        assert!(!hold.covers("a", 0, 99, 0), "before the range");
        assert!(!hold.covers("b", 150, 160, 0), "another device");
        assert!(!hold.covers("a", 150, 160, 1000), "lapsed");
        assert_eq!(held_by(&[hold], "a", 150, 160, 0), Some("r"));
    }
}
