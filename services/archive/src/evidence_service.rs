//! The `vfed.archive.v1.Evidence` gRPC service: the evidence package of an
//! approved retrieval request (R16, R17, R14.5), streamed file by file.
//!
//! The auth layer has checked the permission (`retrieval.access`, officers)
//! and logs the call as `recording.export` (or its refusal, R17); whether
//! the caller signed this request, and whether it is approved and not
//! expired, is asked of the retrieval workflow ([`ApprovedRequests`]).
//! Every check and proof is made before the first byte is sent; the
//! complete package is then logged as `recording.exported` with its
//! SHA-256, purpose and destination (R14.5).

use std::pin::Pin;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};
use vfed_audit::AuditRecord;
use vfed_authz::principal_of;
use vfed_evidence::layout::{MANIFEST_FILE, NODE_KEY_FILE, PARENT_KEY_FILE};
use vfed_evidence::manifest::{FORMAT, Manifest, OtherFile, Range};
use vfed_proto::archive::v1 as pb;
use vfed_proto::archive::v1::evidence_server::Evidence;

use crate::archive::{Archive, now_unix_ms};
use crate::export::{self, ApprovedRequests, ManifestLog, PlannedFile};

/// Largest chunk sent.
const CHUNK: usize = 1 << 20;
/// Longest `output_dir`.
const MAX_OUTPUT_DIR: usize = 1024;

/// The evidence export over a node's archive.
#[derive(Clone)]
pub struct EvidenceService {
    archive: Archive,
    requests: Arc<dyn ApprovedRequests>,
    log: Arc<dyn ManifestLog>,
}

impl EvidenceService {
    /// Exports from `archive` the requests `requests` allows, with proofs from `log`.
    pub fn new(
        archive: Archive,
        requests: Arc<dyn ApprovedRequests>,
        log: Arc<dyn ManifestLog>,
    ) -> Self {
        Self {
            archive,
            requests,
            log,
        }
    }
}

type Chunks = mpsc::Sender<Result<pb::ExportChunk, Status>>;

/// The receiver went away.
struct Gone;

/// A package whose every check and proof is done, ready to send.
struct Package {
    manifest: Manifest,
    media: Vec<PlannedFile>,
    /// Keys, log entries and proofs: (path, bytes).
    others: Vec<(String, Vec<u8>)>,
    output_dir: String,
}

async fn send(tx: &Chunks, chunk: pb::ExportChunk) -> Result<(), Gone> {
    tx.send(Ok(chunk)).await.map_err(|_| Gone)
}

/// Sends `bytes` as the file `path`, in chunks; the last carries `package_sha256`.
async fn send_file(
    tx: &Chunks,
    path: &str,
    bytes: &[u8],
    package_sha256: &str,
) -> Result<(), Gone> {
    let mut pieces = bytes.chunks(CHUNK).peekable();
    if pieces.peek().is_none() {
        return send(tx, chunk(path, Vec::new(), true, package_sha256)).await;
    }
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        let sha = if last { package_sha256 } else { "" };
        send(tx, chunk(path, piece.to_vec(), last, sha)).await?;
    }
    Ok(())
}

fn chunk(path: &str, data: Vec<u8>, last: bool, package_sha256: &str) -> pb::ExportChunk {
    pb::ExportChunk {
        path: path.to_owned(),
        data,
        last,
        package_sha256: package_sha256.to_owned(),
    }
}

/// Sends one media file (init segment, then the planned fragments, read
/// from the recorded file as they are); returns its SHA-256 and length.
async fn send_media(
    tx: &Chunks,
    file: &PlannedFile,
) -> Result<Result<(String, u64), Status>, Gone> {
    let io = |e: std::io::Error| Status::unavailable(format!("{}: {e}", file.entry.source));
    let mut media = match tokio::fs::File::open(&file.media).await {
        Ok(f) => f,
        Err(e) => return Ok(Err(io(e))),
    };
    let ranges =
        std::iter::once((0, file.entry.init_len)).chain(file.source_ranges.iter().copied());
    let total = file.entry.len;
    let mut sent = 0u64;
    let mut hash = Sha256::new();
    for (offset, len) in ranges {
        if let Err(e) = media.seek(std::io::SeekFrom::Start(offset)).await {
            return Ok(Err(io(e)));
        }
        let mut left = len;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
            let mut data = vec![0u8; n];
            if let Err(e) = media.read_exact(&mut data).await {
                return Ok(Err(io(e)));
            }
            hash.update(&data);
            left -= n as u64;
            sent += n as u64;
            send(tx, chunk(&file.entry.path, data, sent == total, "")).await?;
        }
    }
    if total == 0 {
        send(tx, chunk(&file.entry.path, Vec::new(), true, "")).await?;
    }
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Ok((digest, sent)))
}

