//! The SIP parser: bounded in every dimension, an error naming the rule for
//! every input it refuses, and never a panic.

use bytes::Bytes;

use super::message::{Headers, Message, Method, StartLine};

/// Bounds on what a peer may send. The defaults fit any GB/T 28181 device:
/// a UDP datagram is at most 65,535 bytes and real catalog pages are a few KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message (head and body).
    pub max_message: usize,
    /// Largest head (start line and headers).
    pub max_head: usize,
    /// Most header lines.
    pub max_headers: usize,
    /// Longest header line (name and value, folded lines joined).
    pub max_header_line: usize,
    /// Largest body (Content-Length).
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message: 65_535,
            max_head: 16 * 1024,
            max_headers: 64,
            max_header_line: 4096,
            max_body: 60 * 1024,
        }
    }
}

/// Why bytes are not an acceptable SIP message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but whitespace.
    #[error("sip: empty message")]
    Empty,
    /// The whole message is over the limit.
    #[error("sip: message of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Its size (at least).
        size: usize,
        /// The limit.
        max: usize,
    },
    /// No blank line ends the head within the limit.
    #[error("sip: head not terminated by a blank line within {max} bytes")]
    HeadTooLarge {
        /// The limit.
        max: usize,
    },
    /// The start line is malformed.
    #[error("sip: start line: {reason}")]
    StartLine {
        /// What is wrong.
        reason: String,
    },
    /// A header line is malformed.
    #[error("sip: header line {line}: {reason}")]
    HeaderLine {
        /// Its line number (1 = the start line).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Too many header lines.
    #[error("sip: more than {max} header lines")]
    TooManyHeaders {
        /// The limit.
        max: usize,
    },
    /// A required header is absent.
    #[error("sip: header {name} is required (RFC 3261 §8.1.1)")]
    MissingHeader {
        /// The header.
        name: &'static str,
    },
    /// Content-Length is not a number, or there are two that differ.
    #[error("sip: header Content-Length: {reason}")]
    ContentLength {
        /// What is wrong.
        reason: String,
    },
    /// The declared body is over the limit.
    #[error("sip: body of {length} bytes (Content-Length) exceeds the limit of {max} bytes")]
    BodyTooLarge {
        /// Content-Length.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// Fewer body bytes than Content-Length in a datagram.
    #[error("sip: body truncated: Content-Length {declared}, {got} bytes present")]
    Truncated {
        /// Content-Length.
        declared: usize,
        /// Bytes present.
        got: usize,
    },
}

impl ParseError {
    /// The SIP status that answers a request refused for this reason.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Self::TooLarge { .. } | Self::BodyTooLarge { .. } => (413, "Request Entity Too Large"),
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } => {
                (494, "Request Header Fields Too Large")
            }
            _ => (400, "Bad Request"),
        }
    }
}

/// The head of a message: where it ends and what it says.
#[derive(Clone, Debug)]
pub struct Head {
    /// The start line.
    pub start: StartLine,
    /// The headers.
    pub headers: Headers,
    /// Offset of the first body byte.
    pub body_offset: usize,
    /// Content-Length, if the message has one.
    pub content_length: Option<usize>,
}

/// Parses one complete message. `datagram` says whether `data` is a UDP
/// datagram (Content-Length may be absent: the body is the rest) or a
/// framed stream message (Content-Length required, RFC 3261 §18.3).
pub fn parse_message(data: &[u8], limits: &Limits, datagram: bool) -> Result<Message, ParseError> {
    if data.len() > limits.max_message {
        return Err(ParseError::TooLarge {
            size: data.len(),
            max: limits.max_message,
        });
    }
    let head = parse_head(data, limits)?;
    let rest = &data[head.body_offset..];
    let body = match head.content_length {
        Some(length) if length > rest.len() => {
            return Err(ParseError::Truncated {
                declared: length,
                got: rest.len(),
            });
        }
        // Bytes after the body in a datagram are ignored (RFC 3261 §18.3).
        Some(length) => &rest[..length],
        None if datagram => rest,
        None => {
            return Err(ParseError::ContentLength {
                reason: "required on a stream transport (RFC 3261 §18.3)".to_owned(),
            });
        }
    };
    if body.len() > limits.max_body {
        return Err(ParseError::BodyTooLarge {
            length: body.len(),
            max: limits.max_body,
        });
    }
    Ok(Message {
        start: head.start,
        headers: head.headers,
        body: Bytes::copy_from_slice(body),
    })
}

/// Parses the start line and headers; checks Content-Length against
/// `max_body` but not against the bytes present (a stream reader needs the
/// head before the body has arrived).
pub fn parse_head(data: &[u8], limits: &Limits) -> Result<Head, ParseError> {
    read_head(data, limits, true)
}

