//! HLS (fMP4) for viewers: `GET /live/<device>/<profile>/index.m3u8`,
//! `init.mp4` and `segment-<n>.m4s`. One packager per stream serves every
//! HTTP viewer (it is one reader of the relay track, so one upstream pull);
//! it stops after an idle period without requests.
//!
//! Opening a packager is traced as an `hls.open` span, child of the
//! request's W3C trace context (`traceparent` header) if it carries one:
//! the subscription it makes, and through it the upstream pulls, join that
//! trace. Later requests for a running packager are not traced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;
use vfed_media::{Gop, SegmentWindow};

use crate::track::TrackReader;
use crate::{Relay, RelayError, StreamKey};

/// HLS settings.
#[derive(Clone, Debug)]
pub struct HlsOptions {
    /// Segments kept in the playlist.
    pub window: usize,
    /// How long a packager lives without requests.
    pub idle: Duration,
    /// How long a first playlist request waits for the first segment.
    pub first_segment_wait: Duration,
}

impl Default for HlsOptions {
    fn default() -> Self {
        Self {
            window: 6,
            idle: Duration::from_secs(30),
            first_segment_wait: Duration::from_secs(15),
        }
    }
}

struct Packager {
    window: Mutex<Option<SegmentWindow>>,
    /// Number of segments produced so far (wakes playlist waiters).
    produced: watch::Sender<u64>,
    last_request: Mutex<Instant>,
    failed: Mutex<Option<String>>,
    /// The track packaged, for its source's status.
    track: Arc<crate::track::Track>,
}

impl Packager {
    fn touch(&self) {
        *self
            .last_request
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        self.last_request
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
    }

    fn with_window<T>(&self, f: impl FnOnce(&SegmentWindow) -> T) -> Option<T> {
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map(f)
    }
}

/// The HLS egress of one node.
#[derive(Clone)]
pub struct HlsEgress {
    relay: Relay,
    options: HlsOptions,
    packagers: Arc<Mutex<HashMap<String, Arc<Packager>>>>,
}

impl HlsEgress {
    /// HLS over `relay`'s tracks.
    pub fn new(relay: Relay, options: HlsOptions) -> Self {
        Self {
            relay,
            options,
            packagers: Arc::default(),
        }
    }

    /// The routes, to merge into the node's HTTP router.
    pub fn router(self) -> Router {
        Router::new()
            .route("/live/{device}/{profile}/index.m3u8", get(playlist))
            .route("/live/{device}/{profile}/init.mp4", get(init))
            .route("/live/{device}/{profile}/{segment}", get(segment))
            .with_state(self)
    }

    /// The packager of `key`, started on first use (`headers`: the
    /// request's, for its trace context).
    async fn packager(
        &self,
        key: &StreamKey,
        headers: &HeaderMap,
    ) -> Result<Arc<Packager>, RelayError> {
        let name = key.to_string();
        if let Some(p) = self
            .packagers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&name)
        {
            p.touch();
            return Ok(p.clone());
        }
        let span = tracing::info_span!("hls.open", node = %self.relay.node_id(), key = %name);
        vfed_telemetry::propagation::set_parent(
            &span,
            vfed_telemetry::propagation::extract_headers(headers),
        );
        let reader = self
            .relay
            .subscribe_for(&name, "hls")
            .instrument(span)
            .await?;
        let mut packagers = self
            .packagers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = packagers.get(&name) {
            return Ok(p.clone());
        }
        let packager = Arc::new(Packager {
            window: Mutex::new(None),
            produced: watch::channel(0).0,
            last_request: Mutex::new(Instant::now()),
            failed: Mutex::new(None),
            track: reader.track().clone(),
        });
        packagers.insert(name.clone(), packager.clone());
        tokio::spawn(package(self.clone(), name, reader, packager.clone()));
        Ok(packager)
    }

    fn forget(&self, name: &str, packager: &Arc<Packager>) {
        let mut packagers = self
            .packagers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if packagers
            .get(name)
            .is_some_and(|p| Arc::ptr_eq(p, packager))
        {
            packagers.remove(name);
        }
    }
}

/// Turns the track's GOPs into segments until idle or the track ends.
async fn package(
    egress: HlsEgress,
    name: String,
    mut reader: TrackReader,
    packager: Arc<Packager>,
) {
    let track = reader.track().clone();
    let mut metadata = track.watch_metadata();
    let idle = egress.options.idle;
    // The parameters the current window was built from.
    let mut packaged: Option<vfed_media::StreamMetadata> = None;
    let outcome: Result<(), String> = async {
        loop {
            let gop = tokio::select! {
                g = reader.next_gop() => g,
                () = tokio::time::sleep(idle) => {
                    if packager.idle_for() >= idle { return Ok(()); }
                    continue;
                }
            };
            let Some(gop) = gop else {
                return Err(track
                    .end_reason()
                    .map_or_else(|| "the stream ended".to_owned(), |e| e.to_string()));
            };
            let mut units = Vec::new();
            let mut r = gop.reader();
            while let Some(unit) = r.next().await {
                units.push(unit);
            }
            if packager.idle_for() >= idle {
                return Ok(());
            }
            // (Re)start the window on the first GOP or when the codec parameters change.
            let current = metadata.borrow_and_update().clone();
            let Some(current) = current else { continue };
            let mut window = packager
                .window
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let restart = window.is_none()
                || !packaged
                    .as_ref()
                    .is_some_and(|p| same_decoder_config(p, &current));
            if restart {
                packaged = Some(current.clone());
                *window = Some(
                    SegmentWindow::new(&current)
                        .map_err(|e| format!("cannot package {name}: {e}"))?
                        .with_capacity(egress.options.window),
                );
            }
            if let Some(w) = window.as_mut() {
                match w.push_gop(&Gop { units }) {
                    Ok(Some(_)) => packager.produced.send_modify(|n| *n += 1),
                    Ok(None) => {}
                    // One bad GOP is skipped, not the stream.
                    Err(e) => tracing::warn!(stream = %name, error = %e, "HLS: GOP not packaged"),
                }
            }
        }
    }
    .await;
    if let Err(reason) = outcome {
        tracing::warn!(stream = %name, %reason, "HLS packaging stopped");
        *packager
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
    }
    egress.forget(&name, &packager);
}

