//! The `vfed.archive.v1.Archive` gRPC service: spans and gaps, and status.
//! Authorization and audit happen in the node's auth layer (permission
//! `recordings.read`); the handlers only validate and answer.

use tonic::{Request, Response, Status};
use vfed_proto::archive::v1 as pb;
use vfed_proto::archive::v1::archive_server::Archive as ArchiveApi;

use crate::archive::Archive;
use crate::error::check_device_id;

/// The gRPC service over a node's archive.
#[derive(Clone)]
pub struct ArchiveService {
    archive: Archive,
    /// Where a device not recorded here is asked (a child's camera).
    source: Option<std::sync::Arc<dyn vfed_relay::recorded::RecordedSource>>,
}

impl ArchiveService {
    /// The service over `archive`.
    pub fn new(archive: Archive) -> Self {
        Self {
            archive,
            source: None,
        }
    }

    /// Also answers `ListSpans` for devices recorded at other nodes, from
    /// `source` (the node's recordings through the tree).
    pub fn with_source(
        mut self,
        source: std::sync::Arc<dyn vfed_relay::recorded::RecordedSource>,
    ) -> Self {
        self.source = Some(source);
        self
    }
}

/// Files, media bytes and the oldest start under `dir`.
fn census(dir: &std::path::Path) -> std::io::Result<(u64, u64, i64)> {
    let (mut files, mut bytes, mut oldest) = (0u64, 0u64, 0i64);
    for (_, _, stream) in crate::layout::streams(dir)? {
        for (start, media) in crate::layout::media_files(&stream)? {
            files += 1;
            bytes += std::fs::metadata(&media).map_or(0, |m| m.len());
            if oldest == 0 || start < oldest {
                oldest = start;
            }
        }
    }
    Ok((files, bytes, oldest))
}

#[tonic::async_trait]
impl ArchiveApi for ArchiveService {
    #[tracing::instrument(err, skip_all, fields(device = %request.get_ref().device_id))]
    async fn list_spans(
        &self,
        request: Request<pb::ListSpansRequest>,
    ) -> Result<Response<pb::ListSpansResponse>, Status> {
        let r = request.into_inner();
        check_device_id("device_id", &r.device_id)?;
        if r.from_unix_ms < 0 || r.to_unix_ms < 0 {
            return Err(
                crate::ArchiveError::invalid("from_unix_ms", "times must not be negative").into(),
            );
        }
        let profile = crate::error::check_profile("profile", &r.profile)?;
        // A device not recorded here: as its origin lists it (main only).
        if let Some(source) = &self.source
            && profile == "main"
            && !crate::layout::stream_dir(self.archive.dir(), &r.device_id, profile).is_dir()
        {
            return crate::remote_spans::list(source, &r)
                .await
                .map(Response::new);
        }
        let (spans, gaps) = self
            .archive
            .list(&r.device_id, profile, r.from_unix_ms, r.to_unix_ms)
            .await?;
        Ok(Response::new(pb::ListSpansResponse {
            device_id: r.device_id,
            profile: profile.to_owned(),
            spans: spans
                .into_iter()
                .map(|s| pb::Span {
                    start_unix_ms: s.start_unix_ms,
                    end_unix_ms: s.end_unix_ms,
                    fragments: s.fragments,
                    bytes: s.bytes,
                })
                .collect(),
            gaps: gaps
                .into_iter()
                .map(|g| pb::Gap {
                    start_unix_ms: g.start_unix_ms,
                    end_unix_ms: g.end_unix_ms,
                    cause: g.cause,
                })
                .collect(),
        }))
    }

    #[tracing::instrument(err, skip_all)]
    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let dir = self.archive.dir().to_path_buf();
        let (total, used, free, census) = tokio::task::spawn_blocking(move || {
            let (t, u, f) = crate::disk::volume(&dir);
            (t, u, f, census(&dir))
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
        let (files, bytes, oldest) = census.map_err(crate::ArchiveError::from)?;
        let sealing = self.archive.sealing();
        Ok(Response::new(pb::StatusResponse {
            dir: self.archive.dir().display().to_string(),
            volume_bytes: total,
            used_bytes: used,
            free_bytes: free,
            retention_seconds: self.archive.options().retention.as_secs(),
            oldest_unix_ms: oldest,
            streams: self
                .archive
                .recording()
                .into_iter()
                .map(|(key, s)| pb::RecordingStream {
                    key,
                    current_file: s.current_file,
                    last_fragment_unix_ms: s.last_fragment_unix_ms,
                })
                .collect(),
            sealing: sealing.is_available(),
            sealing_detail: sealing.detail().to_owned(),
            alarms: self.archive.alarms(),
            files,
            bytes_recorded: bytes,
            disk_state: self.archive.disk().state.name().to_owned(),
            disk_warn: self.archive.options().disk_warn,
            disk_critical: self.archive.options().disk_critical,
            held_files: self.archive.held_files(),
            files_deleted: self.archive.files_deleted(),
        }))
    }
}
