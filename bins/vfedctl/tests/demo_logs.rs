//! What `vfed demo` logs, read from its piped output: plain text (no ANSI
//! colour codes in a pipe), a client's refusal logged once at INFO (never
//! as an ERROR), and a restart on the same data without an ERROR for the
//! devices and accounts it already has.
//!
//! Needs the `vfed` binary next to vfedctl's (`cargo build -p vfed`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

mod support;
use support::{LoggedDemo, run_bounded};

/// A device the registry refuses (a hotel room, no protected category).
const HOTEL_ROOM_CAMERA: &str = "54050200001320000077";

fn errors(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.contains("ERROR")).collect()
}

#[test]
fn demo_logs_are_plain_refusals_are_info_and_a_restart_is_quiet() {
    let data = tempfile::tempdir().unwrap();
    let demo = LoggedDemo::start(data.path());

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vfedctl"));
    cmd.env_remove("VFEDCTL_TOKEN")
        .env("VFEDCONFIG", data.path().join("vfedctl-config.json"))
        .args(["devices", "register", "--id", HOTEL_ROOM_CAMERA])
        .args(["--name", "Room 12", "--location-type", "hotel-room"])
        .args(["--demo", data.path().to_str().unwrap(), "--node", "naidong"]);
    let o = run_bounded(&mut cmd, Duration::from_secs(30));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    let message = err.trim().trim_start_matches("error: ").to_owned();
    assert!(message.starts_with("spec."), "{err}");

    let refusal = demo
        .wait_for(Duration::from_secs(10), |l| l.contains("call refused"))
        .expect("the refusal is logged");
    assert!(refusal.contains(" INFO "), "{refusal}");
    assert!(refusal.contains("InvalidArgument"), "{refusal}");
    let lines = demo.lines();
    let mentions = lines.iter().filter(|l| l.contains(&message)).count();
    assert_eq!(
        mentions,
        1,
        "the refusal is logged once:\n{}",
        lines.join("\n")
    );
    assert!(errors(&lines).is_empty(), "{:?}", errors(&lines));
    let coloured: Vec<&String> = lines.iter().filter(|l| l.contains('\u{1b}')).collect();
    assert!(coloured.is_empty(), "ANSI codes in a pipe: {coloured:?}");
    drop(demo);

    // Again on the same data: devices and accounts exist already.
    let demo = LoggedDemo::start(data.path());
    std::thread::sleep(Duration::from_secs(1));
    let lines = demo.lines();
    assert!(errors(&lines).is_empty(), "{}", lines.join("\n"));
    assert!(
        !lines.iter().any(|l| l.contains('\u{1b}')),
        "ANSI codes in a pipe"
    );
}