fn read_head(data: &[u8], limits: &Limits, strict: bool) -> Result<Head, ParseError> {
    // Leading CRLFs are keepalives (RFC 5626 §3.5.1) and are skipped.
    let start = data
        .iter()
        .position(|b| !matches!(b, b'\r' | b'\n'))
        .ok_or(ParseError::Empty)?;
    let (lines, body_offset) = split_head(&data[start..], limits)?;
    let body_offset = start + body_offset;
    let mut lines = lines.into_iter();
    let first = lines.next().ok_or(ParseError::Empty)?;
    let start_line = parse_start_line(first)?;
    let mut headers = Headers::default();
    let mut current: Option<String> = None;
    let mut count = 0usize;
    for (index, line) in lines.enumerate() {
        let number = index + 2;
        let text = String::from_utf8_lossy(line);
        if text.starts_with([' ', '\t']) {
            // A folded continuation of the previous header (RFC 3261 §7.3.1).
            let Some(previous) = current.as_mut() else {
                return Err(ParseError::HeaderLine {
                    line: number,
                    reason: "continuation before any header".to_owned(),
                });
            };
            previous.push(' ');
            previous.push_str(text.trim());
            if previous.len() > limits.max_header_line {
                return Err(line_too_long(number, limits));
            }
            continue;
        }
        if let Some(done) = current.take() {
            push_header(&mut headers, &done, number - 1)?;
        }
        count += 1;
        if count > limits.max_headers {
            return Err(ParseError::TooManyHeaders {
                max: limits.max_headers,
            });
        }
        if text.len() > limits.max_header_line {
            return Err(line_too_long(number, limits));
        }
        current = Some(text.into_owned());
    }
    if let Some(done) = current.take() {
        push_header(&mut headers, &done, count + 1)?;
    }
    for name in ["via", "from", "to", "call-id", "cseq"] {
        if strict && headers.get(name).is_none() {
            return Err(ParseError::MissingHeader {
                name: required_name(name),
            });
        }
    }
    let content_length = content_length(&headers)?;
    if let Some(length) = content_length
        && length > limits.max_body
    {
        return Err(ParseError::BodyTooLarge {
            length,
            max: limits.max_body,
        });
    }
    Ok(Head {
        start: start_line,
        headers,
        body_offset,
        content_length,
    })
}

/// The head of bytes the parser refused (body limits and required headers
/// lifted), so that a refused request can still be answered with why.
pub fn head_for_answer(data: &[u8], limits: &Limits) -> Option<Message> {
    let loose = Limits {
        max_body: usize::MAX,
        ..*limits
    };
    let head = read_head(data, &loose, false).ok()?;
    Some(Message {
        start: head.start,
        headers: head.headers,
        body: Bytes::new(),
    })
}

/// Splits the head into lines (CRLF or bare LF) up to the blank line;
/// returns the lines and the offset just past the blank line.
fn split_head<'a>(data: &'a [u8], limits: &Limits) -> Result<(Vec<&'a [u8]>, usize), ParseError> {
    let mut lines = Vec::new();
    let mut offset = 0usize;
    loop {
        if offset > limits.max_head {
            return Err(ParseError::HeadTooLarge {
                max: limits.max_head,
            });
        }
        let Some(newline) = data[offset..].iter().position(|b| *b == b'\n') else {
            return Err(if data.len() > limits.max_head {
                ParseError::HeadTooLarge {
                    max: limits.max_head,
                }
            } else {
                ParseError::StartLine {
                    reason: "head not terminated by a blank line".to_owned(),
                }
            });
        };
        let end = offset + newline;
        let line = &data[offset..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        offset = end + 1;
        if line.is_empty() {
            if offset - 1 > limits.max_head {
                return Err(ParseError::HeadTooLarge {
                    max: limits.max_head,
                });
            }
            return Ok((lines, offset));
        }
        if lines.len() > limits.max_headers * 2 + 1 {
            return Err(ParseError::TooManyHeaders {
                max: limits.max_headers,
            });
        }
        lines.push(line);
    }
}

fn parse_start_line(line: &[u8]) -> Result<StartLine, ParseError> {
    let bad = |reason: &str| ParseError::StartLine {
        reason: reason.to_owned(),
    };
    let text = std::str::from_utf8(line).map_err(|_| bad("not UTF-8"))?;
    if text.len() > 2048 {
        return Err(bad("longer than 2048 bytes"));
    }
    let mut parts = text.splitn(3, ' ');
    let (a, b, c) = match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(c)) => (a, b, c),
        _ => return Err(bad("expected three space-separated parts")),
    };
    if a == "SIP/2.0" {
        let code: u16 = b
            .parse()
            .ok()
            .filter(|code| (100..=699).contains(code))
            .ok_or_else(|| bad("status code must be 100-699"))?;
        return Ok(StartLine::Response {
            code,
            reason: c.to_owned(),
        });
    }
    if c != "SIP/2.0" {
        return Err(bad("version must be SIP/2.0"));
    }
    if a.is_empty()
        || !a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    {
        return Err(bad("method is not a token"));
    }
    if b.is_empty() || !b.contains(':') {
        return Err(bad("Request-URI must be a URI"));
    }
    Ok(StartLine::Request {
        method: Method::from_token(a),
        uri: b.to_owned(),
    })
}

