//! One RTSP session with retina: DESCRIBE, SETUP (TCP interleaved), PLAY,
//! then video frames in vfed's form.

use std::time::Duration;

use futures::StreamExt;
use retina::client::{
    Credentials as RetinaCredentials, Demuxed, PlayOptions, Session, SessionOptions, SetupOptions,
    Transport,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoFrame, VideoParametersCodec};
use url::Url;
use vfed_media::{Codec, StreamMetadata};

use crate::error::GatewayError;
use crate::redact::scrub;
use crate::source::Credentials;

/// A playing RTSP session delivering one video stream.
pub(crate) struct RtspSession {
    demuxed: Demuxed,
    stream_i: usize,
    codec: Codec,
    /// Redacted, for errors.
    url: String,
    password: Option<String>,
}

impl RtspSession {
    /// Connects and starts playing the first H.264/H.265 video stream of `url`,
    /// all within `timeout`.
    pub(crate) async fn open(
        url: Url,
        credentials: Option<Credentials>,
        timeout: Duration,
    ) -> Result<Self, GatewayError> {
        let redacted = url.to_string();
        let password = credentials.as_ref().map(|c| c.password.clone());
        let open = Self::open_inner(url, credentials, redacted.clone(), password.clone());
        tokio::time::timeout(timeout, open)
            .await
            .map_err(|_| GatewayError::Timeout {
                url: redacted,
                stage: "connect (DESCRIBE/SETUP/PLAY)",
                after: timeout,
            })?
    }

    async fn open_inner(
        url: Url,
        credentials: Option<Credentials>,
        redacted: String,
        password: Option<String>,
    ) -> Result<Self, GatewayError> {
        let fail = |stage: &'static str, e: retina::Error| {
            rtsp_error(&redacted, stage, &e, password.as_deref())
        };
        let options = SessionOptions::default()
            .creds(credentials.map(|c| RetinaCredentials {
                username: c.username,
                password: c.password,
            }))
            .user_agent(format!("vfed-gateway/{}", env!("CARGO_PKG_VERSION")));
        let mut described = Session::describe(url, options)
            .await
            .map_err(|e| fail("DESCRIBE", e))?;
        let found = described.streams().iter().enumerate().find_map(|(i, s)| {
            let codec = match (s.media(), s.encoding_name()) {
                ("video", "h264") => Codec::H264,
                ("video", "h265") => Codec::H265,
                _ => return None,
            };
            Some((i, codec))
        });
        let Some((stream_i, codec)) = found else {
            let offered = described
                .streams()
                .iter()
                .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(GatewayError::NoVideo {
                url: redacted,
                offered,
            });
        };
        // 4-byte length-prefixed NAL units, parameter sets stripped from the
        // frames: they travel in StreamMetadata.
        let setup = SetupOptions::default()
            .transport(Transport::Tcp(Default::default()))
            .frame_format(FrameFormat::MP4);
        described
            .setup(stream_i, setup)
            .await
            .map_err(|e| fail("SETUP", e))?;
        let playing = described
            .play(PlayOptions::default())
            .await
            .map_err(|e| fail("PLAY", e))?;
        let demuxed = playing.demuxed().map_err(|e| fail("PLAY", e))?;
        Ok(Self {
            demuxed,
            stream_i,
            codec,
            url: redacted,
            password,
        })
    }

    /// The next video frame, or why the session ended. Waits at most `stall`.
    pub(crate) async fn next_frame(&mut self, stall: Duration) -> Result<VideoFrame, GatewayError> {
        loop {
            let item = tokio::time::timeout(stall, self.demuxed.next())
                .await
                .map_err(|_| GatewayError::Stalled {
                    url: self.url.clone(),
                    after: stall,
                })?;
            match item {
                None => {
                    return Err(GatewayError::Ended {
                        url: self.url.clone(),
                    });
                }
                Some(Err(e)) => {
                    return Err(rtsp_error(
                        &self.url,
                        "receive",
                        &e,
                        self.password.as_deref(),
                    ));
                }
                Some(Ok(CodecItem::VideoFrame(frame))) if frame.stream_id() == self.stream_i => {
                    return Ok(frame);
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The stream's current parameters as vfed metadata, if known yet.
    pub(crate) fn metadata(&self) -> Option<StreamMetadata> {
        let stream = self.demuxed.streams().get(self.stream_i)?;
        let Some(ParametersRef::Video(params)) = stream.parameters() else {
            return None;
        };
        let (vps, sps, pps) = match (self.codec, params.codec_params()) {
            (Codec::H264, VideoParametersCodec::H264 { sps, pps }) => {
                (Vec::new(), vec![sps.clone()], vec![pps.clone()])
            }
            (Codec::H265, VideoParametersCodec::H265 { vps, sps, pps }) => {
                (vec![vps.clone()], vec![sps.clone()], vec![pps.clone()])
            }
            _ => return None,
        };
        let (width, height) = params.pixel_dimensions();
        let mut metadata = StreamMetadata {
            codec: self.codec,
            vps,
            sps,
            pps,
            width,
            height,
            fps_milli: 0,
            bitrate_bps: 0,
        };
        // The bitstream's timing info (SPS VUI; H.265 also the VPS), else the
        // SDP's a=framerate; else 0, and the puller measures it from the
        // timestamps.
        metadata.fps_milli = metadata
            .signalled_fps_milli()
            .or_else(|| {
                stream
                    .framerate()
                    .filter(|f| f.is_finite() && *f > 0.0)
                    .map(|f| (f * 1000.0).round() as u32)
            })
            .unwrap_or(0);
        Some(metadata)
    }
}

fn rtsp_error(
    url: &str,
    stage: &'static str,
    e: &retina::Error,
    password: Option<&str>,
) -> GatewayError {
    let reason = scrub(&e.to_string(), password);
    // retina keeps the details in its text; its first line says it all.
    let first_line = reason.lines().next().unwrap_or_default().to_owned();
    let unauthorized = e.status_code() == Some(401)
        || reason.contains("Unauthorized")
        || reason.contains("no credentials");
    if unauthorized {
        GatewayError::Unauthorized {
            url: url.to_owned(),
            stage,
            reason: first_line,
        }
    } else if e.status_code() == Some(404) {
        GatewayError::NotFound {
            url: url.to_owned(),
            stage,
            reason: first_line,
        }
    } else if let Some(io) = first_line.strip_prefix("Unable to connect to RTSP server: ") {
        GatewayError::Connect {
            url: url.to_owned(),
            stage,
            reason: io.to_owned(),
        }
    } else {
        GatewayError::Rtsp {
            url: url.to_owned(),
            stage,
            reason,
        }
    }
}
