//! Helpers of the tests that start `vfed demo` (included with `mod support;`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// Stops the demo with SIGINT (then SIGKILL) however the test ends.
pub use vfed_tests::binaries::Stopped as Demo;

/// `target/<profile>/vfed`, next to vfedctl.
pub fn vfed_binary() -> PathBuf {
    vfed_tests::binaries::built_binary("vfed")
}

/// Runs a command, killing it after `limit`.
pub fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("command starts");
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} still running after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `vfed demo --data-dir DIR` whose stdout and stderr lines (its
/// logs) are collected.
pub struct LoggedDemo {
    /// The process (stopped on drop).
    pub demo: Demo,
    /// Every line printed so far.
    pub lines: Arc<Mutex<Vec<String>>>,
}

impl LoggedDemo {
    /// Starts the demo in `dir` and waits for `ready` (at most 120 s).
    pub fn start(dir: &Path) -> LoggedDemo {
        let mut child = Command::new(vfed_binary())
            .args(["demo", "--data-dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("vfed demo starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (lines, tx) = (Arc::clone(&lines), tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if line.trim() == "ready" {
                        let _ = tx.send(());
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let demo = Demo(child);
        if rx.recv_timeout(Duration::from_secs(120)).is_err() {
            panic!(
                "vfed demo printed no `ready` within 120 s:\n{}",
                lines.lock().unwrap().join("\n")
            );
        }
        LoggedDemo { demo, lines }
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits (at most `limit`) for a line matching `wanted`.
    pub fn wait_for(&self, limit: Duration, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(line) = self.lines().into_iter().find(|l| wanted(l)) {
                return Some(line);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
