//! One module per command; [`run`] dispatches.

pub mod accounts;
pub mod audit;
pub mod catalog;
pub mod devices;
pub mod discovered;
pub mod evidence;
pub mod filings;
pub mod keepalive;
pub mod nodes;
pub mod outages;
pub mod recordings;
pub mod retrieval;
pub mod sharing;
pub mod signage;
pub mod streams;
pub mod violations;
mod violations_html;
pub mod watch;

use crate::cli::{Cli, Command};
use crate::exit::usage;
use crate::output::OutputArg;
use crate::session::Session;

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let writes_files = matches!(
        cli.command,
        Command::Watch(_)
            | Command::Retrieval(retrieval::RetrievalCommand::Export { .. })
            | Command::Reports(_)
    );
    if let (Some(OutputArg::Path(path)), false) = (&cli.global.output, writes_files) {
        return Err(usage(format!(
            "invalid value {:?} for -o/--output: expected table or json \
             (a file or - is only for `watch`, a directory for `retrieval export`)",
            path.display().to_string()
        )));
    }
    if cli.global.node.is_some() && cli.global.demo.is_none() {
        return Err(usage(
            "--node picks a node of a demo: it needs --demo DATA_DIR (before or after the command)",
        ));
    }
    let session = Session::new(cli.global);
    match cli.command {
        Command::Devices(c) => devices::run(*c, &session).await,
        Command::Catalog(c) => catalog::run(c, &session).await,
        Command::Discovered(c) => discovered::run(*c, &session).await,
        Command::Filings(c) => filings::run(c, &session).await,
        Command::Signage(c) => signage::run(c, &session).await,
        Command::Outages(c) => outages::run(c, &session).await,
        Command::Nodes(c) => nodes::run(c, &session).await,
        Command::Keepalive(a) => keepalive::run(a, &session).await,
        Command::Streams(c) => streams::run(c, &session).await,
        Command::Watch(a) => watch::run(a, &session).await,
        Command::Departments(c) => sharing::departments::run(c, &session).await,
        Command::Grants(c) => sharing::grants::run(c, &session).await,
        Command::Retrieval(c) => retrieval::run(c, &session).await,
        Command::Audit(c) => audit::run(c, &session).await,
        Command::Evidence(c) => evidence::run(c, session.format()),
        Command::Recordings(c) => recordings::run(c, &session).await,
        Command::Reports(c) => violations::reports(c, &session).await,
        Command::Violations(c) => violations::run(c, &session).await,
        Command::Login(a) => accounts::login(a, &session).await,
        Command::Logout => accounts::logout(&session).await,
        Command::Whoami => accounts::whoami(&session).await,
        Command::Users(c) => accounts::users(c, &session).await,
    }
}
