//! Device streams: which device, which profile, where to pull it from.

use std::fmt;

use percent_encoding::percent_decode_str;
use url::Url;

use crate::error::GatewayError;
use crate::redact::redact_credentials;

/// Which of a device's encodings a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Profile {
    /// The main (full resolution) stream.
    Main,
    /// The sub (low resolution) stream.
    Sub,
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Main => "main",
            Self::Sub => "sub",
        })
    }
}

/// A user name and password for a device. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl Credentials {
    /// Credentials from a user name and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// Names one stream of one device.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The device's 20-digit GB/T 28181 ID.
    pub device_id: String,
    /// Main or sub stream.
    pub profile: Profile,
}

impl StreamKey {
    /// The key of `device_id`'s `profile` stream.
    pub fn new(device_id: impl Into<String>, profile: Profile) -> Self {
        Self {
            device_id: device_id.into(),
            profile,
        }
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.device_id, self.profile)
    }
}

/// One device stream to pull. `Debug` and `Display` redact credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct StreamSource {
    /// The device's 20-digit GB/T 28181 ID.
    pub device_id: String,
    /// Main or sub stream.
    pub profile: Profile,
    /// `rtsp://[user[:password]@]host[:port]/path`.
    pub url: String,
    /// Credentials given apart from the URL; they win over those in the URL.
    pub credentials: Option<Credentials>,
}

impl StreamSource {
    /// A stream without separate credentials (the URL may still carry some).
    pub fn new(device_id: impl Into<String>, profile: Profile, url: impl Into<String>) -> Self {
        Self {
            device_id: device_id.into(),
            profile,
            url: url.into(),
            credentials: None,
        }
    }

    /// The same stream with separate credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The stream's key (device and profile).
    pub fn key(&self) -> StreamKey {
        StreamKey::new(self.device_id.clone(), self.profile)
    }

    /// The URL with any user information replaced by `***`: safe to log.
    pub fn redacted_url(&self) -> String {
        redact_credentials(&self.url)
    }

    /// The URL to connect to (without user information) and the credentials
    /// to answer an authentication challenge with.
    pub(crate) fn endpoint(&self) -> Result<(Url, Option<Credentials>), GatewayError> {
        let invalid = |reason: String| GatewayError::InvalidUrl {
            url: self.redacted_url(),
            reason,
        };
        let mut url = Url::parse(&self.url).map_err(|e| invalid(e.to_string()))?;
        if url.scheme() != "rtsp" {
            return Err(invalid(format!("scheme {:?} is not rtsp", url.scheme())));
        }
        if url.host().is_none() {
            return Err(invalid("no host".to_owned()));
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let from_url = (!url.username().is_empty() || url.password().is_some()).then(|| {
            Credentials::new(decode(url.username()), decode(url.password().unwrap_or("")))
        });
        // The url crate only refuses these for URLs that cannot have a host,
        // which the checks above exclude.
        url.set_username("")
            .and_then(|()| url.set_password(None))
            .map_err(|()| invalid("cannot remove the user information".to_owned()))?;
        Ok((url, self.credentials.clone().or(from_url)))
    }
}

impl fmt::Debug for StreamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamSource")
            .field("device_id", &self.device_id)
            .field("profile", &self.profile)
            .field("url", &self.redacted_url())
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl fmt::Display for StreamSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.key(), self.redacted_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_out_of_the_url_decoded() -> Result<(), GatewayError> {
        let source = StreamSource::new("x", Profile::Main, "rtsp://ad%40min:p%3Ass@cam:8554/h264");
        let (url, creds) = source.endpoint()?;
        assert_eq!(url.as_str(), "rtsp://cam:8554/h264");
        assert_eq!(creds, Some(Credentials::new("ad@min", "p:ss")));
        Ok(())
    }

    #[test]
    fn separate_credentials_win() -> Result<(), GatewayError> {
        let source = StreamSource::new("x", Profile::Sub, "rtsp://a:b@cam/s")
            .with_credentials(Credentials::new("c", "d"));
        assert_eq!(source.endpoint()?.1, Some(Credentials::new("c", "d")));
        Ok(())
    }

    #[test]
    fn debug_and_errors_hide_the_password() {
        let source = StreamSource::new("x", Profile::Main, "http://u:topsecret@cam/s")
            .with_credentials(Credentials::new("u", "topsecret"));
        assert!(!format!("{source:?} {source}").contains("topsecret"));
        let err = source.endpoint().map(|_| ()).err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("not rtsp") && !e.contains("topsecret"))
        );
    }
}
