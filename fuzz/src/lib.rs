//! Fuzzing every parser of untrusted bytes (issue 9, "Beyond the list").
//!
//! Each target in [`targets`] is a plain function of `&[u8]` that feeds
//! its bytes to one parser and checks what must hold whatever the bytes
//! are: no panic, no overflow, no read past the input, no allocation
//! beyond the parser's limits, and that what parses re-encodes. Two drivers
//! run them:
//!
//! - `cargo test -p vfed-fuzz` (stable, part of `make test`): a bounded,
//!   seeded run of each target over mutations of valid inputs
//!   ([`seeds`], [`mutate`]); a failure prints the input in hex and the
//!   seed that reproduces it.
//! - `fuzz/cargo-fuzz` (libFuzzer, outside the workspace): the same bodies,
//!   open-ended and coverage-guided.
#![forbid(unsafe_code)]

pub mod gb28181;
pub mod mutate;
pub mod run;
pub mod seeds;
pub mod targets;

pub use run::{Campaign, run};
