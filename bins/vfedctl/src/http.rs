//! A small HTTP/1.1 GET client over [`tokio::net::TcpStream`] for the HLS
//! egress of a node (plain HTTP; one connection per request with
//! `Connection: close`). Bodies framed by `Content-Length`, by chunked
//! transfer encoding or by the end of the connection are all handled.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::exit::{ConnectError, usage};

/// Largest response accepted (headers and body), against runaway servers.
const MAX_RESPONSE: usize = 256 * 1024 * 1024;
/// Largest header block accepted.
const MAX_HEADER: usize = 64 * 1024;

/// An `http://host[:port][/prefix]` base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl {
    /// `host:port` to connect to.
    pub authority: String,
    /// Value of the `Host` header.
    pub host_header: String,
    /// Path prefix without a trailing slash (may be empty).
    pub prefix: String,
}

impl BaseUrl {
    /// Parses a base URL; only `http://` is supported for now.
    pub fn parse(input: &str) -> Result<BaseUrl, String> {
        let input = input.trim();
        let rest = if let Some(rest) = input.strip_prefix("http://") {
            rest
        } else if input.starts_with("https://") {
            return Err(format!(
                "{input:?}: https is not supported yet; use the node's plain http:// endpoint"
            ));
        } else {
            return Err(format!(
                "{input:?} is not an http:// URL (e.g. http://127.0.0.1:7180)"
            ));
        };
        let (host_port, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if host_port.is_empty() || host_port.contains('@') || prefix.contains(['?', '#']) {
            return Err(format!("{input:?}: expected http://HOST[:PORT][/PATH]"));
        }
        let has_port = match host_port.rfind(':') {
            // "[::1]" has colons but no port after the bracket.
            Some(i) => !host_port[i..].contains(']'),
            None => false,
        };
        if has_port {
            let port = host_port.rsplit(':').next().unwrap_or_default();
            if port.parse::<u16>().is_err() {
                return Err(format!("{input:?}: bad port {port:?}"));
            }
        }
        Ok(BaseUrl {
            authority: if has_port {
                host_port.to_owned()
            } else {
                format!("{host_port}:80")
            },
            host_header: host_port.to_owned(),
            prefix: prefix.to_owned(),
        })
    }

    /// The full URL of `path` (which starts with `/`), for messages.
    /// Any token in its query is masked.
    pub fn url(&self, path: &str) -> String {
        crate::redact::secrets(&format!("http://{}{}{path}", self.host_header, self.prefix))
            .into_owned()
    }
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Reason phrase, e.g. `Not Found`.
    pub reason: String,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as text, trimmed (for error messages).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_owned()
    }
}

/// GETs `base + path` within `timeout` (connect, send and receive).
/// Connection problems are [`ConnectError`]s (exit 3).
pub async fn get(base: &BaseUrl, path: &str, timeout: Duration) -> anyhow::Result<Response> {
    let url = base.url(path);
    match tokio::time::timeout(timeout, exchange(base, path)).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(e)) => Err(ConnectError(format!("GET {url}: {e}")).into()),
        Err(_) => Err(ConnectError(format!(
            "GET {url}: no complete answer within {} (see --timeout)",
            humantime::format_duration(timeout)
        ))
        .into()),
    }
}

async fn exchange(base: &BaseUrl, path: &str) -> Result<Response, String> {
    let mut stream = TcpStream::connect(&base.authority)
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", base.authority))?;
    let request = format!(
        "GET {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: vfedctl/{}\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n",
        base.prefix,
        base.host_header,
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut head: Option<Head> = None;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the response: {e}"))?;
        let eof = n == 0;
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.len() > MAX_RESPONSE {
            return Err(format!("response larger than {MAX_RESPONSE} bytes"));
        }
        if head.is_none() {
            head = parse_head(&buf)?;
            if head.is_none() {
                if buf.len() > MAX_HEADER {
                    return Err("response header too large".to_owned());
                }
                if eof {
                    return Err("connection closed before a complete response header".to_owned());
                }
                continue;
            }
        }
        let Some(h) = &head else { continue };
        let body = buf.get(h.len..).unwrap_or_default();
        let done = match h.framing {
            _ if !h.has_body => Some(Vec::new()),
            Framing::Length(len) => {
                if body.len() >= len {
                    Some(body.get(..len).unwrap_or_default().to_vec())
                } else if eof {
                    return Err(format!(
                        "body truncated: {} of {len} bytes (Content-Length)",
                        body.len()
                    ));
                } else {
                    None
                }
            }
            Framing::Chunked => match decode_chunked(body)? {
                Some(decoded) => Some(decoded),
                None if eof => return Err("chunked body truncated".to_owned()),
                None => None,
            },
            Framing::UntilClose => eof.then(|| body.to_vec()),
        };
        if let Some(body) = done {
            return Ok(Response {
                status: h.status,
                reason: h.reason.clone(),
                body,
            });
        }
    }
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// A parsed status line and headers.
#[derive(Debug)]
struct Head {
    /// Bytes of the header block including the blank line.
    len: usize,
    status: u16,
    reason: String,
    framing: Framing,
    /// False for 1xx, 204 and 304 responses.
    has_body: bool,
}

/// Parses the header block once it is complete (`Ok(None)` before that).
fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = std::str::from_utf8(buf.get(..end).unwrap_or_default())
        .map_err(|_| "response header is not UTF-8".to_owned())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x response: {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let reason = parts.next().unwrap_or_default().to_owned();
    let mut framing = Framing::UntilClose;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            if value
                .rsplit(',')
                .next()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"))
            {
                framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            let len = value
                .parse()
                .map_err(|_| format!("bad Content-Length {value:?}"))?;
            framing = Framing::Length(len);
        }
    }
    Ok(Some(Head {
        len: end + 4,
        status,
        reason,
        framing,
        has_body: !(matches!(status, 100..=199 | 204 | 304)),
    }))
}

