//! Valid inputs of each target, for the mutator to start from: a mutation
//! of a valid input gets past the first checks, where random bytes do not.

use vfed_audit::format::{self, CHECKPOINTS_MAGIC, LOG_MAGIC};
use vfed_audit::{AuditRecord, Checkpoint, MerkleTree, Outcome, SigningKey};
use vfed_relay::wire::{GopHeader, encode_control, encode_gop_header};

/// Relay framing: control messages, a GOP header with frames, a lone frame.
pub fn relay_framing() -> Vec<Vec<u8>> {
    let mut gop = encode_gop_header(GopHeader {
        request_id: 7,
        gop_seq: 42,
    })
    .to_vec();
    let frame = frame(b"\0\0\0\x01\x65keyframe", true);
    gop.extend_from_slice(&frame);
    gop.extend_from_slice(&self::frame(b"\0\0\0\x01\x41delta", false));
    vec![
        encode_control(&Default::default()).to_vec(),
        // A length prefix then a protobuf field 1, length-delimited.
        b"\0\0\0\x08\x0a\x06\x0a\x04abcd".to_vec(),
        gop,
        frame,
    ]
}

/// A frame as the relay writes it: u32 length, pts, dts, ingest time (i64
/// each), flags, payload.
fn frame(payload: &[u8], keyframe: bool) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(&9000i64.to_be_bytes());
    out.extend_from_slice(&6000i64.to_be_bytes());
    out.extend_from_slice(&1_700_000_000_000_000i64.to_be_bytes());
    out.push(u8::from(keyframe));
    out.extend_from_slice(payload);
    out
}

/// HLS paths.
pub fn hls_path() -> Vec<Vec<u8>> {
    [
        "/live/54050200001320000001/main/index.m3u8",
        "/live/54050200001320000001/sub/init.mp4",
        "/live/54050200001320000001/main/segment-17.m4s",
        "54050200001320000001/main",
        "segment-18446744073709551615.m4s",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Tokens and claims.
pub fn token() -> Vec<Vec<u8>> {
    let claims =
        br#"{"sub":"alice","iss":"54050000002000000001","iat":1700000000,"exp":1700003600}"#;
    let mut seeds = vec![
        claims.to_vec(),
        b"vfed1.e30.AAAA".to_vec(),
        // Found by this target: an expiry at i64::MIN overflowed the "expired
        // N s ago" arithmetic (a panic in a debug build).
        br#"{"sub":"a","iss":"n","iat":0,"exp":-9223372036854775808}"#.to_vec(),
    ];
    if let (Ok(key), Ok(parsed)) = (
        vfed_auth::TokenKey::from_bytes(&[7u8; 32]),
        serde_json::from_slice::<vfed_auth::Claims>(claims),
    ) && let Ok(token) = key.issue(&parsed)
    {
        seeds.push(token.into_bytes());
    }
    seeds
}

fn record() -> AuditRecord {
    AuditRecord {
        index: 3,
        time_unix_ms: 1_700_000_000_000,
        actor: "user/alice".into(),
        action: "live.view.start".into(),
        target: "54050200001320000001/main".into(),
        purpose: "incident 42".into(),
        destination: "node/54050000002000000001".into(),
        outcome: Outcome::Refused {
            reason: "no grant".into(),
            requirement: "R13".into(),
        },
        details: serde_json::json!({"b": [1, 2.5, null], "a": {"nested": true}}),
    }
}

/// Audit records.
pub fn audit_record() -> Vec<Vec<u8>> {
    record().to_canonical_bytes().into_iter().collect()
}

fn signed_checkpoint() -> Option<Checkpoint> {
    let key = SigningKey::from_seed("54050200002000000001", [9u8; 32]).ok()?;
    let mut tree = MerkleTree::default();
    tree.push(b"one");
    tree.push(b"two");
    Checkpoint::sign("54050200002000000001", tree.size(), tree.root(), &key).ok()
}

/// Checkpoint notes and key texts.
pub fn checkpoint() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    if let Some(checkpoint) = signed_checkpoint() {
        seeds.push(checkpoint.to_note().into_bytes());
    }
    if let Ok(key) = SigningKey::from_seed("54050200002000000001", [9u8; 32]) {
        seeds.push(key.to_private_string().into_bytes());
        seeds.push(key.public_key().to_string().into_bytes());
    }
    seeds
}

/// A tlog-proof over a signed checkpoint, and package paths.
pub fn evidence() -> Vec<Vec<u8>> {
    let mut seeds = vec![
        b"media/54050200001320000001/main/1764280000000.mp4".to_vec(),
        b"../keys/node.vkey".to_vec(),
    ];
    if let Some(checkpoint) = signed_checkpoint() {
        let proof = vfed_evidence::proof::TlogProof {
            index: 1,
            hashes: vec![[7u8; 32], [8u8; 32]],
            checkpoint,
        };
        seeds.push(proof.to_text().into_bytes());
    }
    seeds
}

/// A log file and a checkpoints file, each with two frames.
pub fn audit_files() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    if let Ok(mut log) = format::encode_header(LOG_MAGIC, "54050200002000000001") {
        for record in audit_record() {
            let leaf = vfed_audit::merkle::hash_leaf(&record);
            format::encode_log_frame(&record, &leaf, &mut log);
            format::encode_log_frame(&record, &leaf, &mut log);
        }
        seeds.push(log);
    }
    if let (Ok(mut file), Some(checkpoint)) = (
        format::encode_header(CHECKPOINTS_MAGIC, "54050200002000000001"),
        signed_checkpoint(),
    ) {
        format::encode_note_frame(&checkpoint.to_note(), &mut file);
        format::encode_note_frame(&checkpoint.to_note(), &mut file);
        seeds.push(file);
    }
    seeds
}

/// Config files and `--set` lines.
pub fn config() -> Vec<Vec<u8>> {
    let file = r#"
[node]
id = "54050200002000000001"
name = "Naidong county platform"
level = "county"
[node.parent]
id = "54050000002000000001"
endpoint = "https://127.0.0.1:7100"
[[node.children]]
id = "54050200102000000001"
name = "a site"
[listen]
grpc = "127.0.0.1:7200"
http = "127.0.0.1:7280"
[connections.http]
header_timeout = "10s"
idle_timeout = "1m"
max_connections = 4096
[federation]
batch_size = 1000
heartbeat = "1s"
"#;
    vec![
        file.as_bytes().to_vec(),
        b"node.id=54050200002000000001\nnode.name=Naidong\nconnections.grpc.max_connections=10\nliveness.missed_periods=3".to_vec(),
    ]
}
