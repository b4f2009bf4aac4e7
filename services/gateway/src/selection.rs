//! Which cameras the gateway pulls: every device registered at this node
//! with a stream URL, main and sub profile each. The registry holds the
//! devices; the gateway reads them through a [`CameraDirectory`] (in
//! process, or over the registry's API) and decides the streams itself.

use async_trait::async_trait;

use crate::source::{Profile, StreamSource};

/// A device registered at this node, as the gateway needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Camera {
    /// The device's code.
    pub device_id: String,
    /// Its main stream (`rtsp://...`), if it has one.
    pub main_url: Option<String>,
    /// Its sub stream, if it has one.
    pub sub_url: Option<String>,
}

/// The devices registered at this node (the registry's local catalog).
#[async_trait]
pub trait CameraDirectory: Send + Sync + 'static {
    /// A number that changes whenever the devices may have changed (the
    /// store's revision); `None` when unknown, and the devices are read again.
    async fn version(&self) -> Option<i64>;

    /// The devices registered here; `Err` says why they cannot be read.
    async fn cameras(&self) -> Result<Vec<Camera>, String>;
}

/// The streams to pull for `cameras`: each URL a device has, as its profile.
pub fn wanted(cameras: &[Camera]) -> Vec<StreamSource> {
    let mut sources = Vec::new();
    for camera in cameras {
        for (profile, url) in [
            (Profile::Main, &camera.main_url),
            (Profile::Sub, &camera.sub_url),
        ] {
            if let Some(url) = url {
                sources.push(StreamSource::new(
                    camera.device_id.clone(),
                    profile,
                    url.clone(),
                ));
            }
        }
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_url_of_a_device_is_one_stream_of_its_profile() {
        let cameras = [
            Camera {
                device_id: "54050200001320000001".into(),
                main_url: Some("rtsp://127.0.0.1:8554/a".into()),
                sub_url: Some("rtsp://127.0.0.1:8554/a-sub".into()),
            },
            Camera {
                device_id: "54050200001320000002".into(),
                main_url: None,
                sub_url: Some("rtsp://127.0.0.1:8554/b-sub".into()),
            },
            Camera {
                device_id: "54050200001320000003".into(),
                main_url: None,
                sub_url: None,
            },
        ];
        let streams: Vec<(String, String)> = wanted(&cameras)
            .iter()
            .map(|s| (s.key().to_string(), s.url.clone()))
            .collect();
        assert_eq!(
            streams,
            [
                ("54050200001320000001/main", "rtsp://127.0.0.1:8554/a"),
                ("54050200001320000001/sub", "rtsp://127.0.0.1:8554/a-sub"),
                ("54050200001320000002/sub", "rtsp://127.0.0.1:8554/b-sub"),
            ]
            .map(|(k, u)| (k.to_owned(), u.to_owned()))
        );
    }
}
