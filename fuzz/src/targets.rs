//! The fuzz targets: one function per parser of untrusted bytes. Each
//! returns normally for any input; a panic is the bug.

use std::io::Cursor;
use std::path::Path;
use std::str::FromStr;

use bytes::Bytes;
use vfed_audit::format::{self, FrameRead, FrameReader};
use vfed_audit::{AuditRecord, Checkpoint, PublicKey, SigningKey};
use vfed_relay::wire::{Decoded, decode_control, decode_frame, decode_gop_header, encode_control};

/// A fixed "now" for token checks (2023-11-14).
const NOW: i64 = 1_700_000_000;

/// The relay's QUIC framing (services/relay/src/wire): control messages,
/// GOP headers and frames, as a peer may send them.
pub fn relay_framing(data: &[u8]) {
    if let Ok(Decoded::Value(message, used)) = decode_control(data) {
        assert!(used <= data.len(), "control decoder used more than it had");
        // What decodes re-encodes to a message that decodes the same.
        let again = encode_control(&message);
        match decode_control(&again) {
            Ok(Decoded::Value(same, n)) => {
                assert_eq!(same, message);
                assert_eq!(n, again.len());
            }
            other => panic!("re-encoded control message does not decode: {other:?}"),
        }
    }
    if let Ok(Decoded::Value(_, used)) = decode_gop_header(data) {
        // A GOP stream: header then frames until the input runs out.
        let mut rest = Bytes::copy_from_slice(&data[used..]);
        while let Ok(Decoded::Value(frame, used)) = decode_frame(&rest) {
            assert!(used <= rest.len(), "frame decoder used more than it had");
            assert!(used > 0, "frame decoder made no progress");
            let _ = frame;
            rest = rest.slice(used..);
        }
    } else if let Ok(Decoded::Value(_, used)) = decode_frame(&Bytes::copy_from_slice(data)) {
        assert!(used <= data.len());
    }
}

/// HLS egress paths: `/live/{device}/{profile}/{resource}` as the router
/// splits them, through the stream key and segment name parsers.
pub fn hls_path(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let _ = vfed_relay::StreamKey::parse(path);
    let mut parts = path.trim_start_matches('/').splitn(4, '/');
    let (_, device, profile, resource) = (parts.next(), parts.next(), parts.next(), parts.next());
    if let (Some(device), Some(profile)) = (device, profile)
        && let Ok(key) = vfed_relay::StreamKey::new(device, profile)
    {
        assert_eq!(key.to_string(), format!("{device}/{profile}"));
    }
    if let Some(sequence) = vfed_relay::egress::segment_sequence(resource.unwrap_or(path)) {
        let _ = sequence;
    }
}

/// Bearer tokens (services/auth/src/token.rs): any string as a token, and
/// any claims JSON signed with the node's key (what a holder of a valid
/// token, or of the key, can make).
pub fn token(data: &[u8]) {
    let key = vfed_auth::TokenKey::from_bytes(&[7u8; 32]).unwrap_or_else(|_| unreachable!());
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = key.verify(text, NOW);
    }
    if let Ok(claims) = serde_json::from_slice::<vfed_auth::Claims>(data)
        && let Ok(token) = key.issue(&claims)
    {
        let _ = key.verify(&token, NOW);
    }
}

/// Audit records as stored in the log (crates/audit/src/record.rs).
pub fn audit_record(data: &[u8]) {
    if let Ok(record) = AuditRecord::from_bytes(data)
        && let Ok(bytes) = record.to_canonical_bytes()
    {
        assert!(
            AuditRecord::from_bytes(&bytes).is_ok(),
            "a canonical record does not parse"
        );
    }
}

/// The audit log and checkpoints files (crates/audit/src/format.rs): the
/// header, then frames, each payload parsed as what it holds.
pub fn audit_files(data: &[u8]) {
    let path = Path::new("fuzz-input");
    for (magic, log) in [
        (format::LOG_MAGIC, true),
        (format::CHECKPOINTS_MAGIC, false),
    ] {
        let mut cursor = Cursor::new(data);
        let Ok((_, header_len)) = format::read_header(&mut cursor, magic, path) else {
            continue;
        };
        let mut frames = if log {
            FrameReader::log(cursor, header_len)
        } else {
            FrameReader::checkpoints(cursor, header_len)
        };
        for _ in 0..data.len() {
            match frames.next_frame() {
                Ok(FrameRead::Frame { payload, .. }) => {
                    assert!(frames.good_offset <= data.len() as u64);
                    if log {
                        let _ = AuditRecord::from_bytes(&payload);
                    } else if let Ok(note) = std::str::from_utf8(&payload) {
                        let _ = Checkpoint::parse(note);
                    }
                }
                _ => break,
            }
        }
    }
}

/// Signed checkpoint notes and the key texts beside them
/// (crates/audit/src/checkpoint.rs, keys.rs): what a child sends its
/// parent to countersign, and what an operator pastes.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = Checkpoint::parse(text) {
        let note = parsed.to_note();
        match Checkpoint::parse(&note) {
            Ok(again) => assert_eq!(again, parsed, "a checkpoint does not survive its note"),
            Err(e) => panic!("a parsed checkpoint's note does not parse: {e}"),
        }
    }
    let _ = PublicKey::from_str(text);
    let _ = SigningKey::parse_private(text);
}

/// Evidence packages (crates/evidence): the tlog-proof files, the
/// manifest and the paths in it, read from someone else's disk or the
/// network by `vfedctl evidence verify` and `retrieval export`.
pub fn evidence(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(proof) = vfed_evidence::proof::TlogProof::parse(text) {
        match vfed_evidence::proof::TlogProof::parse(&proof.to_text()) {
            Ok(again) => assert_eq!(again, proof, "a proof does not survive its text"),
            Err(e) => panic!("a parsed proof's text does not parse: {e}"),
        }
    }
    if let Ok(manifest) = serde_json::from_str::<vfed_evidence::Manifest>(text) {
        for file in &manifest.files {
            let _ = vfed_evidence::layout::check_relative(&file.path);
        }
    }
    if let Ok(path) = vfed_evidence::layout::check_relative(text) {
        assert!(path.is_relative(), "{text:?} passed as relative");
        assert!(!text.split('/').any(|p| p == ".."), "{text:?} climbs out");
    }
}

/// Node configuration (crates/config): a TOML file, and `--set` overrides.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = vfed_config::from_toml(text);
    let overrides: Vec<String> = text.lines().take(16).map(str::to_owned).collect();
    let _ = vfed_config::load(None, &overrides);
}
