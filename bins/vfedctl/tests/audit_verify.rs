//! `vfedctl audit verify` on copies of a 10,000-entry audit log (R18.6), through the built
//! binary, offline: every kind of tampering exits 4 naming the first bad entry; an untouched
//! copy verifies; a log cut or rewritten **and re-signed** with the node's own key verifies
//! alone but not against the checkpoint its parent countersigned.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

use vfed_audit::format::{CHECKPOINTS_MAGIC, encode_header, encode_note_frame, read_checkpoints};
use vfed_audit::merkle::hash_leaf;
use vfed_audit::{
    AuditLog, AuditRecord, CHECKPOINTS_FILE, Checkpoint, LOG_FILE, MerkleTree, SigningKey,
};

const ENTRIES: u64 = 10_000;
const K: usize = 4711;
const ORIGIN: &str = "vfed/54050200002000000001";

/// One log of 10,000 entries written by 64 concurrent appenders (group commit), shared by
/// every test; each test tampers with its own copy.
fn fixture() -> &'static (tempfile::TempDir, SigningKey) {
    static LOG: OnceLock<(tempfile::TempDir, SigningKey)> = OnceLock::new();
    LOG.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(ORIGIN).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let log = AuditLog::open(dir.path(), key.clone()).unwrap();
            let mut tasks = Vec::new();
            for t in 0..64 {
                let log = log.clone();
                tasks.push(tokio::spawn(async move {
                    let mut i = t;
                    while i < ENTRIES {
                        let record = AuditRecord::new(
                            format!("user/officer-{}", i % 17),
                            "live.view.start",
                            format!("5405020000132{:07}", i % 101),
                        )
                        .with_purpose("incident 2025-117")
                        .with_destination("workstation/12");
                        log.append(record).await.unwrap();
                        i += 64;
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            log.close().await.unwrap();
        });
        (dir, key)
    })
}

/// A copy of the fixture's log and checkpoints.
fn copy() -> tempfile::TempDir {
    let (dir, _) = fixture();
    let to = tempfile::tempdir().unwrap();
    for name in [LOG_FILE, CHECKPOINTS_FILE] {
        std::fs::copy(dir.path().join(name), to.path().join(name)).unwrap();
    }
    to
}

fn key_text() -> String {
    fixture().1.public_key().to_string()
}

/// Byte ranges `[start, end)` of every frame of a log file.
fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let origin_len = u16::from_be_bytes([bytes[10], bytes[11]]) as usize;
    let mut pos = 12 + origin_len;
    let mut out = Vec::new();
    while pos + 4 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let end = pos + 4 + len + 32;
        if end > bytes.len() {
            break;
        }
        out.push((pos, end));
        pos = end;
    }
    out
}