impl EvidenceService {
    /// Sends `package`; returns the package's SHA-256 and the bytes sent.
    async fn send_package(
        tx: &Chunks,
        mut package: Package,
    ) -> Result<Result<(String, u64), Status>, Gone> {
        let mut bytes = 0u64;
        for (path, data) in &package.others {
            send_file(tx, path, data, "").await?;
            bytes += data.len() as u64;
            package.manifest.other_files.push(OtherFile {
                path: path.clone(),
                sha256: vfed_evidence::sha256_hex(data),
            });
        }
        for (planned, entry) in package.media.iter().zip(package.manifest.files.iter_mut()) {
            match send_media(tx, planned).await? {
                Ok((sha256, len)) => {
                    entry.sha256 = sha256;
                    bytes += len;
                }
                Err(status) => return Ok(Err(status)),
            }
        }
        let manifest = match package.manifest.to_bytes() {
            Ok(m) => m,
            Err(e) => return Ok(Err(Status::internal(format!("manifest: {e}")))),
        };
        let package_sha256 = vfed_evidence::sha256_hex(&manifest);
        bytes += manifest.len() as u64;
        send_file(tx, MANIFEST_FILE, &manifest, &package_sha256).await?;
        Ok(Ok((package_sha256, bytes)))
    }

    /// Checks, plans and proves the package of request `id` for `caller`.
    async fn prepare(
        &self,
        caller: &vfed_authz::Principal,
        id: &str,
        output_dir: String,
    ) -> Result<Package, Status> {
        let request = self.requests.exportable(id, caller).await?;
        let (from, to) = (
            request.from_unix.saturating_mul(1000),
            request.to_unix.saturating_mul(1000),
        );
        let root = self.archive.dir().to_path_buf();
        let devices = request.device_ids.clone();
        let mut media =
            tokio::task::spawn_blocking(move || export::plan_files(&root, &devices, from, to))
                .await
                .map_err(|e| Status::internal(e.to_string()))??;
        if media.is_empty() {
            return Err(Status::not_found(format!(
                "nothing is recorded at node {} for the devices of request {id} in its period; nothing was released",
                self.archive.options().node_id
            )));
        }
        let (countersigned, proofs) = export::prove(self.log.as_ref(), &mut media).await?;
        let mut others = vec![
            (
                NODE_KEY_FILE.to_owned(),
                format!("{}\n", countersigned.node_key).into_bytes(),
            ),
            (
                PARENT_KEY_FILE.to_owned(),
                format!("{}\n", countersigned.parent_key).into_bytes(),
            ),
        ];
        for (file, (logged, proof)) in media.iter().zip(proofs) {
            others.push((file.entry.entry.clone(), logged.entry));
            others.push((file.entry.proof.clone(), proof.to_text().into_bytes()));
        }
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            node_id: self.archive.options().node_id.clone(),
            parent_id: countersigned.parent_id.clone(),
            exported_by: caller.actor(),
            exported_unix_ms: now_unix_ms(),
            ranges: request
                .device_ids
                .iter()
                .map(|d| Range {
                    device_id: d.clone(),
                    from_unix_ms: from,
                    to_unix_ms: to,
                })
                .collect(),
            request,
            files: media.iter().map(|f| f.entry.clone()).collect(),
            other_files: Vec::new(),
        };
        Ok(Package {
            manifest,
            media,
            others,
            output_dir,
        })
    }
}

#[tonic::async_trait]
impl Evidence for EvidenceService {
    type ExportStream =
        Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::ExportChunk, Status>> + Send>>;

    #[tracing::instrument(err, skip_all, fields(id = %request.get_ref().id))]
    async fn export(
        &self,
        request: Request<pb::ExportRequest>,
    ) -> Result<Response<Self::ExportStream>, Status> {
        let caller = principal_of(&request)?;
        let r = request.into_inner();
        if r.output_dir.chars().count() > MAX_OUTPUT_DIR
            || r.output_dir.chars().any(char::is_control)
        {
            return Err(crate::ArchiveError::invalid(
                "output_dir",
                format!("at most {MAX_OUTPUT_DIR} characters, no control characters (R14.5: it is kept in the audit record)"),
            )
            .into());
        }
        let package = self.prepare(&caller, &r.id, r.output_dir).await?;
        let (tx, rx) = mpsc::channel(4);
        let audit = self.archive.inner.audit.clone();
        tokio::spawn(async move {
            let mut record = AuditRecord::new(
                caller.actor(),
                "recording.exported",
                package.manifest.request.id.clone(),
            )
            .with_purpose(package.manifest.request.purpose.clone())
            .with_destination(package.manifest.request.requesting_agency.clone());
            let mut details = serde_json::json!({
                "request_id": package.manifest.request.id,
                "output_dir": package.output_dir,
                "devices": package.manifest.request.device_ids,
                "from_unix": package.manifest.request.from_unix,
                "to_unix": package.manifest.request.to_unix,
                "files": package.manifest.files.len(),
            });
            match Self::send_package(&tx, package).await {
                Ok(Ok((sha256, bytes))) => {
                    details["package_sha256"] = sha256.into();
                    details["bytes"] = bytes.into();
                    tracing::info!(actor = %caller.actor(), package_sha256 = %details["package_sha256"], bytes, "evidence exported");
                }
                Ok(Err(status)) => {
                    record = record.refused(
                        format!("the package could not be read: {}", status.message()),
                        "R14.5",
                    );
                    let _ = tx.send(Err(status)).await;
                }
                Err(Gone) => {
                    record = record
                        .refused("the receiver left before the package was complete", "R14.5");
                }
            }
            audit.record(record.with_details(details)).await;
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
