//! Playback over HTTP, every form from the recorded bytes without
//! re-encoding ([`crate::vod`]):
//!
//! - `GET /playback/<device-id>/index.m3u8?start=<RFC 3339>&end=<RFC 3339>`:
//!   an HLS VOD playlist whose segments are byte ranges of
//! - `GET /playback/<device-id>/stream.mp4?start=...&end=...`: the recorded
//!   init segments and fragments overlapping the range, one after the other;
//! - `GET /playback/<device-id>.mp4?start=...&end=...`: one progressive MP4
//!   of the range whose first frame shown is the one on screen at `start`.
//!
//! Both MP4 forms answer `Range` (206, `Content-Range`, 416) with an exact
//! `Content-Length`. A device recorded at another node (a child's camera)
//! is asked of the node's [`RecordedSource`], which fetches the bytes from
//! its origin over the relay link, on demand; [`answer`] is what the origin
//! runs. The node's HTTP guard authenticates and authorizes
//! every request (`recordings.view`; department viewers only under a
//! recorded grant covering the device and the range, R13) and hands over
//! the basis; each playback is audited once per viewer and range (R14.5),
//! and once more at the origin when it was asked through the tree (the
//! asking node and the viewer it names; the token never leaves the node
//! the viewer asked). A progressive MP4's plan (its `moov`) is kept between
//! requests while the files of its range do not change ([`crate::mp4_cache`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use vfed_authz::recorded_range::{query_param, recorded_range};
use vfed_authz::{Principal, ViewBasis};

use futures::StreamExt;
use vfed_relay::recorded::{
    ByteRange, Form, RecordedAnswer, RecordedRequest, RecordedSource, Viewer,
};

use crate::archive::Archive;
use crate::layout;
use crate::mp4_cache::{self, Mp4Cache};
use crate::vod::{self, VirtualFile};

/// Longest range one HLS playlist may cover.
pub const MAX_HLS_RANGE_MS: i64 = 24 * 3600 * 1000;
/// Longest range one progressive MP4 may cover, as an HLS playlist: its
/// `moov` is built from every fragment's `moof` once per range and kept
/// ([`crate::mp4_cache`]); 24 h of 1-s fragments at 25 fps is a `moov` of
/// about 10 MB (`bench/README.md`, recording: the cost per hour).
pub const MAX_MP4_RANGE_MS: i64 = MAX_HLS_RANGE_MS;
/// Bytes read per step of a response body.
const BODY_CHUNK: u64 = 256 * 1024;
/// A viewer's requests for one range within this time are one playback.
const SAME_PLAYBACK: Duration = Duration::from_secs(60);
/// Playbacks remembered for [`SAME_PLAYBACK`] at most.
const MAX_REMEMBERED: usize = 4096;
/// Largest playlist relayed (24 h of 1 s fragments is about 6 MB).
const MAX_PLAYLIST: usize = 16 << 20;

/// The playback routes, to merge into the node's HTTP router: from
/// `archive`, or through `source` when given (the node's source answers
/// from this archive or from the child a device comes from).
pub fn router(archive: Archive, source: Option<Arc<dyn RecordedSource>>) -> Router {
    Router::new()
        .route("/playback/{device}/index.m3u8", get(playlist))
        .route("/playback/{device}/stream.mp4", get(fragmented))
        .route("/playback/{file}", get(progressive))
        .with_state(Playback { archive, source })
}

/// One playback: `(who, device, start, end)`.
type PlaybackKey = (String, String, i64, i64);

/// The playbacks audited lately: a player's many requests for one range
/// within [`SAME_PLAYBACK`] are one playback, one record (R14.5).
#[derive(Default)]
pub struct ViewLog {
    audited: Mutex<HashMap<PlaybackKey, Instant>>,
}

