//! Output format selection and writing to stdout.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::Serialize;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned, human-readable tables.
    Table,
    /// Pretty-printed JSON: enums as kebab-case names, timestamps as RFC 3339
    /// next to the raw `*_unix_ms`.
    Json,
}

/// The value of the global `-o/--output` flag: a [`Format`] for the
/// commands that print results, or where `watch` writes media (`-` is
/// stdout). Which one is valid depends on the command, so the flag accepts
/// any value and the command checks it (exit 2 when it does not fit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputArg {
    /// `table` or `json`.
    Format(Format),
    /// Anything else: `-` (stdout) or a file path (for `watch`).
    Path(PathBuf),
}

impl OutputArg {
    /// Parses a flag value: `table` and `json` are formats, anything else a
    /// path (`watch` only). An empty value is refused.
    pub fn parse(input: &str) -> Result<OutputArg, String> {
        match input {
            "" => Err("expected table or json (or, for watch, - or a FILE)".to_owned()),
            "table" => Ok(OutputArg::Format(Format::Table)),
            "json" => Ok(OutputArg::Format(Format::Json)),
            other => Ok(OutputArg::Path(PathBuf::from(other))),
        }
    }
}

/// Prints `view` as JSON or `table()` as text, as `format` says.
pub fn emit<T: Serialize>(
    format: Format,
    view: &T,
    table: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(view).context("encoding JSON")?;
            text.push('\n');
            write(&text)
        }
        Format::Table => write(&table()),
    }
}

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn write(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing to stdout"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_values() {
        assert_eq!(
            OutputArg::parse("json"),
            Ok(OutputArg::Format(Format::Json))
        );
        assert_eq!(
            OutputArg::parse("table"),
            Ok(OutputArg::Format(Format::Table))
        );
        assert_eq!(OutputArg::parse("-"), Ok(OutputArg::Path("-".into())));
        assert_eq!(
            OutputArg::parse("/tmp/w.mp4"),
            Ok(OutputArg::Path("/tmp/w.mp4".into()))
        );
        assert!(OutputArg::parse("").is_err());
    }
}
