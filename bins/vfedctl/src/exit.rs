//! Error classes and the exit codes they map to.
//!
//! * 1: the server refused the request (a gRPC status); its message is
//!   printed verbatim, it names the field, rule and requirement (e.g. R7);
//!   with `-o json` the refusal is printed as one JSON object whose
//!   `field`, `rule` and `requirement` come from the status's structured
//!   details ([`vfed_authz::RefusalDetails`]), not from the message text;
//! * 2: usage error (bad flags, bad `--file`, missing connection settings,
//!   an unreadable `--ca/--cert/--key` file);
//! * 3: connection or TLS failure (the TLS reason is printed), also after
//!   the request was sent;
//! * 4: `audit verify` found the log tampered with (the first bad entry is named), or
//!   `evidence verify` a package that does not verify (file and time named);
//! * 5: the stored login for the node has expired (whose, when, and how to
//!   log in again, log out or act as the certificate are printed).
//!
//! Every message passes through [`crate::redact::secrets`]: no token is
//! ever printed.

use std::fmt;
use std::process::ExitCode;

use tonic::Code;

/// Exit code of a request the server refused.
pub const EXIT_REFUSED: u8 = 1;
/// Exit code of a usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a connection or TLS failure.
pub const EXIT_CONNECT: u8 = 3;
/// Exit code of an audit log that fails verification (R18.6).
pub const EXIT_TAMPERED: u8 = 4;
/// Exit code of an expired stored login (no silent fallback to the certificate).
pub const EXIT_LOGIN_EXPIRED: u8 = 5;

/// A usage error detected after argument parsing (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A connection, TLS or timeout failure (exit code 3).
#[derive(Debug)]
pub struct ConnectError(pub String);

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// An audit log that fails verification (exit code 4); names the first bad entry.
#[derive(Debug)]
pub struct TamperedError(pub String);

impl fmt::Display for TamperedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TamperedError {}

/// The stored login for the node has expired (exit code 5): vfedctl does
/// not fall back to the client certificate's identity unless asked to
/// (`--as-certificate`), so a person never acts as the tool unawares.
#[derive(Debug)]
pub struct LoginExpired {
    /// The account logged in.
    pub user: String,
    /// The stored context (`<user>@<node>`).
    pub context: String,
    /// When its token expired, Unix seconds.
    pub expired_unix: i64,
}

impl fmt::Display for LoginExpired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let now = crate::timefmt::now_ms();
        write!(
            f,
            "the stored login of {user} ({context}) expired at {at} ({ago}); \
             log in again with `vfedctl login {user}` or forget it with `vfedctl logout` \
             (with the same --demo/--endpoint flags), or pass --as-certificate to act as \
             the client certificate's account instead",
            user = self.user,
            context = self.context,
            at = crate::timefmt::unix_seconds(self.expired_unix),
            ago = crate::timefmt::ago(self.expired_unix.saturating_mul(1000), now),
        )
    }
}

impl std::error::Error for LoginExpired {}

/// A usage error as an [`anyhow::Error`].
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// The exit code and the message to print for `error`.
pub fn classify(error: &anyhow::Error) -> (u8, String) {
    for cause in error.chain() {
        if let Some(status) = cause.downcast_ref::<tonic::Status>() {
            return classify_status(status);
        }
        if cause.is::<UsageError>() {
            return (EXIT_USAGE, format!("{error:#}"));
        }
        if cause.is::<ConnectError>() {
            return (EXIT_CONNECT, format!("{error:#}"));
        }
        if cause.is::<TamperedError>() {
            return (EXIT_TAMPERED, format!("{error:#}"));
        }
        if cause.is::<LoginExpired>() {
            return (EXIT_LOGIN_EXPIRED, format!("{error:#}"));
        }
        if let Some(pki) = cause.downcast_ref::<vfed_pki::PkiError>() {
            let code = match pki {
                vfed_pki::PkiError::InvalidEndpoint { .. }
                | vfed_pki::PkiError::InvalidIdentity { .. } => EXIT_USAGE,
                _ => EXIT_CONNECT,
            };
            return (code, format!("{error:#}"));
        }
    }
    (EXIT_REFUSED, format!("{error:#}"))
}

