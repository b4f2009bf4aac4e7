//! End to end against `vfed demo`: `vfedctl watch` writes a playable MP4
//! and `vfedctl streams list` shows the stream with its viewer.
//!
//! Needs the `vfed` binary next to vfedctl's (`cargo build -p vfed`); the
//! test fails, with that advice, when it is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use vfed_tests::DemoData;

const CAMERA: &str = "54050200001320000001";

mod support;
use support::{Demo, run_bounded, vfed_binary};

fn vfedctl(data: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vfedctl"));
    for var in [
        "VFEDCTL_ENDPOINT",
        "VFEDCTL_CA",
        "VFEDCTL_CERT",
        "VFEDCTL_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.arg("--demo").arg(data).args(args);
    cmd
}

/// Top-level MP4 box types of `bytes`.
fn boxes(bytes: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        if size < 8 {
            break;
        }
        at += size;
    }
    out
}

#[test]
fn watch_writes_a_playable_stream_from_the_demo() {
    let vfed = vfed_binary();
    let data = DemoData::new().unwrap();
    let mut child = Command::new(&vfed)
        .args(["demo", "--data-dir"])
        .arg(data.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("vfed demo starts");
    let stdout = child.stdout.take().unwrap();
    let demo = Demo(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim() == "ready" {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("vfed demo prints `ready` within 120 s");

    let file = data.path().join("w.mp4");
    let mut watch = vfedctl(
        data.path(),
        &[
            "watch",
            CAMERA,
            "--duration",
            "6s",
            "-o",
            file.to_str().unwrap(),
        ],
    );
    let watcher = std::thread::spawn(move || run_bounded(&mut watch, Duration::from_secs(60)));

    // While the watch runs the stream has a viewer at the city.
    std::thread::sleep(Duration::from_secs(4));
    let o = run_bounded(
        &mut vfedctl(data.path(), &["-o", "json", "streams", "list"]),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let stream = list["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == format!("{CAMERA}/main"))
        .unwrap_or_else(|| panic!("{CAMERA}/main missing from {list}"));
    assert_eq!(stream["codec"], "h264");
    assert_eq!(stream["width"], 1280);
    assert!(stream["viewers"].as_u64().unwrap() >= 1, "{stream}");

    let o = watcher.join().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "watch failed: {err}");
    assert!(o.stdout.is_empty(), "media went to the file only");
    let bytes = std::fs::read(&file).unwrap();
    let kinds = boxes(&bytes);
    assert_eq!(kinds.first().map(String::as_str), Some("ftyp"), "{kinds:?}");
    assert_eq!(
        kinds.iter().filter(|k| *k == "moov").count(),
        1,
        "{kinds:?}"
    );
    assert!(
        kinds.iter().filter(|k| *k == "moof").count() >= 2,
        "{kinds:?}"
    );

    // The frames must decode: ~25 fps for >= 4 s. ffprobe is a real peer the
    // test needs (make test installs ffmpeg); without it the test fails.
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .args([
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .expect("ffprobe not runnable: install the Debian package ffmpeg (make test does)");
    {
        let line = String::from_utf8_lossy(&probe.stdout).trim().to_owned();
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(
            fields.get(..3),
            Some(["h264", "1280", "720"].as_slice()),
            "{line}"
        );
        let frames: u64 = fields.get(3).and_then(|f| f.parse().ok()).unwrap_or(0);
        assert!((100..=300).contains(&frames), "{line}");
    }

    // Unknown device: exit 1 with the node's message.
    let o = run_bounded(
        &mut vfedctl(
            data.path(),
            &[
                "watch",
                "54050200001320000009",
                "-o",
                file.to_str().unwrap(),
            ],
        ),
        Duration::from_secs(30),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    persons_log_in_and_act_under_their_role(data.path());
    drop(demo);
}

/// On the same demo: the admin logs in (token stored like kubectl's, in
/// VFEDCONFIG), creates an auditor, who logs in and is refused a device
/// change naming the permission and requirement; a wrong password is refused.
fn persons_log_in_and_act_under_their_role(data: &Path) {
    let config = data.join("vfedctl-config.json");
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vfedctl"));
        for var in [
            "VFEDCTL_ENDPOINT",
            "VFEDCTL_CA",
            "VFEDCTL_CERT",
            "VFEDCTL_KEY",
            "VFEDCTL_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("VFEDCONFIG", &config).args(args);
        match stdin {
            None => run_bounded(&mut cmd, Duration::from_secs(30)),
            Some(text) => {
                let mut child = cmd
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                use std::io::Write as _;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(text.as_bytes())
                    .unwrap();
                child.wait_with_output().unwrap()
            }
        }
    };
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let demo = data.to_str().unwrap();
    let password_file = data.join("admin-password");
    let o = run(
        &[
            "--demo",
            demo,
            "login",
            "admin",
            "--password-file",
            password_file.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let stored = std::fs::read_to_string(&config).unwrap();
    assert!(stored.contains("\"token\": \"vfed1."), "{stored}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the token file is private: {mode:o}");
    }
    // No --demo: the current context (the admin's login) is used.
    let o = run(&["-o", "json", "whoami"], None);
    assert!(o.status.success(), "{}", text(&o));
    let me: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(me["user"]["name"], "admin");
    assert_eq!(me["authenticated_by"], "token");
    let o = run(
        &[
            "users",
            "create",
            "aud",
            "--role",
            "auditor",
            "--password-stdin",
        ],
        Some("auditor-password-1\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    // A wrong password: refused (exit 1), nothing stored for the auditor.
    let o = run(
        &["--demo", demo, "login", "aud", "--password-stdin"],
        Some("wrong-password-11\n"),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("wrong password"), "{}", text(&o));
    let o = run(
        &["--demo", demo, "login", "aud", "--password-stdin"],
        Some("auditor-password-1\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let o = run(
        &["devices", "decommission", CAMERA, "--reason", "test"],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = text(&o);
    assert!(
        err.contains("devices.write") && err.contains("R15.1") && err.contains("auditor"),
        "{err}"
    );
}
