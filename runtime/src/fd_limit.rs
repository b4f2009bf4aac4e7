//! Open-file limit of the process: every connection of every listener (and
//! of every node a process runs) is a file descriptor, and the usual soft
//! limit of 1024 is reached by a few hundred idle clients. The soft limit
//! is raised to the hard one at start; the listeners' own connection
//! limits (`[connections]`) keep a flood below it.

use std::sync::Once;

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

static RAISED: Once = Once::new();

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (once per process) and
/// logs both.
pub fn raise() {
    RAISED.call_once(|| {
        let before = getrlimit(Resource::Nofile);
        let Some(hard) = before.maximum else {
            // No hard limit: leave the soft one, which is what the system chose.
            tracing::info!(soft = ?before.current, hard = "unlimited", "open-file limit");
            return;
        };
        if before.current.is_some_and(|soft| soft >= hard) {
            tracing::info!(soft = hard, hard, "open-file limit");
            return;
        }
        let raised = Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => tracing::info!(
                soft = hard,
                was = ?before.current,
                hard,
                "open-file limit raised to the hard limit"
            ),
            Err(error) => tracing::warn!(
                soft = ?before.current,
                hard,
                %error,
                "cannot raise the open-file limit; the listeners' connection limits must stay below it"
            ),
        }
    });
}
