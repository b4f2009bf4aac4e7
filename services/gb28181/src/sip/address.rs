//! The parts of From, To, Contact and Via headers the registrar reads.

/// The user part of the SIP URI in a name-addr or addr-spec header value
/// (`"x" <sip:34020000001320000001@3402000000>;tag=1` gives the 20 digits).
pub fn uri_user(value: &str) -> Option<&str> {
    let uri = uri_of(value);
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))
        .or_else(|| uri.strip_prefix("SIP:"))?;
    let (user, _) = rest.split_once('@')?;
    let user = user.split(':').next().unwrap_or(user);
    (!user.is_empty()).then_some(user)
}

/// The URI of a name-addr (`<...>`) or addr-spec header value.
pub fn uri_of(value: &str) -> &str {
    if let Some(open) = value.find('<') {
        let rest = &value[open + 1..];
        return rest.split('>').next().unwrap_or(rest);
    }
    value.split(';').next().unwrap_or(value).trim()
}

/// A header parameter after the URI (`tag`, `expires`, `branch`...),
/// case-insensitive on the name; `Some("")` for a parameter without value.
pub fn header_param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    let params = match value.rfind('>') {
        Some(close) => &value[close + 1..],
        None => value.split_once(';').map_or("", |(_, rest)| rest),
    };
    params.split(';').find_map(|param| {
        let param = param.trim();
        let (key, val) = param.split_once('=').unwrap_or((param, ""));
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| val.trim().trim_matches('"'))
    })
}

/// The top Via's transport (`UDP`, `TCP`) and sent-by.
pub fn via_transport(value: &str) -> Option<(&str, &str)> {
    let first = value.split(',').next()?.trim();
    let (protocol, rest) = first.split_once(char::is_whitespace)?;
    let transport = protocol.rsplit('/').next()?;
    let sent_by = rest.trim().split(';').next()?.trim();
    Some((transport, sent_by))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_users_and_params() {
        let from = "\"cam\" <sip:34020000001320000001@3402000000:5060>;tag=abc";
        assert_eq!(uri_user(from), Some("34020000001320000001"));
        assert_eq!(header_param(from, "tag"), Some("abc"));
        assert_eq!(
            uri_user("sip:34020000001320000001@host;tag=9"),
            Some("34020000001320000001")
        );
        assert_eq!(header_param("sip:a@host;tag=9", "TAG"), Some("9"));
        assert_eq!(uri_user("<tel:123>"), None);
        assert_eq!(
            via_transport("SIP/2.0/TCP 10.0.0.1:5060;rport;branch=z9hG4bK1"),
            Some(("TCP", "10.0.0.1:5060"))
        );
    }
}
