//! Reassembling a catalog sent over many MESSAGEs: pages are keyed by the
//! device and the query's SN, items deduplicated by their ID (a UDP
//! retransmission repeats a page), complete when SumNum items are in, and
//! reported incomplete after a timeout without a page, with what is missing.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::manscdp::{CatalogItem, CatalogPage};

/// How a catalog ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CatalogOutcome {
    /// SumNum items arrived.
    Complete,
    /// The timeout passed first.
    Incomplete {
        /// SumNum minus the items received, when SumNum was given.
        missing: Option<u32>,
        /// Why, in words.
        reason: String,
    },
}

/// A device's catalog, whole or as much as arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogReport {
    /// The device.
    pub device_id: String,
    /// The query's SN.
    pub sn: u32,
    /// SumNum, as the device declared it.
    pub sum_num: Option<u32>,
    /// Pages (MESSAGEs) received, retransmissions included.
    pub pages: u32,
    /// The items, in arrival order, each ID once.
    pub items: Vec<CatalogItem>,
    /// Complete or not, and why.
    pub outcome: CatalogOutcome,
}

#[derive(Debug)]
struct Pending {
    last: Instant,
    sum_num: Option<u32>,
    pages: u32,
    items: Vec<CatalogItem>,
    seen: HashSet<String>,
    dropped: usize,
}

impl Pending {
    fn new(now: Instant) -> Self {
        Self {
            last: now,
            sum_num: None,
            pages: 0,
            items: Vec::new(),
            seen: HashSet::new(),
            dropped: 0,
        }
    }
}

/// The catalogs being reassembled.
#[derive(Debug)]
pub struct Reassembler {
    pending: HashMap<(String, u32), Pending>,
    timeout: Duration,
    max_pending: usize,
    max_items: usize,
}

impl Reassembler {
    /// A reassembler; see [`crate::Options`] for the bounds.
    pub fn new(timeout: Duration, max_pending: usize, max_items: usize) -> Self {
        Self {
            pending: HashMap::new(),
            timeout,
            max_pending,
            max_items,
        }
    }

    /// A query was sent: its catalog is awaited (and reported as
    /// unanswered if no page comes). False when too many are pending.
    pub fn expect(&mut self, device_id: &str, sn: u32, now: Instant) -> bool {
        if self.pending.len() >= self.max_pending {
            return false;
        }
        self.pending
            .entry((device_id.to_owned(), sn))
            .or_insert_with(|| Pending::new(now));
        true
    }

    /// A page arrived from `device_id`; the whole catalog when this page
    /// completes it. Pages of catalogs beyond `max_pending` are dropped.
    pub fn page(
        &mut self,
        device_id: &str,
        page: CatalogPage,
        now: Instant,
    ) -> Option<CatalogReport> {
        let key = (device_id.to_owned(), page.sn);
        if !self.pending.contains_key(&key) && self.pending.len() >= self.max_pending {
            return None;
        }
        let pending = self
            .pending
            .entry(key.clone())
            .or_insert_with(|| Pending::new(now));
        pending.last = now;
        pending.pages = pending.pages.saturating_add(1);
        if page.sum_num.is_some() {
            pending.sum_num = page.sum_num;
        }
        for item in page.items {
            if pending.seen.contains(&item.device_id) {
                continue;
            }
            if pending.items.len() >= self.max_items {
                pending.dropped += 1;
                continue;
            }
            pending.seen.insert(item.device_id.clone());
            pending.items.push(item);
        }
        let complete = pending
            .sum_num
            .is_some_and(|sum| pending.items.len() as u64 >= u64::from(sum));
        if !complete {
            return None;
        }
        let pending = self.pending.remove(&key)?;
        Some(report(key, pending, CatalogOutcome::Complete))
    }

