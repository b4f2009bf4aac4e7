//! Writing the responses and requests vfed sends.

use bytes::Bytes;

use super::address::header_param;
use super::message::{Headers, Message, Method, StartLine};

/// A response to `request`: its Via, From, To (with `local_tag` added when
/// To has none), Call-ID and CSeq, then `extra` headers, then the body.
pub fn response(
    request: &Message,
    code: u16,
    reason: &str,
    local_tag: &str,
    extra: &[(&str, String)],
) -> Message {
    let mut headers = Headers::default();
    for via in request.headers.get_all("via") {
        headers.push("via", via);
    }
    for name in ["from", "to", "call-id", "cseq"] {
        let Some(value) = request.headers.get(name) else {
            continue;
        };
        if name == "to" && header_param(value, "tag").is_none() && code > 100 {
            headers.push(name, format!("{value};tag={local_tag}"));
        } else {
            headers.push(name, value);
        }
    }
    for (name, value) in extra {
        headers.push(name, value.clone());
    }
    headers.push("content-length", "0");
    Message {
        start: StartLine::Response {
            code,
            reason: reason.to_owned(),
        },
        headers,
        body: Bytes::new(),
    }
}

/// What an out-of-dialog request vfed sends is made of.
#[derive(Clone, Debug)]
pub struct OutgoingRequest<'a> {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: &'a str,
    /// `UDP` or `TCP`.
    pub transport: &'a str,
    /// Our sent-by (`host:port`).
    pub sent_by: &'a str,
    /// Via branch (after the magic cookie).
    pub branch: &'a str,
    /// The From header value (with tag).
    pub from: &'a str,
    /// The To header value.
    pub to: &'a str,
    /// Call-ID.
    pub call_id: &'a str,
    /// CSeq number.
    pub cseq: u32,
    /// Content-Type, when there is a body.
    pub content_type: Option<&'a str>,
    /// The body.
    pub body: Bytes,
}

impl OutgoingRequest<'_> {
    /// The message.
    pub fn build(self) -> Message {
        let mut headers = Headers::default();
        headers.push(
            "via",
            format!(
                "SIP/2.0/{} {};rport;branch=z9hG4bK{}",
                self.transport, self.sent_by, self.branch
            ),
        );
        headers.push("from", self.from);
        headers.push("to", self.to);
        headers.push("call-id", self.call_id);
        headers.push("cseq", format!("{} {}", self.cseq, self.method));
        headers.push("max-forwards", "70");
        if let Some(content_type) = self.content_type {
            headers.push("content-type", content_type);
        }
        headers.push("content-length", self.body.len().to_string());
        Message {
            start: StartLine::Request {
                method: self.method,
                uri: self.uri.to_owned(),
            },
            headers,
            body: self.body,
        }
    }
}
