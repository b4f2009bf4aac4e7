//! The retrieval workflow (R16, R17): recorded video is released to an
//! agency only when two different officers, each with their own account,
//! have signed a request that presents a legal document, and the custodian
//! of the holding node has approved it. Anything short of that is refused
//! with the missing condition and the requirement named; the node's auth
//! layer logs every refusal and commits the audit record of every change
//! in the same store transaction as the change (R14.5).
//!
//! * [`workflow`]: the state machine, pure (no I/O, the time is a
//!   parameter), so every transition and refusal is tested exhaustively.
//! * [`validate`]: a filed request's fields, each refusal naming its field.
//! * `requests`: the records in the store, one compare-and-swap
//!   transaction per state change.
//! * [`RetrievalService`]: the `vfed.retrieval.v1.Retrieval` gRPC service.
//!
//! Access opened here is a grant (which devices, which period, until when);
//! the export of the video itself comes with recording.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod convert;
mod devices;
mod error;
mod holds;
mod keys;
mod options;
mod record;
mod requests;
mod service;
mod time_text;
pub mod validate;
pub mod workflow;

pub use devices::DeviceDirectory;
pub use error::RetrievalError;
pub use options::RetrievalOptions;
pub use record::{Draft, Grant, LegalDocument, Record, Signature, Stage, State};
pub use service::{Clock, RetrievalService, run};
