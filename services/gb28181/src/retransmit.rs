//! Retransmission of the requests vfed sends over UDP (RFC 3261 §17.1.1.2
//! and §17.1.2.2, timers A/E and B/F): again after 500 ms, doubling up to
//! 4 s, until any response with the request's Call-ID arrives or 32 s pass.
//! Checked at each sweep, so the first resend comes at the sweep after
//! 500 ms. Bounded: at most [`MAX_PENDING`] requests are kept.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::transport::Peer;

/// Most requests awaiting a response at once.
pub const MAX_PENDING: usize = 4096;
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const GIVE_UP: Duration = Duration::from_secs(32);

#[derive(Debug)]
struct Pending {
    peer: Peer,
    bytes: Vec<u8>,
    next_at: Instant,
    interval: Duration,
    give_up_at: Instant,
}

/// Requests sent over UDP that no response has answered yet.
#[derive(Debug, Default)]
pub struct Retransmissions {
    pending: HashMap<String, Pending>,
}

impl Retransmissions {
    /// Keeps a request just sent to `peer` (UDP only; TCP is reliable).
    pub fn sent(&mut self, call_id: &str, peer: Peer, bytes: Vec<u8>, now: Instant) {
        if !matches!(peer, Peer::Udp(_)) || self.pending.len() >= MAX_PENDING {
            return;
        }
        self.pending.insert(
            call_id.to_owned(),
            Pending {
                peer,
                bytes,
                next_at: now + T1,
                interval: T1,
                give_up_at: now + GIVE_UP,
            },
        );
    }

    /// A response with this Call-ID arrived: stop resending.
    pub fn answered(&mut self, call_id: &str) {
        self.pending.remove(call_id);
    }

    /// The requests to send again now; forgets those past 32 s.
    pub fn due(&mut self, now: Instant) -> Vec<(Peer, Vec<u8>)> {
        self.pending.retain(|_, p| now < p.give_up_at);
        let mut due = Vec::new();
        for pending in self.pending.values_mut() {
            if now >= pending.next_at {
                pending.interval = (pending.interval * 2).min(T2);
                pending.next_at = now + pending.interval;
                due.push((pending.peer, pending.bytes.clone()));
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resends_doubling_until_answered_or_given_up() {
        let peer = Peer::Udp("127.0.0.1:5060".parse().unwrap_or_else(|_| unreachable!()));
        let now = Instant::now();
        let mut r = Retransmissions::default();
        r.sent("a", peer, b"x".to_vec(), now);
        r.sent("b", peer, b"y".to_vec(), now);
        assert!(r.due(now).is_empty());
        assert_eq!(r.due(now + T1).len(), 2);
        // Next after 1 s.
        assert!(r.due(now + T1 + Duration::from_millis(900)).is_empty());
        r.answered("a");
        assert_eq!(
            r.due(now + T1 + Duration::from_secs(1)),
            vec![(peer, b"y".to_vec())]
        );
        assert!(r.due(now + GIVE_UP).is_empty());
        let tcp = Peer::Tcp {
            connection: 1,
            address: "127.0.0.1:5060".parse().unwrap_or_else(|_| unreachable!()),
        };
        r.sent("c", tcp, b"z".to_vec(), now);
        assert!(r.due(now + GIVE_UP).is_empty());
    }
}
