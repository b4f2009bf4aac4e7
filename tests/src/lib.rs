//! Test support for vfed: a throwaway PKI, real nodes on `127.0.0.1:0` over
//! real mutual TLS, clients, device specs and bounded polling.
//!
//! Shared by the integration tests in `tests/` and by the benchmarks.
#![forbid(unsafe_code)]

mod auth;
pub mod binaries;
mod cluster;
mod demo_data;
mod devices;
mod file_camera;
mod pki;
mod poll;
pub mod transcript;

pub use auth::{AuthedChannel, BearerToken, NewUser, TEST_ADMIN};
pub use cluster::{Backend, NodeOptions, TestNode};
pub use demo_data::DemoData;
pub use devices::{device_spec, register_request};
pub use file_camera::{ClipSpec, FileCamera, FileCodec, file_camera_script, make_clip};
pub use pki::TestPki;
pub use poll::eventually;
