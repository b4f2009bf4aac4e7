//! Command-line definition: global flags and the command tree.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::commands::{
    accounts, catalog, devices, filings, keepalive, nodes, outages, signage, streams, watch,
};
use crate::output::OutputArg;
use crate::values;

const LONG_ABOUT: &str = "\
Operate a vfed node: register and maintain video devices, browse the catalog, \
find overdue filings and missing signage, inspect outages and federation links, \
list live streams and watch one.

vfedctl talks gRPC over mutual TLS to one node. Either give the node and your \
client certificate explicitly (--endpoint, --ca, --cert, --key or the \
VFEDCTL_* environment variables), or point --demo at the data directory of \
`vfed demo` and pick a node with --node.

The server checks every rule; when it refuses a request its message (which \
names the field, the rule and the requirement, e.g. R7) is printed verbatim \
as `error: <message>`; with -o json, as a JSON object whose field, rule and \
requirement come from the refusal's structured details.";

const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  the server refused the request (message printed verbatim)
  2  usage error (bad flag, bad --file, missing connection settings, a --ca/--cert/--key
     file that cannot be read)
  3  connection or TLS failure (the TLS reason is printed), also when the connection
     breaks after the request was sent (it may or may not have taken effect)
  4  `audit verify`: the audit log was tampered with (first bad entry named);
     `evidence verify`, `retrieval export`: the package does not verify (the file and
     the time of the first changed fragment, or the missing file or bad proof, named)
  5  the stored login for the node has expired: log in again (`vfedctl login NAME`),
     log out (`vfedctl logout`) or pass --as-certificate to act as the certificate

Examples:
  vfedctl --demo /tmp/vfed devices list
  vfedctl --demo /tmp/vfed --node naidong catalog tree
  vfedctl --endpoint https://10.0.0.5:7100 --ca ca.pem --cert me.pem --key me.key nodes list
  VFEDCTL_ENDPOINT=https://10.0.0.5:7100 vfedctl -o json devices show 54050200001320000001
  vfedctl --demo /tmp/vfed streams list
  vfedctl --demo /tmp/vfed watch 54050200001320000001 -o - | ffplay -";

/// vfedctl: the operator command line of vfed.
#[derive(Debug, Parser)]
#[command(
    name = "vfedctl",
    version,
    about = "Operate vfed nodes: devices, catalog, filings, outages, federation links, live streams",
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Connection and output settings.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted before or after any command.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection and output")]
pub struct GlobalArgs {
    /// gRPC endpoint of the node, e.g. https://127.0.0.1:7100 (the node's listen.grpc).
    #[arg(long, env = "VFEDCTL_ENDPOINT", global = true, value_name = "URL")]
    pub endpoint: Option<String>,

    /// CA certificate (PEM) the node's certificate must chain to.
    #[arg(long, env = "VFEDCTL_CA", global = true, value_name = "PEM")]
    pub ca: Option<PathBuf>,

    /// Client certificate (PEM) with a tool/... or user/... identity.
    #[arg(long, env = "VFEDCTL_CERT", global = true, value_name = "PEM")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM) of the client certificate.
    #[arg(long, env = "VFEDCTL_KEY", global = true, value_name = "PEM")]
    pub key: Option<PathBuf>,

    /// Use DATA_DIR/demo.json (from `vfed demo`) for endpoint, CA and client
    /// certificate; it takes precedence over --endpoint/--ca/--cert/--key.
    #[arg(long, global = true, value_name = "DATA_DIR")]
    pub demo: Option<PathBuf>,

    /// Demo node to talk to: node ID, level (city, county...) or a unique
    /// part of its name. Default: the top-level node. Its identity is pinned.
    // Not `requires = "demo"`: clap checks that per command level, so
    // `vfedctl --demo DIR devices list --node X` would fail; `commands::run`
    // checks it instead.
    #[arg(long, global = true, value_name = "NODE")]
    pub node: Option<String>,

    /// Require the server to present this node identity (20-digit node ID);
    /// otherwise any node of the trust domain is accepted.
    #[arg(long, global = true, value_name = "NODE_ID", value_parser = values::node_id)]
    pub server_id: Option<String>,

