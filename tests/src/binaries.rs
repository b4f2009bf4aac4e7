//! The built `vfed` and `vfedctl`, for tests that run them as a user would.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

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

/// A spawned binary, stopped with SIGINT (as Ctrl-C would), then SIGKILL
/// after 15 s, however the test ends.
pub struct Stopped(pub Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The built `vfedctl` connected to `node` as the harness's tool
/// certificate (its admin), without stored logins, answering within 10 s;
/// add `--token` to act as a person.
pub fn vfedctl_at(
    pki: &crate::TestPki,
    node: &crate::TestNode,
) -> anyhow::Result<tokio::process::Command> {
    let (cert, key) = pki.files(&vfed_pki::Identity::tool(crate::TEST_ADMIN)?)?;
    let mut command = tokio::process::Command::new(built_binary("vfedctl"));
    command
        .env("VFEDCONFIG", pki.dir().join("no-stored-logins.json"))
        .arg("--endpoint")
        .arg(format!("https://{}", node.grpc_addr))
        .arg("--ca")
        .arg(pki.ca())
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .args(["--server-id", node.id(), "--timeout", "10s"]);
    Ok(command)
}
