//! MANSCDP (GB/T 28181 Annex A): the XML bodies of MESSAGE requests.
//! Decoded whatever the charset ([`charset`]), read leniently (element and
//! attribute forms, [`tree`]), turned into what the platform uses
//! ([`body`]), and the queries the platform sends ([`query`]).

pub mod body;
pub mod charset;
pub mod query;
pub mod tree;

pub use body::{CatalogItem, CatalogPage, DeviceInfo, DeviceStatus, ManscdpBody, ManscdpError};
