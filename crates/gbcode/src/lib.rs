//! GB/T 28181 20-digit codes: the one ID scheme of every device and node (R4).
//!
//! Layout: 8-digit administrative division (6-digit area code + 2 grassroots
//! digits), 2-digit industry, 3-digit type, 1-digit network, 6-digit sequence.
#![forbid(unsafe_code)]

mod area;
mod code;

pub use area::{AreaCode, division_name};
pub use code::{CodeError, GbCode, TypeClass};
