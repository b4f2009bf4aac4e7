//! Flags of the retrieval commands and the request they build. Syntax is
//! checked here (exit 2 naming the flag); the rules, on the server.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgGroup, Args, ValueEnum};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use vfed_proto::retrieval::v1 as pb;

use crate::exit::usage;
use crate::values;

/// Arguments of `retrieval file`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("document").required(true).args(["doc_file", "doc_sha256"])))]
pub struct FileArgs {
    /// Type of the legal document, e.g. case-filing.
    #[arg(long, value_name = "TYPE")]
    pub doc_type: String,

    /// Number of the legal document.
    #[arg(long, value_name = "NUMBER")]
    pub doc_number: String,

    /// Authority that issued the legal document.
    #[arg(long, value_name = "AUTHORITY")]
    pub authority: String,

    /// The scanned legal document: its SHA-256 is sent, not the file.
    #[arg(long, value_name = "FILE")]
    pub doc_file: Option<PathBuf>,

    /// The SHA-256 of the scanned document (64 hex digits), instead of --doc-file.
    #[arg(long, value_name = "HEX")]
    pub doc_sha256: Option<String>,

    /// Why the video is needed (recorded with every access, R14.5).
    #[arg(long)]
    pub purpose: String,

    /// The agency the video goes to.
    #[arg(long, value_name = "AGENCY")]
    pub agency: String,

    /// A device whose recordings are asked for (repeat for several).
    #[arg(long = "device", value_name = "ID", required = true, value_parser = values::device_id)]
    pub devices: Vec<String>,

    /// Start of the recorded period: RFC 3339 (2025-11-27T08:00:00Z) or unix seconds.
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub from: i64,

    /// End of the recorded period (not in the future).
    #[arg(long, value_name = "TIME", value_parser = instant)]
    pub to: i64,

    /// Lifetime of the request, e.g. 24h (default: the node's, 72h unless configured).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub expires_in: Option<Duration>,

    /// Print the request that would be sent and stop (no connection).
    #[arg(long)]
    pub dry_run: bool,
}

/// A time given as RFC 3339 or as unix seconds.
pub fn instant(input: &str) -> Result<i64, String> {
    let input = input.trim();
    if let Ok(seconds) = input.parse::<i64>() {
        return Ok(seconds);
    }
    OffsetDateTime::parse(input, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|e| {
            format!("expected RFC 3339 (2025-11-27T08:00:00Z) or unix seconds, got {input:?} ({e})")
        })
}

/// The SHA-256 of the file at `path`, in lowercase hex.
pub fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| usage(format!("--doc-file {}: {e}", path.display())))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| usage(format!("--doc-file {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

impl FileArgs {
    /// The request to send.
    pub fn request(&self) -> anyhow::Result<pb::RetrievalRequest> {
        let sha256 = match (&self.doc_file, &self.doc_sha256) {
            (Some(path), _) => sha256_of(path)?,
            (None, Some(hex)) => hex.trim().to_owned(),
            (None, None) => return Err(usage("--doc-file or --doc-sha256 is required")),
        };
        let expires_unix = match self.expires_in {
            None => 0,
            Some(d) => {
                let secs =
                    i64::try_from(d.as_secs()).map_err(|_| usage("--expires-in: too long"))?;
                unix_now().saturating_add(secs.max(1))
            }
        };
        Ok(pb::RetrievalRequest {
            legal_document: Some(pb::LegalDocument {
                r#type: self.doc_type.clone(),
                number: self.doc_number.clone(),
                issuing_authority: self.authority.clone(),
                sha256,
            }),
            purpose: self.purpose.clone(),
            requesting_agency: self.agency.clone(),
            device_ids: self.devices.clone(),
            from_unix: self.from,
            to_unix: self.to,
            expires_unix,
            ..Default::default()
        })
    }
}

/// Arguments of `retrieval reject`.
#[derive(Debug, Args)]
pub struct RejectArgs {
    /// The request ID.
    pub id: String,
    /// Why (recorded with the decision).
    #[arg(long)]
    pub reason: String,
}

/// A request state, for `list --state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    /// Waiting for a co-signature.
    Filed,
    /// Waiting for the custodian.
    Cosigned,
    /// Access may be opened.
    Approved,
    /// Refused by the custodian.
    Rejected,
    /// Lapsed.
    Expired,
}

impl From<StateArg> for i32 {
    fn from(state: StateArg) -> i32 {
        let state = match state {
            StateArg::Filed => pb::State::Filed,
            StateArg::Cosigned => pb::State::Cosigned,
            StateArg::Approved => pb::State::Approved,
            StateArg::Rejected => pb::State::Rejected,
            StateArg::Expired => pb::State::Expired,
        };
        state.into()
    }
}

/// Arguments of `retrieval list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only requests in this state.
    #[arg(long, value_enum)]
    pub state: Option<StateArg>,
    /// At most this many (server default 100, at most 1000).
    #[arg(long)]
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants() {
        assert_eq!(instant("1764230400"), Ok(1_764_230_400));
        assert_eq!(instant("2025-11-27T08:00:00Z"), Ok(1_764_230_400));
        assert_eq!(instant("2025-11-27T16:00:00+08:00"), Ok(1_764_230_400));
        assert!(instant("yesterday").is_err());
    }

    #[test]
    fn file_digest() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("scan.pdf");
        std::fs::write(&path, b"abc")?;
        assert_eq!(
            sha256_of(&path)?,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let missing = sha256_of(&dir.path().join("nope.pdf")).expect_err("missing");
        assert!(missing.to_string().starts_with("--doc-file "), "{missing}");
        Ok(())
    }
}