/// Decodes a chunked body (RFC 9112 §7.1): `Ok(None)` while incomplete,
/// the body once the last chunk and the trailer section are in. Chunk
/// extensions and trailer fields are ignored.
pub fn decode_chunked(mut input: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find_crlf(input) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(input.get(..line_end).unwrap_or_default())
            .map_err(|_| "chunk size line is not text".to_owned())?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        input = input.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            // Trailer fields, then an empty line.
            loop {
                let Some(end) = find_crlf(input) else {
                    return Ok(None);
                };
                if end == 0 {
                    return Ok(Some(body));
                }
                input = input.get(end + 2..).unwrap_or_default();
            }
        }
        let needed = size
            .checked_add(2)
            .ok_or_else(|| "chunk size overflows".to_owned())?;
        if input.len() < needed {
            return Ok(None);
        }
        body.extend_from_slice(input.get(..size).unwrap_or_default());
        if input.get(size..needed) != Some(b"\r\n".as_slice()) {
            return Err("chunk not followed by CRLF".to_owned());
        }
        input = input.get(needed..).unwrap_or_default();
    }
}

fn find_crlf(input: &[u8]) -> Option<usize> {
    input.windows(2).position(|w| w == b"\r\n")
}

/// `--http` value parser.
pub fn base_url_arg(input: &str) -> Result<BaseUrl, String> {
    BaseUrl::parse(input)
}

/// A usage error for a bad HTTP base taken from demo.json.
pub fn demo_base(url: &str) -> anyhow::Result<BaseUrl> {
    BaseUrl::parse(url).map_err(|e| usage(format!("http_endpoint in demo.json: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn chunked_bodies() {
        let wire = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n";
        assert_eq!(
            decode_chunked(wire).unwrap().as_deref(),
            Some(b"Wikipedia in\r\n\r\nchunks.".as_slice())
        );
        // Every proper prefix is incomplete, never an error.
        for cut in 0..wire.len() {
            assert_eq!(decode_chunked(&wire[..cut]), Ok(None), "cut at {cut}");
        }
        // Trailers, upper-case hex, binary data with CRLF inside.
        let wire = b"A\r\n\r\n\x00\x01\r\n\xff\xfe\r\n\r\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(
            decode_chunked(wire).unwrap().unwrap(),
            b"\r\n\x00\x01\r\n\xff\xfe\r\n".to_vec()
        );
        assert!(decode_chunked(b"zz\r\nabc\r\n").is_err());
        assert!(decode_chunked(b"3\r\nabcd\r\n0\r\n\r\n").is_err());
        assert_eq!(decode_chunked(b"0\r\n\r\n"), Ok(Some(Vec::new())));
    }

    #[test]
    fn heads() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.framing, h.len), (200, Framing::Length(12), 39));
        let h = parse_head(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!((h.status, h.framing), (503, Framing::Chunked));
        assert_eq!(h.reason, "Service Unavailable");
        assert!(parse_head(b"HTTP/1.1 200 OK\r\n").unwrap().is_none());
        assert!(parse_head(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn base_urls() {
        let b = BaseUrl::parse("http://127.0.0.1:40002").unwrap();
        assert_eq!(b.authority, "127.0.0.1:40002");
        assert_eq!(b.url("/live/x"), "http://127.0.0.1:40002/live/x");
        let b = BaseUrl::parse("http://example.org/vfed/").unwrap();
        assert_eq!(
            (b.authority.as_str(), b.prefix.as_str()),
            ("example.org:80", "/vfed")
        );
        assert!(BaseUrl::parse("https://127.0.0.1:1").is_err());
        assert!(BaseUrl::parse("127.0.0.1:1").is_err());
        assert!(BaseUrl::parse("http://127.0.0.1:99999").is_err());
        assert!(BaseUrl::parse("http://").is_err());
    }

    /// A real exchange against a local listener answering in chunks.
    #[tokio::test]
    async fn chunked_over_tcp() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = vec![0u8; 1024];
            let _ = s.read(&mut req).await.unwrap();
            for part in [
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".as_slice(),
                b"3\r\nabc\r\n",
                b"2\r\nde\r\n0\r\n\r\n",
            ] {
                s.write_all(part).await.unwrap();
                s.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // Keep the connection open: the client must stop at the last chunk.
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let base = BaseUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let r = get(&base, "/x", Duration::from_secs(3)).await.unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, b"abcde".as_slice()));
        server.abort();
    }
}
