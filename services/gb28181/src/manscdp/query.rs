//! The queries the platform sends a device.

use super::charset::encode_gb;

/// What to ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryKind {
    /// The channel list.
    Catalog,
    /// Name, manufacturer, model, firmware.
    DeviceInfo,
    /// Online, recording, encoding.
    DeviceStatus,
}

impl QueryKind {
    /// The CmdType.
    pub fn cmd_type(self) -> &'static str {
        match self {
            Self::Catalog => "Catalog",
            Self::DeviceInfo => "DeviceInfo",
            Self::DeviceStatus => "DeviceStatus",
        }
    }
}

/// A `<Query>` body, GB2312-declared (every device reads it; the text is
/// ASCII so the bytes are the same in any of the charsets).
pub fn query_body(kind: QueryKind, sn: u32, device_id: &str) -> Vec<u8> {
    encode_gb(&format!(
        "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query>\r\n<CmdType>{}</CmdType>\r\n\
         <SN>{sn}</SN>\r\n<DeviceID>{device_id}</DeviceID>\r\n</Query>\r\n",
        kind.cmd_type()
    ))
}