impl ViewLog {
    /// Whether `key` is a new playback (and from now on, not).
    fn is_new(&self, key: PlaybackKey) -> bool {
        let mut audited = self
            .audited
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if audited
            .get(&key)
            .is_some_and(|at| at.elapsed() < SAME_PLAYBACK)
        {
            return false;
        }
        if audited.len() >= MAX_REMEMBERED {
            audited.retain(|_, at| at.elapsed() < SAME_PLAYBACK);
        }
        if audited.len() < MAX_REMEMBERED {
            audited.insert(key, Instant::now());
        }
        true
    }
}

#[derive(Clone)]
struct Playback {
    archive: Archive,
    source: Option<Arc<dyn RecordedSource>>,
}

/// The audit record's name of a form.
fn form_name(form: Form) -> &'static str {
    if form == Form::Progressive {
        "mp4"
    } else {
        "hls"
    }
}

/// At the origin, a playback asked over a link (R14.5): the asking node
/// (authenticated by the link) is the actor; the viewer and the node they
/// asked, as that node says them, are in the details. One record per
/// playback, as where the viewer asked.
async fn audit_at_origin(archive: &Archive, request: &RecordedRequest) {
    let Some(via) = &request.via else {
        return;
    };
    let (viewer, node) = request
        .viewer
        .as_ref()
        .map_or(("", ""), |v| (v.actor.as_str(), v.node.as_str()));
    let key = (
        format!("{via} {viewer} {node}"),
        request.device_id.clone(),
        request.start_ms,
        request.end_ms,
    );
    if !archive.inner.views.is_new(key) {
        return;
    }
    let record = vfed_audit::AuditRecord::new(
        via.clone(),
        "recording.view",
        format!("{}/main", request.device_id),
    )
    .with_destination(form_name(request.form))
    .with_details(serde_json::json!({
        "viewer": viewer,
        "viewer_node": node,
        "start_unix_ms": request.start_ms,
        "end_unix_ms": request.end_ms,
    }));
    archive.inner.audit.record(record).await;
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        format!("{}\n", message.into()),
    )
        .into_response()
}

fn max_range(form: Form) -> i64 {
    match form {
        Form::Progressive => MAX_MP4_RANGE_MS,
        Form::Playlist | Form::Fragmented | Form::Spans => MAX_HLS_RANGE_MS,
    }
}

/// The answer to `request` from `archive` (at the origin of the device).
pub async fn answer(archive: &Archive, request: RecordedRequest) -> RecordedAnswer {
    if request.form == Form::Spans {
        return crate::remote_spans::answer(archive, request).await;
    }
    if let Err(e) = crate::error::check_device_id("device-id", &request.device_id) {
        return RecordedAnswer::refused(400, e.to_string());
    }
    let (start, end) = (request.start_ms, request.end_ms);
    if end <= start {
        return RecordedAnswer::refused(400, "end: must be after start");
    }
    if end - start > max_range(request.form) {
        return RecordedAnswer::refused(400, "end: too long a range");
    }
    let dir = layout::stream_dir(archive.dir(), &request.device_id, "main");
    let form = request.form;
    let kept = archive.clone();
    let planned = tokio::task::spawn_blocking(move || -> std::io::Result<Option<VirtualFile>> {
        if form == Form::Progressive {
            return progressive_kept(&kept.inner.mp4, &dir, start, end);
        }
        let selected = vod::select(&dir, start, end)?;
        if selected.is_empty() {
            return Ok(None);
        }
        Ok(Some(match form {
            Form::Playlist => {
                let text = vod::playlist(&selected, start, "stream.mp4");
                let len = text.len() as u64;
                VirtualFile {
                    pieces: vec![vod::Piece::Made(Bytes::from(text))].into(),
                    len,
                    frames: 0,
                }
            }
            Form::Fragmented | Form::Progressive | Form::Spans => vod::fragmented(&selected).0,
        }))
    })
    .await;
    let file = match planned {
        Ok(Ok(Some(file))) => file,
        Ok(Ok(None)) => {
            return RecordedAnswer::refused(
                404,
                format!(
                    "no recording of {} between start and end",
                    request.device_id
                ),
            );
        }
        Ok(Err(e)) => return RecordedAnswer::refused(503, format!("archive: {e}")),
        Err(e) => return RecordedAnswer::refused(500, e.to_string()),
    };
    let range = if form == Form::Playlist {
        ByteRange::Whole
    } else {
        request.range
    };
    let Some((first, last)) = range.resolve(file.len) else {
        let mut refused = RecordedAnswer::refused(416, "range not satisfiable");
        refused.total = file.len;
        return refused;
    };
    audit_at_origin(archive, &request).await;
    let end = if file.len == 0 { 0 } else { last + 1 };
    let total = file.len;
    let body = futures::stream::unfold((file, first), move |(file, pos)| async move {
        if pos >= end {
            return None;
        }
        let n = (end - pos).min(BODY_CHUNK);
        let reader = file.clone();
        let read = tokio::task::spawn_blocking(move || reader.read(pos, n)).await;
        Some(match read {
            Ok(Ok(bytes)) => (Ok(Bytes::from(bytes)), (file, pos + n)),
            Ok(Err(e)) => (Err(e), (file, end)),
            Err(e) => (Err(std::io::Error::other(e)), (file, end)),
        })
    });
    RecordedAnswer {
        status: if range == ByteRange::Whole { 200 } else { 206 },
        total,
        first,
        last,
        message: String::new(),
        body: body.boxed(),
    }
}