fn tamper(dir: &Path, change: impl FnOnce(&mut Vec<u8>)) {
    let path = dir.join(LOG_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    change(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
}

fn vfedctl(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vfedctl"));
    for var in [
        "VFEDCTL_ENDPOINT",
        "VFEDCTL_CA",
        "VFEDCTL_CERT",
        "VFEDCTL_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(args).output().expect("vfedctl runs")
}

fn verify(dir: &Path, extra: &[&str]) -> Output {
    let key = key_text();
    let path = dir.display().to_string();
    let mut args = vec![
        "audit",
        "verify",
        path.as_str(),
        "--verifier-key",
        key.as_str(),
    ];
    args.extend_from_slice(extra);
    vfedctl(&args)
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Exit 4 and "first bad entry N" on stderr.
fn assert_tampered_at(o: &Output, index: u64) {
    assert_eq!(o.status.code(), Some(4), "{}", text(o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&format!("first bad entry {index}:")),
        "expected entry {index} named: {}",
        text(o)
    );
}

#[test]
fn an_untouched_copy_verifies() {
    let dir = copy();
    let o = verify(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("10000"),
        "{}",
        text(&o)
    );

    let o = verify(dir.path(), &["-o", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["entries"], ENTRIES);
    assert_eq!(json["last_checkpoint_size"], ENTRIES);

    // The log file instead of the directory, and the key from a file.
    let key_file = dir.path().join("node.vkey");
    std::fs::write(&key_file, key_text()).unwrap();
    let log = dir.path().join(LOG_FILE).display().to_string();
    let o = vfedctl(&[
        "audit",
        "verify",
        &log,
        "--vkey",
        &key_file.display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_flipped_byte_is_named() {
    let dir = copy();
    tamper(dir.path(), |bytes| {
        let (start, end) = frames(bytes)[K];
        bytes[(start + end) / 2] ^= 0x01;
    });
    assert_tampered_at(&verify(dir.path(), &[]), K as u64);
}

#[test]
fn a_deleted_entry_is_named() {
    let dir = copy();
    tamper(dir.path(), |bytes| {
        let (start, end) = frames(bytes)[K];
        bytes.drain(start..end);
    });
    assert_tampered_at(&verify(dir.path(), &[]), K as u64);
}

#[test]
fn a_truncated_tail_is_named() {
    // At a frame boundary...
    let dir = copy();
    tamper(dir.path(), |bytes| {
        let (start, _) = frames(bytes)[9_900];
        bytes.truncate(start);
    });
    assert_tampered_at(&verify(dir.path(), &[]), 9_900);
    // ... and in the middle of a frame.
    let dir = copy();
    tamper(dir.path(), |bytes| {
        let (start, end) = frames(bytes)[9_990];
        bytes.truncate((start + end) / 2);
    });
    assert_tampered_at(&verify(dir.path(), &[]), 9_990);
    // The JSON answer carries the index too.
    let o = verify(dir.path(), &["-o", "json"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["first_bad_index"], 9_990);
}

#[test]
fn reordered_entries_are_named() {
    let dir = copy();
    tamper(dir.path(), |bytes| {
        let f = frames(bytes);
        let (a, b) = (f[K], f[K + 1]);
        let first = bytes[a.0..a.1].to_vec();
        let second = bytes[b.0..b.1].to_vec();
        let mut swapped = second;
        swapped.extend_from_slice(&first);
        bytes.splice(a.0..b.1, swapped);
    });
    assert_tampered_at(&verify(dir.path(), &[]), K as u64);
}

/// The fixture's last checkpoint, countersigned by a parent key, written to a file.
fn countersigned(dir: &Path) -> (std::path::PathBuf, SigningKey) {
    let (fixture_dir, _) = fixture();
    let file = read_checkpoints(&fixture_dir.path().join(CHECKPOINTS_FILE)).unwrap();
    let mut note = file.checkpoints.last().unwrap().clone();
    assert_eq!(note.size, ENTRIES);
    let parent = SigningKey::generate("vfed/54050000002000000001").unwrap();
    note.countersign(&parent);
    let path = dir.join("countersigned.note");
    std::fs::write(&path, note.to_note()).unwrap();
    (path, parent)
}

/// Replaces the checkpoints file with one checkpoint over the log as it now is, signed
/// with the node's own key: what an administrator holding the key can do.
fn resign(dir: &Path) {
    let (_, key) = fixture();
    let bytes = std::fs::read(dir.join(LOG_FILE)).unwrap();
    let mut tree = MerkleTree::new();
    for (_, end) in frames(&bytes) {
        tree.push_leaf_hash(bytes[end - 32..end].try_into().unwrap());
    }
    let cp = Checkpoint::sign(ORIGIN, tree.size(), tree.root(), key).unwrap();
    let mut out = encode_header(CHECKPOINTS_MAGIC, ORIGIN).unwrap();
    encode_note_frame(&cp.to_note(), &mut out);
    std::fs::write(dir.join(CHECKPOINTS_FILE), out).unwrap();
}

#[test]
fn a_cut_and_re_signed_log_fails_against_the_parents_checkpoint() {
    let dir = copy();
    tamper(dir.path(), |bytes| {
        let (start, _) = frames(bytes)[5_000];
        bytes.truncate(start);
    });
    resign(dir.path());
    // Alone, the log is consistent with its (re-signed) checkpoints...
    let o = verify(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // ... but not with what the parent countersigned.
    let (note, parent) = countersigned(dir.path());
    let note = note.display().to_string();
    let parent_key = parent.public_key().to_string();
    let o = verify(
        dir.path(),
        &["--checkpoint", &note, "--parent-key", &parent_key],
    );
    assert_tampered_at(&o, 5_000);
}

#[test]
fn a_rewritten_and_re_signed_log_fails_against_the_parents_checkpoint() {
    let dir = copy();
    // Entry K rewritten with a recomputed leaf hash, then everything re-signed.
    tamper(dir.path(), |bytes| {
        let (start, end) = frames(bytes)[K];
        let payload = &bytes[start + 4..end - 32];
        let mut record = AuditRecord::from_bytes(payload).unwrap();
        record.actor = "user/somebody-else".into();
        let new = record.to_canonical_bytes().unwrap();
        let mut frame = (new.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&new);
        frame.extend_from_slice(&hash_leaf(&new));
        bytes.splice(start..end, frame);
    });
    resign(dir.path());
    let o = verify(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (note, parent) = countersigned(dir.path());
    let note = note.display().to_string();
    let parent_key = parent.public_key().to_string();
    let o = verify(
        dir.path(),
        &["--checkpoint", &note, "--parent-key", &parent_key],
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("rewritten"),
        "{}",
        text(&o)
    );
    // The untouched copy passes the same check, and a note not countersigned by the parent
    // key given is refused.
    let good = copy();
    let o = verify(
        good.path(),
        &["--checkpoint", &note, "--parent-key", &parent_key],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let other = SigningKey::generate("vfed/54050000002000000001").unwrap();
    let other = other.public_key().to_string();
    let o = verify(
        good.path(),
        &["--checkpoint", &note, "--parent-key", &other],
    );
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
}

#[test]
fn unreadable_inputs_are_usage_errors() {
    let dir = copy();
    let o = verify(&dir.path().join("missing"), &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let path = dir.path().display().to_string();
    let o = vfedctl(&["audit", "verify", &path, "--verifier-key", "not-a-key"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--verifier-key"),
        "{}",
        text(&o)
    );
    // Without --verifier-key and without verifier.key next to the log.
    let o = vfedctl(&["audit", "verify", &path]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_checkpoint_saved_by_jq_with_one_more_newline_is_accepted() {
    let good = copy();
    let (note, parent) = countersigned(good.path());
    let parent_key = parent.public_key().to_string();
    // `jq -r '.children[0].note' > FILE` writes the note and one more newline.
    let mut text_of_note = std::fs::read_to_string(&note).unwrap();
    text_of_note.push('\n');
    std::fs::write(&note, &text_of_note).unwrap();
    let note = note.display().to_string();
    let o = verify(
        good.path(),
        &["--checkpoint", &note, "--parent-key", &parent_key],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Two more are not a note.
    std::fs::write(&note, format!("{text_of_note}\n")).unwrap();
    let o = verify(
        good.path(),
        &["--checkpoint", &note, "--parent-key", &parent_key],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
