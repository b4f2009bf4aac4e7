//! Starting and stopping `vfed demo` for the binary's tests (`mod support;`).
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const VFED: &str = env!("CARGO_BIN_EXE_vfed");

/// `vfed demo --data-dir DIR --log warn`, returned once it printed `ready`,
/// with the lines it printed before. Kills it and panics, with those lines,
/// if it exits or is not ready within `limit`.
pub fn start_demo(dir: &Path, stderr: Stdio, limit: Duration) -> (Child, Vec<String>) {
    let mut child = Command::new(VFED)
        .args(["demo", "--data-dir"])
        .arg(dir)
        .args(["--log", "warn"])
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Drains stdout for the demo's whole life (a closed pipe would make
    // its later prints fail), long after the lines stop being wanted.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let started = Instant::now();
    let mut lines = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) if line == "ready" => return (child, lines),
            Ok(line) => lines.push(line),
            Err(_) => {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("demo exited before ready ({status:?}): {lines:?}");
                }
                if started.elapsed() > limit {
                    let _ = child.kill();
                    panic!("demo not ready in {limit:?}: {lines:?}");
                }
            }
        }
    }
}

/// Sends SIGINT and waits up to `limit` for the exit; `None` (after a
/// SIGKILL) if it did not stop in time.
pub fn interrupt(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -INT {}", child.id());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
