//! The machine a run was made on, and CPU accounting around a measurement.

use std::process::Command;
use std::time::Instant;

use serde::Serialize;

/// Where the numbers come from.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Host name.
    pub hostname: String,
    /// CPUs available to this process (`nproc`).
    pub nproc: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// MemTotal from /proc/meminfo, in GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// `rustc --version` (the workspace's toolchain).
    pub rustc: String,
    /// `etcd --version`, first line.
    pub etcd: String,
    /// `git rev-parse HEAD`.
    pub git_commit: String,
    /// Whether `git status --porcelain` listed anything.
    pub git_dirty: bool,
    /// /proc/loadavg when the run started (others share this machine).
    pub loadavg_at_start: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn command(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

impl Machine {
    /// Describes this machine and checkout.
    pub fn detect() -> Self {
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let status = command("git", &["status", "--porcelain"]);
        Self {
            hostname: read("/proc/sys/kernel/hostname").trim().to_owned(),
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model,
            memory_gib: (memory_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            rustc: command("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
            etcd: command("etcd", &["--version"])
                .and_then(|v| v.lines().next().map(str::to_owned))
                .unwrap_or_else(|| "not found".into()),
            git_commit: command("git", &["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into()),
            git_dirty: status.is_none_or(|s| !s.is_empty()),
            loadavg_at_start: read("/proc/loadavg").trim().to_owned(),
        }
    }
}

/// Clock ticks per second of /proc/*/stat times (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// CPU counters at one instant.
#[derive(Clone, Copy, Debug)]
pub struct CpuMark {
    at: Instant,
    /// This process: user + system ticks.
    process: u64,
    /// The whole machine: busy and total ticks.
    busy: u64,
    total: u64,
}

/// CPU use over an interval.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct CpuUse {
    /// Cores this process (nodes and clients alike) kept busy, on average.
    pub process_cores: f64,
    /// Fraction of all CPUs busy (any process: etcd, other users' builds).
    pub machine_busy: f64,
}

impl CpuMark {
    /// Reads the counters now.
    pub fn now() -> Self {
        let stat = read("/proc/self/stat");
        // Fields after the parenthesised command name; utime and stime are
        // fields 14 and 15 of the whole line.
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<u64> = after
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let process = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        let cpu: Vec<u64> = read("/proc/stat")
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let total: u64 = cpu.iter().take(8).sum();
        let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
        Self {
            at: Instant::now(),
            process,
            busy: total.saturating_sub(idle),
            total,
        }
    }

    /// CPU use from this mark until now.
    pub fn used(&self) -> CpuUse {
        let end = Self::now();
        let seconds = end.at.duration_since(self.at).as_secs_f64();
        let process_cores = if seconds > 0.0 {
            end.process.saturating_sub(self.process) as f64 / USER_HZ / seconds
        } else {
            0.0
        };
        let total = end.total.saturating_sub(self.total);
        let machine_busy = if total > 0 {
            end.busy.saturating_sub(self.busy) as f64 / total as f64
        } else {
            0.0
        };
        CpuUse {
            process_cores,
            machine_busy,
        }
    }
}
