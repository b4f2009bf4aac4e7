//! `manifest.json`: the request the package answers (ID, legal document
//! and its SHA-256, signers and approver, purpose, agency), the devices
//! and ranges, and every file with its hashes. Everything a verifier
//! needs to find and check the rest of the package.

use serde::{Deserialize, Serialize};

/// The `format` of packages this crate writes and reads.
pub const FORMAT: &str = "vfed-evidence/1";

/// A signature on the request: who, in which role and unit, when.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// Account name.
    pub user: String,
    /// Role when signing.
    pub role: String,
    /// The account's unit.
    pub unit: String,
    /// When (Unix seconds).
    pub signed_unix: i64,
}

/// The legal document presented with the request (R16).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalDocument {
    /// Its type, e.g. `case-filing`.
    pub kind: String,
    /// Its number.
    pub number: String,
    /// Who issued it.
    pub issuing_authority: String,
    /// SHA-256 of the scanned document, hex.
    pub sha256: String,
}

/// The approved retrieval request the package answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Request ID.
    pub id: String,
    /// The legal document.
    pub legal_document: LegalDocument,
    /// Why (R14.5).
    pub purpose: String,
    /// Where the video goes (R14.5).
    pub requesting_agency: String,
    /// The devices.
    pub device_ids: Vec<String>,
    /// Start of the period (Unix seconds).
    pub from_unix: i64,
    /// End of the period (Unix seconds).
    pub to_unix: i64,
    /// When the request lapses (Unix seconds).
    pub expires_unix: i64,
    /// The filing officer.
    pub filed_by: Signer,
    /// The co-signing officer.
    pub cosigned_by: Signer,
    /// The custodian who approved it.
    pub approved_by: Signer,
}

/// One fragment (`moof` + `mdat`) in a package file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FragmentRef {
    /// Its position in the recorded file (and in the logged manifest's
    /// `fragments_sha256`).
    pub index: usize,
    /// Byte offset in the package file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Wall-clock start, Unix ms.
    pub start_unix_ms: i64,
    /// Wall-clock end, Unix ms.
    pub end_unix_ms: i64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// One media file of the package: the recorded file's init segment and
/// the fragments covering the range, byte for byte as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path in the package (`media/...`).
    pub path: String,
    /// The recorded file, relative to the node's archive (`<device>/<profile>/<start>.mp4`),
    /// as its log entry names it.
    pub source: String,
    /// The device.
    pub device_id: String,
    /// `main` or `sub`.
    pub profile: String,
    /// Length of the package file.
    pub len: u64,
    /// SHA-256 of the package file, hex.
    pub sha256: String,
    /// Length of the init segment (at offset 0).
    pub init_len: u64,
    /// SHA-256 of the init segment, hex.
    pub init_sha256: String,
    /// The fragments, in file order.
    pub fragments: Vec<FragmentRef>,
    /// Index of the file's manifest entry in the node's audit log.
    pub log_index: u64,
    /// Path of that entry's canonical bytes (`proofs/....entry.json`).
    pub entry: String,
    /// Path of its inclusion proof (`proofs/....proof`).
    pub proof: String,
}

/// A recorded fragment as the archive's index has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFragment {
    /// Position in the recorded file.
    pub index: usize,
    /// Length in bytes.
    pub len: u64,
    /// Wall-clock start, Unix ms.
    pub start_unix_ms: i64,
    /// Wall-clock end, Unix ms.
    pub end_unix_ms: i64,
    /// SHA-256, hex.
    pub sha256: String,
}

impl FileEntry {
    /// The entry of a package file made of the init segment of `source`
    /// and `fragments` (in file order), laid out one after the other; its
    /// `sha256` is left empty for the writer to fill in.
    pub fn plan(
        source: &str,
        device_id: &str,
        profile: &str,
        (init_len, init_sha256): (u64, &str),
        fragments: impl IntoIterator<Item = SourceFragment>,
        log_index: u64,
    ) -> Self {
        let mut offset = init_len;
        let fragments: Vec<FragmentRef> = fragments
            .into_iter()
            .map(|f| {
                let placed = FragmentRef {
                    index: f.index,
                    offset,
                    len: f.len,
                    start_unix_ms: f.start_unix_ms,
                    end_unix_ms: f.end_unix_ms,
                    sha256: f.sha256,
                };
                offset += f.len;
                placed
            })
            .collect();
        FileEntry {
            path: crate::layout::media_path(source),
            source: source.to_owned(),
            device_id: device_id.to_owned(),
            profile: profile.to_owned(),
            len: offset,
            sha256: String::new(),
            init_len,
            init_sha256: init_sha256.to_owned(),
            fragments,
            log_index,
            entry: crate::layout::entry_path(source),
            proof: crate::layout::proof_path(source),
        }
    }

    /// Start of the first fragment, Unix ms.
    pub fn start_unix_ms(&self) -> i64 {
        self.fragments.first().map_or(0, |f| f.start_unix_ms)
    }
}

/// Another file of the package (keys, proofs, log entries) and its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OtherFile {
    /// Path in the package.
    pub path: String,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The requested range of one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// The device.
    pub device_id: String,
    /// Start, Unix ms.
    pub from_unix_ms: i64,
    /// End, Unix ms.
    pub to_unix_ms: i64,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// The node that holds the video (its audit log's origin is `vfed/<id>`).
    pub node_id: String,
    /// Its parent, whose countersignature covers the proofs.
    pub parent_id: String,
    /// Who exported it (`user/<name>`).
    pub exported_by: String,
    /// When, Unix ms.
    pub exported_unix_ms: i64,
    /// The request.
    pub request: Request,
    /// Devices and ranges.
    pub ranges: Vec<Range>,
    /// The media files.
    pub files: Vec<FileEntry>,
    /// Keys, proofs and log entries.
    pub other_files: Vec<OtherFile>,
}

impl Manifest {
    /// The manifest's bytes as written (pretty JSON and a newline).
    pub fn to_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}
