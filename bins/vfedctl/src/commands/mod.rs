//! One module per command; [`run`] dispatches.

pub mod catalog;
pub mod devices;
pub mod filings;
pub mod keepalive;
pub mod nodes;
pub mod outages;
pub mod signage;

use crate::cli::{Cli, Command};
use crate::session::Session;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let session = Session::new(cli.global);
    match cli.command {
        Command::Devices(c) => devices::run(*c, &session).await,
        Command::Catalog(c) => catalog::run(c, &session).await,
        Command::Filings(c) => filings::run(c, &session).await,
        Command::Signage(c) => signage::run(c, &session).await,
        Command::Outages(c) => outages::run(c, &session).await,
        Command::Nodes(c) => nodes::run(c, &session).await,
        Command::Keepalive(a) => keepalive::run(a, &session).await,
    }
}
