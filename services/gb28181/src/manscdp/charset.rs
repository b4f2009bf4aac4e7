//! Charset of a MANSCDP body: what the XML prolog declares, else UTF-8 if
//! the bytes are valid UTF-8, else GB18030. GB2312 and GBK are decoded as
//! GB18030, their superset (WHATWG maps both labels to GBK, which lacks the
//! four-byte sequences some devices send). A body declared UTF-8 that is
//! not (Uniview, WVP#1461) is decoded as GB18030 too.

use encoding_rs::GB18030;

/// Which charset a body was decoded with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8.
    Utf8,
    /// GB2312, GBK or GB18030 (decoded as GB18030).
    Gb18030,
}

/// The body as text, and the charset used.
pub fn decode(body: &[u8]) -> (String, Charset) {
    let declared = declared_encoding(body);
    let gb = declared.as_deref().is_some_and(|label| {
        let label = label.to_ascii_lowercase();
        label.starts_with("gb") || label == "cp936" || label == "x-gbk" || label == "euc-cn"
    });
    if gb {
        let (text, _, had_errors) = GB18030.decode(body);
        // Declared GB but not GB (and valid UTF-8): the declaration lies.
        if !had_errors || std::str::from_utf8(body).is_err() {
            return (text.into_owned(), Charset::Gb18030);
        }
    }
    match std::str::from_utf8(body) {
        Ok(text) => (
            text.trim_start_matches('\u{feff}').to_owned(),
            Charset::Utf8,
        ),
        Err(_) => {
            let (text, _, _) = GB18030.decode(body);
            (text.into_owned(), Charset::Gb18030)
        }
    }
}

/// The `encoding` of an XML declaration at the start of `body`.
fn declared_encoding(body: &[u8]) -> Option<String> {
    let head = &body[..body.len().min(200)];
    let start = head.windows(5).position(|w| w == b"<?xml")?;
    let end = start + head[start..].windows(2).position(|w| w == b"?>")?;
    let decl = std::str::from_utf8(&head[start..end]).ok()?;
    let at = decl.find("encoding")?;
    let rest = decl[at + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = rest[1..].split(quote).next()?;
    Some(value.trim().to_owned())
}

/// Encodes `text` as GB18030 (for bodies declared GB2312 to devices).
pub fn encode_gb(text: &str) -> Vec<u8> {
    let (bytes, _, _) = GB18030.encode(text);
    bytes.into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn declared_detected_and_lying() {
        let name = "前门摄像机";
        let gb = encode_gb(&format!(
            "<?xml version=\"1.0\" encoding=\"GB2312\"?><N>{name}</N>"
        ));
        let (text, charset) = decode(&gb);
        assert!(text.contains(name));
        assert_eq!(charset, Charset::Gb18030);
        // Not declared, not UTF-8: GB18030.
        let (text, _) = decode(&encode_gb(&format!("<N>{name}</N>")));
        assert!(text.contains(name));
        // Declared UTF-8 but GB bytes.
        let lying = encode_gb(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><N>{name}</N>"
        ));
        assert!(decode(&lying).0.contains(name));
        // Real UTF-8.
        let utf8 = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><N>{name}</N>");
        assert_eq!(decode(utf8.as_bytes()), (utf8.clone(), Charset::Utf8));
    }
}