    /// Output: `table` (default) or `json`. For `watch`, where the media
    /// goes instead: `-` (stdout, the default) or a FILE.
    #[arg(short = 'o', long, global = true, value_parser = OutputArg::parse, value_name = "table|json|-|FILE")]
    pub output: Option<OutputArg>,

    /// Bearer token to act with (default: the stored login for the node,
    /// see `vfedctl login`; without one the client certificate's account
    /// acts; an expired one is refused, see --as-certificate).
    #[arg(
        long,
        env = "VFEDCTL_TOKEN",
        global = true,
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,

    /// Act as the client certificate's account, ignoring any stored login
    /// for the node (without it an expired stored login is refused, exit 5).
    #[arg(long, global = true, conflicts_with = "token")]
    pub as_certificate: bool,

    /// Time limit of the connection and of each call, e.g. 10s, 1m, 500ms.
    #[arg(long, global = true, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a node as a person; the token is stored like kubectl's (see --help).
    Login(accounts::LoginArgs),
    /// Forget the stored login for the node.
    Logout,
    /// Who you are at the node and what you may do.
    Whoami,
    /// Accounts, roles and training records (admins; R14.1, R15.1, R17).
    #[command(subcommand)]
    Users(accounts::UsersCommand),
    /// Register, update, list, show and decommission devices.
    #[command(subcommand)]
    Devices(Box<devices::DevicesCommand>),
    /// Channels GB/T 28181 devices reported here, and their adoption as devices.
    #[command(subcommand)]
    Discovered(Box<crate::commands::discovered::DiscoveredCommand>),
    /// Browse the catalog (division -> unit -> device).
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Filing (备案) follow-up: overdue filings and verifications (R12).
    #[command(subcommand)]
    Filings(filings::FilingsCommand),
    /// Warning signs: public-area devices without one (R8).
    #[command(subcommand)]
    Signage(signage::SignageCommand),
    /// Offline periods of local devices (R14.3).
    #[command(subcommand)]
    Outages(outages::OutagesCommand),
    /// This node and its federation links.
    #[command(subcommand)]
    Nodes(nodes::NodesCommand),
    /// Send one keepalive for devices (handy for manual tests).
    Keepalive(keepalive::KeepaliveArgs),
    /// Live streams at the node: codec, size, rate, viewers, source.
    #[command(subcommand)]
    Streams(streams::StreamsCommand),
    /// Write a device's live stream (fragmented MP4) to stdout or a file.
    #[command(long_about = watch::LONG_ABOUT, after_help = watch::AFTER_HELP)]
    Watch(watch::WatchArgs),
    /// City departments that grants can name (R13).
    #[command(subcommand)]
    Departments(crate::commands::sharing::DepartmentsCommand),
    /// Sharing grants: which department may watch which devices, why and
    /// until when (R13); create, list, revoke, set-validity.
    #[command(subcommand)]
    Grants(crate::commands::sharing::GrantsCommand),
    /// Release of recorded video under the two-officer rule (R16): file,
    /// co-sign, approve or reject, list, show, open access.
    #[command(subcommand)]
    Retrieval(crate::commands::retrieval::RetrievalCommand),
    /// The tamper-evident audit log (R14.5, R18.6): tail it, its signed checkpoint, the
    /// children's checkpoints this node countersigned, and offline verification of a copy.
    #[command(subcommand)]
    Audit(crate::commands::audit::AuditCommand),
    /// Evidence packages (R16, R14.5): offline verification of a package
    /// from `retrieval export`.
    #[command(subcommand)]
    Evidence(crate::commands::evidence::EvidenceCommand),
    /// Recordings at the node (R14.6): spans and gaps of a device, archive status.
    #[command(subcommand)]
    Recordings(crate::commands::recordings::RecordingsCommand),
    /// Reports for the police: violations per unit (R24), as a table, JSON or HTML.
    #[command(subcommand)]
    Reports(crate::commands::violations::ReportsCommand),
    /// The police's decisions on violations (officers, R24): set-deadline, close.
    #[command(subcommand)]
    Violations(crate::commands::violations::ViolationsCommand),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
