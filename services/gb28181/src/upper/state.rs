//! What each upper link is doing, readable at any time through an
//! [`UpperHandle`] (for metrics and `vfedctl gb28181 uppers`).

use std::time::SystemTime;

use tokio::sync::watch;

/// Where the link to an upper stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpperStatus {
    /// Not registered yet (first attempt under way).
    Registering,
    /// Registered; keepalives answered.
    Registered,
    /// The upper refused, did not answer, or stopped answering keepalives;
    /// vfed retries with backoff.
    Offline,
}

impl UpperStatus {
    /// `registering`, `registered` or `offline`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registering => "registering",
            Self::Registered => "registered",
            Self::Offline => "offline",
        }
    }
}

/// One upper's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpperState {
    /// The upper's server ID.
    pub server_id: String,
    /// Where the link stands.
    pub status: UpperStatus,
    /// Since when (wall clock).
    pub since: SystemTime,
    /// The last failure, if any (kept after recovery).
    pub last_error: Option<String>,
    /// Successful registrations (first and refreshes).
    pub registrations: u64,
    /// Keepalives sent and answered.
    pub keepalives_answered: u64,
    /// Live sessions the upper holds now.
    pub sessions: usize,
}

/// Reads one upper's state.
#[derive(Clone, Debug)]
pub struct UpperHandle {
    pub(crate) state: watch::Receiver<UpperState>,
}

impl UpperHandle {
    /// The state now.
    pub fn state(&self) -> UpperState {
        self.state.borrow().clone()
    }

    /// Waits until `done` holds for the state (or the link task ended).
    pub async fn wait_for(&mut self, done: impl FnMut(&UpperState) -> bool) -> Option<UpperState> {
        self.state.wait_for(done).await.ok().map(|s| s.clone())
    }
}

/// The writing side, kept by the link task.
#[derive(Debug)]
pub(crate) struct StateCell {
    sender: watch::Sender<UpperState>,
}

impl StateCell {
    pub(crate) fn new(server_id: &str) -> (Self, UpperHandle) {
        let (sender, state) = watch::channel(UpperState {
            server_id: server_id.to_owned(),
            status: UpperStatus::Registering,
            since: SystemTime::now(),
            last_error: None,
            registrations: 0,
            keepalives_answered: 0,
            sessions: 0,
        });
        (Self { sender }, UpperHandle { state })
    }

    pub(crate) fn status(&self) -> UpperStatus {
        self.sender.borrow().status
    }

    /// Moves to `status` (the `since` changes only on a real change).
    pub(crate) fn set_status(&self, status: UpperStatus, error: Option<String>) {
        self.sender.send_modify(|state| {
            if state.status != status {
                state.status = status;
                state.since = SystemTime::now();
            }
            if error.is_some() {
                state.last_error = error;
            }
        });
    }

    pub(crate) fn set_sessions(&self, sessions: usize) {
        self.sender.send_if_modified(|state| {
            let changed = state.sessions != sessions;
            state.sessions = sessions;
            changed
        });
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut UpperState)) {
        self.sender.send_modify(change);
    }
}
