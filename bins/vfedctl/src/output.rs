//! Output format selection and writing to stdout.

use std::io::Write as _;

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
