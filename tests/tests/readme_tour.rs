//! The README's "A 5-minute tour", run as written against a real `vfed demo`.
//!
//! Every `$ command` of the tour's `console` blocks runs, in order, in one
//! `bash` (so `export`, `&` and `wait` work as in a terminal), in a fresh
//! directory holding the demo's `./vfed-demo`, with the built `vfed` and
//! `vfedctl` first on `PATH` and a fresh `HOME`. Its output (stdout and
//! stderr) must be what the README shows, with the wildcards of
//! [`vfed_tests::transcript`]. Not run: `make run` (the test starts
//! `vfed demo` itself and compares its banner with that block) and `ffplay`
//! (a window).
//!
//! When an output changes (a new column, another identity), run this test:
//! for every step that differs it prints the README's lines and the real
//! output. Paste the real output under the command in README.md, keep the
//! tables aligned as printed (the cells of variable columns are found under
//! their header) and put back `...` where the README elides lines or text.
//! Times, ports, tokens, revisions and such need no editing (see
//! `transcript::VARIABLE` and `transcript::VARIABLE_COLUMNS`).
//!
//! Needs `vfed` and `vfedctl` built (`cargo build -p vfed -p vfedctl`;
//! `cargo test --workspace` does it), `bash`, `curl`, `ffprobe`, `dd`, `awk`, `date`;
//! `chattr` (e2fsprogs) to clear the seals of the recordings afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use vfed_tests::binaries::{Stopped, built_binary};
use vfed_tests::transcript::{Bindings, Step, console_steps, matches, normalize};

const README: &str = include_str!("../../README.md");
const TOUR: &str = "## A 5-minute tour";
/// The longest a single step may take (the slowest waits for a grant to end).
const STEP_LIMIT: Duration = Duration::from_secs(60);
const DONE: &str = "__vfed_tour_step_done__";

/// Lines of `reader`, sent over a channel by a thread.
fn lines_of(reader: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Whether `line` is a log line (`<RFC 3339 time> <LEVEL> ...`, maybe in
/// colour): the nodes' logs run through the demo's banner.
fn is_log_line(line: &str) -> bool {
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // An SGR sequence: ESC [ ... m
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let mut words = plain.split_whitespace();
    let time = words.next().unwrap_or("");
    let level = words.next().unwrap_or("");
    time.len() > 20
        && time.as_bytes()[4] == b'-'
        && time.contains('T')
        && time.ends_with('Z')
        && ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level)
}

/// Starts `vfed demo` in `dir/vfed-demo`; returns it and its banner (stdout
/// but log lines, up to the line that ends with `Ctrl-C stops)`).
fn start_demo(dir: &Path) -> (Stopped, Vec<String>) {
    let mut child = Command::new(built_binary("vfed"))
        .args(["demo", "--data-dir", "./vfed-demo"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("vfed demo starts");
    let stdout = lines_of(child.stdout.take().unwrap());
    let demo = Stopped(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut banner = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = stdout
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("vfed demo printed no full banner in 120 s: {banner:#?}"));
        if is_log_line(&line) {
            continue;
        }
        let last = line.trim_end().ends_with("Ctrl-C stops)");
        banner.push(line);
        if last {
            break;
        }
    }
    // Keep draining so the demo never blocks on a full pipe.
    std::thread::spawn(move || while stdout.recv().is_ok() {});
    (demo, banner)
}

/// Clears, once the demo has stopped (dropped after it), the seals its
/// nodes put on their closed recordings (as root), so that the temporary
/// directory can be removed. Best effort: without seals `chattr` has
/// nothing to do.
struct Unseal<'a>(&'a Path);

impl Drop for Unseal<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chattr")
            .arg("-R")
            .arg("-i")
            .arg(self.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// One `bash` that runs the steps, stdout and stderr in one stream.
struct Shell {
    stdin: ChildStdin,
    output: Receiver<String>,
    _child: Stopped,
}

impl Shell {
    fn start(dir: &Path) -> Self {
        let vfed = built_binary("vfed");
        let bin_dir = vfed.parent().unwrap();
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let home = dir.join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = Command::new("bash");
        cmd.args(["--norc", "--noprofile", "-s"])
            .current_dir(dir)
            .env("PATH", path)
            .env("HOME", &home)
            .env_remove("RUST_LOG");
        for var in [
            "VFEDCONFIG",
            "VFEDCTL_ENDPOINT",
            "VFEDCTL_CA",
            "VFEDCTL_CERT",
            "VFEDCTL_KEY",
            "VFEDCTL_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("bash starts");
        let mut stdin = child.stdin.take().unwrap();
        let output = lines_of(child.stdout.take().unwrap());
        writeln!(stdin, "exec 2>&1").unwrap();
        Self {
            stdin,
            output,
            _child: Stopped(child),
        }
    }

    /// Runs `command` (stdin from /dev/null, as nothing types into it) and
    /// returns what it printed.
    fn run(&mut self, command: &str) -> Result<String, String> {
        writeln!(self.stdin, "{{ {command}\n}} </dev/null\necho {DONE}").unwrap();
        self.stdin.flush().unwrap();
        let deadline = Instant::now() + STEP_LIMIT;
        let mut out = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = self.output.recv_timeout(left) else {
                return Err(format!(
                    "still running after {STEP_LIMIT:?}; printed so far:\n{out}"
                ));
            };
            if let Some(before) = line.strip_suffix(DONE) {
                out.push_str(before);
                return Ok(out);
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
}

/// What is wrong with one step, for the failure message.
fn mismatch(step: &Step, command: &str, actual: &str) -> String {
    format!(
        "README.md:{}: $ {command}\n--- README shows:\n{}\n--- it printed:\n{actual}\n",
        step.line,
        step.expected.join("\n"),
    )
}

#[test]
fn the_readme_tour_runs_as_written() {
    let steps = console_steps(README, TOUR);
    assert!(steps.len() > 30, "the tour has its steps: {steps:#?}");
    let dir = tempfile::tempdir().unwrap();
    let _unseal = Unseal(dir.path());
    let (_demo, banner) = start_demo(dir.path());
    let mut shell = Shell::start(dir.path());
    let mut bindings = Bindings::default();
    let mut failures = Vec::new();
    for step in &steps {
        let command = bindings.apply(&step.command);
        if command.starts_with("make run") {
            // `make run` builds first; the demo's own output starts here.
            let shown: Vec<String> = step
                .expected
                .iter()
                .skip_while(|l| !l.starts_with("vfed demo:"))
                .cloned()
                .collect();
            let real = normalize(&banner.join("\n"));
            if !matches(&shown, &real, &mut bindings) {
                failures.push(mismatch(step, &command, &real.join("\n")));
            }
            continue;
        }
        if command.contains("ffplay") {
            assert!(
                step.expected.is_empty(),
                "README.md:{}: an ffplay step shows no output",
                step.line
            );
            continue;
        }
        match shell.run(&command) {
            Ok(out) => {
                let real = normalize(&out);
                if !matches(&step.expected, &real, &mut bindings) {
                    failures.push(mismatch(step, &command, &real.join("\n")));
                }
            }
            Err(why) => {
                failures.push(format!("README.md:{}: $ {command}\n{why}", step.line));
                break;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} tour steps differ from the README:\n\n{}",
        failures.len(),
        steps.len(),
        failures.join("\n")
    );
}
