//! `Tail`: the last entries of the log (or those from an index), then, when asked, every
//! new entry as it is committed.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use vfed_proto::audit::v1 as pb;

use crate::trail::MAX_READ;
use crate::{AuditTrail, AuditingError, convert};

/// Entries sent when `limit` is 0.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest `limit`.
pub const MAX_LIMIT: u32 = 10_000;
/// A follower re-checks the size at least this often (appends made around the trail).
const RECHECK: Duration = Duration::from_secs(1);
/// Entries buffered towards a slow reader.
const BUFFER: usize = 256;

/// What to send: `[start, backlog_end)`, then everything after when following.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailPlan {
    /// First index sent.
    pub start: u64,
    /// End of the entries already committed that are sent.
    pub backlog_end: u64,
    /// Keep streaming.
    pub follow: bool,
}

/// Checks a request against the log's `size`.
pub fn plan(req: &pb::TailRequest, size: u64) -> Result<TailPlan, AuditingError> {
    if req.limit > MAX_LIMIT {
        return Err(AuditingError::invalid(
            "limit",
            format!("{} is more than {MAX_LIMIT}", req.limit),
        ));
    }
    let (start, backlog_end) = match req.from_index {
        Some(from) if from > size => {
            return Err(AuditingError::invalid(
                "from_index",
                format!("{from} is beyond the log's {size} entries"),
            ));
        }
        Some(from) if req.limit == 0 => (from, size),
        Some(from) => (from, size.min(from + u64::from(req.limit))),
        None => {
            let limit = if req.limit == 0 {
                DEFAULT_LIMIT
            } else {
                req.limit
            };
            (size.saturating_sub(u64::from(limit)), size)
        }
    };
    Ok(TailPlan {
        start,
        backlog_end,
        follow: req.follow,
    })
}

/// Streams `plan` from `trail` into a channel; ends with the reader, at `shutdown`, or on
/// the first error (sent as the last item).
pub fn spawn(
    trail: AuditTrail,
    plan: TailPlan,
    shutdown: CancellationToken,
) -> mpsc::Receiver<Result<pb::Entry, Status>> {
    let (tx, rx) = mpsc::channel(BUFFER);
    tokio::spawn(async move {
        let mut next = plan.start;
        if let Err(status) = send_range(&trail, &tx, &mut next, plan.backlog_end).await {
            let _ = tx.send(Err(status)).await;
            return;
        }
        if !plan.follow {
            return;
        }
        next = plan.backlog_end.max(next);
        let mut size = trail.watch_size();
        loop {
            if let Err(status) = send_range(&trail, &tx, &mut next, trail.size()).await {
                let _ = tx.send(Err(status)).await;
                return;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tx.closed() => return,
                changed = size.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(RECHECK) => {}
            }
        }
    });
    rx
}

/// Sends `[*next, end)`, advancing `next`. A closed receiver ends quietly.
async fn send_range(
    trail: &AuditTrail,
    tx: &mpsc::Sender<Result<pb::Entry, Status>>,
    next: &mut u64,
    end: u64,
) -> Result<(), Status> {
    while *next < end {
        let want = usize::try_from(end - *next)
            .unwrap_or(MAX_READ)
            .min(MAX_READ);
        let entries = trail.read(*next, want).await?;
        let Some(last) = entries.last() else {
            return Ok(());
        };
        *next = last.index + 1;
        for entry in entries {
            if tx.send(Ok(convert::entry(entry))).await.is_err() {
                *next = end;
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(limit: u32, from_index: Option<u64>) -> pb::TailRequest {
        pb::TailRequest {
            limit,
            from_index,
            follow: false,
        }
    }

    #[test]
    fn plans() {
        let p = |l, f| plan(&req(l, f), 100).map(|p| (p.start, p.backlog_end));
        assert_eq!(p(0, None).ok(), Some((80, 100)));
        assert_eq!(p(5, None).ok(), Some((95, 100)));
        assert_eq!(p(500, None).ok(), Some((0, 100)));
        assert_eq!(p(0, Some(10)).ok(), Some((10, 100)));
        assert_eq!(p(5, Some(10)).ok(), Some((10, 15)));
        assert_eq!(p(5, Some(100)).ok(), Some((100, 100)));
        assert!(matches!(
            p(5, Some(101)),
            Err(AuditingError::Invalid {
                field: "from_index",
                ..
            })
        ));
        assert!(matches!(
            p(MAX_LIMIT + 1, None),
            Err(AuditingError::Invalid { field: "limit", .. })
        ));
    }
}
