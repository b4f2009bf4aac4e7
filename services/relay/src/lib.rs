//! The relay: vfed's media broker. QUIC links between relays up the tree,
//! on-demand pull toward a stream's origin, one upstream pull per stream
//! shared by every local viewer, and fan-out that never lets a slow viewer
//! stall the source or the others.
#![forbid(unsafe_code)]

pub mod track;
pub mod wire;
