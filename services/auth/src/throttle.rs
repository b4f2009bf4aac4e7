//! Failed-login throttling, per account and per client address: the first
//! few failures are free, then each further attempt must wait a delay that
//! doubles with every failure; an account with [`LOCK_AFTER`] failures is
//! locked until an admin unlocks it (`Accounts.UnlockUser`). An attempt that
//! comes too early is refused at once, without checking the password, with
//! the time to wait: nothing sleeps, so a guesser holds no worker and no lock.
//! An attempt that comes too early counts as a failure too (and restarts the
//! wait), so hammering locks an account sooner than guessing at the pace asked.
//!
//! Unlocking an account also forgets the failures of the client addresses
//! that failed on it (up to [`CLIENTS_PER_ACCOUNT`]), so that its owner can
//! sign in again from the same machine the guesser used.
//!
//! The state is in memory (per process): a restart forgets it, and replicas
//! of one node count separately. Failures are forgotten [`FORGET_AFTER`] after
//! the last one (a locked account stays locked until unlocked).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures without any delay.
pub const FREE_FAILURES: u32 = 3;
/// Failures after which an account is locked.
pub const LOCK_AFTER: u32 = 20;
/// The longest delay between attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(300);
/// Quiet time after which failures are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(900);
/// Client addresses tracked at most (older ones are dropped first).
const MAX_CLIENTS: usize = 65_536;
/// Client addresses remembered per account, for [`LoginThrottle::unlock`].
pub const CLIENTS_PER_ACCOUNT: usize = 16;

#[derive(Clone, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    locked: bool,
    clients: Vec<IpAddr>,
}

impl Failures {
    fn wait(&self, now: Instant) -> Option<Duration> {
        let delay = delay_after(self.count);
        let ready = self.last + delay;
        (ready > now).then(|| ready - now)
    }

    fn stale(&self, now: Instant) -> bool {
        !self.locked && now.duration_since(self.last) >= FORGET_AFTER
    }
}

/// The delay required after `failures` failures.
pub fn delay_after(failures: u32) -> Duration {
    if failures < FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (failures - FREE_FAILURES).min(16);
    Duration::from_secs(1u64 << doublings).min(MAX_DELAY)
}

/// Why an attempt is refused before its password is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Try again after this long.
    Wait {
        /// The account or the client address.
        what: String,
        /// Failures counted.
        failures: u32,
        /// How long to wait.
        retry_after: Duration,
    },
    /// The account is locked until an admin unlocks it.
    Locked {
        /// Failures counted.
        failures: u32,
    },
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, Failures>,
    clients: HashMap<IpAddr, Failures>,
}

/// The throttle (one per node process).
#[derive(Default)]
pub struct LoginThrottle {
    state: Mutex<State>,
}

fn bump(entry: Option<&mut Failures>, now: Instant) -> Failures {
    match entry {
        Some(f) => {
            f.count = f.count.saturating_add(1);
            f.last = now;
            f.clone()
        }
        None => Failures {
            count: 1,
            last: now,
            locked: false,
            clients: Vec::new(),
        },
    }
}

impl LoginThrottle {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether an attempt for `account` from `client` may be checked now;
    /// an attempt refused for coming too early counts as a failure.
    pub fn admit(&self, account: &str, client: Option<IpAddr>, now: Instant) -> Result<(), Hold> {
        let mut state = self.state();
        if let Some(f) = state.accounts.get_mut(account) {
            if f.locked {
                return Err(Hold::Locked { failures: f.count });
            }
            if f.wait(now).is_some() {
                f.count = f.count.saturating_add(1);
                f.last = now;
                if f.count >= LOCK_AFTER {
                    f.locked = true;
                    return Err(Hold::Locked { failures: f.count });
                }
                return Err(Hold::Wait {
                    what: format!("account {account}"),
                    failures: f.count,
                    retry_after: delay_after(f.count),
                });
            }
            if f.stale(now) {
                state.accounts.remove(account);
            }
        }
        if let Some(ip) = client
            && let Some(f) = state.clients.get_mut(&ip)
        {
            if f.wait(now).is_some() {
                f.count = f.count.saturating_add(1);
                f.last = now;
                return Err(Hold::Wait {
                    what: format!("client {ip}"),
                    failures: f.count,
                    retry_after: delay_after(f.count),
                });
            }
            if f.stale(now) {
                state.clients.remove(&ip);
            }
        }
        Ok(())
    }

