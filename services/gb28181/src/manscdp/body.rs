//! What a MANSCDP body says: keepalive notifications, catalog pages,
//! device information and status; anything else is kept by its CmdType.

use super::charset::{Charset, decode};
use super::tree::{self, Element, TreeError};

/// Longest field value kept (longer values are cut at a char boundary).
pub const MAX_FIELD: usize = 256;

/// Why a body is not a MANSCDP message vfed can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManscdpError {
    /// Not XML, or beyond the bounds.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A required element is missing or malformed.
    #[error("manscdp: <{element}>: {reason}")]
    Field {
        /// The element.
        element: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// One channel (or sub-device, group, organisation) in a catalog response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogItem {
    /// Its 20-digit ID, as sent.
    pub device_id: String,
    /// `Name`.
    pub name: Option<String>,
    /// `Manufacturer`.
    pub manufacturer: Option<String>,
    /// `Model`.
    pub model: Option<String>,
    /// `Owner`.
    pub owner: Option<String>,
    /// `CivilCode`.
    pub civil_code: Option<String>,
    /// `Address`.
    pub address: Option<String>,
    /// `Parental` (1 if it has children).
    pub parental: Option<String>,
    /// `ParentID` (Hikvision may send two, `/`-separated: kept as sent).
    pub parent_id: Option<String>,
    /// `Status` (`ON`/`OFF`, `ONLINE`/`OFFLINE`).
    pub status: Option<String>,
    /// `Longitude`.
    pub longitude: Option<String>,
    /// `Latitude`.
    pub latitude: Option<String>,
    /// `IPAddress`.
    pub ip_address: Option<String>,
    /// `Info/PTZType`.
    pub ptz_type: Option<String>,
}

/// One catalog response MESSAGE: a page of the whole list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CatalogPage {
    /// The device answering.
    pub device_id: String,
    /// The query's SN.
    pub sn: u32,
    /// How many items the whole catalog has (absent on some devices).
    pub sum_num: Option<u32>,
    /// The items of this page.
    pub items: Vec<CatalogItem>,
}

/// A DeviceInfo response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: String,
    /// The query's SN.
    pub sn: Option<u32>,
    /// `DeviceName`.
    pub name: Option<String>,
    /// `Manufacturer`.
    pub manufacturer: Option<String>,
    /// `Model`.
    pub model: Option<String>,
    /// `Firmware`.
    pub firmware: Option<String>,
    /// `Channel` (how many video inputs).
    pub channels: Option<u32>,
    /// `Result` (`OK`/`ERROR`).
    pub result: Option<String>,
}

/// A DeviceStatus response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceStatus {
    /// The device.
    pub device_id: String,
    /// The query's SN.
    pub sn: Option<u32>,
    /// `Online` (`ONLINE`/`OFFLINE`).
    pub online: Option<String>,
    /// `Status` (`OK`/`ERROR`).
    pub status: Option<String>,
    /// `Encode` (`ON`/`OFF`).
    pub encode: Option<String>,
    /// `Record` (`ON`/`OFF`).
    pub record: Option<String>,
    /// `Result`.
    pub result: Option<String>,
}

/// A MANSCDP body, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManscdpBody {
    /// `<Notify><CmdType>Keepalive</CmdType>`.
    Keepalive {
        /// The device.
        device_id: String,
        /// `Status` (`OK`).
        status: Option<String>,
    },
    /// A catalog response page.
    Catalog(CatalogPage),
    /// A DeviceInfo response.
    DeviceInfo(DeviceInfo),
    /// A DeviceStatus response.
    DeviceStatus(DeviceStatus),
    /// Anything else, by root element and CmdType.
    Other {
        /// Root element (`Notify`, `Response`, `Query`, `Control`).
        root: String,
        /// CmdType.
        cmd_type: String,
    },
}

impl ManscdpBody {
    /// Decodes (any charset, see [`super::charset`]) and reads a body.
    pub fn parse(body: &[u8]) -> Result<(Self, Charset), ManscdpError> {
        let (text, charset) = decode(body);
        let root = tree::parse(&text)?;
        Ok((Self::from_tree(&root)?, charset))
    }

