//! Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes.
//!
//! ```text
//! <origin>\n
//! <tree size, decimal>\n
//! <base64 root hash>\n
//! \n
//! — <key name> <base64(key id || Ed25519 signature of the three lines above)>\n
//! ```
//!
//! A parent countersigns (R18.6: the parent level notices any rewrite) by adding its own
//! signature line over the same body; see [`Checkpoint::countersign`]. Countersignatures are
//! plain Ed25519 note signatures (type 0x01), not C2SP `cosignature/v1` lines.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::error::{AuditError, Result};
use crate::keys::{PublicKey, SigningKey};
use crate::merkle::Hash;

/// Prefix of a signature line: em dash and space.
const SIG_PREFIX: &str = "\u{2014} ";

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The signer's key name.
    pub name: String,
    /// The signer's key id.
    pub key_id: [u8; 4],
    /// The signature bytes (64 for Ed25519).
    pub signature: Vec<u8>,
}

/// A signed statement that the log `origin` had `size` entries with Merkle `root`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin: the node id.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The RFC 6962 root of the first `size` entries.
    pub root: Hash,
    /// Optional extension lines of the body (kept so signatures still verify).
    pub extensions: Vec<String>,
    /// Signature lines, the log's own first, then countersignatures.
    pub signatures: Vec<NoteSignature>,
}

impl Checkpoint {
    /// A checkpoint signed by `key` (whose name should be `origin`).
    pub fn sign(origin: &str, size: u64, root: Hash, key: &SigningKey) -> Result<Self> {
        if origin.is_empty()
            || origin.contains(['\n', '\r'])
            || origin.chars().any(char::is_control)
        {
            return Err(AuditError::MalformedCheckpoint(format!(
                "origin {origin:?} must be one non-empty line"
            )));
        }
        let mut checkpoint = Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
            signatures: Vec::new(),
        };
        checkpoint.countersign(key);
        Ok(checkpoint)
    }

    /// The signed text: origin, size and root lines, then any extension lines.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for ext in &self.extensions {
            body.push_str(ext);
            body.push('\n');
        }
        body
    }

    /// Adds (or replaces) `key`'s signature line over the body.
    pub fn countersign(&mut self, key: &SigningKey) {
        let public = key.public_key();
        let line = NoteSignature {
            name: public.name().to_owned(),
            key_id: public.key_id(),
            signature: key.sign(self.body().as_bytes()).to_vec(),
        };
        match self
            .signatures
            .iter_mut()
            .find(|s| s.name == line.name && s.key_id == line.key_id)
        {
            Some(existing) => *existing = line,
            None => self.signatures.push(line),
        }
    }

    /// Checks that `key` signed this checkpoint. Lines of other keys are ignored.
    pub fn verify(&self, key: &PublicKey) -> Result<()> {
        let id = key.key_id();
        let body = self.body();
        let signed = self
            .signatures
            .iter()
            .filter(|s| s.name == key.name() && s.key_id == id)
            .any(|s| key.verify(body.as_bytes(), &s.signature));
        if signed {
            Ok(())
        } else {
            Err(AuditError::BadSignature {
                origin: self.origin.clone(),
                key: key.name().to_owned(),
            })
        }
    }

    /// The signed note text.
    pub fn to_note(&self) -> String {
        let mut note = self.body();
        note.push('\n');
        for sig in &self.signatures {
            let mut raw = sig.key_id.to_vec();
            raw.extend_from_slice(&sig.signature);
            note.push_str(SIG_PREFIX);
            note.push_str(&sig.name);
            note.push(' ');
            note.push_str(&B64.encode(raw));
            note.push('\n');
        }
        note
    }

    /// Parses a signed note; does not verify signatures (see [`Checkpoint::verify`]).
    pub fn parse(note: &str) -> Result<Self> {
        let bad = |why: &str| AuditError::MalformedCheckpoint(why.to_owned());
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(bad("control characters in note"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| bad("no blank line before signatures"))?;
        let (body, sigs) = (&note[..=split], &note[split + 2..]);
        let mut lines = body.lines();
        let origin = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| bad("no origin"))?;
        let size_line = lines.next().ok_or_else(|| bad("no tree size"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(bad("tree size is not a decimal number"));
        }
        let size = size_line
            .parse::<u64>()
            .map_err(|_| bad("tree size out of range"))?;
        let root_line = lines.next().ok_or_else(|| bad("no root hash"))?;
        let root: Hash = B64
            .decode(root_line)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| bad("root is not a base64 SHA-256 hash"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("empty extension line"));
        }
        if !sigs.ends_with('\n') {
            return Err(bad("signature lines must end with a newline"));
        }
        let mut signatures = Vec::new();
        for line in sigs.lines() {
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or_else(|| bad("signature line without em dash"))?;
            let (name, b64) = rest
                .split_once(' ')
                .ok_or_else(|| bad("signature line without key name"))?;
            let raw = B64
                .decode(b64)
                .map_err(|_| bad("signature is not base64"))?;
            if raw.len() < 5 || name.is_empty() {
                return Err(bad("signature too short"));
            }
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id: [raw[0], raw[1], raw[2], raw[3]],
                signature: raw[4..].to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(bad("no signature lines"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
            signatures,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::merkle::empty_root;

    #[test]
    fn sign_parse_verify_and_countersign() {
        let child = SigningKey::generate("city-1").unwrap();
        let parent = SigningKey::generate("county").unwrap();
        let mut cp = Checkpoint::sign("city-1", 42, empty_root(), &child).unwrap();
        let note = cp.to_note();
        assert!(note.starts_with(
            "city-1\n42\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n\u{2014} city-1 "
        ));
        let parsed = Checkpoint::parse(&note).unwrap();
        assert_eq!(parsed, cp);
        parsed.verify(&child.public_key()).unwrap();
        assert!(parsed.verify(&parent.public_key()).is_err());

        cp.countersign(&parent);
        let both = Checkpoint::parse(&cp.to_note()).unwrap();
        both.verify(&child.public_key()).unwrap();
        both.verify(&parent.public_key()).unwrap();
        assert_eq!(both.signatures.len(), 2);

        let forged = note.replace("\n42\n", "\n43\n");
        assert!(
            Checkpoint::parse(&forged)
                .unwrap()
                .verify(&child.public_key())
                .is_err()
        );
    }

    #[test]
    fn malformed_notes_are_refused() {
        for note in [
            "",
            "a\n1\n",
            "a\n01\nAAAA\n\n\u{2014} a AAAAAAA=\n",
            "a\nx\n\n\u{2014} a AAAAAAA=\n",
        ] {
            assert!(Checkpoint::parse(note).is_err(), "{note:?}");
        }
    }
}
