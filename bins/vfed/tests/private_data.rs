//! A node's data is private to the user it runs as (issue 9, finding 1):
//! what `vfed` and `vfed demo` create is 0600/0700, a local unprivileged
//! user (`runuser -u nobody`) can read none of it, and a node whose data
//! directory, store or key is readable by group or others refuses to start
//! (exit 64), naming the path and the `chmod` that fixes it.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::{VFED, interrupt, start_demo};
const NODE: &str = "54050200002000000001";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every path under `root`, `root` included.
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if out[i].is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&out[i])
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            children.sort();
            out.extend(children);
        }
        i += 1;
    }
    out
}

/// Whether `runuser -u nobody` works here (root, and a `nobody` user).
fn nobody_available() -> bool {
    Command::new("runuser")
        .args(["-u", "nobody", "--", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every file vfed created is 0600, every directory 0700, and `nobody`
/// can neither list a directory nor read a file under `root`.
fn assert_private(root: &Path) {
    let paths = walk(root);
    assert!(paths.len() > 3, "{paths:?}");
    for path in &paths {
        let want = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(path), want, "{} is {:04o}", path.display(), mode(path));
    }
    if !nobody_available() {
        eprintln!(
            "SKIPPED the `runuser -u nobody` reads: runuser or the nobody user is unavailable (or not root)"
        );
        return;
    }
    // Let nobody reach `root` itself, so that only vfed's modes stop it.
    let mut dir = root.parent();
    while let Some(d) = dir {
        if d == Path::new("/") {
            break;
        }
        chmod(d, mode(d) | 0o711);
        dir = d.parent();
    }
    for path in &paths {
        let (cmd, arg) = if path.is_dir() {
            ("ls", path)
        } else {
            ("cat", path)
        };
        let out = Command::new("runuser")
            .args(["-u", "nobody", "--", cmd])
            .arg(arg)
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "nobody could {cmd} {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

fn vfed(args: &[&str]) -> std::process::Output {
    Command::new(VFED)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn node_args(pki: &Path, data: &Path) -> Vec<String> {
    [
        format!("node.id={NODE}"),
        "node.name=Naidong county platform".into(),
        "node.level=county".into(),
        format!("tls.ca={}", pki.join("ca.pem").display()),
        format!(
            "tls.cert={}",
            pki.join(format!("node-{NODE}.pem")).display()
        ),
        format!("tls.key={}", pki.join(format!("node-{NODE}.key")).display()),
        format!("store.data_dir={}", data.display()),
        "listen.grpc=127.0.0.1:0".into(),
        "listen.http=127.0.0.1:0".into(),
        "listen.relay=127.0.0.1:0".into(),
        "telemetry.log=warn".into(),
    ]
    .into_iter()
    .flat_map(|kv| ["--set".to_owned(), kv])
    .collect()
}

#[test]
fn a_node_keeps_its_data_private_and_refuses_to_start_when_it_is_not() {
    let root = tempfile::tempdir().unwrap();
    let pki = root.path().join("pki");
    let data = root.path().join("data");
    for args in [
        vec!["pki", "init", "--dir", pki.to_str().unwrap()],
        vec![
            "pki",
            "issue",
            "--dir",
            pki.to_str().unwrap(),
            "--node",
            NODE,
        ],
    ] {
        let out = vfed(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_private(&pki);

    // First start: run until the token key and the audit log exist, then kill.
    let args = node_args(&pki, &data);
    let mut child = Command::new(VFED)
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let created = [
        data.join("store.redb"),
        data.join("token.key"),
        data.join("audit/signing.key"),
        data.join("audit/verifier.key"),
    ];
    while !created.iter().all(|p| p.exists()) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("vfed exited: {status:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "vfed did not create {created:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_private(&data);

    // Widened by someone: the node refuses to start, naming the path and the fix.
    let cases = [
        (data.clone(), 0o755, "store.data_dir", "chmod 700"),
        (
            data.join("store.redb"),
            0o644,
            "store.data_dir",
            "chmod 600",
        ),
        (data.join("token.key"), 0o640, "auth.token_key", "chmod 600"),
        (data.join("audit/signing.key"), 0o604, "audit", "chmod 600"),
        (
            pki.join(format!("node-{NODE}.key")),
            0o644,
            "tls.key",
            "chmod 600",
        ),
    ];
    for (path, wide, field, fix) in cases {
        let before = mode(&path);
        chmod(&path, wide);
        let out = Command::new(VFED).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{}: {stderr}", path.display());
        let named = format!("{fix} {}", path.display());
        assert!(
            stderr.contains(field) && stderr.contains(&named),
            "{}: {stderr}",
            path.display()
        );
        chmod(&path, before);
    }
}

#[test]
fn the_demo_keeps_its_data_private() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("vfed-demo");
    let (mut child, _) = start_demo(&dir, Stdio::null(), Duration::from_secs(120));
    interrupt(&mut child, Duration::from_secs(20));
    for file in ["demo.json", "admin-password"] {
        assert!(dir.join(file).exists(), "{file}");
    }
    assert_private(&dir);
}
