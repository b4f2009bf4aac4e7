//! Error classes and the exit codes they map to.
//!
//! * 1: the server refused the request (a gRPC status); its message is
//!   printed verbatim, it names the field, rule and requirement (e.g. R7);
//! * 2: usage error (bad flags, bad `--file`, missing connection settings);
//! * 3: connection or TLS failure (the TLS reason is printed);
//! * 4: `audit verify` found the log tampered with (the first bad entry is named).

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
    match status.code() {
        // Transport failures surface as UNAVAILABLE.
        Code::Unavailable => (EXIT_CONNECT, format!("server unavailable: {message}")),
        _ => (EXIT_REFUSED, message),
    }
}

/// Prints `error: <message>` to stderr and returns the matching exit code.
pub fn report(error: &anyhow::Error) -> ExitCode {
    let (code, message) = classify(error);
    eprintln!("error: {}", crate::escape::for_terminal(&message));
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
    fn classes() {
        assert_eq!(classify(&usage("bad")).0, EXIT_USAGE);
        let e = anyhow::Error::from(ConnectError("tls".into())).context("connecting");
        assert_eq!(classify(&e), (EXIT_CONNECT, "connecting: tls".to_owned()));
        let e = anyhow::Error::from(tonic::Status::unavailable("refused"));
        assert_eq!(classify(&e).0, EXIT_CONNECT);
        let e: anyhow::Error = Err::<(), _>(std::fmt::Error)
            .context("other")
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("x"));
        assert_eq!(classify(&e).0, EXIT_REFUSED);
    }
}
