//! SIP as GB/T 28181 devices speak it: a strict, bounded parser
//! ([`parse`]), TCP stream framing ([`stream`]), the few header forms the
//! registrar reads ([`address`]) and the messages it writes ([`build`]).
//!
//! No SIP stack sits behind this: vfed plays the platform (UAS) for
//! REGISTER and MESSAGE and the client for its own MESSAGE queries, which
//! needs no transaction layer beyond answering each request once.

pub mod address;
pub mod build;
pub mod message;
pub mod parse;
pub mod stream;

pub use message::{Headers, Message, Method, StartLine};
pub use parse::{Limits, ParseError, parse_message};
pub use stream::StreamFramer;