    /// Counts a failed attempt; `known` is whether the account exists (only
    /// existing accounts are tracked by name, so made-up names cost no
    /// memory). Returns the account's failures (the client's if unknown).
    pub fn failed(&self, account: &str, known: bool, client: Option<IpAddr>, now: Instant) -> u32 {
        let mut state = self.state();
        let mut count = 0;
        if let Some(ip) = client {
            if state.clients.len() >= MAX_CLIENTS && !state.clients.contains_key(&ip) {
                state.clients.retain(|_, f| !f.stale(now));
                if state.clients.len() >= MAX_CLIENTS
                    && let Some(oldest) = state
                        .clients
                        .iter()
                        .min_by_key(|(_, f)| f.last)
                        .map(|(ip, _)| *ip)
                {
                    state.clients.remove(&oldest);
                }
            }
            let f = bump(state.clients.get_mut(&ip), now);
            count = f.count;
            state.clients.insert(ip, f);
        }
        if known {
            let mut f = bump(state.accounts.get_mut(account), now);
            f.locked |= f.count >= LOCK_AFTER;
            if let Some(ip) = client
                && !f.clients.contains(&ip)
                && f.clients.len() < CLIENTS_PER_ACCOUNT
            {
                f.clients.push(ip);
            }
            count = f.count;
            state.accounts.insert(account.to_owned(), f);
        }
        count
    }

    /// A successful login: the account's failures are forgotten (the
    /// client's are not, so one good account does not reset a guesser).
    pub fn succeeded(&self, account: &str) {
        self.state().accounts.remove(account);
    }

    /// Lifts `account`'s lockout and forgets its failures and those of the
    /// clients that failed on it: (was locked, failures).
    pub fn unlock(&self, account: &str) -> (bool, u32) {
        let mut state = self.state();
        let Some(f) = state.accounts.remove(account) else {
            return (false, 0);
        };
        for ip in &f.clients {
            state.clients.remove(ip);
        }
        (f.locked, f.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_lock_and_unlock() {
        let t = LoginThrottle::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        let mut now = Instant::now();
        for n in 1..=FREE_FAILURES {
            assert_eq!(t.admit("a", Some(ip), now), Ok(()));
            assert_eq!(t.failed("a", true, Some(ip), now), n);
        }
        // Too early: refused, counted, and the wait grows.
        let Err(Hold::Wait {
            retry_after,
            failures,
            ..
        }) = t.admit("a", Some(ip), now)
        else {
            panic!("expected a wait");
        };
        assert_eq!((retry_after, failures), (Duration::from_secs(2), 4));
        now += Duration::from_secs(2);
        assert_eq!(t.admit("a", Some(ip), now), Ok(()));
        assert_eq!(t.failed("a", true, Some(ip), now), 5);
        let mut hold = Ok(());
        for _ in 0..LOCK_AFTER {
            hold = t.admit("a", None, now);
            if matches!(hold, Err(Hold::Locked { .. })) {
                break;
            }
        }
        assert_eq!(
            hold,
            Err(Hold::Locked {
                failures: LOCK_AFTER
            })
        );
        now += MAX_DELAY * 10;
        assert_eq!(
            t.admit("a", None, now),
            Err(Hold::Locked {
                failures: LOCK_AFTER
            })
        );
        assert_eq!(t.unlock("a"), (true, LOCK_AFTER));
        assert_eq!(t.admit("a", Some(ip), now), Ok(()));
        assert_eq!(delay_after(100), MAX_DELAY);
    }
}