    /// Catalogs with no page for the timeout, reported incomplete.
    pub fn expire(&mut self, now: Instant) -> Vec<CatalogReport> {
        let expired: Vec<(String, u32)> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.last) >= self.timeout)
            .map(|(k, _)| k.clone())
            .collect();
        let mut reports = Vec::new();
        for key in expired {
            let Some(pending) = self.pending.remove(&key) else {
                continue;
            };
            let received = pending.items.len();
            let missing = pending
                .sum_num
                .map(|sum| sum.saturating_sub(u32::try_from(received).unwrap_or(u32::MAX)));
            let mut reason = match (pending.pages, pending.sum_num) {
                (0, _) => format!("no response within {:?}", self.timeout),
                (_, None) => format!(
                    "{received} items received, SumNum absent; no more within {:?}",
                    self.timeout
                ),
                (_, Some(sum)) => format!(
                    "{received} of {sum} items received in {} pages; no page within {:?}",
                    pending.pages, self.timeout
                ),
            };
            if pending.dropped > 0 {
                reason.push_str(&format!(
                    "; {} items over the limit of {} dropped",
                    pending.dropped, self.max_items
                ));
            }
            reports.push(report(
                key,
                pending,
                CatalogOutcome::Incomplete { missing, reason },
            ));
        }
        reports.sort_by(|a, b| (&a.device_id, a.sn).cmp(&(&b.device_id, b.sn)));
        reports
    }

    /// Forgets a device's pending catalogs (it unregistered).
    pub fn forget(&mut self, device_id: &str) {
        self.pending.retain(|(device, _), _| device != device_id);
    }
}

fn report(key: (String, u32), pending: Pending, outcome: CatalogOutcome) -> CatalogReport {
    CatalogReport {
        device_id: key.0,
        sn: key.1,
        sum_num: pending.sum_num,
        pages: pending.pages,
        items: pending.items,
        outcome,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn page(sn: u32, sum: Option<u32>, ids: &[&str]) -> CatalogPage {
        CatalogPage {
            device_id: "d".into(),
            sn,
            sum_num: sum,
            items: ids
                .iter()
                .map(|id| CatalogItem {
                    device_id: (*id).into(),
                    ..CatalogItem::default()
                })
                .collect(),
        }
    }

    #[test]
    fn completes_across_pages_and_retransmissions() {
        let now = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(5), 8, 100);
        assert!(r.page("d", page(1, Some(3), &["a", "b"]), now).is_none());
        assert!(r.page("d", page(1, Some(3), &["a", "b"]), now).is_none());
        // Another query's pages do not mix in.
        let other = r.page("d", page(2, Some(1), &["z"]), now).unwrap();
        assert_eq!(other.items.len(), 1);
        let done = r.page("d", page(1, Some(3), &["c"]), now).unwrap();
        assert_eq!(done.outcome, CatalogOutcome::Complete);
        assert_eq!(done.pages, 3);
        let ids: Vec<_> = done.items.iter().map(|i| i.device_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn reports_what_is_missing() {
        let now = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(5), 8, 100);
        r.expect("d", 7, now);
        r.expect("d", 8, now);
        assert!(r.page("d", page(7, Some(64), &["a"]), now).is_none());
        assert!(r.expire(now + Duration::from_secs(1)).is_empty());
        let reports = r.expire(now + Duration::from_secs(6));
        assert_eq!(reports.len(), 2);
        assert_eq!(
            reports[0].outcome,
            CatalogOutcome::Incomplete {
                missing: Some(63),
                reason: "1 of 64 items received in 1 pages; no page within 5s".into()
            }
        );
        assert!(
            matches!(&reports[1].outcome, CatalogOutcome::Incomplete { missing: None, reason } if reason.starts_with("no response"))
        );
    }

    #[test]
    fn bounded() {
        let now = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(5), 1, 2);
        assert!(
            r.page("d", page(1, Some(9), &["a", "b", "c"]), now)
                .is_none()
        );
        assert!(r.page("d", page(2, Some(1), &["a"]), now).is_none());
        assert!(!r.expect("e", 1, now));
        let reports = r.expire(now + Duration::from_secs(9));
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].items.len(), 2);
    }
}
