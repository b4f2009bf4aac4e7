//! The built `vfed` and `vfedctl`, for tests that run them as a user would.

use std::path::PathBuf;

/// `target/<profile>/<name>`: the directory above the running test binary
/// (`target/<profile>/deps/<test>`). Panics, saying how to build it, when
/// it is missing: `cargo test --workspace` builds every binary first, a
/// single test binary does not.
pub fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary is in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: build it first with `cargo build -p vfed -p vfedctl` \
         (same profile as this test)",
        path.display()
    );
    path
}