/// Whether two metadata describe the same decoder configuration (what the
/// init segment carries); bitrate and frame-rate updates do not count. A
/// camera reconfigured, or a new session with other parameters, does.
fn same_decoder_config(a: &vfed_media::StreamMetadata, b: &vfed_media::StreamMetadata) -> bool {
    a.codec == b.codec
        && a.vps == b.vps
        && a.sps == b.sps
        && a.pps == b.pps
        && a.width == b.width
        && a.height == b.height
}

fn error_response(error: &RelayError) -> Response {
    let status = match error {
        RelayError::BadKey(_) => StatusCode::BAD_REQUEST,
        RelayError::NotFound(_) => StatusCode::NOT_FOUND,
        RelayError::Unauthorized(_) => StatusCode::FORBIDDEN,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, format!("{error}\n")).into_response()
}

fn key_of(device: &str, profile: &str) -> Result<StreamKey, Box<Response>> {
    StreamKey::new(device, profile).map_err(|e| Box::new(error_response(&e)))
}

fn body(content_type: &'static str, bytes: impl Into<axum::body::Body>) -> Response {
    let mut response = Response::new(bytes.into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        // Nothing is kept by players or proxies: each request is authorized
        // anew, so a viewer whose grant ended gets nothing more (R13).
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

async fn playlist(
    State(egress): State<HlsEgress>,
    Path((device, profile)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let key = match key_of(&device, &profile) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let packager = match egress.packager(&key, &headers).await {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    // Wait for the first segment, unless the source is known to fail: the
    // viewer then learns why at once, in the words of the node where it
    // fails ("Naidong ...: camera ... not reachable: 401 credentials rejected").
    let mut produced = packager.produced.subscribe();
    let mut status = packager.track.watch_status();
    let ready = tokio::time::timeout(egress.options.first_segment_wait, async {
        loop {
            if *produced.borrow_and_update() >= 1 {
                return true;
            }
            if packager.track.is_failing() {
                return false;
            }
            tokio::select! {
                r = produced.changed() => if r.is_err() { return false; },
                r = status.changed() => if r.is_err() { return false; },
            }
        }
    })
    .await;
    if !matches!(ready, Ok(true)) {
        let source = packager.track.status();
        let reason = packager
            .failed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .or_else(|| (!source.reason.is_empty()).then(|| source.reason.clone()))
            .or_else(|| (!source.last_error.is_empty()).then(|| source.last_error.clone()))
            .unwrap_or_else(|| format!("no media from {key} yet; retry"));
        return (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response();
    }
    // A viewer's credentials travel in the query (players cannot set
    // headers): every URI of the playlist carries them on.
    let render = |w: &SegmentWindow| {
        let mut playlist = w.playlist();
        if let Some(query) = query.as_deref().filter(|q| !q.is_empty()) {
            playlist.init_uri = format!("{}?{query}", playlist.init_uri);
            for entry in &mut playlist.entries {
                entry.uri = format!("{}?{query}", entry.uri);
            }
        }
        playlist.render()
    };
    match packager.with_window(render) {
        Some(text) => body("application/vnd.apple.mpegurl", text),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no playlist yet\n").into_response(),
    }
}

async fn init(
    State(egress): State<HlsEgress>,
    Path((device, profile)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let key = match key_of(&device, &profile) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    match egress.packager(&key, &headers).await {
        Ok(p) => match p.with_window(|w| w.init_segment().clone()) {
            Some(init) => body("video/mp4", init),
            None => (StatusCode::SERVICE_UNAVAILABLE, "no media yet\n").into_response(),
        },
        Err(e) => error_response(&e),
    }
}

/// The sequence number a segment's name (`segment-<n>.m4s`) carries.
pub fn segment_sequence(name: &str) -> Option<u64> {
    name.strip_prefix("segment-")
        .and_then(|s| s.strip_suffix(".m4s"))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse::<u64>().ok())
}

async fn segment(
    State(egress): State<HlsEgress>,
    Path((device, profile, segment)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let key = match key_of(&device, &profile) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let Some(sequence) = segment_sequence(&segment) else {
        return (StatusCode::NOT_FOUND, "unknown HLS resource\n").into_response();
    };
    match egress.packager(&key, &headers).await {
        Ok(p) => match p
            .with_window(|w| w.segment(sequence).map(|s| s.data.clone()))
            .flatten()
        {
            Some(data) => body("video/iso.segment", data),
            None => (
                StatusCode::NOT_FOUND,
                format!("segment {sequence} is not in the window\n"),
            )
                .into_response(),
        },
        Err(e) => error_response(&e),
    }
}