fn push_header(headers: &mut Headers, line: &str, number: usize) -> Result<(), ParseError> {
    let Some((name, value)) = line.split_once(':') else {
        return Err(ParseError::HeaderLine {
            line: number,
            reason: "no ':' after the name".to_owned(),
        });
    };
    let name = name.trim_end();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ParseError::HeaderLine {
            line: number,
            reason: "header name is not a token".to_owned(),
        });
    }
    headers.push(name, value.trim());
    Ok(())
}

fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    for value in headers.get_all("content-length") {
        if value.is_empty() || value.len() > 9 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::ContentLength {
                reason: format!("{value:?} is not a decimal number below 10^9"),
            });
        }
        let length: usize = value.parse().map_err(|_| ParseError::ContentLength {
            reason: format!("{value:?} is not a number"),
        })?;
        if found.is_some_and(|previous| previous != length) {
            return Err(ParseError::ContentLength {
                reason: "two values that differ".to_owned(),
            });
        }
        found = Some(length);
    }
    Ok(found)
}

fn line_too_long(line: usize, limits: &Limits) -> ParseError {
    ParseError::HeaderLine {
        line,
        reason: format!("longer than {} bytes", limits.max_header_line),
    }
}

fn required_name(name: &str) -> &'static str {
    match name {
        "via" => "Via",
        "from" => "From",
        "to" => "To",
        "call-id" => "Call-ID",
        _ => "CSeq",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const REGISTER: &str = "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5061;rport;branch=z9hG4bK1\r\n\
        From: <sip:34020000001320000001@3402000000>;tag=1\r\n\
        To: <sip:34020000001320000001@3402000000>\r\n\
        Call-ID: abc\r\n\
        CSeq: 1 REGISTER\r\n\
        Expires: 3600\r\n\
        l: 0\r\n\r\n";

    #[test]
    fn parses_a_register() {
        let message = parse_message(REGISTER.as_bytes(), &Limits::default(), true).unwrap();
        assert_eq!(message.method(), Some(&Method::Register));
        assert_eq!(message.cseq(), Some((1, "REGISTER")));
        assert_eq!(message.headers.get("Content-Length"), Some("0"));
        let again = parse_message(&message.to_bytes(), &Limits::default(), false).unwrap();
        assert_eq!(again, message);
    }

    #[test]
    fn refuses_with_the_rule() {
        let limits = Limits::default();
        let no_call_id = REGISTER.replace("Call-ID: abc\r\n", "");
        assert_eq!(
            parse_message(no_call_id.as_bytes(), &limits, true),
            Err(ParseError::MissingHeader { name: "Call-ID" })
        );
        let huge = REGISTER.replace("l: 0", "l: 70000");
        assert!(matches!(
            parse_message(huge.as_bytes(), &limits, true),
            Err(ParseError::BodyTooLarge { length: 70000, .. })
        ));
        let short = REGISTER.replace("l: 0", "l: 10");
        assert!(matches!(
            parse_message(short.as_bytes(), &limits, true),
            Err(ParseError::Truncated {
                declared: 10,
                got: 0
            })
        ));
        let many = REGISTER.replace("l: 0", &"X-A: 1\r\n".repeat(70));
        assert!(matches!(
            parse_message(many.as_bytes(), &limits, true),
            Err(ParseError::TooManyHeaders { .. })
        ));
        let negative = REGISTER.replace("l: 0", "l: -1");
        assert!(matches!(
            parse_message(negative.as_bytes(), &limits, true),
            Err(ParseError::ContentLength { .. })
        ));
        assert_eq!(
            parse_message(b"\r\n\r\n", &limits, true),
            Err(ParseError::Empty)
        );
        assert!(parse_message(b"\xff\xfe garbage\r\n\r\n", &limits, true).is_err());
    }

    #[test]
    fn stream_messages_need_a_content_length() {
        let none = REGISTER.replace("l: 0\r\n", "");
        assert!(parse_message(none.as_bytes(), &Limits::default(), true).is_ok());
        assert!(matches!(
            parse_message(none.as_bytes(), &Limits::default(), false),
            Err(ParseError::ContentLength { .. })
        ));
    }
}