/// The progressive MP4 of `[start, end)` in `dir`: kept from an earlier
/// request while the files of its range are unchanged, else planned (its
/// `moov` built from every fragment's `moof`) and kept. Blocking.
fn progressive_kept(
    cache: &Mp4Cache,
    dir: &std::path::Path,
    start: i64,
    end: i64,
) -> std::io::Result<Option<VirtualFile>> {
    let stamps = mp4_cache::stamps(dir, start, end)?;
    if let Some(file) = cache.get(dir, start, end, &stamps) {
        return Ok(Some(file));
    }
    let selected = vod::select(dir, start, end)?;
    let Some(file) = vod::progressive(&selected, start, end)? else {
        return Ok(None);
    };
    cache.put(dir, start, end, stamps, file.clone());
    Ok(Some(file))
}

impl Playback {
    /// R14.5: every playback is a view, with its range; a player's many
    /// requests for one range are one playback.
    async fn audit(&self, request: &RecordedRequest, actor: &str, basis: Option<ViewBasis>) {
        let key = (
            actor.to_owned(),
            request.device_id.clone(),
            request.start_ms,
            request.end_ms,
        );
        if !self.archive.inner.views.is_new(key) {
            return;
        }
        let record = basis.unwrap_or_else(ViewBasis::by_role).playback_record(
            actor,
            &format!("{}/main", request.device_id),
            form_name(request.form),
            (request.start_ms, request.end_ms),
        );
        self.archive.inner.audit.record(record).await;
    }

    /// Serves one request: checks it, asks the source (or the archive),
    /// audits what is served, and answers in HTTP.
    async fn serve(
        &self,
        form: Form,
        device: &str,
        query: Option<String>,
        headers: &HeaderMap,
        (principal, basis): Principals,
    ) -> Response {
        if let Err(e) = crate::error::check_device_id("device-id", device) {
            return text(StatusCode::BAD_REQUEST, e.to_string());
        }
        let query = query.unwrap_or_default();
        let (start_ms, end_ms) = match recorded_range(&query, max_range(form)) {
            Ok(r) => r,
            Err(m) => return text(StatusCode::BAD_REQUEST, m),
        };
        let actor = principal
            .as_ref()
            .map_or_else(|| "anonymous".to_owned(), |p| p.0.actor());
        let request = RecordedRequest {
            form,
            device_id: device.to_owned(),
            start_ms,
            end_ms,
            range: byte_range(headers),
            viewer: Some(Viewer {
                actor: actor.clone(),
                node: self.archive.options().node_id.clone(),
            }),
            via: None,
        };
        let answer = match &self.source {
            Some(source) => source.answer(request.clone()).await,
            None => answer(&self.archive, request.clone()).await,
        };
        if matches!(answer.status, 200 | 206) {
            self.audit(&request, &actor, basis.map(|b| b.0)).await;
        }
        if form == Form::Playlist && answer.status == 200 {
            return playlist_response(answer, &carried(&query)).await;
        }
        to_response(answer)
    }
}

