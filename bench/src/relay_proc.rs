//! Peer processes of the relay benchmark (relay nodes, GStreamer peers,
//! ffmpeg viewers): started, awaited until they print `READY <port>`, read
//! for CPU time and memory from /proc, and stopped by their own pid.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

/// Clock ticks per second of /proc/*/stat times (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// CPU time of a process, from /proc/<pid>/stat.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcTimes {
    /// User time, seconds.
    pub user: f64,
    /// System (kernel) time, seconds.
    pub system: f64,
}

impl ProcTimes {
    /// The times of `pid` now (zero if it is gone).
    pub fn of(pid: u32) -> Self {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are
        // fields 14 and 15 of the whole line.
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let field = |i: usize| {
            after
                .split_whitespace()
                .nth(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0) as f64
                / USER_HZ
        };
        Self {
            user: field(11),
            system: field(12),
        }
    }

    /// User plus system seconds.
    pub fn total(self) -> f64 {
        self.user + self.system
    }

    /// The times spent since `earlier`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// Resident memory of `pid` in KiB (VmRSS; 0 if it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// A child process that is killed (by its pid) when dropped.
pub struct Peer {
    /// What it is, for messages.
    pub name: String,
    child: Child,
    /// Its stdin: closing it asks a relay node to exit cleanly.
    stdin: Option<ChildStdin>,
    /// Its pid.
    pub pid: u32,
    /// The port it printed in `READY <port>` (0 for peers that print nothing).
    pub port: u16,
}

impl Peer {
    /// Starts `program args`, stderr to `log`, and waits up to `timeout` for
    /// a `READY <port>` line on its stdout.
    pub async fn start_ready(
        name: &str,
        program: &Path,
        args: &[String],
        log: &Path,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let stderr = std::fs::File::create(log).with_context(|| format!("{}", log.display()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        let pid = child.id().context("no pid")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let stdin = child.stdin.take();
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(timeout, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(port) = line.strip_prefix("READY ") {
                    return Ok(port.trim().parse::<u16>()?);
                }
            }
            anyhow::bail!("{name} exited before READY")
        })
        .await;
        let port = match ready {
            Ok(Ok(port)) => port,
            Ok(Err(e)) => return Err(e.context(tail(log))),
            Err(_) => anyhow::bail!("{name} not ready within {timeout:?}; {}", tail(log)),
        };
        // Keep draining stdout so that the child never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self {
            name: name.to_owned(),
            child,
            stdin,
            pid,
            port,
        })
    }

    /// Starts a peer that prints nothing and needs no readiness (a viewer).
    pub fn start_quiet(name: &str, program: &str, args: &[String]) -> anyhow::Result<Self> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name} ({program})"))?;
        let pid = child.id().context("no pid")?;
        let _ = child.stdin.take();
        Ok(Self {
            name: name.to_owned(),
            child,
            stdin: None,
            pid,
            port: 0,
        })
    }

    /// CPU times so far.
    pub fn times(&self) -> ProcTimes {
        ProcTimes::of(self.pid)
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Closes its stdin and waits up to `timeout` for it to exit by itself
    /// (a relay node exits cleanly, so that valgrind writes its profile);
    /// kills it after that.
    pub async fn finish(mut self, timeout: Duration) -> anyhow::Result<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => {
                status.with_context(|| format!("waiting for {}", self.name))?;
                Ok(())
            }
            Err(_) => {
                let _ = self.child.start_kill();
                anyhow::bail!("{} did not exit within {timeout:?}; killed", self.name)
            }
        }
    }
}

/// The last lines of a log, for error messages.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(8);
    format!("{}: {}", log.display(), lines[start..].join(" | "))
}

/// Resolves when this process's stdin reaches its end (the parent closed it
/// or exited). Read on a plain thread: the workspace's tokio has no `io-std`.
pub async fn stdin_closed() {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 256];
        let mut stdin = std::io::stdin();
        while matches!(std::io::Read::read(&mut stdin, &mut sink), Ok(n) if n > 0) {}
        let _ = tx.send(());
    });
    let _ = rx.await;
}