fn classify_status(status: &tonic::Status) -> (u8, String) {
    let message = if status.message().is_empty() {
        format!("server answered {:?} without a message", status.code())
    } else {
        status.message().to_owned()
    };
    // A status decoded from the server's answer carries no source; one made
    // here from a transport error (the connection broke after the request
    // was sent, an HTTP/2 reset...) does: that is a connection failure.
    if let Some(source) = std::error::Error::source(status) {
        let mut reason = source.to_string();
        let mut next = source.source();
        while let Some(cause) = next {
            let text = cause.to_string();
            if !reason.contains(&text) {
                reason = format!("{reason}: {text}");
            }
            next = cause.source();
        }
        let detail = if reason == message || message.contains(&reason) {
            message
        } else {
            format!("{message}: {reason}")
        };
        return (
            EXIT_CONNECT,
            format!(
                "the connection failed after the request was sent ({detail}); \
                 it may or may not have taken effect"
            ),
        );
    }
    match status.code() {
        // The server (or a proxy) says it cannot serve now.
        Code::Unavailable => (EXIT_CONNECT, format!("server unavailable: {message}")),
        _ => (EXIT_REFUSED, message),
    }
}

/// The server's refusal in `error`, if any, as JSON: its code and message,
/// and the field, rule and requirement of its structured details.
pub fn refusal_json(error: &anyhow::Error) -> Option<serde_json::Value> {
    let status = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<tonic::Status>())?;
    if std::error::Error::source(status).is_some() {
        return None;
    }
    let details = vfed_authz::RefusalDetails::of(status).unwrap_or_default();
    let text = |s: &str| crate::redact::secrets(s).into_owned();
    Some(serde_json::json!({
        "error": {
            "code": format!("{:?}", status.code()),
            "message": text(status.message()),
            "field": text(&details.field),
            "rule": text(&details.rule),
            "requirement": details.requirement,
        }
    }))
}

/// Prints `error: <message>` to stderr (with `json`, a refusal as the
/// object of [`refusal_json`]) and returns the matching exit code.
pub fn report(error: &anyhow::Error, json: bool) -> ExitCode {
    let (code, message) = classify(error);
    if json
        && code == EXIT_REFUSED
        && let Some(refusal) = refusal_json(error)
    {
        eprintln!("{refusal:#}");
    } else {
        eprintln!(
            "error: {}",
            crate::escape::for_terminal(&crate::redact::secrets(&message))
        );
    }
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn status_message_is_verbatim() {
        let status =
            tonic::Status::invalid_argument("location_type: toilet is a prohibited place (R7)");
        let error = anyhow::Error::from(status).context("registering device");
        assert_eq!(
            classify(&error),
            (
                EXIT_REFUSED,
                "location_type: toilet is a prohibited place (R7)".to_owned()
            )
        );
    }

    #[test]
    fn refusal_json_comes_from_the_details() {
        let status = vfed_authz::refused(
            Code::InvalidArgument,
            "spec.location_type",
            "toilet is a prohibited location",
            "R7",
            "spec.location_type: toilet is a prohibited location [R7]; nothing was changed",
        );
        let error = anyhow::Error::from(status).context("registering device");
        let json = refusal_json(&error).unwrap_or_default();
        assert_eq!(json["error"]["code"], "InvalidArgument");
        assert_eq!(json["error"]["field"], "spec.location_type");
        assert_eq!(json["error"]["rule"], "toilet is a prohibited location");
        assert_eq!(json["error"]["requirement"], "R7");
        // No details: the message only, nothing parsed out of it.
        let error = anyhow::Error::from(tonic::Status::permission_denied("x (R16)"));
        let json = refusal_json(&error).unwrap_or_default();
        assert_eq!(json["error"]["message"], "x (R16)");
        assert_eq!(json["error"]["requirement"], "");
    }

    #[test]
    fn classes() {
        assert_eq!(classify(&usage("bad")).0, EXIT_USAGE);
        let e = anyhow::Error::from(ConnectError("tls".into())).context("connecting");
        assert_eq!(classify(&e), (EXIT_CONNECT, "connecting: tls".to_owned()));
        let e = anyhow::Error::from(tonic::Status::unavailable("refused"));
        assert_eq!(classify(&e).0, EXIT_CONNECT);
        // A transport error after the request was sent (status with a source).
        let broken = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = anyhow::Error::from(tonic::Status::from_error(Box::new(broken)));
        let (code, message) = classify(&e);
        assert_eq!(code, EXIT_CONNECT, "{message}");
        assert!(message.contains("after the request was sent"), "{message}");
        assert!(message.contains("reset by peer"), "{message}");
        let e: anyhow::Error = Err::<(), _>(std::fmt::Error)
            .context("other")
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("x"));
        assert_eq!(classify(&e).0, EXIT_REFUSED);
    }
}