    fn from_tree(root: &Element) -> Result<Self, ManscdpError> {
        let cmd_type = root.field("CmdType").ok_or(ManscdpError::Field {
            element: "CmdType",
            reason: "required",
        })?;
        let device_id = || {
            root.field("DeviceID")
                .map(bounded)
                .ok_or(ManscdpError::Field {
                    element: "DeviceID",
                    reason: "required",
                })
        };
        let sn = number(root, "SN");
        let kind = (
            root.name.to_ascii_lowercase(),
            cmd_type.to_ascii_lowercase(),
        );
        Ok(match (kind.0.as_str(), kind.1.as_str()) {
            ("notify", "keepalive") => Self::Keepalive {
                device_id: device_id()?,
                status: text(root, "Status"),
            },
            ("response", "catalog") => Self::Catalog(CatalogPage {
                device_id: device_id()?,
                sn: sn.ok_or(ManscdpError::Field {
                    element: "SN",
                    reason: "required in a catalog response, a number",
                })?,
                sum_num: number(root, "SumNum"),
                items: root
                    .child("DeviceList")
                    .map(|list| list.children.iter().filter_map(catalog_item).collect())
                    .unwrap_or_default(),
            }),
            ("response", "deviceinfo") => Self::DeviceInfo(DeviceInfo {
                device_id: device_id()?,
                sn,
                name: text(root, "DeviceName"),
                manufacturer: text(root, "Manufacturer"),
                model: text(root, "Model"),
                firmware: text(root, "Firmware"),
                channels: number(root, "Channel"),
                result: text(root, "Result"),
            }),
            ("response", "devicestatus") => Self::DeviceStatus(DeviceStatus {
                device_id: device_id()?,
                sn,
                online: text(root, "Online"),
                status: text(root, "Status"),
                encode: text(root, "Encode"),
                record: text(root, "Record"),
                result: text(root, "Result"),
            }),
            _ => Self::Other {
                root: bounded(&root.name),
                cmd_type: bounded(cmd_type),
            },
        })
    }
}

fn catalog_item(item: &Element) -> Option<CatalogItem> {
    let device_id = item.field("DeviceID")?;
    Some(CatalogItem {
        device_id: bounded(device_id),
        name: text(item, "Name"),
        manufacturer: text(item, "Manufacturer"),
        model: text(item, "Model"),
        owner: text(item, "Owner"),
        civil_code: text(item, "CivilCode"),
        address: text(item, "Address"),
        parental: text(item, "Parental"),
        parent_id: text(item, "ParentID"),
        status: text(item, "Status"),
        longitude: text(item, "Longitude"),
        latitude: text(item, "Latitude"),
        ip_address: text(item, "IPAddress"),
        ptz_type: item.child("Info").and_then(|info| text(info, "PTZType")),
    })
}

fn text(element: &Element, name: &str) -> Option<String> {
    element.field(name).map(bounded)
}

fn number(element: &Element, name: &str) -> Option<u32> {
    element.field(name).and_then(|v| v.parse().ok())
}

fn bounded(value: &str) -> String {
    match value.char_indices().nth(MAX_FIELD) {
        Some((cut, _)) => value[..cut].to_owned(),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::manscdp::charset::encode_gb;

    #[test]
    fn reads_a_gb2312_catalog_page() {
        let xml = "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Response>\r\n<CmdType>Catalog</CmdType>\r\n\
            <SN>17</SN>\r\n<DeviceID>34020000001180000001</DeviceID>\r\n<SumNum>64</SumNum>\r\n\
            <DeviceList Num=\"2\">\r\n<Item>\r\n<DeviceID>34020000001310000001</DeviceID>\r\n<Name>大门</Name>\r\n\
            <Status>ON</Status><Info><PTZType>1</PTZType></Info></Item>\r\n\
            <Item DeviceID=\"34020000001310000002\" Name=\"后门\"/>\r\n</DeviceList>\r\n</Response>\r\n";
        let (body, charset) = ManscdpBody::parse(&encode_gb(xml)).unwrap();
        assert_eq!(charset, super::super::charset::Charset::Gb18030);
        let ManscdpBody::Catalog(page) = body else {
            panic!("not a catalog: {body:?}");
        };
        assert_eq!((page.sn, page.sum_num), (17, Some(64)));
        assert_eq!(page.items.len(), 2);
        assert_eq!(page.items[0].name.as_deref(), Some("大门"));
        assert_eq!(page.items[0].ptz_type.as_deref(), Some("1"));
        assert_eq!(page.items[1].name.as_deref(), Some("后门"));
    }

    #[test]
    fn refuses_without_the_required_fields() {
        let no_sn = b"<Response><CmdType>Catalog</CmdType><DeviceID>1</DeviceID></Response>";
        assert!(matches!(
            ManscdpBody::parse(no_sn),
            Err(ManscdpError::Field { element: "SN", .. })
        ));
        assert!(ManscdpBody::parse(b"<Notify><SN>1</SN></Notify>").is_err());
        assert!(ManscdpBody::parse(b"not xml").is_err());
        let alarm = b"<Notify><CmdType>Alarm</CmdType><SN>1</SN><DeviceID>1</DeviceID></Notify>";
        assert!(matches!(
            ManscdpBody::parse(alarm),
            Ok((ManscdpBody::Other { .. }, _))
        ));
    }
}
