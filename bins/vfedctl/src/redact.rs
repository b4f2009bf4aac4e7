//! Secrets never reach a terminal or a log: every message vfedctl prints
//! about a failure passes through [`secrets`] (the error reporter and the
//! URLs of HTTP messages), which masks bearer tokens wherever they appear.

use std::borrow::Cow;
use std::sync::Mutex;

/// What a masked secret is replaced with.
pub const MASK: &str = "<redacted>";

/// Tokens this invocation holds (`--token`, a stored login, one issued for
/// `watch`): masked even where no `token=`/`Bearer` marker precedes them
/// (e.g. a server message that quotes one).
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers `token` so that [`secrets`] masks it anywhere.
pub fn remember(token: &str) {
    // Short values could mask ordinary words; tokens are long.
    if token.len() < 8 {
        return;
    }
    if let Ok(mut known) = KNOWN.lock()
        && !known.iter().any(|t| t == token)
    {
        known.push(token.to_owned());
    }
}

/// `text` with every bearer token masked: values of `token=` (URL queries),
/// words after `Bearer `, and any token remembered by [`remember`].
pub fn secrets(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for marker in ["token=", "Bearer "] {
        if out.contains(marker) {
            out = Cow::Owned(mask_after(&out, marker));
        }
    }
    if let Ok(known) = KNOWN.lock() {
        for token in known.iter() {
            if out.contains(token.as_str()) {
                out = Cow::Owned(out.replace(token.as_str(), MASK));
            }
        }
    }
    out
}

/// Replaces the value after each `marker` (up to `&`, `#`, whitespace or a
/// quote) with [`MASK`].
fn mask_after(text: &str, marker: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        let value_start = at + marker.len();
        out.push_str(&rest[..value_start]);
        let value = &rest[value_start..];
        let end = value
            .find(|c: char| c == '&' || c == '#' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(value.len());
        if end > 0 && !value[..end].starts_with(MASK) {
            out.push_str(MASK);
        } else {
            out.push_str(&value[..end]);
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_queries_bearers_and_known_tokens() {
        assert_eq!(
            secrets("GET http://h/live/x/index.m3u8?token=abc.def&x=1 failed"),
            "GET http://h/live/x/index.m3u8?token=<redacted>&x=1 failed"
        );
        assert_eq!(
            secrets("authorization: Bearer eyJ0eXAi.payload.sig"),
            "authorization: Bearer <redacted>"
        );
        assert_eq!(secrets("no secrets here"), "no secrets here");
        remember("s3cr3t-token-value");
        assert_eq!(
            secrets("the node said: bad s3cr3t-token-value"),
            "the node said: bad <redacted>"
        );
        assert_eq!(secrets("token=<redacted>"), "token=<redacted>");
    }
}
