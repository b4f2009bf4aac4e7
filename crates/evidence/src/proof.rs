//! Inclusion proofs in the C2SP `tlog-proof` format:
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! index <decimal leaf index>
//! <base64 hash>            one line per proof hash, leaf to root (RFC 6962)
//!
//! <checkpoint: signed note with the node's signature and the parent's countersignature>
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use vfed_audit::Checkpoint;
use vfed_audit::merkle::Hash;

/// First line of a proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Most proof hashes accepted (a tree of 2^63 leaves needs 63).
pub const MAX_HASHES: usize = 64;

/// An inclusion proof with its checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlogProof {
    /// The leaf's index.
    pub index: u64,
    /// The proof hashes.
    pub hashes: Vec<Hash>,
    /// The checkpoint the proof leads to.
    pub checkpoint: Checkpoint,
}

impl TlogProof {
    /// The proof's text.
    pub fn to_text(&self) -> String {
        let mut text = format!("{HEADER}\nindex {}\n", self.index);
        for hash in &self.hashes {
            text.push_str(&B64.encode(hash));
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.checkpoint.to_note());
        text
    }

    /// Parses a proof (the checkpoint's signatures are not checked here).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (head, note) = text
            .split_once("\n\n")
            .ok_or("no blank line between the proof and its checkpoint")?;
        let mut lines = head.lines();
        if lines.next() != Some(HEADER) {
            return Err(format!("the first line is not {HEADER:?}"));
        }
        let mut line = lines.next().ok_or("no index line")?;
        if line.starts_with("extra ") {
            line = lines.next().ok_or("no index line")?;
        }
        let index = line
            .strip_prefix("index ")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or("the index line is not `index <decimal>`")?;
        let mut hashes = Vec::new();
        for line in lines {
            if hashes.len() == MAX_HASHES {
                return Err(format!("more than {MAX_HASHES} proof hashes"));
            }
            let hash: Hash = B64
                .decode(line)
                .ok()
                .and_then(|h| h.try_into().ok())
                .ok_or_else(|| format!("proof line {line:?} is not a base64 SHA-256 hash"))?;
            hashes.push(hash);
        }
        let checkpoint = Checkpoint::parse(note).map_err(|e| format!("checkpoint: {e}"))?;
        Ok(TlogProof {
            index,
            hashes,
            checkpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use vfed_audit::{MerkleTree, SigningKey};

    #[test]
    fn round_trip_and_refusals() {
        let key = SigningKey::generate("vfed/n").unwrap();
        let mut tree = MerkleTree::new();
        for i in 0..5u8 {
            tree.push(&[i]);
        }
        let proof = TlogProof {
            index: 3,
            hashes: tree.inclusion_proof(3, 5).unwrap(),
            checkpoint: Checkpoint::sign("vfed/n", 5, tree.root(), &key).unwrap(),
        };
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 3\n"));
        assert_eq!(TlogProof::parse(&text).unwrap(), proof);
        for bad in [
            text.replace("tlog-proof@v1", "tlog-proof@v2"),
            text.replace("index 3", "index x"),
            text.replace("\n\n", "\n"),
            text.replacen("\nindex 3\n", "\nindex 3\nnot-base64!\n", 1),
        ] {
            assert!(TlogProof::parse(&bad).is_err(), "{bad}");
        }
    }
}
