//! A parsed SIP message: start line, headers in order, body bytes.

use std::fmt;

use bytes::Bytes;

/// The SIP methods vfed tells apart; any other token is kept as `Other`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// REGISTER (RFC 3261 §10).
    Register,
    /// MESSAGE (RFC 3428), which carries MANSCDP bodies.
    Message,
    /// INVITE.
    Invite,
    /// ACK.
    Ack,
    /// BYE.
    Bye,
    /// CANCEL.
    Cancel,
    /// OPTIONS.
    Options,
    /// INFO (playback control).
    Info,
    /// SUBSCRIBE.
    Subscribe,
    /// NOTIFY.
    Notify,
    /// Any other token.
    Other(String),
}

impl Method {
    /// The method for a token (case-sensitive, as RFC 3261 says).
    pub fn from_token(token: &str) -> Self {
        match token {
            "REGISTER" => Self::Register,
            "MESSAGE" => Self::Message,
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "OPTIONS" => Self::Options,
            "INFO" => Self::Info,
            "SUBSCRIBE" => Self::Subscribe,
            "NOTIFY" => Self::Notify,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The token on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Register => "REGISTER",
            Self::Message => "MESSAGE",
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Options => "OPTIONS",
            Self::Info => "INFO",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Other(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first line of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    /// `METHOD Request-URI SIP/2.0`.
    Request {
        /// The method.
        method: Method,
        /// The Request-URI as sent.
        uri: String,
    },
    /// `SIP/2.0 code reason`.
    Response {
        /// The status code (100-699).
        code: u16,
        /// The reason phrase.
        reason: String,
    },
}

/// Headers in their order on the wire. Names are stored in their long,
/// lower-case form (`v` becomes `via`); values are trimmed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Adds a header (the name is normalised).
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((canonical_name(name), value.into()));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        let name = canonical_name(name);
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = canonical_name(name);
        self.0
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every header, in order (long lower-case names).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many headers there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The long lower-case form of a header name (RFC 3261 §7.3.3 compact forms).
pub fn canonical_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let long = match lower.as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        "e" => "content-encoding",
        "k" => "supported",
        "s" => "subject",
        _ => return lower,
    };
    long.to_owned()
}

/// One SIP request or response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The start line.
    pub start: StartLine,
    /// The headers.
    pub headers: Headers,
    /// The body (exactly Content-Length bytes).
    pub body: Bytes,
}

impl Message {
    /// The method, for a request.
    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, for a response.
    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Option<&str> {
        self.headers.get("call-id")
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let value = self.headers.get("cseq")?;
        let mut parts = value.split_whitespace();
        let number = parts.next()?.parse().ok()?;
        Some((number, parts.next()?))
    }

    /// The message as bytes on the wire (Content-Length as in the headers).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        match &self.start {
            StartLine::Request { method, uri } => {
                out.extend_from_slice(format!("{method} {uri} SIP/2.0\r\n").as_bytes());
            }
            StartLine::Response { code, reason } => {
                out.extend_from_slice(format!("SIP/2.0 {code} {reason}\r\n").as_bytes());
            }
        }
        for (name, value) in &self.headers.0 {
            out.extend_from_slice(display_name(name).as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// The conventional capitalisation of a stored (lower-case) header name.
fn display_name(name: &str) -> String {
    match name {
        "call-id" => "Call-ID".to_owned(),
        "cseq" => "CSeq".to_owned(),
        "www-authenticate" => "WWW-Authenticate".to_owned(),
        other => other
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}
