//! `Archive.ListSpans` for a device recorded at another node (a child's
//! camera): asked of the node's [`RecordedSource`] (form `Spans`), which
//! reaches the origin over the relay links; the origin answers with its own
//! `ListSpansResponse`, protobuf-encoded. Only the main profile travels.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use prost::Message;
use tonic::Status;
use vfed_proto::archive::v1 as pb;
use vfed_proto::archive::v1::archive_server::Archive as ArchiveApi;
use vfed_relay::recorded::{ByteRange, Form, RecordedAnswer, RecordedRequest, RecordedSource};

use crate::archive::Archive;
use crate::service::ArchiveService;

/// Largest answer accepted.
const MAX_ANSWER: usize = 16 << 20;

/// The origin's answer: this archive's spans and gaps of the device.
pub(crate) async fn answer(archive: &Archive, request: RecordedRequest) -> RecordedAnswer {
    let service = ArchiveService::new(archive.clone());
    let asked = pb::ListSpansRequest {
        device_id: request.device_id,
        profile: "main".into(),
        from_unix_ms: request.start_ms,
        to_unix_ms: request.end_ms,
    };
    match service.list_spans(tonic::Request::new(asked)).await {
        Ok(r) => {
            let bytes = Bytes::from(r.into_inner().encode_to_vec());
            let total = bytes.len() as u64;
            RecordedAnswer {
                status: 200,
                total,
                first: 0,
                last: total.saturating_sub(1),
                message: String::new(),
                body: futures::stream::once(async move { Ok(bytes) }).boxed(),
            }
        }
        Err(status) => RecordedAnswer::refused(
            if status.code() == tonic::Code::InvalidArgument {
                400
            } else {
                503
            },
            status.message(),
        ),
    }
}

/// The spans of `request`'s device as its origin lists them.
pub(crate) async fn list(
    source: &Arc<dyn RecordedSource>,
    request: &pb::ListSpansRequest,
) -> Result<pb::ListSpansResponse, Status> {
    let mut answer = source
        .answer(RecordedRequest {
            form: Form::Spans,
            device_id: request.device_id.clone(),
            start_ms: request.from_unix_ms,
            end_ms: request.to_unix_ms,
            range: ByteRange::Whole,
            viewer: None,
            via: None,
        })
        .await;
    match answer.status {
        200 => {}
        400 => return Err(Status::invalid_argument(answer.message)),
        404 => return Err(Status::not_found(answer.message)),
        _ => return Err(Status::unavailable(answer.message)),
    }
    let mut raw = Vec::new();
    while let Some(chunk) = answer.body.next().await {
        let chunk =
            chunk.map_err(|e| Status::unavailable(format!("spans from the origin: {e}")))?;
        if raw.len() + chunk.len() > MAX_ANSWER {
            return Err(Status::unavailable(
                "spans from the origin: answer too large",
            ));
        }
        raw.extend_from_slice(&chunk);
    }
    pb::ListSpansResponse::decode(raw.as_slice())
        .map_err(|e| Status::unavailable(format!("spans from the origin: {e}")))
}
