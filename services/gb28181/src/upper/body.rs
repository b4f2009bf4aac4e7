//! The MANSCDP bodies a lower platform sends its upper (keepalive, catalog
//! pages, catalog-change notifications, DeviceInfo and DeviceStatus
//! responses) and the reading of the upper's queries.

use std::fmt::Write as _;

use super::options::BodyCharset;
use super::sources::{ChangeEvent, SharedDevice};
use crate::manscdp::charset::{decode, encode_gb};
use crate::manscdp::tree;

/// Longest SN accepted in a query (u32 as GB/T 28181 uses it).
const MAX_ID: usize = 20;

/// A query from the upper.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// `Catalog`, `DeviceInfo`, `DeviceStatus` (as sent, bounded).
    pub cmd_type: String,
    /// Its SN.
    pub sn: u32,
    /// The ID it asks about.
    pub device_id: String,
}

/// Why a body from the upper is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Not a readable XML body.
    #[error(transparent)]
    Tree(#[from] tree::TreeError),
    /// A field is missing or malformed.
    #[error("manscdp query: <{0}>: {1}")]
    Field(&'static str, &'static str),
    /// Not a `<Query>`.
    #[error("manscdp: a <{0}> is not a query")]
    NotQuery(String),
}

/// Reads a `<Query>` (any charset).
pub fn read_query(body: &[u8]) -> Result<Query, QueryError> {
    let (text, _) = decode(body);
    let root = tree::parse(&text)?;
    if !root.name.eq_ignore_ascii_case("query") {
        return Err(QueryError::NotQuery(root.name.chars().take(32).collect()));
    }
    let cmd_type = root
        .field("CmdType")
        .filter(|c| c.len() <= 32 && c.bytes().all(|b| b.is_ascii_alphanumeric()))
        .ok_or(QueryError::Field(
            "CmdType",
            "required, 1-32 letters or digits",
        ))?;
    let sn = root
        .field("SN")
        .and_then(|s| s.parse().ok())
        .ok_or(QueryError::Field(
            "SN",
            "required, a number up to 4294967295",
        ))?;
    let device_id = root
        .field("DeviceID")
        .filter(|d| d.len() == MAX_ID && d.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(QueryError::Field("DeviceID", "required, 20 digits"))?;
    Ok(Query {
        cmd_type: cmd_type.to_owned(),
        sn,
        device_id: device_id.to_owned(),
    })
}

/// Escapes text for an XML element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The body's bytes in `charset`, with the matching declaration.
pub fn encode(xml: &str, charset: BodyCharset) -> Vec<u8> {
    match charset {
        BodyCharset::Gb2312 => encode_gb(&format!(
            "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n{xml}"
        )),
        BodyCharset::Utf8 => {
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n{xml}").into_bytes()
        }
    }
}

/// `<Notify>` Keepalive.
pub fn keepalive(sn: u32, local_id: &str) -> String {
    format!(
        "<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n<SN>{sn}</SN>\r\n\
         <DeviceID>{local_id}</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n"
    )
}

/// One `<Item>` (GB/T 28181-2016 A.2.6.4), with `event` for notifications.
fn item(out: &mut String, device: &SharedDevice, parent: &str, event: Option<ChangeEvent>) {
    let _ = write!(
        out,
        "<Item>\r\n<DeviceID>{}</DeviceID>\r\n<Name>{}</Name>\r\n<Manufacturer>{}</Manufacturer>\r\n\
         <Model>{}</Model>\r\n<Owner>{}</Owner>\r\n<CivilCode>{}</CivilCode>\r\n<Address>{}</Address>\r\n\
         <Parental>0</Parental>\r\n<ParentID>{parent}</ParentID>\r\n<SafetyWay>0</SafetyWay>\r\n\
         <RegisterWay>1</RegisterWay>\r\n<Secrecy>0</Secrecy>\r\n<Status>{}</Status>\r\n",
        escape(&device.device_id),
        escape(&device.name),
        escape(&device.manufacturer),
        escape(&device.model),
        escape(&device.owner),
        escape(&device.civil_code),
        escape(&device.address),
        if device.online { "ON" } else { "OFF" },
    );
    if let Some((longitude, latitude)) = device.position {
        let _ = write!(
            out,
            "<Longitude>{longitude}</Longitude>\r\n<Latitude>{latitude}</Latitude>\r\n"
        );
    }
    if let Some(event) = event {
        let _ = write!(out, "<Event>{}</Event>\r\n", event.as_str());
    }
    out.push_str("</Item>\r\n");
}

/// The catalog response, one `<Response>` per `group_size` items (one
/// empty page when there is none), each with the query's SN and SumNum.
pub fn catalog_pages(
    sn: u32,
    local_id: &str,
    devices: &[SharedDevice],
    group_size: usize,
) -> Vec<String> {
    let total = devices.len();
    let pages: Vec<&[SharedDevice]> = if devices.is_empty() {
        vec![&[]]
    } else {
        devices.chunks(group_size.max(1)).collect()
    };
    pages
        .into_iter()
        .map(|page| {
            let mut out = format!(
                "<Response>\r\n<CmdType>Catalog</CmdType>\r\n<SN>{sn}</SN>\r\n\
                 <DeviceID>{local_id}</DeviceID>\r\n<SumNum>{total}</SumNum>\r\n\
                 <DeviceList Num=\"{}\">\r\n",
                page.len()
            );
            for device in page {
                item(&mut out, device, local_id, None);
            }
            out.push_str("</DeviceList>\r\n</Response>\r\n");
            out
        })
        .collect()
}

/// A catalog-change `<Notify>` for one device.
pub fn catalog_notify(
    sn: u32,
    local_id: &str,
    device: &SharedDevice,
    event: ChangeEvent,
) -> String {
    let mut out = format!(
        "<Notify>\r\n<CmdType>Catalog</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{local_id}</DeviceID>\r\n\
         <SumNum>1</SumNum>\r\n<DeviceList Num=\"1\">\r\n"
    );
    item(&mut out, device, local_id, Some(event));
    out.push_str("</DeviceList>\r\n</Notify>\r\n");
    out
}

/// A DeviceInfo response about this node (`device` `None`) or one device.
pub fn device_info(sn: u32, id: &str, device: Option<&SharedDevice>, channels: usize) -> String {
    let (name, manufacturer, model) = match device {
        Some(d) => (escape(&d.name), escape(&d.manufacturer), escape(&d.model)),
        None => (
            "vfed".to_owned(),
            "vfed".to_owned(),
            "vfed lower platform".to_owned(),
        ),
    };
    format!(
        "<Response>\r\n<CmdType>DeviceInfo</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{id}</DeviceID>\r\n\
         <Result>OK</Result>\r\n<DeviceName>{name}</DeviceName>\r\n<Manufacturer>{manufacturer}</Manufacturer>\r\n\
         <Model>{model}</Model>\r\n<Firmware>{}</Firmware>\r\n<Channel>{channels}</Channel>\r\n</Response>\r\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// A DeviceStatus response (`online` of the node or the device).
pub fn device_status(sn: u32, id: &str, online: bool, now: &str) -> String {
    let online = if online { "ONLINE" } else { "OFFLINE" };
    format!(
        "<Response>\r\n<CmdType>DeviceStatus</CmdType>\r\n<SN>{sn}</SN>\r\n<DeviceID>{id}</DeviceID>\r\n\
         <Result>OK</Result>\r\n<Online>{online}</Online>\r\n<Status>OK</Status>\r\n<Encode>ON</Encode>\r\n\
         <Record>OFF</Record>\r\n<DeviceTime>{now}</DeviceTime>\r\n</Response>\r\n"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::manscdp::ManscdpBody;

    fn device(n: u32, name: &str) -> SharedDevice {
        SharedDevice {
            device_id: format!("3402000000132000{n:04}"),
            name: name.into(),
            online: n.is_multiple_of(2),
            shared: true,
            accepted: true,
            ..SharedDevice::default()
        }
    }

    #[test]
    fn pages_read_back_with_the_crates_own_reader() {
        let devices: Vec<_> = (1..=5).map(|n| device(n, "前门 <A&B>")).collect();
        let pages = catalog_pages(7, "34020000002000000001", &devices, 2);
        assert_eq!(pages.len(), 3);
        let mut ids = Vec::new();
        for page in &pages {
            let (body, _) = ManscdpBody::parse(&encode(page, BodyCharset::Gb2312)).unwrap();
            let ManscdpBody::Catalog(page) = body else {
                panic!("{body:?}")
            };
            assert_eq!((page.sn, page.sum_num), (7, Some(5)));
            assert_eq!(page.items[0].name.as_deref(), Some("前门 <A&B>"));
            ids.extend(page.items.into_iter().map(|i| i.device_id));
        }
        assert_eq!(
            ids,
            devices
                .iter()
                .map(|d| d.device_id.clone())
                .collect::<Vec<_>>()
        );
        let empty = catalog_pages(8, "34020000002000000001", &[], 4);
        assert_eq!(empty.len(), 1);
        assert!(empty[0].contains("<SumNum>0</SumNum>"));
    }

    #[test]
    fn reads_queries_and_refuses_the_rest() {
        let query = b"<?xml version=\"1.0\"?><Query><CmdType>Catalog</CmdType><SN>42</SN>\
            <DeviceID>34020000002000000001</DeviceID></Query>";
        assert_eq!(
            read_query(query).unwrap(),
            Query {
                cmd_type: "Catalog".into(),
                sn: 42,
                device_id: "34020000002000000001".into()
            }
        );
        assert!(matches!(
            read_query(b"<Query><CmdType>Catalog</CmdType><SN>x</SN></Query>"),
            Err(QueryError::Field("SN", _))
        ));
        assert!(read_query(b"<Notify><CmdType>Keepalive</CmdType></Notify>").is_err());
        assert!(read_query(b"garbage").is_err());
    }
}
