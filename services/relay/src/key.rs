//! Stream keys: `<device id>/<profile>`.

use crate::RelayError;

/// A validated stream key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamKey {
    /// The device's 20-digit code.
    pub device_id: String,
    /// `main` or `sub`.
    pub profile: String,
}

impl StreamKey {
    /// Parses and validates `device/profile`.
    pub fn parse(key: &str) -> Result<Self, RelayError> {
        let bad = || RelayError::BadKey(key.chars().take(64).collect());
        let (device_id, profile) = key.split_once('/').ok_or_else(bad)?;
        if device_id.len() != 20 || !device_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        if profile != "main" && profile != "sub" {
            return Err(bad());
        }
        Ok(Self {
            device_id: device_id.to_owned(),
            profile: profile.to_owned(),
        })
    }

    /// A key for `device_id` and `profile`.
    pub fn new(device_id: &str, profile: &str) -> Result<Self, RelayError> {
        Self::parse(&format!("{device_id}/{profile}"))
    }
}

impl std::fmt::Display for StreamKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.device_id, self.profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert!(StreamKey::parse("54050200001320000001/main").is_ok());
        assert!(StreamKey::parse("54050200001320000001/sub").is_ok());
        for bad in [
            "",
            "x/main",
            "54050200001320000001",
            "54050200001320000001/hd",
            "5405020000132000000a/main",
        ] {
            assert!(StreamKey::parse(bad).is_err(), "{bad}");
        }
    }
}
