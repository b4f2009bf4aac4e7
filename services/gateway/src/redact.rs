//! Keeping credentials out of logs and errors.

/// Returns `text` with the user information of every URL in it
/// (`rtsp://user:pass@host/...`) replaced by `***`.
///
/// Works on any text (log lines, error messages quoting a URL), not only on
/// well-formed URLs, so that a malformed URL cannot leak its password either.
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the path, query or fragment, or where the URL
        // itself ends inside surrounding text.
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#')
                    || c.is_whitespace()
                    || matches!(c, '"' | '\'' | '<' | '>')
            })
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Replaces every occurrence of `secret` (a password) in `text` by `***`,
/// for error text produced by libraries that might quote it.
pub(crate) fn scrub(text: &str, secret: Option<&str>) -> String {
    let text = redact_credentials(text);
    match secret {
        Some(secret) if !secret.is_empty() => text.replace(secret, "***"),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_and_password() {
        assert_eq!(
            redact_credentials("rtsp://admin:s3cret@10.0.0.5:554/Streaming/101"),
            "rtsp://***@10.0.0.5:554/Streaming/101"
        );
        assert_eq!(redact_credentials("rtsp://admin@cam/x"), "rtsp://***@cam/x");
    }

    #[test]
    fn leaves_urls_without_credentials_alone() {
        let text = "rtsp://10.0.0.5:554/a?b=c@d and http://host#frag@x";
        assert_eq!(redact_credentials(text), text);
    }

    #[test]
    fn redacts_every_url_in_free_text_and_odd_passwords() {
        let text = "DESCRIBE rtsp://u:p@ss@cam:554/a failed, retry rtsp://v:w@cam2 'rtsp://x:y@z'";
        let redacted = redact_credentials(text);
        assert_eq!(
            redacted,
            "DESCRIBE rtsp://***@cam:554/a failed, retry rtsp://***@cam2 'rtsp://***@z'"
        );
        assert!(
            !redacted.contains("p@ss") && !redacted.contains(":w@") && !redacted.contains(":y@")
        );
    }

    #[test]
    fn scrub_removes_a_bare_password() {
        assert_eq!(
            scrub(
                "auth failed for admin/hunter2 at rtsp://admin:hunter2@cam",
                Some("hunter2")
            ),
            "auth failed for admin/*** at rtsp://***@cam"
        );
        assert_eq!(scrub("x", Some("")), "x");
    }
}