type Principals = (
    Option<axum::Extension<Arc<Principal>>>,
    Option<axum::Extension<ViewBasis>>,
);

/// The query every URI of a playlist carries: the range and the token.
fn carried(query: &str) -> String {
    let mut out = String::new();
    for name in ["start", "end", "token"] {
        if let Some(v) = query_param(query, name) {
            out.push(if out.is_empty() { '?' } else { '&' });
            out.push_str(name);
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The playlist, its URIs given the viewer's query (the origin names them
/// `stream.mp4` alone: it never sees the viewer's token).
async fn playlist_response(mut answer: RecordedAnswer, carried: &str) -> Response {
    let mut raw = Vec::new();
    while let Some(chunk) = answer.body.next().await {
        match chunk {
            Ok(bytes) if raw.len() + bytes.len() <= MAX_PLAYLIST => raw.extend_from_slice(&bytes),
            Ok(_) => return text(StatusCode::SERVICE_UNAVAILABLE, "playlist too large"),
            Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, format!("archive: {e}")),
        }
    }
    let uri = format!("stream.mp4{carried}");
    let body: String = String::from_utf8_lossy(&raw)
        .lines()
        .map(|line| {
            let line = if line == "stream.mp4" {
                uri.clone()
            } else {
                line.replace("URI=\"stream.mp4\"", &format!("URI=\"{uri}\""))
            };
            line + "\n"
        })
        .collect();
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apple.mpegurl"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An answer in HTTP: the bytes with their length and place, or the refusal.
fn to_response(answer: RecordedAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        return (
            status,
            [
                (header::CONTENT_RANGE, format!("bytes */{}", answer.total)),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
        )
            .into_response();
    }
    if !status.is_success() {
        return text(status, answer.message);
    }
    let len = if answer.total == 0 {
        0
    } else {
        answer.last - answer.first + 1
    };
    let mut response = Response::new(Body::from_stream(answer.body));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{}",
            answer.first, answer.last, answer.total
        ))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}

/// The `Range` header: `bytes=a-b`, `bytes=a-` or `bytes=-n`; anything
/// else (several ranges, another unit) is ignored and the whole is served,
/// as RFC 9110 allows.
pub fn byte_range(headers: &HeaderMap) -> ByteRange {
    let parsed = (|| {
        let value = headers.get(header::RANGE)?.to_str().ok()?;
        let spec = value.trim().strip_prefix("bytes=")?;
        let (a, b) = spec.split_once('-')?;
        let (a, b) = (a.trim(), b.trim());
        if a.is_empty() {
            return Some(ByteRange::Suffix(b.parse().ok()?));
        }
        let first = a.parse().ok()?;
        if b.is_empty() {
            return Some(ByteRange::From(first, None));
        }
        Some(ByteRange::From(first, Some(b.parse().ok()?)))
    })();
    parsed.unwrap_or(ByteRange::Whole)
}

async fn playlist(
    State(playback): State<Playback>,
    Path(device): Path<String>,
    RawQuery(query): RawQuery,
    principals: Principals,
) -> Response {
    let headers = HeaderMap::new();
    playback
        .serve(Form::Playlist, &device, query, &headers, principals)
        .await
}

async fn fragmented(
    State(playback): State<Playback>,
    Path(device): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    principals: Principals,
) -> Response {
    playback
        .serve(Form::Fragmented, &device, query, &headers, principals)
        .await
}

async fn progressive(
    State(playback): State<Playback>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    principals: Principals,
) -> Response {
    let Some(device) = file.strip_suffix(".mp4") else {
        return text(
            StatusCode::NOT_FOUND,
            "no such playback: /playback/<device-id>.mp4 or /playback/<device-id>/index.m3u8",
        );
    };
    playback
        .serve(Form::Progressive, device, query, &headers, principals)
        .await
}
