//! Playback over HTTP: `GET /playback/<device-id>/index.m3u8?start=<RFC
//! 3339>&end=<RFC 3339>` is an HLS VOD playlist over the recorded fMP4
//! files themselves (byte ranges: each file's init segment as
//! `EXT-X-MAP`, each fragment as a segment; no re-encode, no copy), and
//! `GET /playback/<device-id>/file/<start>.mp4` serves a recording file
//! with `Range`. The node's HTTP guard authenticates and authorizes every
//! request (`recordings.view`); each playlist (one playback) is audited
//! with its range (R14.5).

use std::fmt::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use vfed_audit::AuditRecord;
use vfed_auth::Principal;

use crate::archive::Archive;
use crate::index::Index;
use crate::layout;

/// Longest range one playlist may cover.
const MAX_RANGE_MS: i64 = 24 * 3600 * 1000;

/// The playback routes over `archive`, to merge into the node's HTTP router.
pub fn router(archive: Archive) -> Router {
    Router::new()
        .route("/playback/{device}/index.m3u8", get(playlist))
        .route("/playback/{device}/file/{name}", get(file))
        .with_state(archive)
}

fn text(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        format!("{}\n", message.into()),
    )
        .into_response()
}

/// The value of `name` in a query string.
fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Parses an RFC 3339 time from the query (`%3A` and `+` decoded).
fn time_param(query: &str, name: &'static str) -> Result<i64, String> {
    let raw = param(query, name)
        .ok_or_else(|| format!("{name}: required, an RFC 3339 time (e.g. 2026-12-02T14:00:00Z)"))?;
    let decoded = raw
        .replace("%3A", ":")
        .replace("%3a", ":")
        .replace("%2B", "+")
        .replace("%2b", "+");
    let t = OffsetDateTime::parse(&decoded, &Rfc3339).map_err(|e| {
        format!(
            "{name}: {:?} is not an RFC 3339 time ({e})",
            raw.chars().take(64).collect::<String>()
        )
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).map_err(|_| format!("{name}: out of range"))
}

/// The query kept on every URI of the playlist: the viewer's token only.
fn carried(query: &str) -> String {
    param(query, "token").map_or_else(String::new, |t| format!("?token={t}"))
}

async fn playlist(
    State(archive): State<Archive>,
    Path(device): Path<String>,
    RawQuery(query): RawQuery,
    principal: Option<axum::Extension<Arc<Principal>>>,
) -> Response {
    if let Err(e) = crate::error::check_device_id("device-id", &device) {
        return text(StatusCode::BAD_REQUEST, e.to_string());
    }
    let query = query.unwrap_or_default();
    let (start, end) = match (time_param(&query, "start"), time_param(&query, "end")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(m), _) | (_, Err(m)) => return text(StatusCode::BAD_REQUEST, m),
    };
    if end <= start {
        return text(StatusCode::BAD_REQUEST, "end: must be after start");
    }
    if end - start > MAX_RANGE_MS {
        return text(StatusCode::BAD_REQUEST, "end: at most 24 h after start");
    }
    let dir = layout::stream_dir(archive.dir(), &device, "main");
    let token = carried(&query);
    let built = tokio::task::spawn_blocking(move || build(&dir, start, end, &token)).await;
    let body = match built {
        Ok(Ok(Some(body))) => body,
        Ok(Ok(None)) => {
            return text(
                StatusCode::NOT_FOUND,
                format!("no recording of {device} between start and end"),
            );
        }
        Ok(Err(e)) => return text(StatusCode::SERVICE_UNAVAILABLE, format!("archive: {e}")),
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    // R14.5: every playback is a view, with its range.
    let actor = principal.map_or_else(|| "anonymous".to_owned(), |p| p.actor());
    let record = AuditRecord::new(actor, "recording.view", format!("{device}/main"))
        .with_destination("hls")
        .with_details(serde_json::json!({ "start_unix_ms": start, "end_unix_ms": end }));
    archive.inner.audit.record(record).await;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.apple.mpegurl"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The VOD playlist of the fragments overlapping `[start, end]`.
fn build(
    dir: &std::path::Path,
    start: i64,
    end: i64,
    token: &str,
) -> std::io::Result<Option<String>> {
    let mut segments = String::new();
    let mut target = 1u64;
    let mut any = false;
    for (file_start, media) in layout::media_files(dir)? {
        if file_start > end {
            break;
        }
        let index = Index::read(&layout::index_path(&media))?;
        let Some(header) = &index.header else {
            continue;
        };
        let chosen: Vec<_> = index
            .fragments
            .iter()
            .filter(|f| f.end_unix_ms() > start && f.start_unix_ms < end)
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let name = media
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if any {
            segments.push_str("#EXT-X-DISCONTINUITY\n");
        }
        any = true;
        let _ = writeln!(
            segments,
            "#EXT-X-MAP:URI=\"file/{name}{token}\",BYTERANGE=\"{}@0\"",
            header.init_len
        );
        for f in chosen {
            target = target.max(f.duration.div_ceil(90_000));
            let _ = writeln!(segments, "#EXTINF:{:.3},", f.duration as f64 / 90_000.0);
            let _ = writeln!(segments, "#EXT-X-BYTERANGE:{}@{}", f.len, f.offset);
            let _ = writeln!(segments, "file/{name}{token}");
        }
    }
    if !any {
        return Ok(None);
    }
    Ok(Some(format!(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{target}\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-INDEPENDENT-SEGMENTS\n{segments}#EXT-X-ENDLIST\n"
    )))
}

/// `bytes=a-b` / `bytes=a-` of a file of `len` bytes, as an inclusive range.
fn byte_range(headers: &HeaderMap, len: u64) -> Option<Result<(u64, u64), ()>> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = value.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let parsed = (|| {
        let first: u64 = a.trim().parse().ok()?;
        let last = if b.trim().is_empty() {
            len.checked_sub(1)?
        } else {
            b.trim().parse::<u64>().ok()?.min(len.checked_sub(1)?)
        };
        (first <= last).then_some((first, last))
    })();
    Some(parsed.ok_or(()))
}

async fn file(
    State(archive): State<Archive>,
    Path((device, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if crate::error::check_device_id("device-id", &device).is_err()
        || !name
            .strip_suffix(".mp4")
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    {
        return text(StatusCode::NOT_FOUND, "no such recording file");
    }
    let path = layout::stream_dir(archive.dir(), &device, "main").join(&name);
    let Ok(mut f) = tokio::fs::File::open(&path).await else {
        return text(StatusCode::NOT_FOUND, "no such recording file");
    };
    let len = match f.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return text(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    let (status, first, last) = match byte_range(&headers, len) {
        None => (StatusCode::OK, 0, len.saturating_sub(1)),
        Some(Ok((a, b))) => (StatusCode::PARTIAL_CONTENT, a, b),
        Some(Err(())) => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response();
        }
    };
    let count = if len == 0 { 0 } else { last - first + 1 };
    let mut data = vec![0u8; usize::try_from(count).unwrap_or(0)];
    if f.seek(std::io::SeekFrom::Start(first)).await.is_err()
        || f.read_exact(&mut data).await.is_err()
    {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "recording file read failed",
        );
    }
    let mut response = (status, data).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {first}-{last}/{len}"))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    response
}
