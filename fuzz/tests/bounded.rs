//! A bounded, seeded run of every fuzz target: part of `make test` on
//! stable. A target that panics on any input fails here with the input.

use vfed_fuzz::{Campaign, run, seeds, targets};

#[test]
fn relay_framing() {
    run(
        "relay_framing",
        targets::relay_framing,
        &seeds::relay_framing(),
        Campaign::default(),
    );
}

#[test]
fn hls_path() {
    run(
        "hls_path",
        targets::hls_path,
        &seeds::hls_path(),
        Campaign::default(),
    );
}

#[test]
fn token() {
    run(
        "token",
        targets::token,
        &seeds::token(),
        Campaign::default(),
    );
}

#[test]
fn audit_record() {
    run(
        "audit_record",
        targets::audit_record,
        &seeds::audit_record(),
        Campaign::default(),
    );
}

#[test]
fn audit_files() {
    run(
        "audit_files",
        targets::audit_files,
        &seeds::audit_files(),
        Campaign::default(),
    );
}

#[test]
fn checkpoint() {
    run(
        "checkpoint",
        targets::checkpoint,
        &seeds::checkpoint(),
        Campaign::default(),
    );
}

#[test]
fn evidence() {
    run(
        "evidence",
        targets::evidence,
        &seeds::evidence(),
        Campaign::default(),
    );
}

#[test]
fn config() {
    run(
        "config",
        targets::config,
        &seeds::config(),
        Campaign {
            // Each input goes through figment twice: fewer, still thousands.
            iterations: 2000,
            ..Campaign::default()
        },
    );
}

/// The driver itself can fail: a target that panics on some mutation of
/// its seed is caught (so a green run above means something).
#[test]
#[should_panic(expected = "found it")]
fn a_panicking_target_fails_the_run() {
    fn fragile(data: &[u8]) {
        assert!(!data.contains(&0xff), "found it");
    }
    run(
        "fragile",
        fragile,
        &[b"hello".to_vec()],
        Campaign::default(),
    );
}
