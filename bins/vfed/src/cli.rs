//! Command-line interface of `vfed`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// vfed: a video federation platform node.
#[derive(Debug, Parser)]
#[command(name = "vfed", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; without a subcommand, `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of `serve` (the default command).
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node (the default).
    Serve(ServeArgs),
    /// Development PKI: a CA and node/user/tool certificates.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Run a demo city with two counties on this machine.
    Demo(DemoArgs),
}

/// Options of `vfed serve`.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "VFED_CONFIG")]
    pub config: Option<PathBuf>,
    /// Override one setting: `--set node.name=Naidong` (repeatable; wins over file and environment).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the effective configuration as TOML and exit.
    #[arg(long)]
    pub dump_config: bool,
}

/// `vfed pki ...`.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create a development CA in DIR (ca.pem, ca.key).
    Init {
        /// Directory of the CA.
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// SPIFFE trust domain of every identity.
        #[arg(long, default_value = "vfed")]
        trust_domain: String,
        /// Overwrite an existing CA.
        #[arg(long)]
        force: bool,
    },
    /// Issue a certificate naming one node, user or operator tool.
    #[command(group(clap::ArgGroup::new("who").required(true).args(["node", "user", "tool"])))]
    Issue {
        /// Directory of the CA.
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        /// Where to write the certificate and key (default: the CA directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A node code (20 digits, type 200).
        #[arg(long)]
        node: Option<String>,
        /// A user name.
        #[arg(long)]
        user: Option<String>,
        /// An operator tool name (e.g. vfedctl).
        #[arg(long)]
        tool: Option<String>,
        /// Extra DNS names (default: localhost).
        #[arg(long)]
        dns: Vec<String>,
        /// Extra IP addresses (default: 127.0.0.1, ::1).
        #[arg(long)]
        ip: Vec<IpAddr>,
        /// Validity in days.
        #[arg(long, default_value_t = 397)]
        days: u32,
    },
}

/// Options of `vfed demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the demo keeps its PKI, stores and demo.json.
    #[arg(long, default_value = "./vfed-demo")]
    pub data_dir: PathBuf,
    /// Delete the data directory first.
    #[arg(long)]
    pub reset: bool,
    /// Keepalive period of the demo's simulated site systems.
    #[arg(long, default_value = "5s", value_parser = humantime_duration)]
    pub keepalive: std::time::Duration,
    /// Log filter.
    #[arg(long, default_value = "warn,vfed=info")]
    pub log: String,
}

fn humantime_duration(s: &str) -> Result<std::time::Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 5s or 500ms"))?;
    match unit {
        "ms" => Ok(std::time::Duration::from_millis(n)),
        "s" | "" => Ok(std::time::Duration::from_secs(n)),
        "m" => Ok(std::time::Duration::from_secs(n * 60)),
        _ => Err(format!("{s:?} is not a duration like 5s or 500ms")),
    }
}
